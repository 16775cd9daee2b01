//! The commander against real lab nodes: each node's `pequod` runs in its network
//! namespace and serves the built UI there; a forwarder brings it to a host loopback port
//! where headless Chromium walks the wizards as a person would. Configure master puts
//! the cluster IP on the lab's interfaces, never the host's. Each test leaves
//! `e2e/screenshots/<test>.png`.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use pequod_e2e::browser::{Browser, Forwarder, require_browser};
use pequod_e2e::cluster::{ADMIN_PASSWORD, API_PORT, LabCluster};
use pequod_e2e::{Lab, Ns, require_root};

/// A job on a lab node (starting Kamailio, pairing over SSH) may take a while on a
/// loaded machine; a passing wait returns as soon as it can.
const JOB_DEADLINE: Duration = Duration::from_secs(90);

/// The lab with the given nodes started, each forwarded to a host port.
fn lab(name: &str, nodes: &[Ns]) -> (LabCluster, Vec<Forwarder>) {
    let cluster = LabCluster::new(name).expect("the lab builds");
    let forwarders = nodes
        .iter()
        .map(|ns| {
            cluster.start(*ns).expect("the node starts");
            Forwarder::start(&cluster.lab.ns(*ns), API_PORT).expect("the forwarder starts")
        })
        .collect();
    (cluster, forwarders)
}

/// Runs `test` in a fresh browser, saves the screenshot `name`, and fails with the
/// test's error, the screenshot's path and the nodes' logs.
async fn in_browser(
    name: &str,
    cluster: &LabCluster,
    test: impl AsyncFnOnce(&Browser) -> Result<()>,
) {
    // Each started node's own certificate, pinned by its key: the browser trusts
    // exactly these, as an admin's would after accepting them.
    let pins: Vec<String> = [Ns::Node1, Ns::Node2]
        .into_iter()
        .filter_map(|ns| cluster.spki_pin(ns).ok())
        .collect();
    assert!(!pins.is_empty(), "no node of the lab was started");
    let browser = Browser::start_pinning(&pins.join(","))
        .await
        .expect("the browser starts");
    let outcome = test(&browser).await;
    let screenshot = browser.screenshot(name).await;
    let closed = browser.close().await;
    let screenshot = screenshot.expect("a screenshot");
    if let Err(error) = outcome {
        panic!(
            "{error:#}\n(screenshot: {})\n--- node1 ---\n{}\n--- node2 ---\n{}",
            screenshot.display(),
            cluster.log_tail(Ns::Node1),
            cluster.log_tail(Ns::Node2)
        );
    }
    closed.expect("the browser closes");
}

/// Opens the commander of the node behind `node` and logs in (once per node: the token
/// is kept per address).
async fn log_in(browser: &Browser, node: &Forwarder) -> Result<()> {
    browser.goto(&node.url("/")).await?;
    browser.wait_for("#login-form, #logout").await?;
    if browser.is_present("#login-form").await? {
        browser.fill("#login-password", ADMIN_PASSWORD).await?;
        browser.click("#login-submit").await?;
    }
    browser.wait_for("#cluster-role").await?;
    Ok(())
}

/// Opens a page of the node behind `node` through its navigation link.
async fn open(browser: &Browser, node: &Forwarder, href: &str, page: &str) -> Result<()> {
    if !browser
        .client()
        .current_url()
        .await?
        .as_str()
        .starts_with(&node.url("/"))
    {
        log_in(browser, node).await?;
    }
    browser.click(&format!("nav a[href='{href}']")).await?;
    browser.wait_for(page).await?;
    Ok(())
}

/// Waits for the wizard's job to end, and fails with its message unless it succeeded.
async fn job_succeeds(browser: &Browser, what: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + JOB_DEADLINE;
    loop {
        let state = browser.text("#job-progress-state").await?;
        match state.as_str() {
            "succeeded" => return Ok(()),
            "failed" | "interrupted" => {
                let shown = browser.text("#job-progress").await.unwrap_or_default();
                anyhow::bail!("{what}: the job ended {state}: {shown}");
            }
            _ => {}
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{what}: the job is still {state} after {} s",
            JOB_DEADLINE.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn configure_master(browser: &Browser, node1: &Forwarder) -> Result<()> {
    open(browser, node1, "/appliance/cluster", "#page-cluster").await?;
    browser.wait_for_text("#cm-role", "standalone").await?;
    browser.click("#open-configure-master").await?;
    browser
        .wait_for(&format!(
            "#cm-telephony-interface option[value='{}']",
            Lab::TELEPHONY_IF
        ))
        .await?;
    browser.fill("#cm-hostname", "node1").await?;
    browser
        .fill(
            "#cm-cluster-ip",
            &format!("{}/{}", Lab::VIP, Lab::TELEPHONY_PREFIX_LEN),
        )
        .await?;
    browser
        .select("#cm-telephony-interface", Lab::TELEPHONY_IF)
        .await?;
    browser
        .select("#cm-cluster-interface", Lab::CLUSTER_IF)
        .await?;
    browser.fill("#cm-email", "pbx-admin@example.org").await?;
    browser
        .fill("#cm-gateways", &Lab::GATEWAY_IP.to_string())
        .await?;
    browser.click("#wizard-submit").await?;
    browser
        .wait_for_text_within(
            "#wizard-confirmation",
            "cannot easily be changed after the cluster is activated",
            JOB_DEADLINE,
        )
        .await?;
    browser.click("#wizard-confirm").await?;
    job_succeeds(browser, "Configure master").await?;
    browser.screenshot("lab_configure_master_job").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_master_in_the_browser_makes_the_node_master_and_the_dashboard_follows() {
    if !require_root() || require_browser().is_none() {
        return;
    }
    let (cluster, forwarders) = lab("ui-master", &[Ns::Node1]);
    let node1 = &forwarders[0];
    in_browser("lab_configure_master", &cluster, async |browser| {
        log_in(browser, node1).await?;
        browser.wait_for_text("#cluster-role", "standalone").await?;
        configure_master(browser, node1).await?;

        open(browser, node1, "/", "#page-dashboard").await?;
        browser.wait_for_text("#cluster-role", "master").await?;
        browser.wait_for_text("#cluster-mode", "cluster").await?;
        browser
            .wait_for_text(
                "#cluster-ip",
                &format!("{}/{}", Lab::VIP, Lab::TELEPHONY_PREFIX_LEN),
            )
            .await?;
        browser
            .wait_for_text("#cluster-vip-holder", "node1")
            .await?;
        browser
            .wait_for_text(
                "#cluster-timing",
                "conservative: a heartbeat every 100 ms, the peer dead after 600 ms of silence",
            )
            .await?;
        browser
            .wait_for("li[data-hostname='node1'][data-role='master']")
            .await?;
        browser.wait_for_text("#header-hostname", "node1").await?;

        // Add slave while nothing runs on node2: the job fails, stands out in the job
        // log and turns the lamp yellow until it is acknowledged.
        open(browser, node1, "/appliance/cluster", "#page-cluster").await?;
        browser.click("#open-add-slave").await?;
        browser.fill("#as-hostname", "node2").await?;
        let telephony = Ns::Node2.telephony_ip().context("node2's telephony IP")?;
        let sync = Ns::Node2.cluster_ip().context("node2's sync IP")?;
        browser
            .fill("#as-telephony-ip", &telephony.to_string())
            .await?;
        browser.fill("#as-sync-ip", &sync.to_string()).await?;
        browser.click("#wizard-submit").await?;
        let outcome = job_succeeds(browser, "Add slave without a slave").await;
        ensure!(outcome.is_err(), "Add slave cannot succeed without node2");
        browser
            .wait_for_class("#header-lamp", "lamp-yellow")
            .await?;
        browser.wait_for(".jobbox li.job-unacknowledged").await?;
        open(browser, node1, "/information/jobs", "#page-jobs").await?;
        let failed = browser
            .wait_for("#jobs tr.job-unacknowledged")
            .await?
            .attr("data-job-id")
            .await?
            .context("the failed job's id")?;
        browser.click(&format!("#job-toggle-{failed}")).await?;
        browser
            .wait_for(&format!("#job-steps-{failed} .step-failed"))
            .await?;
        browser.screenshot("lab_failed_job").await?;
        browser.click(&format!("#acknowledge-{failed}")).await?;
        browser
            .wait_until_gone("#jobs tr.job-unacknowledged")
            .await?;
        browser.wait_for_class("#header-lamp", "lamp-green").await?;
        Ok(())
    })
    .await;
    assert!(
        cluster.holds_vip(Ns::Node1).unwrap(),
        "the cluster IP is on node1's telephony interface"
    );
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_pairing_in_the_browser_then_remove_and_add_again() {
    if !require_root() || require_browser().is_none() {
        return;
    }
    let (cluster, forwarders) = lab("ui-pairing", &[Ns::Node1, Ns::Node2]);
    let (node1, node2) = (&forwarders[0], &forwarders[1]);
    in_browser("lab_pairing", &cluster, async |browser| {
        configure_master(browser, node1).await?;

        // The master's key, copied from its Cluster Management page.
        browser.wait_for_text("#own-role", "master").await?;
        let key = browser.text("#own-key").await?;
        ensure!(key.starts_with("ssh-ed25519 "), "the master's key: {key:?}");

        // node2: its own host name (Services), then Prepare slave with that key.
        open(browser, node2, "/appliance/services", "#page-services").await?;
        browser.fill("#hostname", "node2").await?;
        browser.click("#hostname-save").await?;
        browser
            .wait_for_text("#hostname-message", "The host name is now node2.")
            .await?;
        open(browser, node2, "/appliance/cluster", "#page-cluster").await?;
        browser.click("#open-prepare-slave").await?;
        browser.fill("#ps-key", &key).await?;
        browser.click("#wizard-submit").await?;
        job_succeeds(browser, "Prepare slave").await?;

        // node1: Add slave, with the master's key shown for reference.
        open(browser, node1, "/appliance/cluster", "#page-cluster").await?;
        browser.click("#open-add-slave").await?;
        let shown = browser.text("#as-master-key").await?;
        ensure!(
            shown == key,
            "Add slave shows the master's key for reference"
        );
        browser.fill("#as-hostname", "node2").await?;
        let telephony = Ns::Node2.telephony_ip().context("node2's telephony IP")?;
        let sync = Ns::Node2.cluster_ip().context("node2's sync IP")?;
        browser
            .fill("#as-telephony-ip", &telephony.to_string())
            .await?;
        browser.fill("#as-sync-ip", &sync.to_string()).await?;
        browser.click("#wizard-submit").await?;
        job_succeeds(browser, "Add slave").await?;
        browser.screenshot("lab_pairing_add_slave_job").await?;

        // Both nodes on node1's dashboard, with their roles and both links up.
        open(browser, node1, "/", "#page-dashboard").await?;
        browser
            .wait_for("li[data-hostname='node1'][data-role='master']")
            .await?;
        browser
            .wait_for("li[data-hostname='node2'][data-role='slave']")
            .await?;
        browser
            .wait_for_text("li[data-hostname='node2'] .node-link-telephony", "up")
            .await?;
        browser
            .wait_for_text("li[data-hostname='node2'] .node-link-cluster", "up")
            .await?;
        browser
            .wait_for_text(
                "li[data-hostname='node2'] .node-telephony-ip",
                &telephony.to_string(),
            )
            .await?;
        browser.screenshot("lab_pairing_dashboard").await?;

        // node2 knows it is the slave and points to the cluster IP.
        open(browser, node2, "/appliance/cluster", "#page-cluster").await?;
        browser.wait_for_text("#cm-role", "slave").await?;
        browser
            .wait_for_text_within("#not-master", &Lab::VIP.to_string(), JOB_DEADLINE)
            .await?;
        ensure!(
            !browser.is_present("#open-configure-master").await?
                && !browser.is_present("#open-add-slave").await?,
            "a slave offers no master wizards"
        );

        // Remove, then Add again with the cached data.
        open(browser, node1, "/appliance/cluster", "#page-cluster").await?;
        browser.click("#remove-node2").await?;
        browser.click("#wizard-confirm").await?;
        job_succeeds(browser, "Remove").await?;
        browser.click("#wizard-done").await?;
        browser
            .wait_for_text("tr[data-slave='node2'] .slave-state", "removed (cached)")
            .await?;
        browser.click("#readd-node2").await?;
        let cached = browser.value("#ra-telephony-ip").await?;
        let deadline = std::time::Instant::now() + JOB_DEADLINE;
        let mut cached = cached;
        while cached.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            cached = browser.value("#ra-telephony-ip").await?;
        }
        ensure!(
            cached == telephony.to_string(),
            "Add again is pre-filled with the cached telephony IP, found {cached:?}"
        );
        ensure!(
            browser.value("#ra-sync-ip").await? == sync.to_string(),
            "Add again is pre-filled with the cached sync IP"
        );
        browser.click("#wizard-submit").await?;
        job_succeeds(browser, "Add again").await?;
        browser.click("#wizard-done").await?;
        browser
            .wait_for_text("tr[data-slave='node2'] .slave-state", "active")
            .await?;
        Ok(())
    })
    .await;
    assert_eq!(cluster.role(Ns::Node2).unwrap(), "slave");
    assert!(cluster.holds_vip(Ns::Node1).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_failover_in_the_browser_then_add_again_makes_the_old_master_the_slave() {
    if !require_root() || require_browser().is_none() {
        return;
    }
    let (cluster, forwarders) = lab("ui-failover", &[Ns::Node1, Ns::Node2]);
    cluster
        .configure_master(Ns::Node1)
        .expect("configure master");
    cluster.pair(Ns::Node1, Ns::Node2).expect("pairing");
    let (node1, node2) = (&forwarders[0], &forwarders[1]);
    in_browser("lab_failover", &cluster, async |browser| {
        open(browser, node1, "/appliance/cluster", "#page-cluster").await?;
        browser.click("#open-failover").await?;
        browser
            .wait_for_text_within(
                "#wizard",
                "All active calls will be interrupted.",
                JOB_DEADLINE,
            )
            .await?;
        browser.click("#wizard-confirm").await?;
        job_succeeds(browser, "Manual failover").await?;

        open(browser, node2, "/", "#page-dashboard").await?;
        browser.wait_for_text("#cluster-role", "master").await?;
        browser
            .wait_for_text("#cluster-vip-holder", "node2")
            .await?;
        open(browser, node1, "/appliance/cluster", "#page-cluster").await?;
        browser.wait_for_text("#cm-role", "standby").await?;
        browser.wait_for("#not-master").await?;

        // The seed's re-integration: Add again on the new master makes node1 its slave.
        open(browser, node2, "/appliance/cluster", "#page-cluster").await?;
        browser.click("#readd-node1").await?;
        browser
            .wait_for_text_within("#wizard", "cached data of node1", JOB_DEADLINE)
            .await?;
        browser.click("#wizard-submit").await?;
        job_succeeds(browser, "Add again after the failover").await?;
        browser.click("#wizard-done").await?;
        browser
            .wait_for_text("tr[data-slave='node1'] .slave-state", "active")
            .await?;
        open(browser, node2, "/", "#page-dashboard").await?;
        browser
            .wait_for("li[data-hostname='node1'][data-role='slave']")
            .await?;
        Ok(())
    })
    .await;
    assert!(cluster.holds_vip(Ns::Node2).unwrap());
    assert!(!cluster.holds_vip(Ns::Node1).unwrap());
    assert_eq!(cluster.role(Ns::Node1).unwrap(), "slave");
}
