//! The slave really mirrors the master: each node namespace runs its own PostgreSQL,
//! managed by its pequod; a writer in the phone's namespace commits rows through the
//! cluster IP and notes every commit that was acknowledged. Killing the master's
//! machine must lose none of them, and the old master must come back as a standby
//! that follows the new one.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use pequod_e2e::cluster::{DEADLINE, Fault, LabCluster};
use pequod_e2e::{Ns, require_root};

/// Kills in a row; `PEQUOD_LAB_KILLS` asks for more (the acceptance run uses 10).
fn kills() -> usize {
    std::env::var("PEQUOD_LAB_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(2)
}

fn rows(cluster: &LabCluster, ns: Ns) -> BTreeSet<u64> {
    cluster
        .psql(ns, "SELECT id FROM calls")
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn other(ns: Ns) -> Ns {
    if ns == Ns::Node1 {
        Ns::Node2
    } else {
        Ns::Node1
    }
}

#[test]
fn killing_the_master_loses_no_acknowledged_commit_and_the_old_master_follows_the_new_one() {
    if !require_root() {
        return;
    }
    let cluster = LabCluster::new("data-sync").expect("the lab builds");
    cluster.with_database();
    cluster.start(Ns::Node1).unwrap();
    cluster.start(Ns::Node2).unwrap();
    cluster.configure_master(Ns::Node1).unwrap();
    cluster
        .psql(
            Ns::Node1,
            "CREATE ROLE pbx LOGIN PASSWORD 'pbx';
             CREATE TABLE calls (id bigint PRIMARY KEY);
             GRANT SELECT, INSERT ON calls TO pbx;",
        )
        .unwrap();
    cluster.pair(Ns::Node1, Ns::Node2).unwrap();
    let sync = cluster.get(Ns::Node1, "/api/v1/sync").unwrap();
    assert_eq!(sync["database"]["role"], "primary", "{sync}");
    assert_eq!(sync["database"]["durability"], "sync", "{sync}");

    let writer = cluster.start_writer().unwrap();
    let mut master = Ns::Node1;
    for round in 1..=kills() {
        let slave = other(master);
        let before = writer.acknowledged().unwrap().len();
        cluster
            .wait_for(
                "the writer to commit through the cluster IP",
                DEADLINE,
                || Ok(writer.acknowledged()?.len() >= before + 20),
            )
            .unwrap();

        cluster.fail(master, Fault::MachineDeath).unwrap();
        let at_kill = writer.acknowledged().unwrap().len();
        cluster
            .wait_for("the slave to take over", DEADLINE, || {
                Ok(cluster.role(slave)? == "master" && cluster.holds_vip(slave)?)
            })
            .unwrap();
        cluster
            .wait_for("commits on the new master", DEADLINE, || {
                Ok(writer.acknowledged()?.len() >= at_kill + 20)
            })
            .unwrap();
        let acked: BTreeSet<u64> = writer.acknowledged().unwrap().into_iter().collect();
        let present = rows(&cluster, slave);
        let lost: Vec<_> = acked.difference(&present).take(20).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged commit(s) are missing on the new master, e.g. {lost:?}",
            acked.difference(&present).count()
        );

        // The old master boots again standby: its database does not run as primary.
        cluster.start(master).unwrap();
        cluster
            .wait_for("the old master to be standby", DEADLINE, || {
                Ok(cluster.role(master)? == "standby")
            })
            .unwrap();
        assert!(
            cluster.psql(master, "SELECT 1").is_err(),
            "the old master's database runs while it is standby"
        );

        // Add again rewinds it into a standby of the new master.
        let job = cluster
            .run_job(
                slave,
                "POST",
                &format!("/api/v1/slaves/{}/readd", master.role()),
                None,
            )
            .unwrap();
        let log = job.to_string();
        eprintln!(
            "round {round}: {} acknowledged, {} rows on the new master; Add again: {}",
            acked.len(),
            present.len(),
            log.split('"')
                .find(|l| l.contains("rewound") || l.contains("copied the master"))
                .unwrap_or("?")
        );
        assert!(
            log.contains("rewound") || log.contains("copied the master's database anew"),
            "the Add again job says how the database follows: {log}"
        );
        let newest = *writer.acknowledged().unwrap().last().unwrap();
        cluster
            .wait_for(
                "a row written on the new master to reach the old",
                DEADLINE,
                || Ok(rows(&cluster, master).contains(&newest)),
            )
            .unwrap();
        assert_eq!(
            cluster
                .psql(master, "SELECT pg_is_in_recovery()")
                .unwrap()
                .trim(),
            "t"
        );
        master = slave;
    }
    writer.stop();
}
