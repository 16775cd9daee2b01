//! File sync: the configured paths go from the master to the slave with real `rsync`.
//! The slave runs an rsync daemon on its sync IP that only the master may write to; the
//! master pushes changes seen by inotify within seconds and makes periodic full passes.

mod daemon;
mod manifest;
mod push;
mod service;
mod watch;

#[cfg(test)]
pub(crate) mod tests;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use daemon::{DaemonConfig, RsyncDaemon};
pub use manifest::{Difference, DifferenceKind, EntryKind, Manifest, ManifestEntry};
pub use push::{PassKind, Pusher, RsyncFailure, SyncTarget};
pub use service::{FileSync, FileSyncHandle, FileSyncState, PassReport, PendingRetry};

/// The user name the master presents to the slave's rsync daemon; the secret is the
/// cluster's.
pub const RSYNC_USER: &str = "pequod";

/// The daemon module that takes the Rsync Server check's canary file. It is no synced
/// path, so nothing written there ever reaches a synced tree.
pub const CANARY_MODULE: &str = "pequod-canary";

/// Which paths are synced and how (the `[sync.files]` part of the settings).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct FileSyncSettings {
    /// Directories synced master → slave, the same absolute path on both nodes, e.g.
    /// `/etc/asterisk`, `/var/spool/asterisk/voicemail`, `/var/spool/asterisk/monitor`.
    pub paths: Vec<PathBuf>,
    /// TCP port of the slave's rsync daemon, on its sync IP.
    pub port: u16,
    /// A full pass this often, because a watcher can lose events.
    pub full_pass_interval_secs: u64,
    /// Changes are pushed once the paths have been quiet this long…
    pub debounce_ms: u64,
    /// …or at the latest this long after the first change, so a steady stream of
    /// writes still goes out.
    pub max_delay_ms: u64,
    /// A failed pass is retried after this long, doubling up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// rsync gives up on a peer that sends nothing for this long.
    pub io_timeout_secs: u64,
    /// The rsync program, both for the daemon and for the pushes.
    pub rsync: PathBuf,
}

impl Default for FileSyncSettings {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            port: 8873,
            full_pass_interval_secs: 300,
            debounce_ms: 300,
            max_delay_ms: 2000,
            retry_initial_ms: 1000,
            retry_max_ms: 60_000,
            io_timeout_secs: 30,
            rsync: PathBuf::from("rsync"),
        }
    }
}

impl FileSyncSettings {
    pub fn full_pass_interval(&self) -> Duration {
        Duration::from_secs(self.full_pass_interval_secs.max(1))
    }

    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }

    pub fn max_delay(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms.max(self.debounce_ms))
    }

    /// The daemon modules of the configured paths, each path at its own place.
    pub fn modules(&self) -> Result<Vec<Module>, FileSyncError> {
        modules_for(&self.paths)
    }
}

/// One synced directory: the rsync module `name` served from (or pushed from) `path`.
/// The name is derived from the configured path, so both nodes agree on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    pub name: String,
    pub path: PathBuf,
}

impl Module {
    /// The module of a configured path: `/etc/asterisk` is served as `etc_asterisk`.
    pub fn for_path(path: &Path) -> Result<Self, FileSyncError> {
        Ok(Self {
            name: module_name(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The same module served from another directory (a test slave on the same machine).
    pub fn at(&self, path: impl Into<PathBuf>) -> Self {
        Self {
            name: self.name.clone(),
            path: path.into(),
        }
    }
}

/// The modules of the configured paths; two paths that would share a module name are
/// refused rather than mixed into one tree on the slave.
pub fn modules_for(paths: &[PathBuf]) -> Result<Vec<Module>, FileSyncError> {
    let mut modules: Vec<Module> = Vec::with_capacity(paths.len());
    for path in paths {
        let module = Module::for_path(path)?;
        if let Some(other) = modules.iter().find(|m| m.name == module.name) {
            return Err(FileSyncError::DuplicateModule {
                name: module.name,
                first: other.path.clone(),
                second: path.clone(),
            });
        }
        modules.push(module);
    }
    Ok(modules)
}

fn module_name(path: &Path) -> Result<String, FileSyncError> {
    if !path.is_absolute() {
        return Err(FileSyncError::RelativePath(path.to_path_buf()));
    }
    let text = path.to_string_lossy();
    let name: String = text
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name == CANARY_MODULE {
        return Err(FileSyncError::ReservedPath(path.to_path_buf()));
    }
    Ok(name)
}

/// Why file sync could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum FileSyncError {
    #[error("the synced path {} must be absolute", .0.display())]
    RelativePath(PathBuf),
    #[error("the path {} cannot be synced (the root or a name Pequod keeps for itself)", .0.display())]
    ReservedPath(PathBuf),
    #[error("the synced paths {} and {} would share the rsync module {name}; rename one", first.display(), second.display())]
    DuplicateModule {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A synced path missing on the master is refused: pushing it with `--delete`
    /// would empty the slave's copy (an unmounted disk looks the same).
    #[error("the synced path {} is not a directory on this node", .0.display())]
    MissingSource(PathBuf),
    #[error("could not run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the rsync daemon exited at start ({status}): {log}")]
    DaemonExited { status: String, log: String },
    #[error("the rsync daemon did not listen on {addr} within {waited:?}: {log}")]
    DaemonNotListening {
        addr: String,
        waited: Duration,
        log: String,
    },
    #[error("rsync of {module} to {target} failed ({failure}): {stderr}")]
    Rsync {
        module: String,
        target: IpAddr,
        failure: RsyncFailure,
        stderr: String,
    },
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("a file sync task failed: {0}")]
    Task(String),
}

impl FileSyncError {
    fn io(context: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            context,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Errors go into the shared state, which is cloned to every reader.
pub type SharedError = Arc<FileSyncError>;

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn module_names_follow_the_path_and_never_collide() {
        let modules = modules_for(&[
            "/etc/asterisk".into(),
            "/var/spool/asterisk/voicemail".into(),
        ])
        .expect("modules");
        let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["etc_asterisk", "var_spool_asterisk_voicemail"]);
        assert!(matches!(
            modules_for(&["/srv/a_b".into(), "/srv/a/b".into()]),
            Err(FileSyncError::DuplicateModule { .. })
        ));
        assert!(matches!(
            Module::for_path(Path::new("etc/asterisk")),
            Err(FileSyncError::RelativePath(_))
        ));
        assert!(matches!(
            Module::for_path(Path::new("/")),
            Err(FileSyncError::ReservedPath(_))
        ));
    }

    #[test]
    fn settings_missing_from_the_file_take_their_defaults() {
        let settings: FileSyncSettings =
            serde_json::from_str(r#"{"paths": ["/etc/asterisk"], "port": 9873}"#).expect("parse");
        assert_eq!(settings.paths, [PathBuf::from("/etc/asterisk")]);
        assert_eq!(settings.port, 9873);
        assert_eq!(
            settings.debounce_ms,
            FileSyncSettings::default().debounce_ms
        );
    }
}
