//! The slave really mirrors the master: each node namespace runs its own PostgreSQL,
//! managed by its pequod; a writer in the phone's namespace commits rows through the
//! cluster IP and notes every commit that was acknowledged. Killing the master's
//! machine must lose none of them, and the old master must come back as a standby
//! that follows the new one.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use pequod_e2e::cluster::{DEADLINE, Fault, LabCluster};
use pequod_e2e::{Lab, Ns, require_root};

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

/// The table the phone's writer fills, and its login.
const PBX_SCHEMA: &str = "CREATE ROLE pbx LOGIN PASSWORD 'pbx';
     CREATE TABLE calls (id bigint PRIMARY KEY);
     GRANT SELECT, INSERT ON calls TO pbx;";

/// node1 master with its database set up by `schema`, node2 its slave with a copy.
fn paired_with_database(name: &str, schema: &str) -> LabCluster {
    let cluster = LabCluster::new(name).expect("the lab builds");
    cluster.with_database();
    cluster.start(Ns::Node1).unwrap();
    cluster.start(Ns::Node2).unwrap();
    cluster.configure_master(Ns::Node1).unwrap();
    cluster.psql(Ns::Node1, schema).unwrap();
    cluster.pair(Ns::Node1, Ns::Node2).unwrap();
    cluster
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
    let cluster = paired_with_database("data-sync", PBX_SCHEMA);
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

#[test]
fn a_slave_gone_drops_the_master_to_async_and_writes_go_on_until_it_is_back() {
    if !require_root() {
        return;
    }
    let cluster = paired_with_database("durability", PBX_SCHEMA);
    let writer = cluster.start_writer().unwrap();
    cluster
        .wait_for("commits in sync mode", DEADLINE, || {
            Ok(writer.acknowledged()?.len() >= 20)
        })
        .unwrap();

    cluster.fail(Ns::Node2, Fault::MachineDeath).unwrap();
    let at_kill = writer.acknowledged().unwrap().len();
    cluster
        .wait_for("commits without the slave", DEADLINE, || {
            Ok(writer.acknowledged()?.len() >= at_kill + 20)
        })
        .unwrap();
    let sync = cluster.get(Ns::Node1, "/api/v1/sync").unwrap();
    assert_eq!(sync["database"]["durability"], "async", "{sync}");
    assert!(
        sync["database"]["degraded"]
            .as_str()
            .is_some_and(|why| why.contains("node2")),
        "{sync}"
    );
    let state = cluster.get(Ns::Node1, "/api/v1/cluster").unwrap();
    assert_ne!(state["lamp"], "green", "{state}");
    assert!(
        state["lamp_reasons"]
            .to_string()
            .contains("do not wait for the slave"),
        "{state}"
    );
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "master");

    // The slave boots again: it streams, catches up, and commits wait for it again.
    cluster.start(Ns::Node2).unwrap();
    cluster
        .wait_for("sync mode again", DEADLINE, || {
            let sync = cluster.get(Ns::Node1, "/api/v1/sync")?;
            Ok(sync["database"]["durability"] == "sync" && sync["database"]["degraded"].is_null())
        })
        .unwrap();
    let newest = *writer.acknowledged().unwrap().last().unwrap();
    cluster
        .wait_for(
            "the slave to have the rows written without it",
            DEADLINE,
            || Ok(rows(&cluster, Ns::Node2).contains(&newest)),
        )
        .unwrap();
    writer.stop();
}

#[test]
fn a_slave_behind_an_acknowledged_commit_is_not_promoted_until_a_person_forces_it() {
    if !require_root() {
        return;
    }
    let cluster = paired_with_database("behind", PBX_SCHEMA);
    let writer = cluster.start_writer().unwrap();
    cluster
        .wait_for("commits in sync mode", DEADLINE, || {
            Ok(writer.acknowledged()?.len() >= 20)
        })
        .unwrap();

    // The cluster link goes: the WAL stops reaching the slave while the heartbeats go
    // on over the telephony link. The master drops to async and goes on committing, and
    // its heartbeats tell the slave how far the acknowledged commits now reach.
    cluster.lab.link_down(Ns::Node2, Lab::CLUSTER_IF).unwrap();
    let at_cut = writer.acknowledged().unwrap().len();
    cluster
        .wait_for("commits the slave cannot receive", DEADLINE, || {
            Ok(writer.acknowledged()?.len() >= at_cut + 20)
        })
        .unwrap();
    let newest_before_death = *writer.acknowledged().unwrap().last().unwrap();
    // The master's database monitor looks twice more (so one whole look came after
    // those commits and put them into the advert), then two more heartbeats reach node2.
    let checked_at = || -> anyhow::Result<serde_json::Value> {
        Ok(cluster.get(Ns::Node1, "/api/v1/sync")?["database"]["checked_at"].clone())
    };
    let mut looked = checked_at().unwrap();
    for _ in 0..2 {
        cluster
            .wait_for("the master's database monitor", DEADLINE, || {
                let now = checked_at()?;
                let changed = now != looked;
                looked = now;
                Ok(changed)
            })
            .unwrap();
    }
    let received = "pequod_heartbeats_received_total";
    let heard = cluster.metric(Ns::Node2, received).unwrap();
    cluster
        .wait_for("heartbeats with the advert", DEADLINE, || {
            Ok(cluster.metric(Ns::Node2, received)? >= heard + 2.0)
        })
        .unwrap();

    cluster.fail(Ns::Node1, Fault::MachineDeath).unwrap();
    cluster
        .wait_for("the slave to say how much it lacks", DEADLINE, || {
            let reasons = cluster.get(Ns::Node2, "/api/v1/cluster")?["lamp_reasons"].to_string();
            Ok(reasons.contains("lacks") && reasons.contains("not promoted automatically"))
        })
        .unwrap();
    let state = cluster.get(Ns::Node2, "/api/v1/cluster").unwrap();
    assert_eq!(state["role"], "slave", "{state}");
    assert!(!cluster.holds_vip(Ns::Node2).unwrap());
    let sync = cluster.get(Ns::Node2, "/api/v1/sync").unwrap();
    assert_eq!(sync["database"]["role"], "standby", "not promoted: {sync}");

    // A person decides that the PBX running matters more than the lost commits.
    let job = cluster
        .run_job(
            Ns::Node2,
            "POST",
            "/api/v1/cluster/failover",
            Some(serde_json::json!({ "force": true })),
        )
        .unwrap();
    assert!(
        job.to_string().contains("forced by a person") && job.to_string().contains("lacks"),
        "the job records that it was forced and what may be lost: {job:#}"
    );
    // The audit log says who forced it and how much may be lost.
    let audit = cluster
        .get(Ns::Node2, "/api/v1/audit?action=failover.forced")
        .unwrap();
    assert_eq!(audit["total"], 1, "{audit:#}");
    let forced = &audit["items"][0];
    assert_eq!(forced["user"], "admin", "{forced:#}");
    assert_eq!(forced["outcome"], "success", "{forced:#}");
    assert_eq!(forced["status"], 202, "{forced:#}");
    let detail = forced["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("forced by admin") && detail.contains("lacks") && detail.contains("bytes"),
        "{forced:#}"
    );
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    assert!(cluster.holds_vip(Ns::Node2).unwrap());
    cluster
        .wait_for("the promoted database", DEADLINE, || {
            let sync = cluster.get(Ns::Node2, "/api/v1/sync")?;
            Ok(sync["database"]["role"] == "primary")
        })
        .unwrap();
    assert!(
        !rows(&cluster, Ns::Node2).contains(&newest_before_death),
        "the slave really was behind: the last commits before the death are lost"
    );
    let at_takeover = writer.acknowledged().unwrap().len();
    cluster
        .wait_for("commits on the forced master", DEADLINE, || {
            Ok(writer.acknowledged()?.len() >= at_takeover + 5)
        })
        .unwrap();
    writer.stop();
}

/// Reads a file of the node's synced tree (`None` when it is not there).
fn read(cluster: &LabCluster, ns: Ns, path: &str) -> Option<String> {
    std::fs::read_to_string(cluster.node_files(ns).join(path)).ok()
}

fn write(cluster: &LabCluster, ns: Ns, path: &str, text: &str) {
    let path = cluster.node_files(ns).join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Changes reach the slave within this long (the acceptance bound).
const FILES_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

#[test]
fn files_follow_the_master_within_seconds_and_a_change_by_hand_on_the_slave_is_named() {
    if !require_root() {
        return;
    }
    let cluster = LabCluster::new("file-sync").expect("the lab builds");
    cluster.with_files().unwrap();
    write(&cluster, Ns::Node1, "etc/asterisk/sip.conf", "[general]\n");
    cluster.start(Ns::Node1).unwrap();
    cluster.start(Ns::Node2).unwrap();
    cluster.configure_master(Ns::Node1).unwrap();
    // Add slave waits for the first full pass.
    cluster.pair(Ns::Node1, Ns::Node2).unwrap();
    assert_eq!(
        read(&cluster, Ns::Node2, "etc/asterisk/sip.conf").as_deref(),
        Some("[general]\n")
    );

    // A new file, a change, a directory created and filled in one burst, a delete.
    write(&cluster, Ns::Node1, "voicemail/INBOX/msg0001.txt", "hello");
    cluster
        .wait_for("a new file on the slave", FILES_WITHIN, || {
            Ok(
                read(&cluster, Ns::Node2, "voicemail/INBOX/msg0001.txt").as_deref()
                    == Some("hello"),
            )
        })
        .unwrap();
    write(
        &cluster,
        Ns::Node1,
        "etc/asterisk/sip.conf",
        "[general]\nbindport=5060\n",
    );
    cluster
        .wait_for("a changed file on the slave", FILES_WITHIN, || {
            Ok(read(&cluster, Ns::Node2, "etc/asterisk/sip.conf")
                .is_some_and(|t| t.contains("bindport")))
        })
        .unwrap();
    for i in 0..50 {
        write(
            &cluster,
            Ns::Node1,
            &format!("monitor/burst/call{i:03}.txt"),
            "rec",
        );
    }
    cluster
        .wait_for(
            "a directory made and filled in one burst",
            FILES_WITHIN,
            || {
                Ok((0..50).all(|i| {
                    read(
                        &cluster,
                        Ns::Node2,
                        &format!("monitor/burst/call{i:03}.txt"),
                    )
                    .is_some()
                }))
            },
        )
        .unwrap();
    std::fs::remove_file(
        cluster
            .node_files(Ns::Node1)
            .join("voicemail/INBOX/msg0001.txt"),
    )
    .unwrap();
    cluster
        .wait_for("a deleted file gone on the slave", FILES_WITHIN, || {
            Ok(read(&cluster, Ns::Node2, "voicemail/INBOX/msg0001.txt").is_none())
        })
        .unwrap();

    // A file changed by hand on the slave: Filesystem Sync names it.
    let check = |ns: Ns| {
        cluster
            .api(ns, "POST", "/api/v1/checks/filesystem-sync/run", None)
            .unwrap()
            .1
    };
    let ok = check(Ns::Node1);
    assert_eq!(ok["state"], "ok", "{ok}");
    write(
        &cluster,
        Ns::Node2,
        "etc/asterisk/sip.conf",
        "edited by hand",
    );
    let differs = check(Ns::Node2);
    assert_eq!(differs["state"], "critical", "{differs}");
    assert!(
        differs["output"]
            .as_str()
            .is_some_and(|o| o.contains("etc/asterisk/sip.conf")),
        "{differs}"
    );
    let sync = cluster.get(Ns::Node2, "/api/v1/sync").unwrap();
    assert!(
        sync["files"]["differing_paths"]
            .to_string()
            .contains("sip.conf"),
        "{sync}"
    );
    // The master's next full pass puts it right again.
    cluster
        .wait_for("the full pass to mend the slave", DEADLINE, || {
            Ok(read(&cluster, Ns::Node2, "etc/asterisk/sip.conf")
                .is_some_and(|t| t.contains("bindport")))
        })
        .unwrap();

    // The master dies: the new master has every file.
    cluster.fail(Ns::Node1, Fault::MachineDeath).unwrap();
    cluster
        .wait_for("node2 to take over", DEADLINE, || {
            Ok(cluster.role(Ns::Node2)? == "master")
        })
        .unwrap();
    assert!((0..50).all(|i| {
        read(
            &cluster,
            Ns::Node2,
            &format!("monitor/burst/call{i:03}.txt"),
        )
        .is_some()
    }));
}

#[test]
fn an_old_master_written_to_after_the_failover_is_rewound_and_the_job_names_what_was_cut_off() {
    if !require_root() {
        return;
    }
    let cluster = paired_with_database(
        "diverged",
        "CREATE TABLE calls (id bigint PRIMARY KEY); INSERT INTO calls VALUES (1);",
    );
    cluster.fail(Ns::Node1, Fault::MachineDeath).unwrap();
    cluster
        .wait_for(
            "node2 to take over with its database promoted",
            DEADLINE,
            || Ok(cluster.get(Ns::Node2, "/api/v1/sync")?["database"]["role"] == "primary"),
        )
        .unwrap();
    cluster
        .psql(Ns::Node2, "INSERT INTO calls VALUES (2)")
        .unwrap();

    // Behind the cluster's back, the old master's database takes writes of its own
    // (committed locally: in sync mode they would otherwise wait for node2 forever).
    cluster.boot_without_pequod(Ns::Node1).unwrap();
    cluster.pg_ctl_by_hand(Ns::Node1, "start").unwrap();
    cluster
        .psql(
            Ns::Node1,
            "SET synchronous_commit = local;
             INSERT INTO calls SELECT g FROM generate_series(100, 104) g",
        )
        .unwrap();
    cluster.pg_ctl_by_hand(Ns::Node1, "stop").unwrap();

    cluster.start(Ns::Node1).unwrap();
    cluster
        .wait_for("node1 to be standby", DEADLINE, || {
            Ok(cluster.role(Ns::Node1)? == "standby")
        })
        .unwrap();
    let job = cluster
        .run_job(Ns::Node2, "POST", "/api/v1/slaves/node1/readd", None)
        .unwrap();
    let text = job.to_string();
    assert!(
        text.contains("rewound") && text.contains("commit(s) between"),
        "the job names the commits cut off: {text}"
    );
    let kept = text
        .split("its old WAL is kept in ")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the job says where the cut-off WAL is kept");
    assert!(std::path::Path::new(kept).join("pg_wal").is_dir(), "{kept}");
    // Never kept as primary: it follows node2, without what was cut off.
    cluster
        .psql(Ns::Node2, "INSERT INTO calls VALUES (3)")
        .unwrap();
    cluster
        .wait_for("node1 to follow node2", DEADLINE, || {
            Ok(rows(&cluster, Ns::Node1) == BTreeSet::from([1, 2, 3]))
        })
        .unwrap();
    assert_eq!(
        cluster
            .psql(Ns::Node1, "SELECT pg_is_in_recovery()")
            .unwrap()
            .trim(),
        "t"
    );
}
