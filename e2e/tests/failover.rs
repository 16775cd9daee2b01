//! The HA core in the namespace lab: two real `pequod` processes, Kamailio as the
//! managed SIP service, a phone and a gateway. Faults are real: processes killed,
//! links cut. Everything is asserted from the phone (SIP to the cluster IP) and
//! through the nodes' API.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use pequod_e2e::cluster::{DEADLINE, LabCluster};
use pequod_e2e::{Ns, require_root};

/// Both nodes running, node1 master, node2 slave.
fn paired(name: &str) -> LabCluster {
    let cluster = LabCluster::new(name).expect("the lab builds");
    cluster.start(Ns::Node1).expect("node1 starts");
    cluster.start(Ns::Node2).expect("node2 starts");
    cluster
        .configure_master(Ns::Node1)
        .expect("configure master");
    cluster.pair(Ns::Node1, Ns::Node2).expect("pairing");
    cluster
}

fn sip_ok(cluster: &LabCluster) -> anyhow::Result<bool> {
    Ok(cluster.sip_at_vip(Duration::from_millis(300)).ok() == Some(200))
}

#[test]
fn pairing_makes_node1_master_and_node2_slave() {
    if !require_root() {
        return;
    }
    let cluster = paired("pairing");
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "master");
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "slave");
    assert!(cluster.holds_vip(Ns::Node1).unwrap());
    assert!(!cluster.holds_vip(Ns::Node2).unwrap());
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || sip_ok(&cluster))
        .unwrap();

    let nodes = cluster.get(Ns::Node1, "/api/v1/nodes").unwrap();
    let peer = &nodes[1];
    assert_eq!(peer["hostname"], "node2");
    assert_eq!(peer["role"], "slave");
    assert_eq!(peer["links"]["telephony"], true);
    assert_eq!(peer["links"]["cluster"], true);
    let slaves = cluster.get(Ns::Node1, "/api/v1/slaves").unwrap();
    assert_eq!(slaves[0]["state"], "active");
    let view = cluster.get(Ns::Node2, "/api/v1/cluster").unwrap();
    assert_eq!(view["vip_holder"], "node1");
    assert_eq!(view["mode"], "cluster");
}

#[test]
fn killing_the_master_moves_the_cluster_ip_and_the_old_master_comes_back_standby() {
    if !require_root() {
        return;
    }
    let cluster = paired("kill-master");
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || sip_ok(&cluster))
        .unwrap();
    cluster.kill_node(Ns::Node1).unwrap();

    cluster
        .wait_for("node2 to hold the cluster IP", DEADLINE, || {
            cluster.holds_vip(Ns::Node2)
        })
        .unwrap();
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || sip_ok(&cluster))
        .unwrap();
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    let view = cluster.get(Ns::Node2, "/api/v1/cluster").unwrap();
    assert_eq!(view["epoch"], 2);
    let jobs = cluster.get(Ns::Node2, "/api/v1/jobs").unwrap();
    let failover = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "automatic_failover")
        .expect("the failover is recorded as a job");
    assert_eq!(failover["state"], "succeeded");

    // The old master starts again: it must come up standby and let go of the address.
    cluster.start(Ns::Node1).unwrap();
    cluster
        .wait_for("node1 to be standby", DEADLINE, || {
            Ok(cluster.role(Ns::Node1)? == "standby")
        })
        .unwrap();
    cluster
        .wait_for("node1 to release the cluster IP", DEADLINE, || {
            Ok(!cluster.holds_vip(Ns::Node1)?)
        })
        .unwrap();
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
        .wait_for("SIP at the cluster IP", DEADLINE, || sip_ok(&cluster))
        .unwrap();
}
