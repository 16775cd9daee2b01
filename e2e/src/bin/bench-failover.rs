//! Failover benchmark: in the namespace lab, fail the master N times for each fault
//! (machine death: links down with the processes; process crash: `kill -9` on a live
//! machine, then the service unit's stop hook `pequod release-vip`) and measure the
//! time from the fault to the first SIP answer at the cluster IP from the new master,
//! while the phone's ARP watch counts probes answered by two machines; then watch a
//! healthy pair for a quiet period and count false failovers.
//!
//! Usage: bench-failover [N per fault (default 20)] [quiet seconds (default 60)]; needs
//! root.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pequod_e2e::cluster::{DEADLINE, Fault, LabCluster};
use pequod_e2e::{Lab, Ns};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("N must be a number")?
        .unwrap_or(20);
    let quiet_secs: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("the quiet period must be seconds")?
        .unwrap_or(60);
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "the lab needs root (network namespaces): run it with sudo"
    );

    let cluster = LabCluster::new("bench-failover")?;
    cluster.start(Ns::Node1)?;
    cluster.start(Ns::Node2)?;
    cluster.configure_master(Ns::Node1)?;
    cluster.pair(Ns::Node1, Ns::Node2)?;
    let vip = SocketAddrV4::new(Lab::VIP, Lab::SIP_PORT);
    let sip_ok = |timeout| cluster.lab.sip_options(Ns::Phone, vip, timeout).ok() == Some(200);

    let (mut master, mut slave) = (Ns::Node1, Ns::Node2);
    for fault in [Fault::MachineDeath, Fault::ProcessCrash] {
        let watch = cluster.arp_watch()?;
        let mut samples = Vec::with_capacity(runs);
        for run in 1..=runs {
            cluster.wait_for("SIP at the cluster IP", DEADLINE, || {
                Ok(sip_ok(Duration::from_millis(200)))
            })?;
            cluster.wait_for(
                "the slave to hear the master on both links",
                DEADLINE,
                || {
                    let nodes = cluster.get(slave, "/api/v1/nodes")?;
                    Ok(nodes[1]["links"]["telephony"] == true
                        && nodes[1]["links"]["cluster"] == true)
                },
            )?;
            let failed = Instant::now();
            cluster.fail(master, fault)?;
            if fault == Fault::ProcessCrash {
                // What systemd does at once after the crash (ExecStopPost).
                let out = cluster.release_vip(master)?;
                anyhow::ensure!(
                    out.status.success(),
                    "run {run}: pequod release-vip failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let deadline = failed + Duration::from_secs(10);
            loop {
                if sip_ok(Duration::from_millis(20)) {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "{fault} run {run}: no SIP answer at the cluster IP within 10 s"
                );
            }
            let elapsed = failed.elapsed();
            anyhow::ensure!(
                cluster.holds_vip(slave)?,
                "{fault} run {run}: the answer did not come from the new master"
            );
            samples.push(elapsed);
            eprintln!("{fault} run {run}/{runs}: {} ms", elapsed.as_millis());

            // The old master comes back standby and is added again as the slave.
            cluster.readd_old_master(master, slave)?;
            std::mem::swap(&mut master, &mut slave);
        }
        let probes = watch.samples();
        let doubles = probes.iter().filter(|s| s.macs.len() > 1).count();
        report(fault, &mut samples, doubles, probes.len());
    }

    // A healthy pair left alone: every epoch change is a false failover.
    let epoch = |ns| -> Result<u64> {
        cluster.get(ns, "/api/v1/cluster")?["epoch"]
            .as_u64()
            .context("epoch")
    };
    let start = (epoch(master)?, epoch(slave)?);
    let until = Instant::now() + Duration::from_secs(quiet_secs);
    let mut changes = 0;
    let mut last = start;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        let now = (epoch(master)?, epoch(slave)?);
        if now.0.max(now.1) > last.0.max(last.1) {
            changes += now.0.max(now.1) - last.0.max(last.1);
        }
        last = now;
    }
    println!(
        "false_failovers={changes} in {quiet_secs} s quiet (roles: {} {}, {} {})",
        master.role(),
        cluster.role(master)?,
        slave.role(),
        cluster.role(slave)?
    );
    Ok(())
}

/// One line of figures for a fault: failover time percentiles and the probes the
/// phone saw answered by two machines.
fn report(fault: Fault, samples: &mut [Duration], doubles: usize, probes: usize) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let name = match fault {
        Fault::MachineDeath => "machine_death",
        Fault::ProcessCrash => "process_crash",
    };
    println!(
        "{name}: failover_ms p50={:.0} p95={:.0} max={:.0} n={} two_holder_probes={doubles}/{probes}",
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}
