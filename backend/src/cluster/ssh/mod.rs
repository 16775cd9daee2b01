//! The SSH control channel between the nodes: an embedded server (`server`) that runs
//! one command per `exec` channel for peers whose key it trusts, and a client
//! (`client`) that calls such a command on the other node, pinning that node's host
//! key after the first contact. What both sides share (keys, trust, errors) is here.

mod client;
mod server;

pub use client::call;
pub use server::{Listening, ServerHandle, Socket, serve, serve_on, socket};

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{PrivateKey, PublicKey};

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

#[cfg(test)]
mod tests;
