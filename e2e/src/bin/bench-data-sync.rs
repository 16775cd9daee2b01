//! Data sync benchmark in the namespace lab, each node with its own PostgreSQL and a
//! synced tree of 10,000 files:
//! - failover with promotion: the master's machine dies N times; the time from the
//!   kill to the first SIP answer at the cluster IP, and to the first committed write
//!   through the cluster IP (a fresh `psql` every few milliseconds from the phone);
//! - the commit latency from the phone with sync mode (the slave confirms each commit)
//!   and without a slave (what async costs), by `pgbench`;
//! - an incremental file pass: one file changed among 10,000, until the slave has it.
//!
//! Usage: bench-data-sync [N kills (default 10)]; needs root.

use std::net::SocketAddrV4;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pequod_e2e::cluster::{DEADLINE, Fault, LabCluster};
use pequod_e2e::{Lab, Ns};

const PSQL: &str = "/usr/bin/psql";
const PGBENCH: &str = "/usr/lib/postgresql/15/bin/pgbench";
const FILES: usize = 10_000;

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()
        .context("N must be a number")?
        .unwrap_or(10);
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "the lab needs root (network namespaces): run it with sudo"
    );
    let cluster = LabCluster::new("bench-data-sync")?;
    cluster.with_database();
    cluster.with_files()?;
    let tree = cluster.node_files(Ns::Node1);
    for i in 0..FILES {
        let dir = tree.join(format!("spool/d{:03}", i / 100));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("msg{i:05}.txt")), format!("message {i}\n"))?;
    }
    cluster.start(Ns::Node1)?;
    cluster.start(Ns::Node2)?;
    cluster.configure_master(Ns::Node1)?;
    cluster.psql(
        Ns::Node1,
        "CREATE ROLE pbx LOGIN PASSWORD 'pbx';
         CREATE TABLE calls (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
         GRANT SELECT, INSERT ON calls TO pbx;
         GRANT USAGE ON SEQUENCE calls_id_seq TO pbx;",
    )?;
    let paired = Instant::now();
    cluster.pair(Ns::Node1, Ns::Node2)?;
    println!(
        "pairing with the first full pass of {FILES} files: {} ms",
        paired.elapsed().as_millis()
    );

    // One changed file among 10,000.
    let mut file_ms = Vec::new();
    for round in 0..5 {
        let name = format!("spool/d042/msg0{:04}.txt", 4200 + round);
        let text = format!("changed {round}\n");
        let changed = Instant::now();
        std::fs::write(tree.join(&name), &text)?;
        let there = cluster.node_files(Ns::Node2).join(&name);
        cluster.wait_for("the changed file on the slave", DEADLINE, || {
            Ok(std::fs::read_to_string(&there).ok().as_deref() == Some(text.as_str()))
        })?;
        file_ms.push(changed.elapsed().as_secs_f64() * 1000.0);
    }
    let pass = cluster.get(Ns::Node1, "/api/v1/sync")?["files"]["last_pass"].clone();
    println!(
        "file_change_to_slave_ms p50={:.0} max={:.0} n={} (debounce 100 ms included); last pass: {} {} ms",
        percentile(&file_ms, 50.0),
        percentile(&file_ms, 100.0),
        file_ms.len(),
        pass["kind"],
        pass["duration_ms"]
    );

    // Commit latency, sync (the slave confirms) and without a slave.
    let sync_ms = pgbench(&cluster)?;
    cluster.run_job(Ns::Node1, "DELETE", "/api/v1/slaves/node2", None)?;
    let alone_ms = pgbench(&cluster)?;
    cluster.run_job(Ns::Node1, "POST", "/api/v1/slaves/node2/readd", None)?;
    println!(
        "commit_latency_ms sync={sync_ms:.2} without_slave={alone_ms:.2} (pgbench, one client, from the phone)"
    );

    // Failover with promotion.
    let vip = SocketAddrV4::new(Lab::VIP, Lab::SIP_PORT);
    let (mut master, mut slave) = (Ns::Node1, Ns::Node2);
    let (mut to_sip, mut to_write) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        cluster.wait_for("a write through the cluster IP", DEADLINE, || {
            write_once(&cluster)
        })?;
        cluster.wait_for("commits that wait for the slave", DEADLINE, || {
            Ok(cluster.get(master, "/api/v1/sync")?["database"]["durability"] == "sync")
        })?;
        let killed = Instant::now();
        cluster.fail(master, Fault::MachineDeath)?;
        let deadline = killed + Duration::from_secs(20);
        // Both probes at once, each at its own pace, so neither delays the other.
        let (sip, write) = std::thread::scope(|scope| {
            let sip = scope.spawn(|| {
                while Instant::now() < deadline {
                    if cluster
                        .lab
                        .sip_options(Ns::Phone, vip, Duration::from_millis(20))
                        .ok()
                        == Some(200)
                    {
                        return Some(killed.elapsed());
                    }
                }
                None
            });
            let write = scope.spawn(|| {
                while Instant::now() < deadline {
                    if write_once(&cluster).unwrap_or(false) {
                        return Some(killed.elapsed());
                    }
                }
                None
            });
            (sip.join().ok().flatten(), write.join().ok().flatten())
        });
        anyhow::ensure!(
            sip.is_some() && write.is_some(),
            "run {run}: no SIP answer or no write within 20 s"
        );
        let (sip, write) = (sip.unwrap_or_default(), write.unwrap_or_default());
        to_sip.push(sip.as_secs_f64() * 1000.0);
        to_write.push(write.as_secs_f64() * 1000.0);
        println!(
            "run {run}: SIP after {} ms, first commit after {} ms",
            sip.as_millis(),
            write.as_millis()
        );
        cluster.readd_old_master(master, slave)?;
        std::mem::swap(&mut master, &mut slave);
    }
    println!(
        "failover_to_sip_ms p50={:.0} p95={:.0} n={}",
        percentile(&to_sip, 50.0),
        percentile(&to_sip, 95.0),
        to_sip.len()
    );
    println!(
        "failover_to_first_commit_ms p50={:.0} p95={:.0} n={}",
        percentile(&to_write, 50.0),
        percentile(&to_write, 95.0),
        to_write.len()
    );
    Ok(())
}

/// One insert through the cluster IP from the phone, given up after 200 ms.
fn write_once(cluster: &LabCluster) -> Result<bool> {
    let status = cluster
        .lab
        .command(Ns::Phone, "timeout")
        .args([
            "0.2",
            PSQL,
            "-X",
            "-qAt",
            "-c",
            "INSERT INTO calls DEFAULT VALUES",
        ])
        .envs(client_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    Ok(status.success())
}

fn client_env() -> [(&'static str, String); 4] {
    [
        ("PGHOST", Lab::VIP.to_string()),
        ("PGUSER", "pbx".into()),
        ("PGPASSWORD", "pbx".into()),
        ("PGDATABASE", "postgres".into()),
    ]
}

/// pgbench's average latency of one-row insert transactions, one client, 5 s.
fn pgbench(cluster: &LabCluster) -> Result<f64> {
    let script = cluster.lab.dir()?.join("insert.sql");
    std::fs::write(&script, "INSERT INTO calls DEFAULT VALUES;\n")?;
    let out = cluster
        .lab
        .command(Ns::Phone, PGBENCH)
        .args(["-n", "-c", "1", "-T", "5", "-f"])
        .arg(&script)
        .envs(client_env())
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "pgbench: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("latency average = "))
        .and_then(|l| l.trim_end_matches(" ms").trim().parse().ok())
        .with_context(|| format!("no latency in pgbench's output: {text}"))
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
