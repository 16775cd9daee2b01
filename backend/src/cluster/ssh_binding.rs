//! Where the SSH control channel listens. A node in a cluster listens on its own sync
//! IP only (the cluster link); a standalone node listens nowhere until Prepare slave
//! trusts a master's key, and then on every address, since it does not know its
//! cluster link yet. A fixed `cluster.ssh_listen` overrides all of this.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Type};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::agent::Agent;
use super::ssh::Socket;

/// How often a binding that failed is tried again (and the stored state looked at,
/// should a change have gone unseen).
const RETRY: Duration = Duration::from_secs(3);

/// Moves the SSH server's socket to where the node's state says it belongs. Cheap to
/// clone.
#[derive(Clone)]
pub struct SshBinding(Option<Arc<Inner>>);

struct Inner {
    agent: Agent,
    socket: Socket,
    port: u16,
    /// What was last applied: `None` before the first time and after a failure.
    applied: Mutex<Option<Option<SocketAddr>>>,
}

impl SshBinding {
    /// The socket stays where the settings put it.
    pub fn fixed() -> Self {
        Self(None)
    }

    /// Follows the node's state on `port`, once [`SshBinding::start`] is called.
    pub fn follow(agent: Agent, socket: Socket, port: u16) -> Self {
        Self(Some(Arc::new(Inner {
            agent,
            socket,
            port,
            applied: Mutex::new(None),
        })))
    }

    /// Applies the node's state now, then on every change of it (and every few seconds,
    /// to retry a binding that failed).
    pub async fn start(&self) -> Option<JoinHandle<()>> {
        let inner = self.0.as_ref()?;
        let mut node = inner.agent.watch_node();
        self.refresh().await;
        let binding = self.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = node.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep(RETRY) => {}
                }
                binding.refresh().await;
            }
        }))
    }

    /// Applies what the node's stored state asks for now. Called by the operations
    /// that change it before they answer, so a peer that connects next finds the
    /// socket where it belongs.
    pub async fn refresh(&self) {
        let Some(inner) = &self.0 else { return };
        let mut applied = inner.applied.lock().await;
        let wanted = match inner.wanted().await {
            Ok(wanted) => wanted,
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "cannot tell where the SSH control channel should listen"
                );
                return;
            }
        };
        if *applied == Some(wanted) {
            return;
        }
        // The old socket goes first: a listener on every address would keep the
        // port from being bound on one of them.
        if let Err(err) = inner.socket.listen(None).await {
            tracing::warn!(
                error = format!("{err:#}"),
                "cannot move the SSH control channel"
            );
            return;
        }
        *applied = None;
        let listener = match wanted.map(bind).transpose() {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(
                    address = %wanted.map(|a| a.to_string()).unwrap_or_default(),
                    error = %err,
                    retry_in = ?RETRY,
                    "the SSH control channel cannot listen"
                );
                return;
            }
        };
        if inner.socket.listen(listener).await.is_ok() {
            *applied = Some(wanted);
        }
    }
}

impl Inner {
    async fn wanted(&self) -> anyhow::Result<Option<SocketAddr>> {
        let node = self.agent.node().await;
        let store = self.agent.store();
        if let Some(config) = store.load_cluster().await?
            && let Some(member) = config.member(node.id)
        {
            return Ok(Some(SocketAddr::new(member.sync_ip, self.port)));
        }
        if store.trusted_keys().await?.is_empty() {
            Ok(None)
        } else {
            Ok(Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                self.port,
            )))
        }
    }
}

/// A listener on `addr`. The sync IP may be missing for a moment (its link down): the
/// socket is bound regardless and accepts once the address is back. Every address
/// means IPv6 and IPv4 at once, or IPv4 alone on a machine without IPv6.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    match bind_exactly(addr) {
        Err(_) if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) => {
            bind_exactly(SocketAddr::from(([0, 0, 0, 0], addr.port())))
        }
        bound => bound,
    }
}

fn bind_exactly(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket =
        socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => {
            socket.set_only_v6(false)?;
            socket.set_freebind_v6(true)?;
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}
