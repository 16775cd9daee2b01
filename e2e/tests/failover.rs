//! The HA core in the namespace lab: two real `pequod` processes, Kamailio as the
//! managed SIP service, a phone and a gateway. Faults are real: processes killed,
//! links cut. Everything is asserted from the phone (SIP to the cluster IP) and
//! through the nodes' API.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use pequod_e2e::cluster::{DEADLINE, Fault, LabCluster};
use pequod_e2e::{Lab, Ns, require_root};

/// The nodes' heartbeat port (the default of `cluster.heartbeat_port`).
const HEARTBEAT_PORT: u16 = 7405;

/// Both nodes running, node1 master, node2 slave.
fn paired(name: &str) -> LabCluster {
    let cluster = LabCluster::new(name).expect("the lab builds");
    cluster.start_paired().unwrap();
    cluster
}

/// One sample of a node's `/metrics`, by its series (`name{labels}` as written).
fn metric(cluster: &LabCluster, ns: Ns, series: &str) -> f64 {
    cluster.metric(ns, series).unwrap()
}

/// Until `window` has passed and node2 has accepted `beats` more heartbeats from node1
/// (so both kept running through it), every look finds the same roles, epochs and
/// cluster-IP holders as at the start.
fn nothing_changes(cluster: &LabCluster, what: &str, window: Duration, beats: f64) {
    let before = cluster.cluster_state().unwrap();
    let received = "pequod_heartbeats_received_total";
    let heard = metric(cluster, Ns::Node2, received);
    cluster
        .stays(
            what,
            window,
            || Ok(cluster.cluster_state()? == before),
            || Ok(cluster.metric(Ns::Node2, received)? >= heard + beats),
        )
        .unwrap();
}

#[test]
fn pairing_makes_node1_master_and_node2_slave() {
    if !require_root() {
        return;
    }
    let cluster = paired("pairing");
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();

    // Each node learns the other's state from its heartbeats, a cycle or two after
    // the pairing job ends.
    cluster
        .wait_for(
            "node2 to hear that node1 holds the cluster IP",
            DEADLINE,
            || {
                let view = cluster.get(Ns::Node2, "/api/v1/cluster")?;
                Ok(view["vip_holder"] == "node1")
            },
        )
        .unwrap();
    cluster
        .wait_for("node1 to hear node2 on both links", DEADLINE, || {
            let nodes = cluster.get(Ns::Node1, "/api/v1/nodes")?;
            Ok(nodes[1]["links"]["telephony"] == true && nodes[1]["links"]["cluster"] == true)
        })
        .unwrap();
    let nodes = cluster.get(Ns::Node1, "/api/v1/nodes").unwrap();
    let peer = &nodes[1];
    assert_eq!(peer["hostname"], "node2");
    assert_eq!(peer["role"], "slave");
    let slaves = cluster.get(Ns::Node1, "/api/v1/slaves").unwrap();
    assert_eq!(slaves[0]["state"], "active");
    let view = cluster.get(Ns::Node2, "/api/v1/cluster").unwrap();
    assert_eq!(view["mode"], "cluster");

    assert_eq!(
        metric(&cluster, Ns::Node1, "pequod_role{role=\"master\"}"),
        1.0
    );
    assert_eq!(
        metric(&cluster, Ns::Node2, "pequod_role{role=\"slave\"}"),
        1.0
    );
    assert_eq!(metric(&cluster, Ns::Node1, "pequod_cluster_ip_held"), 1.0);
    for link in ["telephony", "cluster"] {
        let up = format!("pequod_peer_link_up{{link=\"{link}\"}}");
        let age = format!("pequod_peer_heartbeat_age_seconds{{link=\"{link}\"}}");
        cluster
            .wait_for(
                &format!("node2 to hear node1 on the {link} link"),
                DEADLINE,
                || {
                    let text = cluster.get(Ns::Node2, "/metrics")?;
                    let text = text.as_str().unwrap_or_default();
                    Ok(text.contains(&format!("{up} 1\n")) && text.contains(&format!("{age} ")))
                },
            )
            .unwrap();
        let age = metric(&cluster, Ns::Node2, &age);
        assert!((0.0..5.0).contains(&age), "{link} heartbeat {age} s old");
    }
    assert!(metric(&cluster, Ns::Node2, "pequod_heartbeats_received_total") > 0.0);
}

/// The local addresses `ns` listens on with TCP port 2222 (the SSH control channel).
fn ssh_listeners(cluster: &LabCluster, ns: Ns) -> Vec<String> {
    let out = cluster
        .lab
        .exec_ok(ns, "ss", &["-ltnH", "sport = :2222"])
        .unwrap();
    let mut addrs: Vec<String> = out
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3).map(str::to_string))
        .collect();
    addrs.sort();
    addrs
}

/// Waits until `ns` listens on 2222 at exactly `addrs` (as `ss` prints them).
fn ssh_listens_on(cluster: &LabCluster, ns: Ns, addrs: &[&str]) {
    cluster
        .wait_for(
            &format!("the SSH control channel of {ns} on {addrs:?}"),
            DEADLINE,
            || Ok(ssh_listeners(cluster, ns) == addrs),
        )
        .unwrap();
}

#[test]
fn the_ssh_control_channel_listens_on_the_cluster_link_only_once_there_is_a_cluster() {
    if !require_root() {
        return;
    }
    let cluster = LabCluster::new("ssh-binding").expect("the lab builds");
    cluster.start(Ns::Node1).expect("node1 starts");
    cluster.start(Ns::Node2).expect("node2 starts");
    // Standalone, with no master trusted: nothing to accept, so no socket at all. The
    // API answering proves each node is past its start.
    for ns in [Ns::Node1, Ns::Node2] {
        cluster.get(ns, "/api/v1/nodes/self").unwrap();
        assert_eq!(ssh_listeners(&cluster, ns), Vec::<String>::new(), "{ns}");
    }

    // A master listens on its sync IP, not on the telephony network.
    cluster
        .configure_master(Ns::Node1)
        .expect("configure master");
    let node1_sync = format!("{}:2222", Ns::Node1.cluster_ip().unwrap());
    ssh_listens_on(&cluster, Ns::Node1, &[node1_sync.as_str()]);
    let telephony = Ns::Node1.telephony_ip().unwrap();
    let refused = cluster
        .lab
        .exec(
            Ns::Phone,
            "bash",
            &["-c", &format!("exec 3<>/dev/tcp/{telephony}/2222")],
        )
        .unwrap();
    assert!(
        !refused.status.success(),
        "the phone reached node1's SSH port on the telephony network"
    );

    // Prepared, node2 does not know its cluster link yet: every address.
    cluster
        .prepare_slave(Ns::Node1, Ns::Node2)
        .expect("prepare slave");
    cluster
        .wait_for(
            "node2's SSH control channel on every address",
            DEADLINE,
            || {
                let addrs = ssh_listeners(&cluster, Ns::Node2);
                Ok(addrs.len() == 1
                    && ["*:2222", "[::]:2222", "0.0.0.0:2222"].contains(&addrs[0].as_str()))
            },
        )
        .unwrap();
    // Paired: its sync IP only, and the master still reaches it there.
    cluster.add_slave(Ns::Node1, Ns::Node2).expect("add slave");
    let node2_sync = format!("{}:2222", Ns::Node2.cluster_ip().unwrap());
    ssh_listens_on(&cluster, Ns::Node2, &[node2_sync.as_str()]);
    ssh_listens_on(&cluster, Ns::Node1, &[node1_sync.as_str()]);
    cluster
        .run_job(Ns::Node1, "DELETE", "/api/v1/slaves/node2", None)
        .unwrap();
    cluster
        .run_job(Ns::Node1, "POST", "/api/v1/slaves/node2/readd", None)
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "slave");
    ssh_listens_on(&cluster, Ns::Node2, &[node2_sync.as_str()]);
}

/// The master fails, the slave takes over, the phone sees exactly one holder of the
/// cluster IP all along; the old master comes back standby and is added again.
fn the_master_fails_and_comes_back_standby(name: &str, fault: Fault) {
    let cluster = paired(name);
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    let watch = cluster.arp_watch().unwrap();
    let node2_mac = cluster.telephony_mac(Ns::Node2).unwrap();
    cluster.fail(Ns::Node1, fault).unwrap();
    if fault == Fault::ProcessCrash {
        // The crash left the cluster IP on node1's eth0, where its kernel still
        // answers ARP. systemd runs the unit's stop hook the moment the process
        // dies, long before the slave's dead_after; this models that hook.
        assert!(cluster.holds_vip(Ns::Node1).unwrap());
        let out = cluster.release_vip(Ns::Node1).unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("removed the cluster IP 10.77.0.10/24 from eth0"),
            "{stdout}"
        );
        assert!(!cluster.holds_vip(Ns::Node1).unwrap());
    }

    cluster
        .wait_for("node2 to hold the cluster IP", DEADLINE, || {
            cluster.holds_vip(Ns::Node2)
        })
        .unwrap();
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || cluster.sip_answers())
        .unwrap();
    cluster
        .wait_for(
            "the phone to find node2 at the cluster IP",
            DEADLINE,
            || Ok(watch.latest_answer() == Some([node2_mac].into())),
        )
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    let view = cluster.get(Ns::Node2, "/api/v1/cluster").unwrap();
    assert_eq!(view["epoch"], 2);
    assert_eq!(
        metric(
            &cluster,
            Ns::Node2,
            "pequod_failovers_total{kind=\"automatic\"}"
        ),
        1.0
    );
    assert_eq!(metric(&cluster, Ns::Node2, "pequod_epoch"), 2.0);
    let jobs = cluster.get(Ns::Node2, "/api/v1/jobs").unwrap();
    let failover = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "automatic_failover")
        .expect("the failover is recorded as a job");
    assert_eq!(failover["state"], "succeeded");
    // The audit log says the node took over by itself, and why.
    let audit = cluster
        .get(Ns::Node2, "/api/v1/audit?action=failover")
        .unwrap();
    assert_eq!(audit["total"], 1, "{audit:#}");
    let takeover = &audit["items"][0];
    assert_eq!(takeover["action"], "failover.takeover", "{takeover:#}");
    assert_eq!(takeover["user"], serde_json::Value::Null, "{takeover:#}");
    assert_eq!(takeover["target"], "node2", "{takeover:#}");
    assert_eq!(takeover["outcome"], "success", "{takeover:#}");
    assert!(
        takeover["detail"]
            .as_str()
            .is_some_and(|d| d.contains("took over as epoch 2")),
        "{takeover:#}"
    );

    // The old master starts again: it must come up standby without the address.
    cluster.start(Ns::Node1).unwrap();
    cluster
        .wait_for("node1 to be standby", DEADLINE, || {
            Ok(cluster.role(Ns::Node1)? == "standby")
        })
        .unwrap();
    assert!(!cluster.holds_vip(Ns::Node1).unwrap());
    assert!(cluster.holds_vip(Ns::Node2).unwrap());

    // "Add again" with the cached data makes it the slave of the new master.
    let slaves = cluster.get(Ns::Node2, "/api/v1/slaves").unwrap();
    assert_eq!(slaves[0]["hostname"], "node1");
    assert_eq!(slaves[0]["state"], "removed");
    cluster
        .run_job(Ns::Node2, "POST", "/api/v1/slaves/node1/readd", None)
        .unwrap();
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "slave");
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    watch.finish().unwrap();
}

#[test]
fn killing_the_master_machine_moves_the_cluster_ip_and_the_old_master_comes_back_standby() {
    if !require_root() {
        return;
    }
    the_master_fails_and_comes_back_standby("kill-master-machine", Fault::MachineDeath);
}

#[test]
fn killing_the_master_process_with_the_stop_hook_moves_the_cluster_ip_without_a_second_holder() {
    if !require_root() {
        return;
    }
    the_master_fails_and_comes_back_standby("kill-master-process", Fault::ProcessCrash);
}

#[test]
fn a_crashed_master_removes_the_cluster_ip_it_left_before_it_starts_again() {
    if !require_root() {
        return;
    }
    let cluster = paired("crash-restart");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    // No stop hook here (pequod run by hand, or a unit without it): the address
    // stays on node1's eth0 while node2 takes over. Its kernel does not answer ARP
    // for it (Pequod answers for the cluster IP itself, and a crashed process
    // answers nothing), so the phone sees one holder at every probe all the same.
    let crash_watch = cluster.arp_watch().unwrap();
    cluster.process_crash(Ns::Node1).unwrap();
    cluster
        .wait_for("node2 to take over", DEADLINE, || {
            Ok(cluster.holds_vip(Ns::Node2)? && cluster.role(Ns::Node2)? == "master")
        })
        .unwrap();
    assert!(
        cluster.holds_vip(Ns::Node1).unwrap(),
        "the crash left the cluster IP on node1"
    );
    let node2_mac = cluster.telephony_mac(Ns::Node2).unwrap();
    cluster
        .wait_for(
            "the phone to find node2 at the cluster IP",
            DEADLINE,
            || Ok(crash_watch.latest_answer() == Some([node2_mac].into())),
        )
        .unwrap();
    // Ten more probes, each answered by node2 alone, while the address sits on node1.
    let seen = crash_watch.samples().len();
    cluster
        .wait_for("ten more ARP probes from the phone", DEADLINE, || {
            Ok(crash_watch.samples().len() >= seen + 10)
        })
        .unwrap();
    assert!(cluster.holds_vip(Ns::Node1).unwrap());
    let samples = crash_watch.finish().unwrap();
    assert!(
        samples[seen..]
            .iter()
            .all(|s| s.macs.iter().all(|m| *m == node2_mac)),
        "only node2 answers for the cluster IP while node1's crash left it there: {:?}",
        &samples[seen..]
    );

    // Removed before the API answers, while the stored master would still be in its
    // start-up grace: nothing else would have removed it yet.
    cluster.start(Ns::Node1).unwrap();
    assert!(
        !cluster.holds_vip(Ns::Node1).unwrap(),
        "node1 still holds the cluster IP once its API answers:\n{}",
        cluster.log_tail(Ns::Node1)
    );
    let log = std::fs::read_to_string(cluster.log_path(Ns::Node1).unwrap()).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("removed it before starting") && l.contains("eth0")),
        "node1 says it removed the address:\n{log}"
    );
    let watch = cluster.arp_watch().unwrap();
    cluster
        .wait_for("node1 to be standby", DEADLINE, || {
            Ok(cluster.role(Ns::Node1)? == "standby")
        })
        .unwrap();
    nothing_changes(
        &cluster,
        "node2 master, node1 standby",
        Duration::from_secs(1),
        10.0,
    );
    cluster
        .expect_roles(Ns::Node2, Ns::Node1, "standby")
        .unwrap();
    let answers = watch.finish().unwrap();
    assert!(
        answers
            .iter()
            .all(|s| s.macs.iter().all(|m| *m == node2_mac))
    );

    // The stop hook finds nothing to do now; a wrong settings file is an error.
    let out = cluster.release_vip(Ns::Node1).unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("is not on this machine"),
        "{out:?}"
    );
    let out = cluster
        .lab
        .exec(
            Ns::Node1,
            pequod_e2e::cluster::pequod_binary()
                .unwrap()
                .to_str()
                .unwrap(),
            &["release-vip", "--config", "/nonexistent/pequod.toml"],
        )
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{out:?}"
    );
}

#[test]
fn manual_failover_moves_the_services_and_back_again() {
    if !require_root() {
        return;
    }
    let cluster = paired("manual-failover");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    let watch = cluster.arp_watch().unwrap();

    cluster
        .run_job(Ns::Node1, "POST", "/api/v1/cluster/failover", None)
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    // As the seed says: after a manual failover the old master is standby.
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "standby");
    assert!(cluster.holds_vip(Ns::Node2).unwrap());
    assert!(!cluster.holds_vip(Ns::Node1).unwrap());
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || cluster.sip_answers())
        .unwrap();
    let jobs = cluster.get(Ns::Node2, "/api/v1/jobs").unwrap();
    assert!(
        jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "manual_failover")
    );
    // Who asked is in the old master's audit log; the new master's says it took over.
    let asked = cluster
        .get(Ns::Node1, "/api/v1/audit?action=failover")
        .unwrap();
    assert_eq!(asked["items"][0]["action"], "failover.manual", "{asked:#}");
    assert_eq!(asked["items"][0]["user"], "admin", "{asked:#}");
    assert_eq!(asked["items"][0]["outcome"], "success", "{asked:#}");
    assert!(
        asked["items"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Manual failover to node2, asked by admin")),
        "{asked:#}"
    );
    let took = cluster
        .get(Ns::Node2, "/api/v1/audit?action=failover")
        .unwrap();
    assert_eq!(took["items"][0]["action"], "failover.takeover", "{took:#}");

    // Cluster changes on the standby node point to the cluster IP.
    let (status, problem) = cluster
        .api(Ns::Node1, "POST", "/api/v1/cluster/failover", None)
        .unwrap();
    assert_eq!(status, 409);
    assert!(
        problem["detail"].as_str().unwrap().contains("10.77.0.10"),
        "{problem}"
    );

    cluster
        .run_job(Ns::Node2, "POST", "/api/v1/slaves/node1/readd", None)
        .unwrap();
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "slave");
    cluster
        .run_job(Ns::Node2, "POST", "/api/v1/cluster/failover", None)
        .unwrap();
    cluster
        .expect_roles(Ns::Node1, Ns::Node2, "standby")
        .unwrap();
    cluster
        .wait_for("SIP answered by node1 again", DEADLINE, || {
            cluster.sip_answers()
        })
        .unwrap();
    assert_eq!(
        cluster.get(Ns::Node1, "/api/v1/cluster").unwrap()["epoch"],
        3
    );
    cluster
        .wait_for(
            "the phone to find node1 at the cluster IP again",
            DEADLINE,
            || Ok(watch.latest_answer() == Some([cluster.telephony_mac(Ns::Node1)?].into())),
        )
        .unwrap();
    watch.finish().unwrap();
}

#[test]
fn a_manual_failover_is_claimed_on_the_masters_word_not_after_dead_after() {
    if !require_root() {
        return;
    }
    // With the peer declared dead only after 10 s, a handover faster than that can only
    // come from the slave hearing that the master stepped down.
    let dead_after = Duration::from_secs(10);
    let cluster = LabCluster::new("switchover-claim").expect("the lab builds");
    cluster
        .add_config(&format!(
            "[cluster]\ndead_after_ms = {}\n",
            dead_after.as_millis()
        ))
        .unwrap();
    cluster.start_paired().unwrap();
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    let watch = cluster.arp_watch().unwrap();

    let asked = std::time::Instant::now();
    let (status, body) = cluster
        .api(Ns::Node1, "POST", "/api/v1/cluster/failover", None)
        .unwrap();
    assert_eq!(status, 202, "{body}");
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || {
            Ok(cluster.holds_vip(Ns::Node2)? && cluster.sip_answers()?)
        })
        .unwrap();
    let gap = asked.elapsed();
    assert!(
        gap < dead_after,
        "node2 answered SIP {gap:?} after the request: that is the dead-after timer, not the claim"
    );
    cluster
        .expect_roles(Ns::Node2, Ns::Node1, "standby")
        .unwrap();
    let took = cluster
        .get(Ns::Node2, "/api/v1/audit?action=failover.takeover")
        .unwrap();
    assert!(
        took["items"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("stepped down to standby")),
        "{took:#}"
    );
    // Exactly one MAC answered for the cluster IP at every look.
    watch.finish().unwrap();
    println!(
        "switchover: SIP answered by the new master {} ms after the request",
        gap.as_millis()
    );
}

#[test]
fn a_manual_failover_without_a_slave_is_refused() {
    if !require_root() {
        return;
    }
    let cluster = LabCluster::new("failover-no-slave").unwrap();
    cluster.start(Ns::Node1).unwrap();
    cluster.configure_master(Ns::Node1).unwrap();
    let (status, problem) = cluster
        .api(Ns::Node1, "POST", "/api/v1/cluster/failover", None)
        .unwrap();
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no healthy slave"),
        "{problem}"
    );
    assert!(cluster.holds_vip(Ns::Node1).unwrap());
}

#[test]
fn the_master_losing_the_telephony_network_fails_over_and_a_cut_cluster_link_does_not() {
    if !require_root() {
        return;
    }
    let cluster = paired("network-failover");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();

    // Cluster link only: a warning, no failover.
    cluster.lab.link_down(Ns::Node1, Lab::CLUSTER_IF).unwrap();
    cluster
        .wait_for("node1 to see the cluster link down", DEADLINE, || {
            let nodes = cluster.get(Ns::Node1, "/api/v1/nodes")?;
            Ok(nodes[1]["links"]["cluster"] == false && nodes[1]["links"]["telephony"] == true)
        })
        .unwrap();
    // Give a wrong takeover more than dead_after to happen, then check none did.
    let quiet_until = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < quiet_until {
        assert_eq!(cluster.role(Ns::Node2).unwrap(), "slave");
        assert!(!cluster.holds_vip(Ns::Node2).unwrap());
    }
    assert!(cluster.holds_vip(Ns::Node1).unwrap());
    let view = cluster.get(Ns::Node1, "/api/v1/cluster").unwrap();
    assert_eq!(view["lamp"], "yellow", "{view}");
    assert!(
        view["lamp_reasons"][0]
            .as_str()
            .unwrap()
            .contains("cluster link is down"),
        "{view}"
    );
    cluster.lab.link_up(Ns::Node1, Lab::CLUSTER_IF).unwrap();
    cluster
        .wait_for("both links up again", DEADLINE, || {
            let nodes = cluster.get(Ns::Node1, "/api/v1/nodes")?;
            Ok(nodes[1]["links"]["cluster"] == true && nodes[1]["links"]["telephony"] == true)
        })
        .unwrap();

    // The master's telephony link: network failover to node2.
    cluster.lab.link_down(Ns::Node1, Lab::TELEPHONY_IF).unwrap();
    cluster
        .wait_for("node2 to hold the cluster IP", DEADLINE, || {
            cluster.holds_vip(Ns::Node2)
        })
        .unwrap();
    cluster
        .wait_for("node1 to step down", DEADLINE, || {
            Ok(cluster.role(Ns::Node1)? == "standby" && !cluster.holds_vip(Ns::Node1)?)
        })
        .unwrap();
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || cluster.sip_answers())
        .unwrap();
}

#[test]
fn a_master_paused_for_less_than_dead_after_keeps_its_role() {
    if !require_root() {
        return;
    }
    let cluster = paired("sigstop");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    let pid = cluster.pid(Ns::Node1).expect("node1's pequod");
    // dead_after is 600 ms by default.
    cluster.lab.pause(pid).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    cluster.lab.resume(pid).unwrap();
    // Longer than dead_after again, for a wrong takeover to show.
    nothing_changes(
        &cluster,
        "node1 master, node2 slave",
        Duration::from_secs(2),
        15.0,
    );
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
}

/// Pauses the node's pequod (and its services) with SIGSTOP for `pause`, well past
/// dead_after (600 ms by default).
fn pause_for(cluster: &LabCluster, ns: Ns, pause: Duration) {
    let pid = cluster.pid(ns).expect("the node's pequod");
    cluster.lab.pause(pid).unwrap();
    std::thread::sleep(pause);
    cluster.lab.resume(pid).unwrap();
}

#[test]
fn a_master_paused_for_longer_than_dead_after_gives_up_the_cluster_ip_when_it_resumes() {
    if !require_root() {
        return;
    }
    let cluster = paired("sigstop-master-long");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    let watch = cluster.arp_watch().unwrap();
    let pid = cluster.pid(Ns::Node1).expect("node1's pequod");
    cluster.lab.pause(pid).unwrap();
    // The slave decides while the master is frozen: to it, a silent master is dead.
    let taken_over = cluster.wait_for("node2 to take over", DEADLINE, || {
        Ok(cluster.holds_vip(Ns::Node2)? && cluster.role(Ns::Node2)? == "master")
    });
    cluster.lab.resume(pid).unwrap();
    taken_over.unwrap();
    cluster
        .wait_for(
            "node1 to release the cluster IP and stand by",
            DEADLINE,
            || Ok(!cluster.holds_vip(Ns::Node1)? && cluster.role(Ns::Node1)? == "standby"),
        )
        .unwrap();
    nothing_changes(
        &cluster,
        "node2 master, node1 standby",
        Duration::from_secs(1),
        10.0,
    );
    cluster
        .expect_roles(Ns::Node2, Ns::Node1, "standby")
        .unwrap();
    watch.finish().unwrap();
}

#[test]
fn a_slave_paused_for_longer_than_dead_after_does_not_take_over_when_it_resumes() {
    if !require_root() {
        return;
    }
    let cluster = paired("sigstop-slave-long");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    let watch = cluster.arp_watch().unwrap();
    pause_for(&cluster, Ns::Node2, Duration::from_millis(1500));
    // Several seconds, and 30 heartbeats accepted by node2 after it resumed, of the
    // same roles, epochs and holder at every look.
    nothing_changes(
        &cluster,
        "node1 master, node2 slave",
        Duration::from_secs(3),
        30.0,
    );
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
    let node1_mac = cluster.telephony_mac(Ns::Node1).unwrap();
    assert!(
        watch
            .finish()
            .unwrap()
            .iter()
            .all(|s| s.macs.iter().all(|m| *m == node1_mac))
    );
}

#[test]
fn after_both_links_are_cut_and_healed_exactly_one_node_holds_the_cluster_ip() {
    if !require_root() {
        return;
    }
    let cluster = paired("split-brain");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    // "Exactly one holder" is what the phone sees at every probe, from the cut to
    // well after the heal.
    let watch = cluster.arp_watch().unwrap();
    // node2 loses both links to node1, but still reaches the gateway? No: cutting both
    // of node1's links isolates it; node2 keeps the telephony network and takes over.
    cluster.lab.link_down(Ns::Node1, Lab::CLUSTER_IF).unwrap();
    cluster.lab.link_down(Ns::Node1, Lab::TELEPHONY_IF).unwrap();
    cluster
        .wait_for("node2 to take over", DEADLINE, || {
            cluster.holds_vip(Ns::Node2)
        })
        .unwrap();
    cluster.lab.link_up(Ns::Node1, Lab::TELEPHONY_IF).unwrap();
    cluster.lab.link_up(Ns::Node1, Lab::CLUSTER_IF).unwrap();
    cluster
        .wait_for(
            "exactly one holder: node2, the higher epoch",
            DEADLINE,
            || Ok(cluster.holds_vip(Ns::Node2)? && !cluster.holds_vip(Ns::Node1)?),
        )
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "standby");
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || cluster.sip_answers())
        .unwrap();
    nothing_changes(
        &cluster,
        "node2 master after the heal",
        Duration::from_secs(1),
        10.0,
    );
    let node2_mac = cluster.telephony_mac(Ns::Node2).unwrap();
    assert_eq!(watch.latest_answer(), Some([node2_mac].into()));
    watch.finish().unwrap();
}

#[test]
fn removing_the_slave_leaves_the_master_untouched_and_add_again_restores_it() {
    if !require_root() {
        return;
    }
    let cluster = paired("remove-readd");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    cluster
        .run_job(Ns::Node1, "DELETE", "/api/v1/slaves/node2", None)
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "standby");
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "master");
    assert!(cluster.holds_vip(Ns::Node1).unwrap());
    assert_eq!(cluster.sip_at_vip(Duration::from_secs(2)).unwrap(), 200);
    let slaves = cluster.get(Ns::Node1, "/api/v1/slaves").unwrap();
    assert_eq!(slaves[0]["state"], "removed");
    assert_eq!(slaves[0]["sync_ip"], "10.78.0.2");

    // A removed slave never takes over, even when the master dies... not tested here;
    // "Add again" with the cached data:
    cluster
        .run_job(Ns::Node1, "POST", "/api/v1/slaves/node2/readd", None)
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "slave");
    assert_eq!(
        cluster.get(Ns::Node1, "/api/v1/slaves").unwrap()[0]["state"],
        "active"
    );
}

#[test]
fn forged_heartbeats_from_the_phone_cause_no_failover() {
    if !require_root() {
        return;
    }
    let cluster = paired("forged-heartbeats");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    // A "master" heartbeat with a huge epoch and a wrong signature, sent to node1 from
    // the phone with node2's address as its source: were it believed, node1 would step
    // down at once. The phone borrows node2's address; a static neighbour entry keeps
    // it from announcing that address on the LAN.
    let out = cluster
        .lab
        .exec_ok(
            Ns::Node1,
            "ip",
            &["-o", "link", "show", "dev", Lab::TELEPHONY_IF],
        )
        .unwrap();
    let mac = out
        .split("link/ether ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    cluster
        .lab
        .exec_ok(
            Ns::Phone,
            "ip",
            &[
                "neigh",
                "replace",
                "10.77.0.11",
                "lladdr",
                &mac,
                "dev",
                "eth0",
                "nud",
                "permanent",
            ],
        )
        .unwrap();
    cluster
        .lab
        .exec_ok(
            Ns::Phone,
            "ip",
            &["addr", "add", "10.77.0.12/32", "dev", "eth0", "nodad"],
        )
        .unwrap();
    cluster
        .lab
        .in_netns(Ns::Phone, || {
            let socket = std::net::UdpSocket::bind("10.77.0.12:0").unwrap();
            // Version 2: link, role, flags, node id, boot, sequence, send time, epoch,
            // the database advert, the name.
            let mut forged = b"PQHB\x02\x01\x01\x01".to_vec();
            forged.extend_from_slice(&[0u8; 16 + 8 + 8 + 8]);
            forged.extend_from_slice(&u64::MAX.to_be_bytes());
            forged.extend_from_slice(&[0u8; 8]);
            forged.push(5);
            forged.extend_from_slice(b"node2");
            forged.extend_from_slice(&[0u8; 32]);
            for _ in 0..50 {
                socket.send_to(&forged, "10.77.0.11:7405").unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .unwrap();
    cluster
        .lab
        .exec_ok(
            Ns::Phone,
            "ip",
            &["addr", "del", "10.77.0.12/32", "dev", "eth0"],
        )
        .unwrap();
    cluster
        .wait_for("node1 to report the forgeries", DEADLINE, || {
            Ok(std::fs::read_to_string(cluster.log_path(Ns::Node1)?)?
                .contains("dropped a heartbeat with a wrong signature"))
        })
        .unwrap();
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
}

#[test]
fn a_replayed_heartbeat_is_dropped_and_changes_nothing() {
    if !require_root() {
        return;
    }
    let cluster = paired("replayed-heartbeats");
    cluster
        .wait_for("node2 to hear node1 on both links", DEADLINE, || {
            let nodes = cluster.get(Ns::Node2, "/api/v1/nodes")?;
            Ok(nodes[1]["links"]["telephony"] == true && nodes[1]["links"]["cluster"] == true)
        })
        .unwrap();
    // A genuine heartbeat of node1, signed with the cluster secret, as it crossed the
    // cluster link into node2.
    let captured = cluster
        .lab
        .capture_udp(
            Ns::Node2,
            Lab::NODE1_CLUSTER_IP,
            HEARTBEAT_PORT,
            Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(&captured[..4], b"PQHB", "{captured:?}");
    // node2 has accepted it and newer ones by the time they come back.
    let received = "pequod_heartbeats_received_total";
    let heard = metric(&cluster, Ns::Node2, received);
    cluster
        .wait_for("node2 to accept newer heartbeats", DEADLINE, || {
            Ok(cluster.metric(Ns::Node2, received)? >= heard + 5.0)
        })
        .unwrap();
    let replayed = "pequod_heartbeats_dropped_total{reason=\"replayed\"}";
    let forged = "pequod_heartbeats_dropped_total{reason=\"forged\"}";
    let (replayed_before, forged_before) = (
        metric(&cluster, Ns::Node2, replayed),
        metric(&cluster, Ns::Node2, forged),
    );
    let before = cluster.cluster_state().unwrap();

    // The same bytes again, from node1's own cluster-link address (pequod holds the
    // heartbeat port there; any other port passes the sender check the same way).
    const COPIES: usize = 5;
    cluster
        .lab
        .in_netns(Ns::Node1, || {
            let socket = std::net::UdpSocket::bind((Lab::NODE1_CLUSTER_IP, 0)).unwrap();
            for _ in 0..COPIES {
                socket
                    .send_to(&captured, (Lab::NODE2_CLUSTER_IP, HEARTBEAT_PORT))
                    .unwrap();
            }
        })
        .unwrap();
    cluster
        .wait_for("node2 to drop the copies as replayed", DEADLINE, || {
            Ok(cluster.metric(Ns::Node2, replayed)? >= replayed_before + COPIES as f64)
        })
        .unwrap();
    assert_eq!(metric(&cluster, Ns::Node2, forged), forged_before);
    assert_eq!(cluster.cluster_state().unwrap(), before);
    nothing_changes(
        &cluster,
        "node1 master, node2 slave",
        Duration::from_secs(1),
        10.0,
    );
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
}

#[test]
fn a_stopped_sip_service_turns_the_checks_and_the_lamp_red_without_a_failover() {
    if !require_root() {
        return;
    }
    let cluster = paired("sip-stopped");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    for id in ["default-services", "asterisk-sip"] {
        let (status, check) = cluster
            .api(Ns::Node1, "POST", &format!("/api/v1/checks/{id}/run"), None)
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(check["state"], "ok", "{check}");
    }
    // Stop Kamailio behind pequod's back, as a crash would.
    assert!(cluster.crash_service(Ns::Node1, "kamailio").unwrap() > 0);
    for id in ["default-services", "asterisk-sip"] {
        let mut last = serde_json::Value::Null;
        for _ in 0..3 {
            last = cluster
                .api(Ns::Node1, "POST", &format!("/api/v1/checks/{id}/run"), None)
                .unwrap()
                .1;
        }
        assert_eq!(last["state"], "critical", "{last}");
        assert_eq!(last["hard"], true, "{last}");
    }
    let view = cluster.get(Ns::Node1, "/api/v1/cluster").unwrap();
    assert_eq!(view["lamp"], "red", "{view}");
    // Notify checks inform; they never move the services: not at one look, but over
    // a window longer than dead_after and several check intervals.
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
    nothing_changes(
        &cluster,
        "no failover after the Kamailio crash",
        Duration::from_secs(3),
        30.0,
    );
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
}

#[test]
fn a_failover_check_confirmed_critical_on_the_master_hands_over_to_the_slave() {
    if !require_root() {
        return;
    }
    let cluster = paired("failover-check");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    std::fs::write(cluster.broken_disk_marker(Ns::Node1).unwrap(), b"").unwrap();

    cluster
        .wait_for("node2 to hold the cluster IP", DEADLINE, || {
            cluster.holds_vip(Ns::Node2)
        })
        .unwrap();
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || cluster.sip_answers())
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    cluster
        .wait_for("node1 to stand by", DEADLINE, || {
            Ok(cluster.role(Ns::Node1)? == "standby" && !cluster.holds_vip(Ns::Node1)?)
        })
        .unwrap();
    let log = std::fs::read_to_string(cluster.log_path(Ns::Node1).unwrap()).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("Cluster Status failed") && l.contains("Lab disk array")),
        "node1 says why it stepped down:\n{log}"
    );
}
