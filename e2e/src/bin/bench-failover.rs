//! Failover benchmark: in the namespace lab, fail the master N times for each fault
//! (machine death: links down with the processes; process crash: `kill -9` on a live
//! machine, then the service unit's stop hook `pequod release-vip`) and measure the
//! time from the fault to the first SIP answer at the cluster IP from the new master,
//! while the phone's ARP watch counts probes answered by two machines; then watch a
//! healthy pair for a quiet period and count false failovers; then N manual failovers
//! (switchovers), from the request to the first SIP answer from the new master.
//!
//! Usage: bench-failover [--profile conservative|fast] [N per fault (default 20)]
//! [quiet seconds (default 60)]; needs root.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pequod_e2e::cluster::{DEADLINE, Fault, LabCluster};
use pequod_e2e::{Lab, Ns};

fn main() -> Result<()> {
    let mut profile = "conservative".to_string();
    let mut positional = Vec::new();
    let mut all = std::env::args().skip(1);
    while let Some(arg) = all.next() {
        if arg == "--profile" {
            profile = all.next().context("--profile needs conservative or fast")?;
            anyhow::ensure!(
                ["conservative", "fast"].contains(&profile.as_str()),
                "--profile is conservative or fast, not {profile}"
            );
        } else {
            positional.push(arg);
        }
    }
    let mut args = positional.into_iter();
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
    cluster.add_config(&format!("[cluster]\nprofile = \"{profile}\"\n"))?;
    cluster.start_paired()?;
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
        report(fault, &profile, &mut samples, doubles, probes.len());
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
        "false_failovers={changes} in {quiet_secs} s quiet profile={profile} (roles: {} {}, {} {})",
        master.role(),
        cluster.role(master)?,
        slave.role(),
        cluster.role(slave)?
    );

    // Switchover: a person asks the master to hand over; the old master is added again.
    let mut samples = Vec::with_capacity(runs);
    for run in 1..=runs {
        cluster.wait_for("SIP at the cluster IP", DEADLINE, || {
            Ok(sip_ok(Duration::from_millis(200)))
        })?;
        let asked = Instant::now();
        let (status, body) = cluster.api(master, "POST", "/api/v1/cluster/failover", None)?;
        anyhow::ensure!(status == 202, "switchover {run}: {status} {body}");
        let deadline = asked + Duration::from_secs(10);
        loop {
            if cluster.holds_vip(slave)? && sip_ok(Duration::from_millis(20)) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "switchover {run}: the new master did not answer SIP within 10 s"
            );
        }
        samples.push(asked.elapsed());
        eprintln!(
            "switchover {run}/{runs}: {} ms",
            asked.elapsed().as_millis()
        );
        cluster.add_again(master, slave)?;
        std::mem::swap(&mut master, &mut slave);
    }
    samples.sort();
    if let Some(max) = samples.last() {
        println!(
            "switchover_ms p50={:.0} p95={:.0} max={:.0} n={} profile={profile}",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.95)),
            ms(*max),
            samples.len()
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile of sorted, non-empty `samples` (nearest rank).
fn percentile(samples: &[Duration], q: f64) -> Duration {
    samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]
}

/// One line of figures for a fault: failover time percentiles and the probes the
/// phone saw answered by two machines.
fn report(fault: Fault, profile: &str, samples: &mut [Duration], doubles: usize, probes: usize) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let pick = |q: f64| percentile(samples, q);
    let name = match fault {
        Fault::MachineDeath => "machine_death",
        Fault::ProcessCrash => "process_crash",
    };
    println!(
        "{name}: failover_ms p50={:.0} p95={:.0} max={:.0} n={} profile={profile} two_holder_probes={doubles}/{probes}",
        ms(pick(0.5)),
        ms(pick(0.95)),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}
