//! The commander in a real browser: a node started in-process on a free port serves the
//! built UI, and headless Chromium clicks through it as a person would. Each test leaves
//! `e2e/screenshots/<test>.png`, taken whether it passed or failed.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use anyhow::{Context, Result, ensure};
use pequod::settings::Settings;
use pequod::startup::Application;
use pequod_e2e::browser::{Browser, DEADLINE, require_browser};
use secrecy::SecretString;
use tempfile::TempDir;

const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// Where the commander keeps its bearer token (frontend `session::TOKEN_KEY`).
const TOKEN_KEY: &str = "pequod.token";

/// A node with a fresh data directory, serving the built commander.
struct Node {
    url: String,
    hostname: String,
    /// The node's state, to cause what a page must follow without a reload.
    state: pequod::state::AppState,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    _data_dir: TempDir,
}

impl Node {
    /// Over plain HTTP, as most tests here need nothing of TLS; `https`: with the
    /// node's own self-signed certificate, as a fresh node serves.
    async fn spawn_serving(ui_dir: &Path, https: bool) -> Node {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let mut settings = Settings::default();
        settings.server.listen = "127.0.0.1:0".into();
        settings.server.data_dir = data_dir.path().to_path_buf();
        settings.server.ui_dir = ui_dir.to_path_buf();
        settings.server.shutdown_timeout_secs = 1;
        settings.server.tls = https;
        settings.cluster.ssh_listen = Some("127.0.0.1:0".into());
        settings.admin_password = Some(SecretString::from(ADMIN_PASSWORD));
        // Nothing answers SIP there, so Asterisk SIP is critical whatever runs on 5060.
        settings.checks.sip_port = unused_udp_port();
        // The lamp must not depend on how full the test machine's disk is.
        settings.checks.disk_warning_percent = 100.0;
        settings.checks.disk_critical_percent = 100.0;
        pequod::telemetry::init("error");
        let app = Application::build(settings).await.expect("the node starts");
        let scheme = if https { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{}", app.port());
        let hostname = app
            .state()
            .store
            .load_node()
            .await
            .expect("reading the node")
            .expect("the node has an identity")
            .hostname
            .to_string();
        let state = app.state().clone();
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        // Built now, run by `stop`: the way SIGTERM stops the node.
        let stop = Box::pin(async move {
            handle.stop(true).await;
            let _ = server.await;
        });
        Node {
            url,
            hostname,
            state,
            stop,
            _data_dir: data_dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The pin of the node's self-signed certificate for [`Browser::start_pinning`]:
    /// base64 of the SHA-256 of its SubjectPublicKeyInfo DER.
    fn spki_pin(&self) -> Result<String> {
        use base64::Engine as _;
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;
        use sha2::Digest as _;
        let path = self._data_dir.path().join(pequod::tls::CERT_FILE);
        let cert = CertificateDer::from_pem_file(&path)
            .with_context(|| format!("reading the node's certificate {}", path.display()))?;
        let parsed = webpki::EndEntityCert::try_from(&cert)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e:?}", path.display()))?;
        let spki = parsed.subject_public_key_info();
        Ok(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(spki.as_ref())))
    }
}

/// A UDP port nobody listens on now.
fn unused_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
    socket.local_addr().expect("its address").port()
}

/// Runs `test` against a fresh node in a fresh browser, saves the screenshot `name`, and
/// fails with the test's error (and where the screenshot is) if it failed.
async fn in_browser(name: &str, test: impl AsyncFnOnce(&Browser, &Node) -> Result<()>) {
    in_browser_serving(name, false, test).await;
}

/// Like [`in_browser`], with the node on HTTPS and the browser trusting exactly its
/// certificate's key (no blanket ignoring of certificate errors).
async fn in_browser_over_https(name: &str, test: impl AsyncFnOnce(&Browser, &Node) -> Result<()>) {
    in_browser_serving(name, true, test).await;
}

async fn in_browser_serving(
    name: &str,
    https: bool,
    test: impl AsyncFnOnce(&Browser, &Node) -> Result<()>,
) {
    let Some(ui_dir) = require_browser() else {
        return;
    };
    let node = Node::spawn_serving(&ui_dir, https).await;
    let browser = if https {
        Browser::start_pinning(&node.spki_pin().expect("the node's certificate pin")).await
    } else {
        Browser::start().await
    }
    .expect("the browser starts");
    let outcome = test(&browser, &node).await;
    let screenshot = browser.screenshot(name).await;
    let closed = browser.close().await;
    node.stop.await;
    let screenshot = screenshot.expect("a screenshot");
    if let Err(error) = outcome {
        panic!("{error:#}\n(screenshot: {})", screenshot.display());
    }
    closed.expect("the browser closes");
}

/// Opens the commander and logs in as admin with `password` through the login form.
async fn log_in(browser: &Browser, node: &Node, password: &str) -> Result<()> {
    log_in_as(browser, node, "admin", password).await
}

/// Opens the commander and logs in as `username` through the login form.
async fn log_in_as(browser: &Browser, node: &Node, username: &str, password: &str) -> Result<()> {
    browser.goto(&node.url("/")).await?;
    browser.wait_for("#login-form").await?;
    browser.fill("#login-username", username).await?;
    browser.fill("#login-password", password).await?;
    browser.click("#login-submit").await
}

/// Waits for the dashboard of a fresh standalone node.
async fn dashboard_shows_standalone(browser: &Browser, node: &Node) -> Result<()> {
    browser.wait_for_text("#cluster-mode", "standalone").await?;
    browser.wait_for_text("#cluster-role", "standalone").await?;
    browser
        .wait_for_text("#cluster-ip", "not configured")
        .await?;
    browser.wait_for_class("#lamp", "lamp-green").await?;
    browser
        .wait_for_text("#header-hostname", &node.hostname)
        .await?;
    browser.wait_for("#logout").await?;
    Ok(())
}

#[tokio::test]
async fn a_first_time_user_logs_in_and_sees_the_standalone_dashboard() {
    in_browser("first_login_dashboard", async |browser, node| {
        browser.goto(&node.url("/")).await?;
        browser.wait_for("#login-form").await?;
        ensure!(
            !browser.is_present("#logout").await?,
            "a first visit must show the login page, not the app"
        );
        let username = browser.value("#login-username").await?;
        ensure!(
            username == "admin",
            "the user name starts as admin, found {username:?}"
        );

        log_in(browser, node, ADMIN_PASSWORD).await?;
        dashboard_shows_standalone(browser, node).await?;
        ensure!(
            !browser.is_present("#login-form").await?,
            "the login form must be gone after logging in"
        );
        ensure!(
            browser.session_storage(TOKEN_KEY).await?.is_some(),
            "the token is kept in sessionStorage"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_shows_the_servers_message_and_stays_on_the_login_page() {
    in_browser("wrong_password", async |browser, node| {
        log_in(browser, node, "not the password").await?;
        browser
            .wait_for_text("#login-error", "wrong username or password")
            .await?;
        ensure!(
            browser.is_present("#login-form").await?,
            "the login page must stay"
        );
        ensure!(
            !browser.is_present("#logout").await? && !browser.is_present("#cluster").await?,
            "a wrong password must not show the app"
        );
        let password = browser.value("#login-password").await?;
        ensure!(
            password.is_empty(),
            "the rejected password is cleared, found {} characters",
            password.len()
        );
        ensure!(
            browser.session_storage(TOKEN_KEY).await?.is_none(),
            "no token may be stored"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn logging_out_returns_to_the_login_page_and_a_reload_keeps_it_there() {
    in_browser("logout", async |browser, node| {
        log_in(browser, node, ADMIN_PASSWORD).await?;
        dashboard_shows_standalone(browser, node).await?;

        // The token survives a reload while logged in, so the reload below tests logout.
        browser.reload().await?;
        dashboard_shows_standalone(browser, node)
            .await
            .context("a reload while logged in keeps the dashboard")?;

        browser.click("#logout").await?;
        browser.wait_for("#login-form").await?;
        ensure!(
            !browser.is_present("#logout").await?,
            "the app must be gone after logging out"
        );
        ensure!(
            browser.session_storage(TOKEN_KEY).await?.is_none(),
            "logging out removes the token"
        );

        browser.reload().await?;
        browser
            .wait_for("#login-form")
            .await
            .context("after logout, a reload shows the login page")?;
        ensure!(
            !browser.is_present("#logout").await? && !browser.is_present("#cluster").await?,
            "after logout, a reload must not show the app"
        );
        ensure!(
            !browser.is_present("#login-notice").await?,
            "logging out is no expired session: no notice"
        );
        Ok(())
    })
    .await;
}

/// Logs in and waits for the dashboard.
async fn logged_in(browser: &Browser, node: &Node) -> Result<()> {
    log_in(browser, node, ADMIN_PASSWORD).await?;
    browser.wait_for_text("#cluster-role", "standalone").await?;
    Ok(())
}

/// Clicks "Run now" on a check and waits until the run has ended.
async fn run_now(browser: &Browser, id: &str) -> Result<()> {
    let button = format!("#run-{id}");
    browser.click(&button).await?;
    browser.wait_for_text(&button, "Run now").await?;
    Ok(())
}

#[tokio::test]
async fn service_status_lists_the_checks_runs_one_now_and_the_lamp_turns_red() {
    in_browser("service_status", async |browser, node| {
        logged_in(browser, node).await?;
        // The lamp in the job log box opens Service Status, as in the seed.
        browser.wait_for_class("#header-lamp", "lamp-green").await?;
        browser.click("#header-lamp").await?;
        browser.wait_for("#page-status").await?;
        let sip = "tr[data-check='asterisk-sip']";
        browser.wait_for(sip).await?;
        for column in ["Runs on", "Kind", "Last check", "Last change"] {
            let text = browser
                .text(&format!("{sip} td[data-label='{column}']"))
                .await?;
            ensure!(!text.is_empty(), "the {column} column is empty");
        }
        browser
            .wait_for_text(&format!("{sip} td[data-label='Kind']"), "notify")
            .await?;
        browser
            .wait_for_text(&format!("{sip} td[data-label='Runs on']"), "master")
            .await?;

        // Nothing answers SIP: each run is one more failed attempt; after the check's
        // retries the problem is confirmed, the row turns critical and the lamp red.
        for _ in 0..3 {
            run_now(browser, "asterisk-sip").await?;
        }
        browser
            .wait_for_class(&format!("{sip} .check-state"), "check-critical")
            .await?;
        browser
            .wait_for_text(&format!("{sip} .check-state"), "critical")
            .await?;
        browser.wait_for_class("#header-lamp", "lamp-red").await?;
        let output = browser
            .text(&format!("{sip} td[data-label='Output']"))
            .await?;
        ensure!(!output.is_empty(), "a failed check explains itself");

        // Filters: only failover checks (a standalone node runs none), then critical
        // ones. Disk Usage is OK on this node, so the state filter has a row to hide.
        let disk_ok = "tr[data-check='disk-usage'].check-ok";
        browser.wait_for(disk_ok).await?;
        browser.select("#filter-kind", "failover").await?;
        browser.wait_until_gone(sip).await?;
        browser.wait_until_gone(disk_ok).await?;
        browser.select("#filter-kind", "").await?;
        browser.wait_for(disk_ok).await?;
        browser.select("#filter-state", "critical").await?;
        browser.wait_for(sip).await?;
        browser.wait_until_gone(disk_ok).await?;
        ensure!(
            !browser.is_present("tr.check-ok").await?,
            "the state filter shows only critical checks"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_services_page_changes_the_host_name_and_shows_the_services() {
    in_browser("services", async |browser, node| {
        logged_in(browser, node).await?;
        browser.click("a[href='/appliance/services']").await?;
        browser.wait_for("#page-services").await?;
        browser
            .wait_for_text_within("#hostname-card .notice", "must not be identical", DEADLINE)
            .await?;
        poll_value(browser, "#hostname", &node.hostname).await?;

        // A bad name is refused next to the field, before anything is sent.
        browser.fill("#hostname", "pbx_1").await?;
        browser.click("#hostname-save").await?;
        browser
            .wait_for_text_within("#hostname-error", "may contain only", DEADLINE)
            .await?;

        browser.fill("#hostname", "pbx-one").await?;
        browser.click("#hostname-save").await?;
        browser
            .wait_for_text("#hostname-message", "The host name is now pbx-one.")
            .await?;
        ensure!(
            !browser.is_present("#hostname-error").await?,
            "a good name clears the error"
        );
        browser.reload().await?;
        poll_value(browser, "#hostname", "pbx-one").await?;
        browser.wait_for_text("#header-hostname", "pbx-one").await?;

        // Managed services: none are configured on this node.
        browser
            .wait_for("#managed-services #services-empty")
            .await?;

        // Notification e-mail: a test mail needs an address first (the API's 409 is
        // shown as it is); a bad address is refused next to the field; then the test
        // mail is reported after its first attempt.
        browser.wait_for("#notification-counts").await?;
        browser.click("#notification-test").await?;
        browser.wait_for("#notification-test-result.error").await?;
        browser.fill("#notification-email", "nobody").await?;
        browser.click("#notification-save").await?;
        browser
            .wait_for_text(
                "#notification-email-error",
                "\"nobody\" is not an e-mail address (like ops@example.net)",
            )
            .await?;
        browser
            .fill("#notification-email", "pbx-admin@example.org")
            .await?;
        browser.click("#notification-save").await?;
        browser
            .wait_for_text("#notification-message", "Saved.")
            .await?;
        browser.click("#notification-test").await?;
        browser
            .wait_for_text_within(
                "#notification-test-result",
                "Test mail to pbx-admin@example.org",
                DEADLINE,
            )
            .await?;
        browser.wait_for(".mail-list li").await?;
        Ok(())
    })
    .await;
}

/// Waits until the input `css` holds `expected`.
async fn poll_value(browser: &Browser, css: &str, expected: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let value = browser.value(css).await?;
        if value == expected {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "`{css}` holds {value:?}, not {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bad_input_in_a_wizard_shows_the_field_errors_and_changes_nothing() {
    in_browser("wizard_bad_input", async |browser, node| {
        logged_in(browser, node).await?;
        browser.click("a[href='/appliance/cluster']").await?;
        browser.wait_for_text("#cm-role", "standalone").await?;
        browser.click("#open-configure-master").await?;
        browser.wait_for("#configure-master-form").await?;
        // The interface pickers list the node's real interfaces.
        browser
            .wait_for("#cm-telephony-interface option[value='']")
            .await?;

        browser.fill("#cm-cluster-ip", "10.77.0.10").await?;
        browser.fill("#cm-email", "nobody").await?;
        browser.fill("#cm-gateways", "gateway").await?;
        browser.click("#wizard-submit").await?;
        browser
            .wait_for_text_within("#cm-cluster-ip-error", "needs a prefix length", DEADLINE)
            .await?;
        browser
            .wait_for_text(
                "#cm-email-error",
                "\"nobody\" is not an e-mail address (like ops@example.net)",
            )
            .await?;
        browser
            .wait_for_text("#cm-telephony-interface-error", "choose an interface")
            .await?;
        browser
            .wait_for_text("#cm-gateways-error", "\"gateway\" is not an IP address")
            .await?;
        ensure!(
            !browser.is_present("#wizard-confirmation").await?
                && !browser.is_present("#job-progress").await?,
            "bad input must not get past the form"
        );
        browser.screenshot("wizard_bad_input_master").await?;

        // A key that only the server can tell is broken: its error lands on the field.
        browser.click("#wizard-close").await?;
        browser.click("#open-prepare-slave").await?;
        browser.fill("#ps-key", "ssh-rsa AAAAB3NzaC1yc2E").await?;
        browser.click("#wizard-submit").await?;
        browser
            .wait_for_text("#ps-key-error", "must be the master's ssh-ed25519 key")
            .await?;
        browser
            .fill("#ps-key", "ssh-ed25519 not-a-key pequod@node1")
            .await?;
        browser.click("#wizard-submit").await?;
        browser
            .wait_for_text_within("#ps-key-error", "not an OpenSSH public key", DEADLINE)
            .await?;
        ensure!(
            !browser.is_present("#job-progress").await?,
            "a refused request starts no job"
        );

        // Nothing changed: still standalone, and no job was ever started.
        browser.wait_for_text("#cm-role", "standalone").await?;
        browser
            .wait_for_text_within(".jobbox-jobs", "No jobs yet.", DEADLINE)
            .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn every_page_fits_a_phone_and_shows_the_lamp() {
    in_browser("phone", async |browser, node| {
        logged_in(browser, node).await?;
        browser.resize(390, 844).await?;
        // Twice round: every full page load opens the event stream again, and streams
        // of pages left behind must not use up the browser's connections to the node.
        let pages = [
            ("/", "#page-dashboard"),
            ("/appliance/interfaces", "#page-interfaces"),
            ("/appliance/services", "#page-services"),
            ("/appliance/cluster", "#page-cluster"),
            ("/information/status", "#page-status"),
            ("/information/jobs", "#page-jobs"),
            ("/appliance/password", "#page-password"),
            ("/information/audit", "#page-audit"),
            ("/appliance/users", "#page-users"),
        ];
        for (path, page) in pages.iter().chain(pages.iter()) {
            let started = std::time::Instant::now();
            browser.goto(&node.url(path)).await?;
            browser.wait_for(page).await?;
            browser
                .wait_for(
                    "#header-lamp.lamp-green, #header-lamp.lamp-yellow, #header-lamp.lamp-red",
                )
                .await?;
            browser.wait_until_gone(".loading").await?;
            ensure!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{path} took {:?} to load",
                started.elapsed()
            );
            let width = browser
                .client()
                .execute("return document.documentElement.scrollWidth;", vec![])
                .await?;
            let width = width.as_u64().unwrap_or(u64::MAX);
            ensure!(width <= 390, "{path} is {width} px wide on a 390 px phone");
        }
        browser.goto(&node.url("/information/status")).await?;
        browser.wait_for("tr[data-check='asterisk-sip']").await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_page_shows_a_failed_and_a_good_login_and_filters_by_outcome() {
    in_browser("audit_log", async |browser, node| {
        log_in(browser, node, "not the password").await?;
        browser
            .wait_for_text("#login-error", "wrong username or password")
            .await?;
        logged_in(browser, node).await?;
        browser.click("a[href='/information/audit']").await?;
        browser.wait_for("#page-audit").await?;
        browser
            .wait_for_text("#audit-page", "Page 1 of 1 (2 entries)")
            .await
            .context("the failed and the good login are listed")?;
        let newest = browser.text("#audit tbody tr:first-child").await?;
        ensure!(
            newest.contains("login")
                && newest.contains("admin")
                && newest.contains("success (200)"),
            "the newest entry is the good login: {newest:?}"
        );
        let oldest = browser.text("#audit tbody tr:last-child").await?;
        ensure!(
            oldest.contains("failure (401)") && oldest.contains("127.0.0.1"),
            "the oldest entry is the refused login from this client: {oldest:?}"
        );
        ensure!(
            !browser.text("#audit").await?.contains("not the password"),
            "a password never appears in the audit log"
        );

        browser.select("#audit-outcome", "failure").await?;
        browser
            .wait_for_text("#audit-page", "Page 1 of 1 (1 entry)")
            .await
            .context("filtered by outcome, only the refused login is left")?;
        ensure!(
            browser
                .text("#audit tbody")
                .await?
                .contains("failure (401)"),
            "the entry left is the failure"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_password_change_in_the_commander_keeps_the_session_and_the_new_password_logs_in() {
    const NEW_PASSWORD: &str = "the admin's new password 2026";
    in_browser("password", async |browser, node| {
        logged_in(browser, node).await?;
        browser.click("a[href='/appliance/password']").await?;
        browser.wait_for("#page-password").await?;

        // A wrong current password is named next to its field; nothing changes.
        browser
            .fill("#current-password", "not the password")
            .await?;
        browser.fill("#new-password", NEW_PASSWORD).await?;
        browser.fill("#repeat-password", NEW_PASSWORD).await?;
        browser.click("#password-save").await?;
        browser
            .wait_for_text("#current-password-error", "is wrong")
            .await?;
        // A repeat that differs is caught before anything is sent.
        browser.fill("#current-password", ADMIN_PASSWORD).await?;
        browser
            .fill("#repeat-password", "something else entirely")
            .await?;
        browser.click("#password-save").await?;
        browser
            .wait_for_text("#repeat-password-error", "differs from the new password")
            .await?;

        browser.fill("#repeat-password", NEW_PASSWORD).await?;
        browser.click("#password-save").await?;
        browser
            .wait_for_text(
                "#password-message",
                "The password is changed. Every other session and token of this user has ended.",
            )
            .await?;
        // The server ended the old token's event stream; the commander follows with the
        // new token: a job started now appears in the job box without a reload.
        ensure!(
            browser.text("#jobbox").await?.contains("No jobs yet."),
            "no job before"
        );
        node.state
            .jobs
            .submit(
                pequod_api::jobs::JobKind::Maintenance,
                "after the password change",
                &["the only step"],
                |ctx| async move {
                    ctx.step(0).await;
                    Ok(())
                },
            )
            .await?;
        browser
            .wait_for_text_within("#jobbox", "succeeded", std::time::Duration::from_secs(20))
            .await
            .context("the event stream runs on with the new token")?;
        // The session goes on with the new token: pages still load.
        browser.click("a[href='/information/audit']").await?;
        browser
            .wait_for_text_within(
                "#audit tbody tr:first-child",
                "password.change",
                std::time::Duration::from_secs(20),
            )
            .await?;
        ensure!(
            browser.is_present("#logout").await?,
            "the session that changed the password stays logged in"
        );

        browser.click("#logout").await?;
        log_in(browser, node, ADMIN_PASSWORD).await?;
        browser
            .wait_for_text("#login-error", "wrong username or password")
            .await
            .context("the old password no longer logs in")?;
        log_in(browser, node, NEW_PASSWORD).await?;
        browser
            .wait_for_text("#cluster-role", "standalone")
            .await
            .context("the new password logs in")?;
        Ok(())
    })
    .await;
}

/// Every control that changes something, on any page: a viewer must see none of them.
const ACTIONS: &str = "#open-configure-master, #open-prepare-slave, #open-add-slave, \
    #open-failover, [id^='remove-'], [id^='readd-'], #wizard, .run-now, .acknowledge, \
    #hostname-save, #notification-save, #notification-test, #user-add, #token-create";

/// Fails naming the first of [`ACTIONS`] on the page, if any is.
async fn no_actions(browser: &Browser, page: &str) -> Result<()> {
    for selector in ACTIONS.split(',').map(str::trim) {
        ensure!(
            !browser.is_present(selector).await?,
            "{page} shows `{selector}` to a viewer"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_viewer_added_on_the_users_page_sees_no_actions_and_no_users_entry() {
    const WATCHER_PASSWORD: &str = "the watcher's own password";
    // Over HTTPS with the node's certificate pinned, as an admin would meet it.
    in_browser_over_https("users_viewer", async |browser, node| {
        logged_in(browser, node).await?;
        browser
            .wait_for_text("#header-user", "admin · admin")
            .await?;
        // The admin sees the actions the viewer must not: the selectors below are real.
        browser.click("a[href='/appliance/cluster']").await?;
        browser.wait_for("#open-configure-master").await?;
        browser.wait_for("#open-prepare-slave").await?;
        ensure!(
            !browser.is_present("#cm-admin-only").await?,
            "an admin is not told that only an admin may"
        );

        browser.click("a[href='/appliance/users']").await?;
        browser.wait_for("#page-users").await?;
        browser
            .wait_for_text("tr[data-user='admin'] .user-role", "admin")
            .await?;
        // A repeat that differs is caught before anything is sent.
        browser.fill("#user-new-name", "watcher").await?;
        browser.fill("#user-new-password", WATCHER_PASSWORD).await?;
        browser
            .fill("#user-new-password2", "something else")
            .await?;
        browser.select("#user-new-role", "viewer").await?;
        browser.click("#user-add").await?;
        browser
            .wait_for_text("#user-new-password2-error", "differs from the password")
            .await?;
        ensure!(
            !browser.is_present("tr[data-user='watcher']").await?,
            "a refused form adds no user"
        );
        browser
            .fill("#user-new-password2", WATCHER_PASSWORD)
            .await?;
        browser.click("#user-add").await?;
        browser
            .wait_for_text("#users-message", "User watcher is added as viewer.")
            .await?;
        browser
            .wait_for_text("tr[data-user='watcher'] .user-role", "viewer")
            .await?;
        // The same name again: the server's 409 lands on the name field.
        browser.fill("#user-new-name", "watcher").await?;
        browser.fill("#user-new-password", WATCHER_PASSWORD).await?;
        browser
            .fill("#user-new-password2", WATCHER_PASSWORD)
            .await?;
        browser.click("#user-add").await?;
        browser
            .wait_for_text(
                "#user-new-name-error",
                "a user named watcher already exists",
            )
            .await?;
        // The last admin cannot go: asked first, then the server's 409 above the table.
        let admin = "tr[data-user='admin']";
        browser.click(&format!("{admin} .user-delete")).await?;
        browser
            .wait_for_text(
                &format!("{admin} .confirm-question"),
                "Really delete admin?",
            )
            .await?;
        browser
            .click(&format!("{admin} .user-delete-confirm"))
            .await?;
        browser
            .wait_for_text(
                "#users-message",
                "admin is the last admin; make another user an admin first",
            )
            .await?;
        browser.wait_for(admin).await?;

        browser.click("#logout").await?;
        browser.wait_for("#login-form").await?;
        log_in_as(browser, node, "watcher", WATCHER_PASSWORD).await?;
        // The header names the role once /auth/me has answered: from here on the pages
        // know it, so what is missing is missing for the viewer, not for lack of an answer.
        browser
            .wait_for_text("#header-user", "watcher · viewer")
            .await?;
        browser.wait_for_text("#cluster-role", "standalone").await?;
        browser.wait_for("#nodes .node").await?;
        no_actions(browser, "the dashboard").await?;
        ensure!(
            !browser.is_present("a[href='/appliance/users']").await?,
            "a viewer has no Users entry in the navigation"
        );

        browser.click("a[href='/appliance/cluster']").await?;
        browser.wait_for_text("#cm-role", "standalone").await?;
        browser
            .wait_for_text(
                "#cm-admin-only",
                "Only an admin can configure a master or prepare a slave.",
            )
            .await?;
        browser.wait_for("#own-key").await?;
        no_actions(browser, "Cluster Management").await?;

        browser.click("a[href='/information/status']").await?;
        browser.wait_for("tr[data-check='asterisk-sip']").await?;
        no_actions(browser, "Service Status").await?;

        browser.click("a[href='/appliance/services']").await?;
        browser
            .wait_for_text("#hostname-current", &node.hostname)
            .await?;
        browser
            .wait_for_text("#hostname-admin-only", "Only an admin can change this.")
            .await?;
        browser.wait_for("#notifications-admin-only").await?;
        ensure!(
            !browser.is_present("#hostname").await?
                && !browser.is_present("#notification-email").await?,
            "a viewer gets no fields to type into"
        );
        no_actions(browser, "Services").await?;

        // Typed in by hand, the address says why there is nothing to see.
        browser.goto(&node.url("/appliance/users")).await?;
        browser
            .wait_for_text(
                "#users-admin-only",
                "Only an admin can manage users and API tokens.",
            )
            .await?;
        no_actions(browser, "the Users page").await?;
        Ok(())
    })
    .await;
}

/// `GET /auth/me` with `bearer` in the `Authorization` header, as a script would send
/// it: the status and the body.
async fn me_with(node: &Node, bearer: &str) -> Result<(u16, String)> {
    let url = node.url(pequod_api::paths::ME);
    let header = format!("Bearer {bearer}");
    // ureq blocks; the node runs on this test's runtime and must go on answering.
    tokio::task::spawn_blocking(move || {
        let response = match ureq::get(&url).set("Authorization", &header).call() {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(error) => return Err(anyhow::Error::new(error).context(format!("GET {url}"))),
        };
        let status = response.status();
        let body = response.into_string().context("reading the answer")?;
        Ok((status, body))
    })
    .await
    .context("the request's thread")?
}

#[tokio::test]
async fn an_api_token_created_on_the_users_page_works_until_it_is_revoked() {
    in_browser("users_token", async |browser, node| {
        logged_in(browser, node).await?;
        browser.click("a[href='/appliance/users']").await?;
        browser.wait_for("#page-users").await?;
        browser.wait_for("#tokens-empty").await?;
        let days = browser.value("#token-new-days").await?;
        ensure!(
            days == "90",
            "a token lasts 90 days unless chosen, found {days:?}"
        );

        browser.fill("#token-new-name", "monitoring").await?;
        browser.select("#token-new-role", "operator").await?;
        browser.fill("#token-new-days", "0").await?;
        browser.click("#token-create").await?;
        browser
            .wait_for_text_within("#token-new-days-error", "between 1 and 3650", DEADLINE)
            .await?;
        ensure!(
            !browser.is_present("#token-secret-box").await?,
            "a refused form creates no token"
        );
        browser.fill("#token-new-days", "30").await?;
        browser.click("#token-create").await?;
        browser
            .wait_for_text_within(
                "#token-secret-box",
                "Copy it now: it cannot be shown again.",
                DEADLINE,
            )
            .await?;
        browser.wait_for("#token-secret-box .copy-button").await?;
        browser.screenshot("users_token_secret").await?;
        let secret = browser.text("#token-secret").await?;
        ensure!(secret.len() >= 20, "the secret is shown: {secret:?}");
        let row = "tr[data-token='monitoring']";
        browser
            .wait_for_text(&format!("{row} td[data-label='Role']"), "operator")
            .await?;
        browser
            .wait_for_text(&format!("{row} td[data-label='Created by']"), "admin")
            .await?;
        browser
            .wait_for_text(&format!("{row} td[data-label='Last used']"), "never")
            .await?;

        let (status, body) = me_with(node, &secret).await?;
        ensure!(
            status == 200,
            "the secret is a bearer token: {status} {body}"
        );
        let me: pequod_api::auth::Me = serde_json::from_str(&body).context(body.clone())?;
        ensure!(
            me.kind == pequod_api::auth::PrincipalKind::ApiToken
                && me.username == "monitoring"
                && me.role == pequod_api::users::Role::Operator,
            "the token speaks for itself with its role: {body}"
        );

        // Shown once: after a reload the secret is gone, the token's use is not.
        browser.reload().await?;
        browser.wait_for(row).await?;
        ensure!(
            !browser.is_present("#token-secret").await?,
            "the secret is never shown again"
        );
        let last_used = browser
            .text(&format!("{row} td[data-label='Last used']"))
            .await?;
        ensure!(last_used != "never", "the call was noted as a use");
        ensure!(
            !browser.text("#page-users").await?.contains(&secret),
            "the page holds no secret any more"
        );

        browser.click(&format!("{row} .token-revoke")).await?;
        browser
            .wait_for_text(
                &format!("{row} .confirm-question"),
                "Really revoke monitoring?",
            )
            .await?;
        // Cancel keeps it.
        browser
            .click(&format!("{row} .token-revoke-cancel"))
            .await?;
        browser
            .wait_until_gone(&format!("{row} .confirm-question"))
            .await?;
        ensure!(
            me_with(node, &secret).await?.0 == 200,
            "a cancelled revoke keeps the token"
        );

        browser.click(&format!("{row} .token-revoke")).await?;
        browser
            .click(&format!("{row} .token-revoke-confirm"))
            .await?;
        browser
            .wait_for_text(
                "#tokens-message",
                "API token monitoring is revoked: it no longer works.",
            )
            .await?;
        browser.wait_until_gone(row).await?;
        browser.wait_for("#tokens-empty").await?;
        let (status, body) = me_with(node, &secret).await?;
        ensure!(status == 401, "a revoked token is refused: {status} {body}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn over_https_with_the_pinned_certificate_a_password_change_logs_in_with_the_new_one() {
    const NEW_PASSWORD: &str = "changed over https in 2026";
    in_browser_over_https("https_password", async |browser, node| {
        ensure!(
            node.url.starts_with("https://"),
            "the node serves {}",
            node.url
        );
        // Another key's pin gets the browser's certificate error, not the commander:
        // the pin, not a blanket exception, is what lets the test's browser in.
        let stranger =
            Browser::start_pinning("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").await?;
        stranger.goto(&node.url("/")).await?;
        let refused = stranger
            .client()
            .source()
            .await
            .context("the refused page")?;
        stranger.close().await?;
        ensure!(
            !refused.contains("pequod_commander") && refused.contains("ERR_CERT"),
            "a browser without the node's pin got: {refused:.400}"
        );

        log_in(browser, node, ADMIN_PASSWORD).await?;
        browser.wait_for_text("#cluster-role", "standalone").await?;
        let url = browser.client().current_url().await?;
        ensure!(url.scheme() == "https", "the commander is on {url}");

        browser.click("a[href='/appliance/password']").await?;
        browser.wait_for("#page-password").await?;
        browser.fill("#current-password", ADMIN_PASSWORD).await?;
        browser.fill("#new-password", NEW_PASSWORD).await?;
        browser.fill("#repeat-password", NEW_PASSWORD).await?;
        browser.click("#password-save").await?;
        browser
            .wait_for_text(
                "#password-message",
                "The password is changed. Every other session and token of this user has ended.",
            )
            .await?;

        browser.click("#logout").await?;
        browser.wait_for("#login-form").await?;
        log_in(browser, node, NEW_PASSWORD).await?;
        browser
            .wait_for_text("#cluster-role", "standalone")
            .await
            .context("the new password logs in over https")?;
        Ok(())
    })
    .await;
}
