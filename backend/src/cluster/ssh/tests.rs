//! The SSH channel end to end: a real server and client on loopback.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, client};
use tokio::net::{TcpListener, TcpStream};

use super::client::HostKeyCheck;
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Upper-cases its input, or fails on the command `fail`; counts its calls.
#[derive(Default)]
struct Shout {
    calls: AtomicUsize,
}

#[async_trait]
impl CommandHandler for Shout {
    async fn handle(&self, peer: &str, command: &str, input: Vec<u8>) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if command == "fail" {
            return Err("the disk is full".to_string());
        }
        let mut out = format!("{command} from {peer}: ").into_bytes();
        out.extend(input.to_ascii_uppercase());
        Ok(out)
    }
}

/// A node key as identity.rs writes it, loaded back the way a node does.
fn node_key(dir: &Path, name: &str) -> (PrivateKey, String) {
    let data_dir = dir.join(name);
    std::fs::create_dir_all(&data_dir).unwrap();
    let public =
        crate::identity::load_or_create_ssh_key(&data_dir, &format!("pequod@{name}")).unwrap();
    let key = load_node_key(&data_dir.join(crate::identity::SSH_KEY_FILE)).unwrap();
    (key, public)
}

struct Fixture {
    _dir: tempfile::TempDir,
    server: ServerHandle,
    server_public: String,
    client_key: PrivateKey,
    client_public: String,
    trusted: TrustedKeys,
    handler: Arc<Shout>,
}

async fn start(trust_client: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (server_key, server_public) = node_key(dir.path(), "slave");
    let (client_key, client_public) = node_key(dir.path(), "master");
    let trusted = TrustedKeys::new();
    if trust_client {
        trusted.add(&client_public).unwrap();
    }
    let handler = Arc::new(Shout::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = serve(Some(listener), server_key, trusted.clone(), handler.clone())
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        server,
        server_public,
        client_key,
        client_public,
        trusted,
        handler,
    }
}

impl Fixture {
    fn addr(&self) -> std::net::SocketAddr {
        self.server.local_addr().expect("the server listens")
    }

    /// Runs `command` at `addr` as the client, with the server's key pinned.
    async fn call_at(
        &self,
        addr: std::net::SocketAddr,
        command: &str,
        input: &[u8],
    ) -> Result<CallOutput, SshError> {
        call(
            addr,
            &self.client_key,
            HostKeyPolicy::Pinned(self.server_public.clone()),
            command,
            input,
            TIMEOUT,
        )
        .await
    }

    /// A session to `addr`, opened by hand, before it authenticates.
    async fn session(&self, addr: std::net::SocketAddr) -> client::Handle<HostKeyCheck> {
        let check = HostKeyCheck {
            pinned: None,
            seen: Arc::default(),
        };
        let stream = TcpStream::connect(addr).await.unwrap();
        client::connect_stream(Arc::default(), stream, check)
            .await
            .unwrap()
    }

    /// Authenticates `session` with the client's key.
    async fn authenticate(&self, session: &mut client::Handle<HostKeyCheck>) {
        let key = PrivateKeyWithHashAlg::new(Arc::new(self.client_key.clone()), None);
        assert!(
            session
                .authenticate_publickey(USER, key)
                .await
                .unwrap()
                .success()
        );
    }
}

fn without_comment(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn a_trusted_client_runs_a_command_with_its_input() {
    let f = start(true).await;
    let out = f
        .call_at(f.addr(), "sync-config", b"hello slave")
        .await
        .unwrap();
    let expected = format!(
        "sync-config from {}: HELLO SLAVE",
        without_comment(&f.client_public)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    assert_eq!(f.handler.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_untrusted_key_is_refused_until_it_is_trusted_at_runtime() {
    let f = start(false).await;
    let attempt = || f.call_at(f.addr(), "status", b"");
    let refused = attempt().await.unwrap_err();
    assert!(
        matches!(refused, SshError::AuthRejected { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("Prepare slave"), "{refused}");
    assert_eq!(f.handler.calls.load(Ordering::SeqCst), 0);

    f.trusted.add(&f.client_public).unwrap();
    let out = attempt().await.unwrap();
    assert!(out.stdout.starts_with(b"status from "));
}

#[tokio::test]
async fn a_wrong_pinned_host_key_fails_before_anything_is_sent() {
    let f = start(true).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, impostor_public) = node_key(dir.path(), "other");
    let err = call(
        f.addr(),
        &f.client_key,
        HostKeyPolicy::Pinned(impostor_public.clone()),
        "sync-config",
        b"secret",
        TIMEOUT,
    )
    .await
    .unwrap_err();
    match err {
        SshError::HostKeyMismatch { expected, got, .. } => {
            assert_eq!(expected, without_comment(&impostor_public));
            assert_eq!(got, without_comment(&f.server_public));
        }
        other => panic!("expected HostKeyMismatch, got {other:?}"),
    }
    assert_eq!(f.handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn trust_on_first_use_returns_the_servers_real_host_key() {
    let f = start(true).await;
    let out = call(
        f.addr(),
        &f.client_key,
        HostKeyPolicy::TrustOnFirstUse,
        "hello",
        b"",
        TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(out.host_key, without_comment(&f.server_public));
    // …and it pins: the recorded key works for the next call.
    call(
        f.addr(),
        &f.client_key,
        HostKeyPolicy::Pinned(out.host_key),
        "hello",
        b"",
        TIMEOUT,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_handler_error_comes_back_as_a_remote_failure() {
    let f = start(true).await;
    let err = f.call_at(f.addr(), "fail", b"").await.unwrap_err();
    match err {
        SshError::Remote { status, message } => {
            assert_eq!(status, 1);
            assert_eq!(message, "the disk is full");
        }
        other => panic!("expected Remote, got {other:?}"),
    }
}

#[tokio::test]
async fn stopping_the_server_closes_its_port() {
    let f = start(true).await;
    let addr = f.addr();
    TcpStream::connect(addr).await.unwrap();
    f.server.shutdown().await;
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "port {addr} still accepts connections");
    let err = call(
        addr,
        &f.client_key,
        HostKeyPolicy::TrustOnFirstUse,
        "hello",
        b"",
        TIMEOUT,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SshError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn dropping_the_handle_closes_the_port_too() {
    let f = start(true).await;
    let addr = f.addr();
    drop(f.server);
    // Abort takes effect when the runtime next polls the task.
    let closed = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(TIMEOUT, closed).await.unwrap();
}

#[tokio::test]
async fn the_socket_moves_while_an_accepted_session_goes_on() {
    let f = start(true).await;
    let old = f.addr();
    let mut session = f.session(old).await;

    let socket = f.server.socket();
    let moved = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let new = moved.local_addr().unwrap();
    socket.listen(Some(moved)).await.unwrap();
    assert_eq!(f.server.local_addr(), Some(new));
    assert!(
        TcpStream::connect(old).await.is_err(),
        "{old} still accepts"
    );
    let out = f.call_at(new, "status", b"").await.unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("status from")
    );

    // The session accepted on the old socket still authenticates and runs a command.
    f.authenticate(&mut session).await;
    let channel = session.channel_open_session().await.unwrap();
    channel.exec(true, "status").await.unwrap();

    socket.listen(None).await.unwrap();
    assert_eq!(f.server.local_addr(), None);
    assert!(
        TcpStream::connect(new).await.is_err(),
        "{new} still accepts"
    );
}

#[tokio::test]
async fn a_shell_or_terminal_is_refused() {
    let f = start(true).await;
    let mut session = f.session(f.addr()).await;
    f.authenticate(&mut session).await;
    let mut channel = session.channel_open_session().await.unwrap();
    channel.request_shell(true).await.unwrap();
    assert!(matches!(channel.wait().await, Some(ChannelMsg::Failure)));
    channel
        .request_pty(true, "xterm", 80, 24, 0, 0, &[])
        .await
        .unwrap();
    assert!(matches!(channel.wait().await, Some(ChannelMsg::Failure)));
    assert_eq!(f.handler.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn trusted_keys_ignore_comments() {
    let trusted = TrustedKeys::new();
    let key =
        ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519).unwrap();
    let line = key.public_key().to_openssh().unwrap();
    trusted.add(&format!("{line} admin@master")).unwrap();
    let parsed = PublicKey::from_openssh(&line).unwrap();
    assert!(trusted.contains(&parsed));
    assert!(trusted.remove(&format!("{line} other comment")).unwrap());
    assert!(!trusted.contains(&parsed));
    assert!(trusted.add("not a key").is_err());
}
