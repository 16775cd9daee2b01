//! Notification mails against a real SMTP server (Debian's aiosmtpd, writing a Maildir
//! on 127.0.0.1): the address, a test mail, a mail server that is down (and a restart
//! in between), and a check's hard state change.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use pequod::notify::Security;
use pequod::settings::Settings;
use pequod_api::checks::CheckState;
use pequod_api::notifications::{Mail, MailState, Notifications};
use pequod_e2e::maildir::{header, messages};
use reqwest::{Method, StatusCode};
use tempfile::TempDir;

use crate::helpers::{
    DEADLINE, TestApp, eventually, read_problem, sip_responder, spawn_app, spawn_with,
    test_settings,
};

const ADDRESS: &str = "ops@example.net";

/// Debian's python3-aiosmtpd (scripts/setup test installs it) with its Maildir handler.
pub struct SmtpServer {
    pub port: u16,
    maildir: TempDir,
    child: Child,
}

impl SmtpServer {
    pub fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("address").port()
    }

    /// Starts the server on `port` and waits until it accepts connections.
    pub async fn start(port: u16) -> SmtpServer {
        let maildir = tempfile::tempdir().expect("maildir");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // Python's Maildir makes its tmp/new/cur only in a directory it creates.
            .arg(maildir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd starts (apt-get install python3-aiosmtpd)");
        let mut server = SmtpServer {
            port,
            maildir,
            child,
        };
        eventually(DEADLINE, || {
            let exited = server.child.try_wait().expect("status");
            async move {
                assert_eq!(exited, None, "aiosmtpd exited");
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(drop)
            }
        })
        .await;
        server
    }

    /// The received messages, raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        messages(&self.maildir.path().join("mail"))
    }

    /// Waits for a message whose subject contains `subject`.
    pub async fn wait_for_subject(&self, subject: &str) -> String {
        eventually(DEADLINE, || async {
            self.messages()
                .into_iter()
                .find(|m| header(m, "Subject").is_some_and(|s| s.contains(subject)))
        })
        .await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn body(message: &str) -> String {
    message
        .split_once("\n\n")
        .map(|(_, body)| body.replace("\r\n", "\n"))
        .unwrap_or_default()
}

/// Settings that send through 127.0.0.1:`port` without TLS and retry quickly.
fn mail_settings(dir: &Path, port: u16) -> Settings {
    let mut settings = test_settings(dir);
    settings.mail.host = Some("127.0.0.1".into());
    settings.mail.port = Some(port);
    settings.mail.security = Security::None;
    settings.mail.from = "Pequod <pequod@pbx.example.net>".into();
    settings.mail.retry_base_ms = 50;
    settings.mail.retry_cap_ms = 200;
    settings.mail.max_attempts = 10_000;
    // Long enough that a loaded test host's slow SMTP answer is not taken for a failed
    // send (which leaves a delivered mail queued and sends it again).
    settings.mail.timeout_secs = 10;
    settings
}

async fn spawn_mailing(port: u16) -> (TestApp, Settings) {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let settings = mail_settings(dir.path(), port);
    (spawn_with(settings.clone(), dir).await, settings)
}

async fn set_address(app: &TestApp, token: &str, email: &str) -> reqwest::Response {
    app.send_json(
        Method::PATCH,
        "/api/v1/notifications",
        token,
        &serde_json::json!({ "email": email }),
    )
    .await
}

/// A mail of the queue as `GET /notifications` lists it. The node's own checks may
/// queue mails of their own (a nearly full disk, no SIP service on port 5060), so
/// the tests look at their mail by id, never at totals alone.
async fn listed(app: &TestApp, token: &str, id: i64) -> Option<Mail> {
    let overview: Notifications = app.get_json("/api/v1/notifications", token).await;
    overview.recent.into_iter().find(|m| m.id == id)
}

async fn send_test(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/notifications/test"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_address_is_validated_and_stored_on_a_standalone_node() {
    let app = spawn_app().await;
    let token = app.token().await;
    let before: Notifications = app.get_json("/api/v1/notifications", &token).await;
    assert_eq!(before.email, None);
    assert_eq!(before.smtp_server, None, "no [mail] host: no server");
    assert_eq!((before.queued, before.failed, before.sent), (0, 0, 0));

    let problem = read_problem(
        set_address(&app, &token, "not an address").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem.errors[0].field, "email");
    let problem = read_problem(
        set_address(&app, &token, "root@localhost").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem.errors[0].field, "email");
    let unchanged: Notifications = app.get_json("/api/v1/notifications", &token).await;
    assert_eq!(unchanged.email, None, "a bad address changes nothing");

    // The API reads the address exactly as sent (the commander trims what is typed).
    let problem = read_problem(
        set_address(&app, &token, " ops@example.net ").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem.errors[0].field, "email");
    let response = set_address(&app, &token, ADDRESS).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Notifications = response.json().await.expect("body");
    assert_eq!(changed.email.as_deref(), Some(ADDRESS));
    let restarted = app.restart().await;
    let token = restarted.token().await;
    let kept: Notifications = restarted.get_json("/api/v1/notifications", &token).await;
    assert_eq!(
        kept.email.as_deref(),
        Some(ADDRESS),
        "kept across a restart"
    );
}

#[tokio::test]
async fn a_test_mail_needs_an_address_and_arrives_with_its_headers() {
    let smtp = SmtpServer::start(SmtpServer::free_port()).await;
    let (app, _) = spawn_mailing(smtp.port).await;
    let token = app.token().await;
    read_problem(send_test(&app, &token).await, StatusCode::CONFLICT).await;

    assert_eq!(
        set_address(&app, &token, ADDRESS).await.status(),
        StatusCode::OK
    );
    let response = send_test(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mail: Mail = response.json().await.expect("mail");
    assert_eq!(mail.state, MailState::Sent, "{mail:?}");
    assert_eq!(mail.attempts, 1);
    assert_eq!(mail.to, ADDRESS);
    assert!(mail.sent_at.is_some());

    let hostname = app.state.agent.node().await.hostname.to_string();
    let message = smtp.wait_for_subject("Test mail").await;
    assert_eq!(header(&message, "To").as_deref(), Some(ADDRESS));
    assert_eq!(
        header(&message, "Subject"),
        Some(format!("[Pequod] Test mail from {hostname}"))
    );
    assert!(
        header(&message, "From")
            .unwrap()
            .contains("pequod@pbx.example.net")
    );
    assert!(header(&message, "Date").is_some(), "{message}");
    assert_eq!(
        header(&message, "Content-Transfer-Encoding").as_deref(),
        Some("7bit"),
        "plain text as it is: {message}"
    );
    assert!(
        header(&message, "Message-ID")
            .unwrap()
            .ends_with("@pbx.example.net>"),
        "{message}"
    );
    assert!(
        body(&message).contains(&format!(
            "This is a test mail from the Pequod node {hostname}"
        )),
        "{message}"
    );

    let overview: Notifications = app.get_json("/api/v1/notifications", &token).await;
    assert_eq!(
        overview.smtp_server,
        Some(format!("127.0.0.1:{} (no encryption)", smtp.port))
    );
    assert!(overview.sent >= 1, "{overview:?}");
    assert_eq!(listed(&app, &token, mail.id).await, Some(mail));
}

#[tokio::test]
async fn a_down_mail_server_loses_nothing_and_the_mail_goes_out_when_it_is_back() {
    let port = SmtpServer::free_port();
    let (app, _) = spawn_mailing(port).await;
    let token = app.token().await;
    set_address(&app, &token, ADDRESS).await;

    let mail: Mail = send_test(&app, &token).await.json().await.expect("mail");
    assert_eq!(mail.state, MailState::Queued, "{mail:?}");
    assert_eq!(mail.attempts, 1);
    assert!(mail.last_error.is_some(), "{mail:?}");
    let overview: Notifications = app.get_json("/api/v1/notifications", &token).await;
    assert!(overview.queued >= 1, "{overview:?}");

    let smtp = SmtpServer::start(port).await;
    let message = smtp.wait_for_subject("Test mail").await;
    assert_eq!(header(&message, "To").as_deref(), Some(ADDRESS));
    let sent = eventually(DEADLINE, || async {
        listed(&app, &token, mail.id)
            .await
            .filter(|m| m.state == MailState::Sent)
    })
    .await;
    assert!(sent.attempts >= 2, "{sent:?}");
    assert_eq!(sent.last_error, None);
    let test_mails = smtp
        .messages()
        .iter()
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("Test mail")))
        .count();
    assert_eq!(test_mails, 1, "sent once");
}

#[tokio::test]
async fn a_mail_is_marked_failed_after_its_last_attempt() {
    let port = SmtpServer::free_port();
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut settings = mail_settings(dir.path(), port);
    settings.mail.max_attempts = 3;
    let app = spawn_with(settings, dir).await;
    let token = app.token().await;
    set_address(&app, &token, ADDRESS).await;
    let mail: Mail = send_test(&app, &token).await.json().await.expect("mail");
    assert_eq!((mail.state, mail.attempts), (MailState::Queued, 1));

    let failed = eventually(DEADLINE, || async {
        listed(&app, &token, mail.id)
            .await
            .filter(|m| m.state == MailState::Failed)
    })
    .await;
    assert_eq!(failed.attempts, 3, "{failed:?}");
    assert!(failed.last_error.is_some(), "{failed:?}");
    assert_eq!(failed.sent_at, None);
    let overview: Notifications = app.get_json("/api/v1/notifications", &token).await;
    assert!(overview.failed >= 1, "{overview:?}");

    // A server that comes back later does not resurrect a failed mail.
    let smtp = SmtpServer::start(port).await;
    let probe: Mail = send_test(&app, &token).await.json().await.expect("mail");
    assert_eq!(probe.state, MailState::Sent);
    assert_eq!(
        listed(&app, &token, mail.id).await.map(|m| m.state),
        Some(MailState::Failed)
    );
    let test_mails = smtp
        .messages()
        .iter()
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("Test mail")))
        .count();
    assert_eq!(test_mails, 1, "only the new test mail");
}

#[tokio::test]
async fn queued_mails_are_sent_after_a_restart() {
    let port = SmtpServer::free_port();
    let (app, settings) = spawn_mailing(port).await;
    let token = app.token().await;
    set_address(&app, &token, ADDRESS).await;
    let mail: Mail = send_test(&app, &token).await.json().await.expect("mail");
    assert_eq!(mail.state, MailState::Queued);

    let dir = app.stop().await;
    let smtp = SmtpServer::start(port).await;
    assert!(smtp.messages().is_empty(), "the stopped node sends nothing");
    let app = spawn_with(settings, dir).await;
    let message = smtp.wait_for_subject("Test mail").await;
    assert_eq!(header(&message, "To").as_deref(), Some(ADDRESS));
    let token = app.token().await;
    eventually(DEADLINE, || async {
        listed(&app, &token, mail.id)
            .await
            .filter(|m| m.state == MailState::Sent)
    })
    .await;
}

#[tokio::test]
async fn without_a_mail_server_mails_wait_in_the_queue() {
    let app = spawn_app().await;
    let token = app.token().await;
    set_address(&app, &token, ADDRESS).await;
    let mail: Mail = send_test(&app, &token).await.json().await.expect("mail");
    assert_eq!(mail.state, MailState::Queued);
    assert_eq!(mail.attempts, 0, "no server, no attempt");
    let overview: Notifications = app.get_json("/api/v1/notifications", &token).await;
    assert_eq!(overview.smtp_server, None);
    assert!(overview.queued >= 1, "{overview:?}");
    assert_eq!(listed(&app, &token, mail.id).await, Some(mail));
}

#[tokio::test]
async fn a_hard_state_change_of_a_check_is_mailed_and_so_is_its_recovery() {
    let smtp = SmtpServer::start(SmtpServer::free_port()).await;
    let status = Arc::new(AtomicU16::new(200));
    let sip_port = sip_responder(status.clone()).await;
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut settings = mail_settings(dir.path(), smtp.port);
    settings.checks.sip_port = sip_port;
    let app = spawn_with(settings, dir).await;
    let token = app.token().await;
    set_address(&app, &token, ADDRESS).await;
    assert_eq!(
        app.run_check(&token, "asterisk-sip").await.state,
        CheckState::Ok
    );

    status.store(503, Ordering::Relaxed);
    // Run after run until the retries confirm the problem (three by default).
    let check = eventually(DEADLINE, || async {
        let check = app.run_check(&token, "asterisk-sip").await;
        check.hard.then_some(check)
    })
    .await;
    assert_eq!(check.state, CheckState::Critical);
    let hostname = app.state.agent.node().await.hostname.to_string();
    let message = smtp
        .wait_for_subject("Asterisk SIP is CRITICAL (was OK)")
        .await;
    assert_eq!(
        header(&message, "Subject"),
        Some(format!(
            "[Pequod] {hostname}: Asterisk SIP is CRITICAL (was OK)"
        ))
    );
    let text = body(&message);
    assert!(text.contains("State:  OK -> CRITICAL"), "{text}");
    assert!(text.contains(&format!("Node:   {hostname}")), "{text}");
    assert!(text.contains("503"), "the check's output: {text}");

    status.store(200, Ordering::Relaxed);
    assert_eq!(
        app.run_check(&token, "asterisk-sip").await.state,
        CheckState::Ok
    );
    smtp.wait_for_subject("Asterisk SIP is OK (was CRITICAL)")
        .await;
    let about_sip = smtp
        .messages()
        .iter()
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("Asterisk SIP")))
        .count();
    assert_eq!(
        about_sip, 2,
        "one mail per hard change, none for soft results"
    );
}
