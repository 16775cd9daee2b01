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
use pequod_e2e::browser::{Browser, require_browser};
use secrecy::SecretString;
use tempfile::TempDir;

const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// Where the commander keeps its bearer token (frontend `session::TOKEN_KEY`).
const TOKEN_KEY: &str = "pequod.token";

/// A node with a fresh data directory, serving the built commander.
struct Node {
    url: String,
    hostname: String,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    _data_dir: TempDir,
}

impl Node {
    async fn spawn(ui_dir: &Path) -> Node {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let mut settings = Settings::default();
        settings.server.listen = "127.0.0.1:0".into();
        settings.server.data_dir = data_dir.path().to_path_buf();
        settings.server.ui_dir = ui_dir.to_path_buf();
        settings.server.shutdown_timeout_secs = 1;
        settings.cluster.ssh_listen = "127.0.0.1:0".into();
        settings.admin_password = Some(SecretString::from(ADMIN_PASSWORD));
        pequod::telemetry::init("error");
        let app = Application::build(settings).await.expect("the node starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let hostname = app
            .state()
            .store
            .load_node()
            .await
            .expect("reading the node")
            .expect("the node has an identity")
            .hostname
            .to_string();
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
            stop,
            _data_dir: data_dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// Runs `test` against a fresh node in a fresh browser, saves the screenshot `name`, and
/// fails with the test's error (and where the screenshot is) if it failed.
async fn in_browser(name: &str, test: impl AsyncFnOnce(&Browser, &Node) -> Result<()>) {
    let Some(ui_dir) = require_browser() else {
        return;
    };
    let node = Node::spawn(&ui_dir).await;
    let browser = Browser::start().await.expect("the browser starts");
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
    browser.goto(&node.url("/")).await?;
    browser.wait_for("#login-form").await?;
    browser.fill("#login-username", "admin").await?;
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
