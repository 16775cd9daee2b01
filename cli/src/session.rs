//! The token `pequodctl login` keeps: `$XDG_CONFIG_HOME/pequod/pequodctl.json` (else
//! `~/.config/pequod/pequodctl.json`), readable by its owner only (0600, in a 0700
//! directory), holding the node's URL, the token, when it ends and the certificate pin.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A login kept between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub url: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The node's certificate fingerprint the login was made with, if pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// Where the session is kept.
pub fn path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home).join(".config"),
            _ => bail!("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the token"),
        },
    };
    Ok(base.join("pequod").join("pequodctl.json"))
}

/// The kept session, if there is one.
pub fn load() -> Result<Option<Session>> {
    let path = path()?;
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not a session pequodctl wrote", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Keeps `session`, replacing any other; the file is never readable by others, not even
/// for a moment (created 0600 under a unique temporary name in the 0700 directory, then
/// renamed over the old one, so two logins at once leave one whole file).
pub fn store(session: &Session) -> Result<PathBuf> {
    let path = path()?;
    let dir = path.parent().context("the session path has a directory")?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    // A directory made earlier by someone else's umask is closed too.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} its owner's only", dir.display()))?;
    let mut file = tempfile::Builder::new()
        .prefix(".pequodctl.json.")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    file.write_all(&serde_json::to_vec_pretty(session)?)?;
    file.as_file().sync_all()?;
    file.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Forgets the kept session; nothing kept is not an error.
pub fn forget() -> Result<()> {
    let path = path()?;
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}
