//! Notification mails in the namespace lab: a real SMTP server (Debian's aiosmtpd)
//! runs in the gateway namespace on the gateway's address, and both nodes send
//! through it. A stopped SIP service is mailed by the master without a failover; a
//! killed master's failover is mailed by the new master.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pequod_e2e::cluster::{DEADLINE, LabCluster};
use pequod_e2e::maildir::{header, messages};
use pequod_e2e::{Lab, Ns, require_root};

const SMTP_PORT: u16 = 2525;
/// The address Configure master sets in `LabCluster::configure_master`.
const RECIPIENT: &str = "pbx-admin@example.org";
/// The address the failover test changes it to.
const ONCALL: &str = "oncall@example.org";

/// A lab whose nodes mail through the SMTP server in the gateway namespace; returns
/// the server's Maildir.
fn lab_with_mail(name: &str) -> (LabCluster, PathBuf) {
    let cluster = LabCluster::new(name).expect("the lab builds");
    let maildir = cluster.lab.dir().unwrap().join("maildir");
    let mut smtp = cluster.lab.command(Ns::Gateway, "/usr/bin/python3");
    smtp.args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("{}:{SMTP_PORT}", Lab::GATEWAY_IP))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    cluster.lab.spawn(smtp).expect("aiosmtpd starts");
    let server = SocketAddrV4::new(Lab::GATEWAY_IP, SMTP_PORT);
    cluster
        .wait_for("the SMTP server in the gateway namespace", DEADLINE, || {
            Ok(cluster
                .lab
                .tcp_connect(Ns::Node1, server, Duration::from_millis(200)))
        })
        .unwrap();
    cluster
        .add_config(&format!(
            "[mail]\nhost = \"{}\"\nport = {SMTP_PORT}\nsecurity = \"none\"\n\
             from = \"Pequod <pequod@pbx.example.org>\"\nretry_base_ms = 200\n\
             retry_cap_ms = 1000\nmax_attempts = 1000\ntimeout_secs = 5\n",
            Lab::GATEWAY_IP
        ))
        .unwrap();
    (cluster, maildir)
}

/// Both nodes running, node1 master, node2 slave.
fn paired(cluster: &LabCluster) {
    cluster.start_paired().unwrap();
}

/// Waits for a mail whose subject contains `subject` and returns it.
fn wait_for_mail(cluster: &LabCluster, maildir: &Path, subject: &str) -> String {
    let mut found = None;
    cluster
        .wait_for(&format!("a mail about {subject:?}"), DEADLINE, || {
            found = messages(maildir)
                .into_iter()
                .find(|m| header(m, "Subject").is_some_and(|s| s.contains(subject)));
            Ok(found.is_some())
        })
        .unwrap_or_else(|e| {
            let subjects: Vec<String> = messages(maildir)
                .iter()
                .filter_map(|m| header(m, "Subject"))
                .collect();
            panic!("{e:#}\nmails so far: {subjects:#?}")
        });
    found.unwrap()
}

#[test]
fn a_stopped_sip_service_is_mailed_by_the_master_without_a_failover() {
    if !require_root() {
        return;
    }
    let (cluster, maildir) = lab_with_mail("notify-sip");
    paired(&cluster);
    // Add slave is a cluster change worth a mail, too.
    let added = wait_for_mail(&cluster, &maildir, "Add slave node2: done");
    assert_eq!(header(&added, "To").as_deref(), Some(RECIPIENT));
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();

    // Stop Kamailio behind pequod's back, as a crash would, and confirm the problem.
    assert!(cluster.crash_service(Ns::Node1, "kamailio").unwrap() > 0);
    for id in ["default-services", "asterisk-sip"] {
        cluster
            .wait_for(&format!("{id} to be hard CRITICAL"), DEADLINE, || {
                let (status, check) =
                    cluster.api(Ns::Node1, "POST", &format!("/api/v1/checks/{id}/run"), None)?;
                anyhow::ensure!(status == 200, "{status} {check}");
                Ok(check["state"] == "critical" && check["hard"] == true)
            })
            .unwrap();
    }
    let services = wait_for_mail(
        &cluster,
        &maildir,
        "node1: Default Services is CRITICAL (was OK)",
    );
    assert_eq!(header(&services, "To").as_deref(), Some(RECIPIENT));
    assert!(services.contains("kamailio"), "{services}");
    let sip = wait_for_mail(
        &cluster,
        &maildir,
        "node1: Asterisk SIP is CRITICAL (was OK)",
    );
    assert!(sip.contains("Node:   node1"), "{sip}");
    assert!(
        header(&sip, "X-Peer").is_some_and(|p| p.contains(&Lab::NODE1_IP.to_string())),
        "sent by node1: {sip}"
    );

    let view = cluster.get(Ns::Node1, "/api/v1/cluster").unwrap();
    assert_eq!(view["lamp"], "red", "{view}");
    // A notify check informs; it never moves the services.
    cluster.expect_roles(Ns::Node1, Ns::Node2, "slave").unwrap();
    assert!(
        !messages(&maildir)
            .iter()
            .any(|m| header(m, "Subject").is_some_and(|s| s.contains("Failover"))),
        "no failover, no failover mail"
    );
    let overview = cluster.get(Ns::Node1, "/api/v1/notifications").unwrap();
    assert_eq!(overview["email"], RECIPIENT);
    assert!(overview["sent"].as_u64().unwrap() >= 3, "{overview}");
}

#[test]
fn killing_the_master_makes_the_new_master_mail_the_failover() {
    if !require_root() {
        return;
    }
    let (cluster, maildir) = lab_with_mail("notify-failover");
    paired(&cluster);
    cluster
        .wait_for("SIP at the cluster IP", DEADLINE, || cluster.sip_answers())
        .unwrap();
    // A new address, set on the master, reaches the slave: it is the one the
    // failover mail goes to. The slave itself refuses the change.
    let (status, problem) = cluster
        .api(
            Ns::Node2,
            "PATCH",
            "/api/v1/notifications",
            Some(serde_json::json!({ "email": "oncall@example.org" })),
        )
        .unwrap();
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("10.77.0.10"),
        "{problem}"
    );
    let (status, body) = cluster
        .api(
            Ns::Node1,
            "PATCH",
            "/api/v1/notifications",
            Some(serde_json::json!({ "email": "oncall@example.org" })),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    cluster
        .wait_for("node2 to know the new address", DEADLINE, || {
            Ok(cluster.get(Ns::Node2, "/api/v1/notifications")?["email"] == ONCALL)
        })
        .unwrap();
    cluster
        .wait_for("node2 to be slave again after the change", DEADLINE, || {
            let nodes = cluster.get(Ns::Node1, "/api/v1/nodes")?;
            Ok(nodes[1]["role"] == "slave"
                && nodes[1]["links"]["telephony"] == true
                && nodes[1]["links"]["cluster"] == true)
        })
        .unwrap();
    cluster.machine_death(Ns::Node1).unwrap();
    cluster
        .wait_for("node2 to hold the cluster IP", DEADLINE, || {
            cluster.holds_vip(Ns::Node2)
        })
        .unwrap();

    let mail = wait_for_mail(
        &cluster,
        &maildir,
        "[Pequod] Failover: node2 is now master (epoch 2)",
    );
    assert_eq!(header(&mail, "To").as_deref(), Some(ONCALL));
    assert!(
        header(&mail, "X-Peer").is_some_and(|p| p.contains(&Lab::NODE2_IP.to_string())),
        "sent by the new master: {mail}"
    );
    assert!(header(&mail, "Date").is_some() && header(&mail, "Message-ID").is_some());
    assert!(
        header(&mail, "Content-Transfer-Encoding").is_some_and(|e| e == "7bit"),
        "plain 7-bit text: {mail}"
    );
    // The decision sentence, its wrapped lines joined again.
    let mut lines = mail.lines().skip_while(|l| !l.starts_with("Why:"));
    let mut why = lines
        .next()
        .unwrap_or_else(|| panic!("the decision sentence: {mail}"))
        .to_string();
    for more in lines.take_while(|l| l.starts_with("            ")) {
        why.push(' ');
        why.push_str(more.trim());
    }
    assert!(why.contains("node1"), "{why}");
    assert!(mail.contains("Old master: node1"), "{mail}");
    assert!(mail.contains("Epoch:      2"), "{mail}");
    // The job log holds the same sentence as the mail.
    let jobs = cluster.get(Ns::Node2, "/api/v1/jobs").unwrap();
    let failover = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "automatic_failover")
        .expect("the failover job")
        .clone();
    let job = cluster
        .get(Ns::Node2, &format!("/api/v1/jobs/{}", failover["id"]))
        .unwrap();
    let reason = job["steps"][0]["log"][0]["message"].as_str().unwrap();
    assert_eq!(why.trim_start_matches("Why:").trim(), reason);

    // The old master comes back standby; "Add again" is mailed by the new master.
    cluster.start(Ns::Node1).unwrap();
    cluster
        .wait_for("node1 to be standby", DEADLINE, || {
            Ok(cluster.role(Ns::Node1)? == "standby")
        })
        .unwrap();
    cluster
        .run_job(Ns::Node2, "POST", "/api/v1/slaves/node1/readd", None)
        .unwrap();
    let readd = wait_for_mail(&cluster, &maildir, "Add node1 again: done");
    assert_eq!(header(&readd, "To").as_deref(), Some(ONCALL));
}

#[test]
fn a_manual_failover_add_again_and_remove_are_mailed() {
    if !require_root() {
        return;
    }
    let (cluster, maildir) = lab_with_mail("notify-manual");
    paired(&cluster);
    cluster
        .run_job(Ns::Node1, "POST", "/api/v1/cluster/failover", None)
        .unwrap();
    let failover = wait_for_mail(
        &cluster,
        &maildir,
        "[Pequod] Failover: node2 is now master (epoch 2)",
    );
    assert!(failover.contains("(manual failover)"), "{failover}");
    assert!(
        header(&failover, "X-Peer").is_some_and(|p| p.contains(&Lab::NODE2_IP.to_string())),
        "sent by the new master: {failover}"
    );

    cluster
        .run_job(Ns::Node2, "POST", "/api/v1/slaves/node1/readd", None)
        .unwrap();
    wait_for_mail(&cluster, &maildir, "Add node1 again: done");
    cluster
        .run_job(Ns::Node2, "DELETE", "/api/v1/slaves/node1", None)
        .unwrap();
    let removed = wait_for_mail(&cluster, &maildir, "Remove slave node1: done");
    assert_eq!(header(&removed, "To").as_deref(), Some(RECIPIENT));
    assert!(removed.contains("node1 is standby now"), "{removed}");
}
