//! pequodctl against a real node started in-process on a free port: the binary is run
//! as a person or a script runs it, with its own config dir, and what it prints, keeps
//! and exits with is checked.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use pequod::settings::Settings;
use pequod::startup::Application;
use pequod::state::AppState;
use pequod_api::jobs::JobKind;
use secrecy::SecretString;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// How long a pequodctl run may take before the test gives up on it.
const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh node and a fresh home for pequodctl's config.
struct Node {
    url: String,
    hostname: String,
    state: AppState,
    config: TempDir,
    _data_dir: TempDir,
    _ui_dir: TempDir,
}

async fn spawn() -> Node {
    spawn_with_tls(false).await
}

async fn spawn_with_tls(tls: bool) -> Node {
    let data_dir = tempfile::tempdir().expect("temporary data directory");
    let ui_dir = tempfile::tempdir().expect("temporary UI directory");
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.data_dir = data_dir.path().to_path_buf();
    settings.server.ui_dir = ui_dir.path().to_path_buf();
    settings.server.shutdown_timeout_secs = 1;
    settings.server.tls = tls;
    settings.cluster.ssh_listen = Some("127.0.0.1:0".into());
    settings.admin_password = Some(SecretString::from(ADMIN_PASSWORD));
    // Nothing answers SIP there: Asterisk SIP is critical, which `checks` is tested on.
    settings.checks.sip_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port();
    settings.checks.disk_warning_percent = 100.0;
    settings.checks.disk_critical_percent = 100.0;
    let app = Application::build(settings).await.expect("the node starts");
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let hostname = state
        .store
        .load_node()
        .await
        .expect("reading the node")
        .expect("the node has an identity")
        .hostname
        .to_string();
    tokio::spawn(app.run_until_stopped());
    Node {
        url,
        hostname,
        state,
        config: tempfile::tempdir().expect("a config dir"),
        _data_dir: data_dir,
        _ui_dir: ui_dir,
    }
}

impl Node {
    /// Starts pequodctl with `args` against this node, its stdio piped.
    fn command(&self, args: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_pequodctl"))
            .args(args)
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("PEQUOD_URL", &self.url)
            .env_remove("PEQUOD_TOKEN")
            .env_remove("PEQUOD_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("pequodctl starts")
    }

    /// Runs pequodctl with `args` against this node, `stdin` on its standard input.
    async fn ctl(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self.command(args);
        let mut input = child.stdin.take().expect("its stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("writing stdin");
        drop(input);
        tokio::time::timeout(DEADLINE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("pequodctl {args:?} did not finish in {DEADLINE:?}"))
            .expect("pequodctl runs")
    }

    /// Runs pequodctl and requires it to succeed; returns what it printed.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args, "").await;
        assert!(
            out.status.success(),
            "pequodctl {args:?} failed:\n{}",
            show(&out)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    async fn login(&self) {
        let out = self
            .ctl(
                &["login", "--password-stdin"],
                &format!("{ADMIN_PASSWORD}\n"),
            )
            .await;
        assert!(out.status.success(), "login failed:\n{}", show(&out));
    }
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("the file exists")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn login_keeps_the_token_for_its_owner_only_and_logout_forgets_it() {
    let node = spawn().await;
    let before = node.ctl(&["status"], "").await;
    assert!(!before.status.success(), "status without a login must fail");
    assert!(
        String::from_utf8_lossy(&before.stderr).contains("pequodctl login"),
        "it says what to do:\n{}",
        show(&before)
    );

    node.login().await;
    let file = node.config.path().join("pequod/pequodctl.json");
    assert_eq!(mode(&file), 0o600, "the token file is its owner's only");
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let kept = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(kept["url"], node.url.as_str());
    assert!(kept["token"].as_str().is_some_and(|t| !t.is_empty()));

    let me = json(&node.ok(&["--json", "whoami"]).await);
    assert_eq!(me["username"], "admin");

    node.ok(&["logout"]).await;
    assert!(!file.exists(), "logout removes the token file");
    assert!(!node.ctl(&["whoami"], "").await.status.success());
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_the_servers_reason_and_nothing_is_kept() {
    let node = spawn().await;
    let out = node
        .ctl(&["login", "--password-stdin"], "not the password\n")
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("(401)") && stderr.contains("wrong username or password"),
        "the status and the server's reason are shown:\n{}",
        show(&out)
    );
    assert!(
        !stderr.contains("run `pequodctl login`"),
        "no hint to log in on a failed login:\n{}",
        show(&out)
    );
    assert!(!node.config.path().join("pequod/pequodctl.json").exists());
}

#[tokio::test]
async fn status_shows_the_node_in_a_table_and_as_json() {
    let node = spawn().await;
    node.login().await;
    let table = node.ok(&["status"]).await;
    assert!(table.contains("standalone mode"), "{table}");
    assert!(table.contains("Lamp"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with('*'))
        .unwrap_or_else(|| panic!("no row marks this node:\n{table}"));
    assert!(
        row.contains(&node.hostname) && row.contains("standalone"),
        "{row}"
    );

    let all = json(&node.ok(&["status", "--json"]).await);
    assert_eq!(all["cluster"]["mode"], "standalone");
    let nodes = all["nodes"].as_array().expect("a node list");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["hostname"], node.hostname.as_str());
    assert_eq!(nodes[0]["is_self"], true);
}

#[tokio::test]
async fn checks_filter_by_state() {
    let node = spawn().await;
    node.login().await;
    // The checks run at start; wait for the SIP check to have judged.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let critical = loop {
        let critical = json(&node.ok(&["checks", "--state", "critical", "--json"]).await);
        let list = critical.as_array().expect("a list").clone();
        if list.iter().any(|c| c["id"] == "asterisk-sip") {
            break list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Asterisk SIP never became critical: {critical}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        critical.iter().all(|c| c["state"] == "critical"),
        "{critical:?}"
    );

    let table = node.ok(&["checks", "--state", "critical"]).await;
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert!(rows.iter().any(|r| r.contains("Asterisk SIP")), "{table}");
    assert!(rows.iter().all(|r| r.starts_with("CRITICAL")), "{table}");

    let bad = node.ctl(&["checks", "--state", "purple"], "").await;
    assert!(!bad.status.success(), "an unknown state is refused");
}

#[tokio::test]
async fn jobs_follow_a_job_to_its_end_and_fail_when_it_fails() {
    let node = spawn().await;
    node.login().await;
    let (release, gate) = oneshot::channel::<()>();
    let job = node
        .state
        .jobs
        .submit(
            JobKind::Maintenance,
            "Tidy up",
            &["Look around", "Tidy"],
            |ctx| async move {
                ctx.step(0).await;
                let _ = gate.await;
                ctx.step(1).await;
                Ok(())
            },
        )
        .await
        .expect("submitted");
    // The follower must see the job running, and only then does the job go on.
    let mut follower = node.command(&["jobs", "--follow"]);
    let mut stderr_lines = BufReader::new(follower.stderr.take().expect("its stderr")).lines();
    let mut stderr = String::new();
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = stderr_lines.next_line().await.expect("reading stderr") {
            stderr.push_str(&line);
            stderr.push('\n');
            if line.contains("[>] Look around") {
                return;
            }
        }
        panic!("the follower ended without showing the running step:\n{stderr}");
    })
    .await
    .unwrap_or_else(|_| panic!("the follower never showed the running step:\n{stderr}"));
    release.send(()).expect("the job waits");
    while let Some(line) = tokio::time::timeout(DEADLINE, stderr_lines.next_line())
        .await
        .expect("the follower goes on")
        .expect("reading stderr")
    {
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let out = tokio::time::timeout(DEADLINE, follower.wait_with_output())
        .await
        .expect("the follower ends")
        .expect("pequodctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("[x] Look around") && stderr.contains("[x] Tidy"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("Job {} succeeded", job.id)),
        "the newest job was followed: {stdout}"
    );

    let failing = node
        .state
        .jobs
        .submit(JobKind::Maintenance, "Break", &["Try"], |ctx| async move {
            ctx.step(0).await;
            anyhow::bail!("the disk is on fire")
        })
        .await
        .expect("submitted");
    let out = node
        .ctl(&["jobs", &failing.id.to_string(), "--follow"], "")
        .await;
    assert!(!out.status.success(), "a failed job makes a non-zero exit");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the disk is on fire"),
        "{}",
        show(&out)
    );

    let list = node.ok(&["jobs"]).await;
    assert!(list.contains("Tidy up") && list.contains("Break"), "{list}");
    let page = json(&node.ok(&["jobs", "--json"]).await);
    assert_eq!(page["total"], 2);
}

#[tokio::test]
async fn a_refused_request_shows_the_problem_and_bad_input_is_refused_before_any_call() {
    let node = spawn().await;
    node.login().await;
    // A standalone node has no slave to hand over to.
    let out = node.ctl(&["failover"], "").await;
    assert!(!out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("(409)") && stderr.contains("not in a cluster"),
        "the status and the server's reason are shown:\n{}",
        show(&out)
    );

    let out = node
        .ctl(
            &[
                "slaves",
                "add",
                "no spaces allowed",
                "--telephony-ip",
                "x",
                "--sync-ip",
                "y",
            ],
            "",
        )
        .await;
    // Exit status 2 and clap's words: refused by the command line, before any call.
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid value"),
        "{}",
        show(&out)
    );
}

#[tokio::test]
async fn audit_lists_the_logins_newest_first_and_filters_by_outcome() {
    let node = spawn().await;
    let refused = node
        .ctl(&["login", "--password-stdin"], "not the password\n")
        .await;
    assert!(!refused.status.success());
    node.login().await;

    let table = node.ok(&["audit"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TIME"), "{table}");
    assert!(
        lines[1].contains("login") && lines[1].contains("success (200)"),
        "newest first:\n{table}"
    );
    assert!(lines[2].contains("failure (401)"), "{table}");
    assert!(table.contains("page 1: 2 of 2 entries"), "{table}");
    assert!(!table.contains("not the password"), "{table}");

    let failures = json(&node.ok(&["--json", "audit", "--outcome", "failure"]).await);
    assert_eq!(failures["total"], 1, "{failures:#}");
    assert_eq!(failures["items"][0]["action"], "login");
    assert_eq!(failures["items"][0]["user"], "admin");
    let bad = node.ctl(&["audit", "--per-page", "0"], "").await;
    assert!(!bad.status.success(), "{}", show(&bad));
}

#[tokio::test]
async fn users_and_api_tokens_are_managed_and_a_token_works_as_pequod_token() {
    let node = spawn().await;
    node.login().await;

    let added = node
        .ctl(
            &["users", "add", "watcher", "--role", "viewer"],
            "a password long enough\n",
        )
        .await;
    assert!(added.status.success(), "{}", show(&added));
    assert_eq!(
        String::from_utf8_lossy(&added.stdout),
        "Added watcher as viewer.\n"
    );
    let table = node.ok(&["users", "list"]).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["USER", "ROLE"],
            vec!["admin", "admin"],
            vec!["watcher", "viewer"]
        ],
        "{table}"
    );
    assert_eq!(
        node.ok(&["users", "set-role", "watcher", "operator"]).await,
        "watcher is now operator.\n"
    );
    // The last admin stays: the server's reason is shown and the exit code says so.
    let refused = node.ctl(&["users", "delete", "admin"], "").await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("last admin"),
        "{}",
        show(&refused)
    );
    // A name the contract refuses never reaches the server.
    let bad = node.ctl(&["users", "delete", "Not A Name"], "").await;
    assert!(!bad.status.success(), "{}", show(&bad));

    let created = json(
        &node
            .ok(&[
                "--json", "tokens", "create", "nightly", "--role", "viewer", "--days", "7",
            ])
            .await,
    );
    let secret = created["secret"].as_str().expect("a secret").to_string();
    assert!(secret.starts_with("pqd_"), "{created:#}");
    // A script with the token in PEQUOD_TOKEN needs no login.
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pequodctl"));
    let whoami = cmd
        .args(["whoami"])
        .env("XDG_CONFIG_HOME", tempfile::tempdir().expect("dir").path())
        .env("PEQUOD_URL", &node.url)
        .env("PEQUOD_TOKEN", &secret)
        .output()
        .await
        .expect("pequodctl runs");
    assert!(whoami.status.success(), "{}", show(&whoami));
    assert!(
        String::from_utf8_lossy(&whoami.stdout).starts_with("nightly (API token, role viewer;"),
        "{}",
        show(&whoami)
    );
    let table = node.ok(&["tokens", "list"]).await;
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("nightly")),
        "{table}"
    );
    assert!(!table.contains(&secret[4..]), "{table}");
    assert!(!table.contains("never"), "it was used just now:\n{table}");
    assert_eq!(
        node.ok(&["tokens", "revoke", "nightly"]).await,
        "Revoked API token nightly.\n"
    );
    assert_eq!(node.ok(&["tokens", "list"]).await, "No API tokens.\n");
    let too_long = node
        .ctl(
            &["tokens", "create", "x", "--role", "admin", "--days", "4000"],
            "",
        )
        .await;
    assert!(!too_long.status.success(), "{}", show(&too_long));
}

#[tokio::test]
async fn over_https_the_node_is_trusted_by_its_pinned_fingerprint_only() {
    let node = spawn_with_tls(true).await;
    let fingerprint = node
        .state
        .tls_fingerprint
        .clone()
        .expect("a TLS node has a fingerprint");
    let password = format!("{ADMIN_PASSWORD}\n");

    let untrusted = node.ctl(&["login", "--password-stdin"], &password).await;
    assert!(!untrusted.status.success());
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("pass --fingerprint"),
        "{}",
        show(&untrusted)
    );
    let other = "AB:".repeat(31) + "AB";
    let wrong = node
        .ctl(
            &["--fingerprint", &other, "login", "--password-stdin"],
            &password,
        )
        .await;
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains(&format!("not the pinned {other}")),
        "{}",
        show(&wrong)
    );
    assert!(!node.config.path().join("pequod/pequodctl.json").exists());

    let pinned = node
        .ctl(
            &["--fingerprint", &fingerprint, "login", "--password-stdin"],
            &password,
        )
        .await;
    assert!(pinned.status.success(), "{}", show(&pinned));
    // The pin is kept with the token: the next call needs neither.
    let status = json(&node.ok(&["--json", "status"]).await);
    assert_eq!(
        status["nodes"][0]["tls_fingerprint"].as_str(),
        Some(fingerprint.as_str()),
        "{status:#}"
    );
}
