//! A node's lasting identity, created on its first start and kept in the data
//! directory: its id and host name (in the store), its ed25519 SSH key pair and the
//! secret that signs API tokens (files readable by the owner only; the self-signed
//! TLS key in `tls.rs` uses the same helpers).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use pequod_api::cluster::Role;
use pequod_api::{Hostname, NodeId};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::SecretString;
use ssh_key::{Algorithm, LineEnding, PrivateKey};

use crate::storage::{NodeRecord, Store};

pub const SSH_KEY_FILE: &str = "ssh_host_ed25519_key";
pub const TOKEN_SECRET_FILE: &str = "token_secret";

/// The node's row in the store; created with a fresh id and the system's host name.
pub async fn load_or_create_node(store: &dyn Store) -> anyhow::Result<NodeRecord> {
    if let Some(node) = store.load_node().await? {
        return Ok(node);
    }
    let node = NodeRecord {
        id: NodeId(uuid::Uuid::new_v4()),
        hostname: system_hostname()?,
        role: Role::Standalone,
        epoch: 0,
    };
    store.save_node(&node).await?;
    tracing::info!(id = %node.id, hostname = %node.hostname, "new node identity");
    Ok(node)
}

/// The kernel's host name when it is a valid label, else `pequod`.
fn system_hostname() -> anyhow::Result<Hostname> {
    let kernel = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let label = kernel.trim().split('.').next().unwrap_or_default();
    Ok(Hostname::parse(label).or_else(|_| Hostname::parse("pequod"))?)
}

/// Loads the node's SSH key pair, generating it on the first start. Returns the
/// public key in OpenSSH format.
pub fn load_or_create_ssh_key(data_dir: &Path, comment: &str) -> anyhow::Result<String> {
    let path = data_dir.join(SSH_KEY_FILE);
    let key = if path.exists() {
        restrict(&path)?;
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        PrivateKey::from_openssh(text)
            .with_context(|| format!("{} is not an OpenSSH private key", path.display()))?
    } else {
        let mut key =
            PrivateKey::random(&mut OsRng, Algorithm::Ed25519).context("generating the SSH key")?;
        key.set_comment(comment);
        let text = key
            .to_openssh(LineEnding::LF)
            .context("encoding the SSH key")?;
        write_private(&path, text.as_bytes())?;
        fs::write(
            data_dir.join(format!("{SSH_KEY_FILE}.pub")),
            key.public_key().to_openssh()?,
        )?;
        tracing::info!(path = %path.display(), "generated the node's SSH key");
        key
    };
    Ok(key.public_key().to_openssh()?)
}

/// Loads the token-signing secret, generating it on the first start.
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<SecretString> {
    let path = data_dir.join(TOKEN_SECRET_FILE);
    if path.exists() {
        restrict(&path)?;
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        anyhow::ensure!(
            text.trim().len() >= 32,
            "{} is too short to be a secret",
            path.display()
        );
        return Ok(SecretString::from(text.trim().to_string()));
    }
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, text.as_bytes())?;
    Ok(SecretString::from(text))
}

/// Creates `path` with mode 0600 and writes `content`; never overwrites.
pub(crate) fn write_private(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(content)?;
    file.sync_all()?;
    Ok(())
}

/// Secrets must stay the owner's: tighten the mode if someone widened it.
pub(crate) fn restrict(path: &Path) -> anyhow::Result<()> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "secret file was readable by others; setting 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssh_key_is_created_once_private_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create_ssh_key(dir.path(), "pequod@node1").expect("create");
        assert!(first.starts_with("ssh-ed25519 "), "{first}");
        let mode = fs::metadata(dir.path().join(SSH_KEY_FILE))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create_ssh_key(dir.path(), "ignored").expect("load");
        assert_eq!(first, again);
    }

    #[test]
    fn the_token_secret_is_created_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create_secret(dir.path()).expect("create");
        let again = load_or_create_secret(dir.path()).expect("load");
        use secrecy::ExposeSecret;
        assert_eq!(first.expose_secret(), again.expose_secret());
    }
}
