//! The SSH control channel between the nodes: an embedded server that runs one command
//! per `exec` channel for peers whose key it trusts, and a client that calls such a
//! command on the other node, pinning that node's host key after the first contact.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::server::{Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg, Disconnect, MethodKind, MethodSet, client, server};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// The user name the client sends; the server ignores it, only the key counts.
const USER: &str = "pequod";

/// A trusted peer could still exhaust memory by streaming forever; nothing Pequod sends
/// (configuration, small files) comes near this.
const MAX_INPUT: usize = 64 * 1024 * 1024;

/// Runs the commands a peer node sends over SSH.
#[async_trait]
pub trait CommandHandler: Send + Sync + 'static {
    /// `peer` is the caller's public key in OpenSSH format, without a comment;
    /// `input` is everything the caller wrote to the channel. `Ok` becomes the
    /// output with exit status 0, `Err` the error text with exit status 1.
    async fn handle(&self, peer: &str, command: &str, input: Vec<u8>) -> Result<Vec<u8>, String>;
}

/// The client keys the server accepts, shared with the rest of the node so that
/// "Prepare slave" can add the master's key while the server runs. Keys compare by
/// their key data: comments do not matter.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys(Arc<RwLock<HashSet<KeyData>>>);

impl TrustedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the key given as an OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
    pub fn add(&self, openssh: &str) -> anyhow::Result<()> {
        let key = parse_public_key(openssh)?;
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.key_data().clone());
        Ok(())
    }

    /// Stops trusting the key; tells whether it was trusted.
    pub fn remove(&self, openssh: &str) -> anyhow::Result<bool> {
        let key = parse_public_key(openssh)?;
        Ok(self
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key.key_data()))
    }

    pub fn contains(&self, key: &PublicKey) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key.key_data())
    }
}

/// How the client checks the host key of the node it calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only this host key (OpenSSH public key line) is accepted.
    Pinned(String),
    /// Any host key is accepted and returned in [`CallOutput::host_key`] to be
    /// pinned from then on. Only for "Add slave", where the admin just named the node.
    TrustOnFirstUse,
}

/// What a successful call returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutput {
    pub stdout: Vec<u8>,
    /// The host key the server presented, as an OpenSSH public key line without comment.
    pub host_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to the node at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the node at {addr} presented the host key {got}, but {expected} was recorded for it; \
         if that node was reinstalled, remove it from the cluster and add it again"
    )]
    HostKeyMismatch {
        addr: SocketAddr,
        expected: String,
        got: String,
    },
    #[error(
        "node {addr} does not trust this node's key: run Prepare slave on it with this master's key"
    )]
    AuthRejected { addr: SocketAddr },
    #[error("the command failed on the other node (exit status {status}): {message}")]
    Remote { status: u32, message: String },
    #[error("the node at {addr} did not answer within {after:?}")]
    Timeout { addr: SocketAddr, after: Duration },
    #[error("the SSH exchange with the node at {addr} failed: {message}")]
    Protocol { addr: SocketAddr, message: String },
    #[error("the recorded host key is not an OpenSSH public key: {0}")]
    InvalidPinnedKey(String),
}

/// Loads a node's key file (`ssh_host_ed25519_key`, OpenSSH format, unencrypted): the
/// node's host key and its client key at once.
pub fn load_node_key(path: &Path) -> anyhow::Result<PrivateKey> {
    russh::keys::load_secret_key(path, None)
        .with_context(|| format!("loading the SSH key {}", path.display()))
}

/// The OpenSSH public key line of a private key, without comment.
pub fn public_key_line(key: &PrivateKey) -> anyhow::Result<String> {
    openssh_line(key.public_key())
}

fn parse_public_key(openssh: &str) -> anyhow::Result<PublicKey> {
    PublicKey::from_openssh(openssh.trim())
        .with_context(|| format!("{:?} is not an OpenSSH public key", openssh.trim()))
}

/// Comments are dropped so that the same key always reads the same.
fn openssh_line(key: &PublicKey) -> anyhow::Result<String> {
    Ok(PublicKey::from(key.key_data().clone())
        .to_openssh()?
        .trim_end()
        .to_string())
}

// ---------------------------------------------------------------------------------
// Server

/// The running server. Stopping it (dropping the handle or [`ServerHandle::shutdown`])
/// closes the listening socket and ends every open session.
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and waits until its socket is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the control channel on `listener` with `host_key`, for clients whose key is
/// in `trusted` at the time they authenticate.
pub async fn serve(
    listener: TcpListener,
    host_key: PrivateKey,
    trusted: TrustedKeys,
    handler: Arc<dyn CommandHandler>,
) -> anyhow::Result<ServerHandle> {
    let local_addr = listener
        .local_addr()
        .context("reading the SSH listener's address")?;
    let config = Arc::new(server::Config {
        // Offering only publickey spares clients from trying passwords that would be
        // refused anyway.
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![host_key],
        ..Default::default()
    });
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, config, trusted, handler, stop_rx));
    tracing::info!(%local_addr, "SSH control channel listening");
    Ok(ServerHandle {
        local_addr,
        stop: Some(stop_tx),
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<server::Config>,
    trusted: TrustedKeys,
    handler: Arc<dyn CommandHandler>,
    mut stop: oneshot::Receiver<()>,
) {
    // Sessions live in this set so that stopping the server ends them too.
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer_addr)) => {
                    let connection = Connection {
                        trusted: trusted.clone(),
                        handler: handler.clone(),
                        peer_key: None,
                        execs: HashSet::new(),
                    };
                    let config = config.clone();
                    sessions.spawn(async move {
                        let result = match server::run_stream(config, socket, connection).await {
                            Ok(session) => session.await,
                            Err(e) => Err(e),
                        };
                        if let Err(error) = result {
                            tracing::debug!(%peer_addr, %error, "SSH session ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accepting an SSH connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    tracing::info!("SSH control channel stopped");
}

/// One client connection.
struct Connection {
    trusted: TrustedKeys,
    handler: Arc<dyn CommandHandler>,
    /// Set once the client proved it holds a trusted key.
    peer_key: Option<String>,
    /// Channels that already received their one `exec`.
    execs: HashSet<ChannelId>,
}

impl server::Handler for Connection {
    type Error = russh::Error;

    // "none", password and keyboard-interactive keep russh's defaults: rejected.

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Refusing here spares the client a signature the server would refuse anyway.
        Ok(if self.trusted.contains(offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        // Checked again: the set may have changed since the offer.
        if !self.trusted.contains(key.public_key) {
            tracing::warn!("refused an SSH client whose key this node does not trust");
            return Ok(Auth::reject());
        }
        match openssh_line(key.public_key) {
            Ok(line) => {
                self.peer_key = Some(line);
                Ok(Auth::Accept)
            }
            Err(_) => Ok(Auth::reject()),
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // russh opens channels only after authentication, so the key is always set;
        // refusing (by dropping `reply`) covers the impossible case.
        if let Some(peer) = self.peer_key.clone() {
            reply.accept().await;
            // Its own task, so that a slow command does not stall this connection.
            tokio::spawn(run_exec(channel, peer, self.handler.clone()));
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // One command per channel; the channel's task picks the command up.
        if self.execs.insert(channel) {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.execs.remove(&channel);
        Ok(())
    }

    // No shell, terminal, subsystem (sftp), environment or X11: nothing but exec.

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }
    // Port forwarding and other channel types keep russh's defaults: refused.
}

/// Reads the command and its input until EOF, runs it, answers with the output and
/// exit status, and closes the channel.
async fn run_exec(mut channel: Channel<Msg>, peer: String, handler: Arc<dyn CommandHandler>) {
    let mut command = None;
    let mut input = Vec::new();
    let mut too_large = false;
    loop {
        match channel.wait().await {
            Some(ChannelMsg::Exec { command: c, .. }) if command.is_none() => command = Some(c),
            Some(ChannelMsg::Data { data }) => {
                if input.len() + data.len() > MAX_INPUT {
                    too_large = true;
                    input = Vec::new();
                } else if !too_large {
                    input.extend_from_slice(&data);
                }
            }
            Some(ChannelMsg::Eof) => break,
            // The client went away before finishing its input: nothing to answer.
            Some(ChannelMsg::Close) | None => return,
            Some(_) => {}
        }
    }
    let result = match command.map(String::from_utf8) {
        None => Err("no command: this server only runs exec requests".to_string()),
        Some(Err(_)) => Err("the command is not UTF-8".to_string()),
        Some(Ok(_)) if too_large => Err(format!("the input exceeds {MAX_INPUT} bytes")),
        Some(Ok(command)) => handler.handle(&peer, &command, input).await,
    };
    let (status, sent) = match result {
        Ok(output) => (0, channel.data_bytes(output).await),
        Err(message) => (
            1,
            channel.extended_data_bytes(1, message.into_bytes()).await,
        ),
    };
    let answered = async {
        sent?;
        channel.exit_status(status).await?;
        channel.eof().await?;
        channel.close().await
    };
    if let Err(error) = answered.await {
        tracing::debug!(%error, "could not answer an SSH exec request");
    }
}

// ---------------------------------------------------------------------------------
// Client

/// Runs `command` on the node at `addr`, writing `input` to it, and returns its output
/// and the host key the node presented.
pub async fn call(
    addr: SocketAddr,
    client_key: &PrivateKey,
    host_key: HostKeyPolicy,
    command: &str,
    input: &[u8],
    timeout: Duration,
) -> Result<CallOutput, SshError> {
    let pinned = match &host_key {
        HostKeyPolicy::Pinned(line) => {
            Some(parse_public_key(line).map_err(|e| SshError::InvalidPinnedKey(format!("{e:#}")))?)
        }
        HostKeyPolicy::TrustOnFirstUse => None,
    };
    tokio::time::timeout(timeout, exchange(addr, client_key, pinned, command, input))
        .await
        .map_err(|_| SshError::Timeout {
            addr,
            after: timeout,
        })?
}

async fn exchange(
    addr: SocketAddr,
    client_key: &PrivateKey,
    pinned: Option<PublicKey>,
    command: &str,
    input: &[u8],
) -> Result<CallOutput, SshError> {
    let protocol = |e: russh::Error| SshError::Protocol {
        addr,
        message: e.to_string(),
    };
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| SshError::Connect { addr, source })?;
    let seen = Arc::new(Mutex::new(None));
    let check = HostKeyCheck {
        pinned: pinned.clone(),
        seen: seen.clone(),
    };
    let connected =
        client::connect_stream(Arc::new(client::Config::default()), stream, check).await;
    let seen_key: Option<PublicKey> = seen.lock().unwrap_or_else(PoisonError::into_inner).take();
    let (mut session, host_key) = match (connected, seen_key) {
        (Ok(session), Some(key)) => (session, key),
        (Err(error), seen_key) => {
            // The host key check refused the key: say which keys differ.
            if let (Some(expected), Some(got)) = (&pinned, &seen_key)
                && expected.key_data() != got.key_data()
            {
                return Err(SshError::HostKeyMismatch {
                    addr,
                    expected: line_or_debug(expected),
                    got: line_or_debug(got),
                });
            }
            return Err(protocol(error));
        }
        (Ok(_), None) => {
            return Err(SshError::Protocol {
                addr,
                message: "the node presented a certificate instead of a host key".to_string(),
            });
        }
    };

    let auth = session
        .authenticate_publickey(
            USER,
            PrivateKeyWithHashAlg::new(Arc::new(client_key.clone()), None),
        )
        .await
        .map_err(protocol)?;
    if !auth.success() {
        return Err(SshError::AuthRejected { addr });
    }

    let mut channel = session.channel_open_session().await.map_err(protocol)?;
    channel.exec(true, command).await.map_err(protocol)?;
    channel.data_bytes(input.to_vec()).await.map_err(protocol)?;
    channel.eof().await.map_err(protocol)?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut status = None;
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::Failure => {
                return Err(SshError::Protocol {
                    addr,
                    message: "the node refused the exec request".to_string(),
                });
            }
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    // The answer is complete; a failed goodbye changes nothing.
    let _ = session
        .disconnect(Disconnect::ByApplication, "", "en")
        .await;

    match status {
        Some(0) => Ok(CallOutput {
            stdout,
            host_key: line_or_debug(&host_key),
        }),
        Some(status) => Err(SshError::Remote {
            status,
            message: String::from_utf8_lossy(&stderr).trim_end().to_string(),
        }),
        None => Err(SshError::Protocol {
            addr,
            message: "the channel closed without an exit status".to_string(),
        }),
    }
}

/// Encoding an ed25519 public key cannot fail; the fallback only keeps error paths
/// free of a second error.
fn line_or_debug(key: &PublicKey) -> String {
    openssh_line(key).unwrap_or_else(|_| format!("{:?}", key.key_data()))
}

/// Checks the server's host key during key exchange, before anything is sent, and
/// remembers the key seen so that the caller can record or report it.
struct HostKeyCheck {
    pinned: Option<PublicKey>,
    seen: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_public_key else {
            return Ok(false);
        };
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(key.clone());
        Ok(match &self.pinned {
            Some(pinned) => pinned.key_data() == key.key_data(),
            None => true,
        })
    }
}

#[cfg(test)]
mod tests {
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
        async fn handle(
            &self,
            peer: &str,
            command: &str,
            input: Vec<u8>,
        ) -> Result<Vec<u8>, String> {
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
        let server = serve(listener, server_key, trusted.clone(), handler.clone())
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

    fn without_comment(line: &str) -> String {
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[tokio::test]
    async fn a_trusted_client_runs_a_command_with_its_input() {
        let f = start(true).await;
        let out = call(
            f.server.local_addr(),
            &f.client_key,
            HostKeyPolicy::Pinned(f.server_public.clone()),
            "sync-config",
            b"hello slave",
            TIMEOUT,
        )
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
        let attempt = || {
            call(
                f.server.local_addr(),
                &f.client_key,
                HostKeyPolicy::Pinned(f.server_public.clone()),
                "status",
                b"",
                TIMEOUT,
            )
        };
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
            f.server.local_addr(),
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
            f.server.local_addr(),
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
            f.server.local_addr(),
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
        let err = call(
            f.server.local_addr(),
            &f.client_key,
            HostKeyPolicy::Pinned(f.server_public.clone()),
            "fail",
            b"",
            TIMEOUT,
        )
        .await
        .unwrap_err();
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
        let addr = f.server.local_addr();
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
        let addr = f.server.local_addr();
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
    async fn a_shell_or_terminal_is_refused() {
        let f = start(true).await;
        let check = HostKeyCheck {
            pinned: None,
            seen: Arc::default(),
        };
        let stream = TcpStream::connect(f.server.local_addr()).await.unwrap();
        let mut session = client::connect_stream(Arc::default(), stream, check)
            .await
            .unwrap();
        let key = PrivateKeyWithHashAlg::new(Arc::new(f.client_key.clone()), None);
        assert!(
            session
                .authenticate_publickey(USER, key)
                .await
                .unwrap()
                .success()
        );
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
        let key = ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
        let line = key.public_key().to_openssh().unwrap();
        trusted.add(&format!("{line} admin@master")).unwrap();
        let parsed = PublicKey::from_openssh(&line).unwrap();
        assert!(trusted.contains(&parsed));
        assert!(trusted.remove(&format!("{line} other comment")).unwrap());
        assert!(!trusted.contains(&parsed));
        assert!(trusted.add("not a key").is_err());
    }
}
