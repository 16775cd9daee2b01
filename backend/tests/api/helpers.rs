//! `spawn_app()`: a real node on 127.0.0.1 and a free port, with typed request helpers.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use pequod::settings::Settings;
use pequod::startup::Application;
use pequod::state::AppState;
use pequod_api::Problem;
use pequod_api::auth::LoginResponse;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tempfile::TempDir;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Generous: a loaded CI machine must not make a correct test fail.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub address: String,
    /// The node's SSH control channel.
    pub ssh_addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    /// Kept alive as long as the app (and shared with a restarted one).
    pub data_dir: Arc<TempDir>,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub fn test_settings(data_dir: &Path) -> Settings {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.data_dir = data_dir.to_path_buf();
    settings.server.ui_dir = data_dir.join("no-ui");
    settings.server.shutdown_timeout_secs = 1;
    // Plain HTTP keeps the suite's client simple; tls.rs tests HTTPS.
    settings.server.tls = false;
    settings.cluster.ssh_listen = Some("127.0.0.1:0".into());
    settings.admin_password = Some(SecretString::from(ADMIN_PASSWORD));
    settings
}

/// A node with a fresh data directory.
pub async fn spawn_app() -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temporary data directory"));
    let settings = test_settings(dir.path());
    spawn_with(settings, dir).await
}

/// A node with the given settings; `data_dir` is kept alive with it.
pub async fn spawn_with(settings: Settings, data_dir: Arc<TempDir>) -> TestApp {
    pequod::telemetry::init("error");
    let app = Application::build(settings).await.expect("the node starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let ssh_addr = app
        .ssh_addr()
        .expect("the SSH server listens on its fixed address");
    let handle = app.handle();
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        ssh_addr,
        client: reqwest::Client::new(),
        state,
        data_dir,
        handle,
        server,
    }
}

impl TestApp {
    /// Stops the node the way SIGTERM does and waits until it has.
    pub async fn stop(self) -> Arc<TempDir> {
        self.handle.stop(true).await;
        let _ = self.server.await;
        self.data_dir
    }

    /// Stops the node and starts a new one on the same data directory.
    pub async fn restart(self) -> TestApp {
        let dir = self.stop().await;
        spawn_with(test_settings(dir.path()), dir).await
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    /// A token for `admin`.
    pub async fn token(&self) -> String {
        let response = self.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "admin can log in");
        response
            .json::<LoginResponse>()
            .await
            .expect("login body")
            .token
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET request")
    }

    pub async fn get_anonymous(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    /// `POST /api/v1/checks/{id}/run`: runs the check now and returns its new state.
    pub async fn run_check(&self, token: &str, id: &str) -> pequod_api::checks::Check {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/checks/{id}/run")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "run {id}");
        response.json().await.expect("check")
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, token: &str) -> T {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &impl Serialize,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

/// Reads a problem body and checks its content type.
pub async fn read_problem(response: Response, status: StatusCode) -> Problem {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let problem: Problem = response.json().await.expect("problem body");
    assert_eq!(problem.status, status.as_u16());
    problem
}

/// Polls `probe` until it returns `Some` and gives its value; fails the test, naming
/// the line that waited, when `deadline` passes first (a probe that hangs included).
#[track_caller]
pub fn eventually<T, F, Fut>(deadline: Duration, mut probe: F) -> impl Future<Output = T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let caller = std::panic::Location::caller();
    async move {
        let give_up = Instant::now() + deadline;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            if let Ok(Some(value)) = tokio::time::timeout(left, probe()).await {
                return value;
            }
            assert!(
                Instant::now() < give_up,
                "what {caller} waits for did not happen within {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A SIP service the test controls: answers OPTIONS with the status in `status`.
pub async fn sip_responder(status: Arc<AtomicU16>) -> u16 {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let request = String::from_utf8_lossy(&buf[..len]).to_string();
            let mut reply = format!("SIP/2.0 {} Whatever\r\n", status.load(Ordering::Relaxed));
            for line in request.lines() {
                let lower = line.to_ascii_lowercase();
                if ["via:", "from:", "to:", "call-id:", "cseq:"]
                    .iter()
                    .any(|h| lower.starts_with(h))
                {
                    reply.push_str(line);
                    reply.push_str("\r\n");
                }
            }
            reply.push_str("Content-Length: 0\r\n\r\n");
            let _ = socket.send_to(reply.as_bytes(), from).await;
        }
    });
    port
}
