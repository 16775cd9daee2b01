//! The embedded SSH server: accepts the peers whose key it trusts and runs one command
//! per `exec` channel through the [`CommandHandler`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg, MethodKind, MethodSet, server};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{CommandHandler, MAX_INPUT, TrustedKeys, openssh_line};

pub struct ServerHandle {
    socket: Socket,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Swaps the socket the server accepts on, while it runs; sessions already accepted
/// go on. Cheap to clone.
#[derive(Clone)]
pub struct Socket {
    swap: mpsc::Sender<(Option<TcpListener>, oneshot::Sender<()>)>,
    local_addr: watch::Receiver<Option<SocketAddr>>,
}

impl Socket {
    /// Where the server accepts now; `None` while it listens nowhere.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.local_addr.borrow()
    }

    /// Accepts on `listener` from now on (the previous one is closed), or nowhere.
    /// Returns once the server has made the swap.
    pub async fn listen(&self, listener: Option<TcpListener>) -> anyhow::Result<()> {
        let (done, swapped) = oneshot::channel();
        self.swap
            .send((listener, done))
            .await
            .map_err(|_| anyhow::anyhow!("the SSH server has stopped"))?;
        swapped
            .await
            .map_err(|_| anyhow::anyhow!("the SSH server stopped before it listened"))
    }
}

impl ServerHandle {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr()
    }

    /// The handle that moves the server to another address.
    pub fn socket(&self) -> Socket {
        self.socket.clone()
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

/// The socket a server will accept on: made before the server, so that the handler of
/// its commands can hold the [`Socket`] that moves it.
pub fn socket(listener: Option<TcpListener>) -> anyhow::Result<(Socket, Listening)> {
    let local_addr = listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()
        .context("reading the SSH listener's address")?;
    let (swap, swaps) = mpsc::channel(1);
    let (addr_tx, addr_rx) = watch::channel(local_addr);
    Ok((
        Socket {
            swap,
            local_addr: addr_rx,
        },
        Listening {
            listener,
            swaps,
            local_addr: addr_tx,
        },
    ))
}

/// Serves the control channel on `listener` (or nowhere until [`Socket::listen`] gives
/// it one) with `host_key`, for clients whose key is in `trusted` at the time they
/// authenticate.
pub async fn serve(
    listener: Option<TcpListener>,
    host_key: PrivateKey,
    trusted: TrustedKeys,
    handler: Arc<dyn CommandHandler>,
) -> anyhow::Result<ServerHandle> {
    let (socket, listening) = self::socket(listener)?;
    serve_on(socket, listening, host_key, trusted, handler)
}

/// [`serve`] on a socket made by [`socket`].
pub fn serve_on(
    socket: Socket,
    listening: Listening,
    host_key: PrivateKey,
    trusted: TrustedKeys,
    handler: Arc<dyn CommandHandler>,
) -> anyhow::Result<ServerHandle> {
    let config = Arc::new(server::Config {
        // Offering only publickey spares clients from trying passwords that would be
        // refused anyway.
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![host_key],
        ..Default::default()
    });
    match socket.local_addr() {
        Some(local_addr) => tracing::info!(%local_addr, "SSH control channel listening"),
        None => tracing::info!("SSH control channel listening nowhere yet"),
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listening, config, trusted, handler, stop_rx));
    Ok(ServerHandle {
        socket,
        stop: Some(stop_tx),
        task,
    })
}

/// The socket the accept loop accepts on, and how it is swapped.
pub struct Listening {
    listener: Option<TcpListener>,
    swaps: mpsc::Receiver<(Option<TcpListener>, oneshot::Sender<()>)>,
    local_addr: watch::Sender<Option<SocketAddr>>,
}

/// Accepts on `listener`, or waits forever while there is none.
async fn accept(
    listener: &Option<TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Replaces `current` by `next` (closing the old socket) and publishes the new address.
fn swap(
    current: &mut Option<TcpListener>,
    next: Option<TcpListener>,
    published: &watch::Sender<Option<SocketAddr>>,
) {
    let local_addr = next.as_ref().and_then(|l| l.local_addr().ok());
    match (current.is_some(), local_addr) {
        (_, Some(local_addr)) => tracing::info!(%local_addr, "SSH control channel listening"),
        (true, None) => tracing::info!("SSH control channel no longer listening"),
        (false, None) => {}
    }
    *current = next;
    published.send_replace(local_addr);
}

async fn accept_loop(
    listening: Listening,
    config: Arc<server::Config>,
    trusted: TrustedKeys,
    handler: Arc<dyn CommandHandler>,
    mut stop: oneshot::Receiver<()>,
) {
    // Sessions live in this set so that stopping the server (not a swap of its
    // socket) ends them too.
    let Listening {
        mut listener,
        mut swaps,
        local_addr,
    } = listening;
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some((next, done)) = swaps.recv() => {
                swap(&mut listener, next, &local_addr);
                let _ = done.send(());
            }
            accepted = accept(&listener) => match accepted {
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
