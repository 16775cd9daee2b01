//! The lab itself, in real network namespaces (needs root; skipped otherwise).

use std::net::SocketAddrV4;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pequod_e2e::{Lab, Ns, require_root, wait_until};

fn sip(ip: std::net::Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(ip, Lab::SIP_PORT)
}

fn netns_list() -> String {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// Present in /proc at all (a zombie counts: the lab reaps what it kills).
fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn telephony_network_and_private_cluster_link() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("reachability").unwrap();
    for target in [Lab::NODE1_IP, Lab::NODE2_IP, Lab::GATEWAY_IP] {
        assert!(lab.ping(Ns::Phone, target).unwrap(), "phone -> {target}");
    }
    assert!(lab.ping(Ns::Node1, Lab::NODE2_CLUSTER_IP).unwrap());
    assert!(lab.ping(Ns::Node2, Lab::NODE1_CLUSTER_IP).unwrap());
    assert!(
        !lab.ping(Ns::Phone, Lab::NODE2_CLUSTER_IP).unwrap(),
        "the cluster link must be private"
    );
    // The VIP is reserved, not assigned.
    assert!(!lab.ping(Ns::Phone, Lab::VIP).unwrap());
}

#[test]
fn link_down_cuts_a_node_off_the_telephony_network_only() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("linkdown").unwrap();
    assert!(lab.ping(Ns::Phone, Lab::NODE1_IP).unwrap());

    lab.link_down(Ns::Node1, Lab::TELEPHONY_IF).unwrap();
    assert!(!lab.ping(Ns::Phone, Lab::NODE1_IP).unwrap());
    assert!(lab.ping(Ns::Node1, Lab::NODE2_CLUSTER_IP).unwrap());

    lab.link_up(Ns::Node1, Lab::TELEPHONY_IF).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || lab
            .ping(Ns::Phone, Lab::NODE1_IP)
            .unwrap_or(false)),
        "phone never reached node1 again after link_up"
    );
}

#[test]
fn kamailio_answers_options_from_the_phone() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("kamailio").unwrap();
    let pid = lab.start_kamailio(Ns::Node1).unwrap();
    let code = lab
        .sip_options(Ns::Phone, sip(Lab::NODE1_IP), Duration::from_secs(3))
        .unwrap();
    assert_eq!(code, 200);

    // A paused Kamailio does not answer; resumed, it does again.
    lab.pause(pid).unwrap();
    assert!(
        lab.sip_options(Ns::Phone, sip(Lab::NODE1_IP), Duration::from_millis(300))
            .is_err()
    );
    lab.resume(pid).unwrap();
    assert_eq!(
        lab.sip_options(Ns::Phone, sip(Lab::NODE1_IP), Duration::from_secs(3))
            .unwrap(),
        200
    );
    // Nothing listens on node2.
    assert!(
        lab.sip_options(Ns::Phone, sip(Lab::NODE2_IP), Duration::from_millis(300))
            .is_err()
    );
    // No TCP in the minimal config.
    assert!(!lab.tcp_connect(Ns::Phone, sip(Lab::NODE1_IP), Duration::from_millis(300)));

    // kill -9 of the whole service.
    lab.kill(pid).unwrap();
    assert!(!lab.is_running(pid));
    assert!(!exists(pid));
    assert!(
        lab.sip_options(Ns::Phone, sip(Lab::NODE1_IP), Duration::from_millis(300))
            .is_err()
    );
}

#[test]
fn drop_removes_namespaces_and_processes() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("teardown").unwrap();
    let names = lab.namespaces();
    let main = lab.start_kamailio(Ns::Node1).unwrap();
    let dir = lab.dir().unwrap().to_path_buf();
    let pids: Vec<u32> = lab
        .exec_ok(Ns::Lan, "ip", &["netns", "pids", &lab.ns(Ns::Node1)])
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.contains(&main), "{pids:?} lacks kamailio {main}");
    assert!(pids.len() > 1, "kamailio forks workers: {pids:?}");
    let listed = netns_list();
    for name in &names {
        assert!(listed.contains(name.as_str()), "{name} missing: {listed}");
    }

    drop(lab);

    let listed = netns_list();
    for name in &names {
        assert!(!listed.contains(name.as_str()), "{name} left: {listed}");
    }
    for pid in pids {
        assert!(
            wait_until(Duration::from_secs(5), || !exists(pid)),
            "kamailio process {pid} survived the lab"
        );
    }
    assert!(!Path::new(&dir).exists(), "{} left", dir.display());
}

#[test]
fn stale_namespaces_of_dead_runs_are_removed() {
    if !require_root() {
        return;
    }
    // A pid that certainly belonged to a process that is gone now.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("pq{dead}x0-phone");
    let status = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(status.success());

    let lab = Lab::new("stale").unwrap();
    assert!(
        !netns_list().split_whitespace().any(|name| name == stale),
        "{stale} survived Lab::new"
    );
    drop(lab);
}
