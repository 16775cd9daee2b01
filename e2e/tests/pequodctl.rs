//! pequodctl in the lab: run from the phone's namespace (an admin's machine on the
//! telephony LAN) against a node's own address, it shows both nodes of a real pair and
//! moves the cluster IP with a manual failover.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Output, Stdio};

use pequod_e2e::cluster::{ADMIN_PASSWORD, API_PORT, DEADLINE, LabCluster, pequodctl_binary};
use pequod_e2e::{Lab, Ns, require_root};
use serde_json::Value;
use tempfile::TempDir;

/// How long one pequodctl run may take (a failover it follows included).
const RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(90);

/// pequodctl with its own config dir, run in the phone's namespace.
struct Ctl<'a> {
    cluster: &'a LabCluster,
    config: TempDir,
}

impl Ctl<'_> {
    fn run(&self, node: Ns, args: &[&str], stdin: &str) -> Output {
        let ip = node.telephony_ip().expect("a node has a telephony address");
        let mut cmd = self
            .cluster
            .lab
            .command(Ns::Phone, pequodctl_binary().unwrap());
        // As an admin would: the node's own address and its certificate's fingerprint.
        let fingerprint = self
            .cluster
            .tls_fingerprint(node)
            .expect("the node was started");
        cmd.arg("--url")
            .arg(format!("https://{ip}:{API_PORT}"))
            .args(["--fingerprint", &fingerprint])
            .args(args)
            .env("XDG_CONFIG_HOME", self.config.path())
            .env_remove("PEQUOD_URL")
            .env_remove("PEQUOD_TOKEN")
            .env_remove("PEQUOD_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("pequodctl starts");
        child
            .stdin
            .take()
            .expect("its stdin")
            .write_all(stdin.as_bytes())
            .expect("writing its stdin");
        // A run that never ends (a follow that hangs) fails the test instead of the lab.
        let pid = child.id();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        match result.recv_timeout(RUN_DEADLINE) {
            Ok(out) => out.expect("pequodctl runs"),
            Err(_) => {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
                panic!("pequodctl {args:?} did not end within {RUN_DEADLINE:?}");
            }
        }
    }

    fn ok(&self, node: Ns, args: &[&str]) -> String {
        let out = self.run(node, args, "");
        assert!(
            out.status.success(),
            "pequodctl {args:?} on {node}:\n{}",
            show(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn login(&self, node: Ns) {
        let out = self.run(
            node,
            &["login", "--password-stdin"],
            &format!("{ADMIN_PASSWORD}\n"),
        );
        assert!(out.status.success(), "login on {node}:\n{}", show(&out));
    }
}

fn show(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The row of `node` in a `pequodctl status` table.
fn row(table: &str, node: Ns) -> &str {
    table
        .lines()
        .find(|l| l.split_whitespace().any(|cell| cell == node.role()))
        .unwrap_or_else(|| panic!("no row for {node}:\n{table}"))
}

#[test]
fn pequodctl_shows_both_nodes_and_a_failover_moves_the_cluster_ip() {
    if !require_root() {
        return;
    }
    let cluster = LabCluster::new("pequodctl").expect("the lab builds");
    cluster.start(Ns::Node1).unwrap();
    cluster.start(Ns::Node2).unwrap();
    // The pin the lab read from each node's data dir is the fingerprint the node shows.
    for node in [Ns::Node1, Ns::Node2] {
        let shown = cluster.get(node, "/api/v1/nodes/self").unwrap();
        assert_eq!(
            shown["tls_fingerprint"].as_str(),
            Some(cluster.tls_fingerprint(node).unwrap().as_str()),
            "{node}: {shown}"
        );
    }
    cluster.configure_master(Ns::Node1).unwrap();
    cluster.pair(Ns::Node1, Ns::Node2).unwrap();
    let ctl = Ctl {
        cluster: &cluster,
        config: tempfile::tempdir().unwrap(),
    };
    ctl.login(Ns::Node1);

    // Both nodes, at a glance: node1 master holding the cluster IP, node2 slave.
    cluster
        .wait_for("node1 to hear node2 on both links", DEADLINE, || {
            let all: Value = serde_json::from_str(&ctl.ok(Ns::Node1, &["--json", "status"]))?;
            Ok(all["nodes"].as_array().is_some_and(|nodes| {
                nodes.iter().any(|n| {
                    n["hostname"] == "node2"
                        && n["links"]["telephony"] == true
                        && n["links"]["cluster"] == true
                })
            }))
        })
        .unwrap();
    let table = ctl.ok(Ns::Node1, &["status"]);
    assert!(
        table.contains(&format!(
            "cluster IP {}/{} held by node1",
            Lab::VIP,
            Lab::TELEPHONY_PREFIX_LEN
        )),
        "{table}"
    );
    let (node1, node2) = (row(&table, Ns::Node1), row(&table, Ns::Node2));
    assert!(node1.starts_with('*'), "node1 is the node asked:\n{table}");
    assert!(
        node1.contains("master") && node1.contains("holds"),
        "{table}"
    );
    assert!(
        node2.contains("slave") && !node2.contains("holds"),
        "{table}"
    );
    assert!(
        node2.contains("up  ") && !node2.contains("DOWN"),
        "links up:\n{table}"
    );

    let slaves = ctl.ok(Ns::Node1, &["slaves", "list"]);
    assert!(row(&slaves, Ns::Node2).contains("active"), "{slaves}");

    // Bad input: the server's field error reaches the person, and nothing changes.
    let out = ctl.run(
        Ns::Node1,
        &[
            "slaves",
            "add",
            "node3",
            "--telephony-ip",
            "not-an-ip",
            "--sync-ip",
            "10.78.0.3",
        ],
        "",
    );
    assert!(!out.status.success(), "{}", show(&out));
    // Refused before any request, naming the option and what is wrong with it.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--telephony-ip") && said.contains("invalid IP address"),
        "the field is named:\n{}",
        show(&out)
    );

    let slaves_after = ctl.ok(Ns::Node1, &["slaves", "list"]);
    assert_eq!(slaves_after, slaves, "the refused request changed nothing");

    // The failover, followed to its end by pequodctl itself.
    let out = ctl.run(Ns::Node1, &["failover"], "");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("succeeded"),
        "{}",
        show(&out)
    );
    assert!(
        cluster.holds_vip(Ns::Node2).unwrap(),
        "node2 holds the cluster IP"
    );
    assert!(!cluster.holds_vip(Ns::Node1).unwrap(), "node1 released it");
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "master");
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "standby");
    cluster
        .wait_for("SIP answered by node2", DEADLINE, || cluster.sip_answers())
        .unwrap();

    // The new master tells the same story (a token there needs its own login).
    ctl.login(Ns::Node2);
    let table = ctl.ok(Ns::Node2, &["status"]);
    assert!(
        table.contains(&format!(
            "cluster IP {}/{} held by node2",
            Lab::VIP,
            Lab::TELEPHONY_PREFIX_LEN
        )),
        "{table}"
    );
    assert!(row(&table, Ns::Node2).contains("master"), "{table}");
    let jobs: Value = serde_json::from_str(&ctl.ok(Ns::Node2, &["--json", "jobs"])).unwrap();
    assert!(
        jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "manual_failover" && j["state"] == "succeeded"),
        "{jobs}"
    );
}
