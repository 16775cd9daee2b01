//! The SSH client: calls a command on the other node, pinning its host key after the
//! first contact ([`HostKeyPolicy`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, client};
use tokio::net::TcpStream;

use super::{CallOutput, HostKeyPolicy, SshError, USER, openssh_line, parse_public_key};

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
pub(super) struct HostKeyCheck {
    pub(super) pinned: Option<PublicKey>,
    pub(super) seen: Arc<Mutex<Option<PublicKey>>>,
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
