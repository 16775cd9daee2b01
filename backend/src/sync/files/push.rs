//! The master's side: `rsync -a --delete` of each synced path into the slave's daemon,
//! either whole (a full pass) or limited to the subtrees that changed.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{CANARY_MODULE, FileSyncError, FileSyncSettings, Module, RSYNC_USER};

/// More changed paths than this in one module: the whole module is cheaper to send
/// than a filter with that many rules.
const MAX_FILTERED_PATHS: usize = 500;

/// Where the slave's daemon is, and how the master reaches it.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    /// The slave's sync IP.
    pub host: IpAddr,
    pub port: u16,
    /// The per-cluster secret.
    pub secret: SecretString,
    /// The master's sync IP: connections leave from it, the only address the daemon
    /// allows. `None` lets the kernel choose.
    pub source: Option<IpAddr>,
}

impl SyncTarget {
    fn url(&self, module: &str) -> String {
        format!(
            "rsync://{RSYNC_USER}@{}/{module}/",
            SocketAddr::new(self.host, self.port)
        )
    }
}

/// A whole pass over every synced path, or a push of what the watcher saw change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    Full,
    Changes,
}

/// What an rsync exit status means for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RsyncFailure {
    /// The daemon said no: wrong secret, unknown module, address not allowed (exit 5).
    Refused,
    /// No connection to the daemon (exit 10).
    Unreachable,
    /// The peer stopped answering (exit 30, 35).
    Timeout,
    /// Reading or writing files failed, e.g. the slave's disk is full (exit 11).
    FileIo,
    /// Some files were not transferred (exit 23).
    Partial,
    /// The two sides did not understand each other (exit 12, 2).
    Protocol,
    /// rsync was killed by a signal.
    Killed,
    Exit(i32),
}

impl RsyncFailure {
    fn from_code(code: Option<i32>) -> Self {
        match code {
            Some(5) => Self::Refused,
            Some(10) => Self::Unreachable,
            Some(30 | 35) => Self::Timeout,
            Some(11) => Self::FileIo,
            Some(23) => Self::Partial,
            Some(2 | 12) => Self::Protocol,
            Some(code) => Self::Exit(code),
            None => Self::Killed,
        }
    }
}

impl fmt::Display for RsyncFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str("refused by the slave's rsync daemon"),
            Self::Unreachable => f.write_str("the slave's rsync daemon is unreachable"),
            Self::Timeout => f.write_str("the slave stopped answering"),
            Self::FileIo => f.write_str("a file could not be read or written"),
            Self::Partial => f.write_str("some files were not transferred"),
            Self::Protocol => f.write_str("rsync protocol error"),
            Self::Killed => f.write_str("rsync was killed"),
            Self::Exit(code) => write!(f, "rsync exit status {code}"),
        }
    }
}

/// Pushes the synced paths of this node to a slave.
#[derive(Debug, Clone)]
pub struct Pusher {
    modules: Vec<Module>,
    rsync: PathBuf,
    io_timeout: Duration,
}

impl Pusher {
    /// A pusher of the configured paths.
    pub fn new(settings: &FileSyncSettings) -> Result<Self, FileSyncError> {
        Ok(Self::with_modules(settings.modules()?, settings))
    }

    pub fn with_modules(modules: Vec<Module>, settings: &FileSyncSettings) -> Self {
        Self {
            modules,
            rsync: settings.rsync.clone(),
            io_timeout: Duration::from_secs(settings.io_timeout_secs.max(1)),
        }
    }

    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// Mirrors every synced path on the slave: what the master lacks is deleted there.
    /// Every module is tried; the first failure is returned.
    #[tracing::instrument(skip(self, target), fields(slave = %target.host))]
    pub async fn full_pass(&self, target: &SyncTarget) -> Result<(), FileSyncError> {
        let started = Instant::now();
        let mut first_error = None;
        for module in &self.modules {
            if let Err(e) = self.push_module(target, module, None).await {
                tracing::warn!(module = %module.name, error = %e, "full pass of a synced path failed");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                tracing::debug!(elapsed = ?started.elapsed(), "full pass done");
                Ok(())
            }
        }
    }

    /// Pushes the subtrees of `paths` (absolute paths inside the synced paths; changed,
    /// created or deleted): each arrives as the master has it now, deletes included.
    /// Paths outside every synced path are ignored.
    #[tracing::instrument(skip(self, target, paths), fields(slave = %target.host, paths = paths.len()))]
    pub async fn push_changed(
        &self,
        target: &SyncTarget,
        paths: &[PathBuf],
    ) -> Result<(), FileSyncError> {
        let mut first_error = None;
        for module in &self.modules {
            let Some(changes) = changes_in(module, paths) else {
                continue;
            };
            let rules = match &changes {
                Changes::Whole => None,
                Changes::Subtrees(subtrees) => Some(filter_rules(subtrees)),
            };
            if let Err(e) = self.push_module(target, module, rules.as_deref()).await {
                tracing::warn!(module = %module.name, error = %e, "push of changes failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The Rsync Server check: the daemon answers, authenticates us and accepts a small
    /// file into its canary module, which no synced path reads. Returns how long it took.
    #[tracing::instrument(skip(self, target), fields(slave = %target.host))]
    pub async fn canary(&self, target: &SyncTarget) -> Result<Duration, FileSyncError> {
        let started = Instant::now();
        let dir = std::env::temp_dir().join(format!("pequod-canary-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| FileSyncError::io("cannot create the canary", &dir, e))?;
        let file = dir.join("canary");
        let result = async {
            std::fs::write(&file, chrono::Utc::now().to_rfc3339())
                .map_err(|e| FileSyncError::io("cannot write the canary", &file, e))?;
            let canary = Module {
                name: CANARY_MODULE.into(),
                path: dir.clone(),
            };
            self.run_rsync(target, &canary, &[OsStr::new("--recursive")], None)
                .await
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        result.map(|()| started.elapsed())
    }

    async fn push_module(
        &self,
        target: &SyncTarget,
        module: &Module,
        rules: Option<&[u8]>,
    ) -> Result<(), FileSyncError> {
        // Pushing a missing or unmounted path with --delete would empty the slave's copy.
        if !std::fs::metadata(&module.path).is_ok_and(|m| m.is_dir()) {
            return Err(FileSyncError::MissingSource(module.path.clone()));
        }
        // -a keeps links as links (never followed), owners, modes and times.
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("--archive"),
            OsStr::new("--delete"),
            OsStr::new("--numeric-ids"),
        ];
        if rules.is_some() {
            // Rules from stdin, NUL-separated: any file name is one rule. What the
            // rules exclude is also protected from --delete.
            args.extend([
                OsStr::new("--from0"),
                OsStr::new("--include-from=-"),
                OsStr::new("--exclude=*"),
            ]);
        }
        self.run_rsync(target, module, &args, rules).await
    }

    async fn run_rsync(
        &self,
        target: &SyncTarget,
        module: &Module,
        args: &[&OsStr],
        stdin: Option<&[u8]>,
    ) -> Result<(), FileSyncError> {
        let mut source = module.path.clone().into_os_string();
        source.push("/");
        let mut command = Command::new(&self.rsync);
        command
            .args(args)
            .arg("--no-motd")
            .arg("--contimeout=5")
            .arg(format!("--timeout={}", self.io_timeout.as_secs()));
        if let Some(address) = target.source {
            command.arg(format!("--address={address}"));
        }
        command
            .arg(&source)
            .arg(target.url(&module.name))
            .env("RSYNC_PASSWORD", target.secret.expose_secret())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| FileSyncError::Spawn {
            program: self.rsync.clone(),
            source,
        })?;
        if let (Some(rules), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // rsync reads all rules before it starts; a failed write shows in its exit.
            let _ = pipe.write_all(rules).await;
            drop(pipe);
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| FileSyncError::io("cannot wait for rsync of", &module.path, e))?;
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        match output.status.code() {
            Some(0) => Ok(()),
            // Files that vanished during the transfer: their delete is a change of its
            // own and is pushed next.
            Some(24) => {
                tracing::debug!(module = %module.name, %stderr, "files vanished during the transfer");
                Ok(())
            }
            code => Err(FileSyncError::Rsync {
                module: module.name.clone(),
                target: target.host,
                failure: RsyncFailure::from_code(code),
                stderr,
            }),
        }
    }
}

/// What of one module has to go.
#[derive(Debug, PartialEq, Eq)]
enum Changes {
    Whole,
    /// Relative paths, none inside another.
    Subtrees(Vec<PathBuf>),
}

fn changes_in(module: &Module, paths: &[PathBuf]) -> Option<Changes> {
    let mut relative = BTreeSet::new();
    for path in paths {
        let Ok(rel) = path.strip_prefix(&module.path) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            return Some(Changes::Whole);
        }
        // A path with `..` could reach outside; send the whole module instead.
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Some(Changes::Whole);
        }
        relative.insert(rel.to_path_buf());
    }
    if relative.is_empty() {
        return None;
    }
    // Sorted, an ancestor comes before its descendants: keep only the topmost.
    let mut subtrees: Vec<PathBuf> = Vec::new();
    for rel in relative {
        if subtrees.last().is_some_and(|top| rel.starts_with(top)) {
            continue;
        }
        subtrees.push(rel);
    }
    if subtrees.len() > MAX_FILTERED_PATHS {
        return Some(Changes::Whole);
    }
    Some(Changes::Subtrees(subtrees))
}

/// Include rules for the subtrees and the directories leading to them, NUL-separated.
/// Everything else is excluded by the `--exclude=*` that follows, which also keeps
/// the rest of the slave's tree from `--delete`.
fn filter_rules(subtrees: &[PathBuf]) -> Vec<u8> {
    let mut rules = BTreeSet::new();
    for subtree in subtrees {
        let mut prefix = PathBuf::new();
        let names: Vec<&OsStr> = subtree.iter().collect();
        let Some((last, parents)) = names.split_last() else {
            continue;
        };
        for name in parents {
            prefix.push(name);
            rules.insert(rule(&prefix, "/"));
        }
        prefix.push(last);
        // The entry itself (file, link or directory) and, if a directory, everything in it.
        rules.insert(rule(&prefix, ""));
        rules.insert(rule(&prefix, "/***"));
    }
    let mut out = Vec::new();
    for r in rules {
        out.extend_from_slice(&r);
        out.push(0);
    }
    out
}

/// One anchored rule. rsync reads a backslash as an escape only in a pattern that has
/// wildcards, so a name is escaped exactly when the rule has any.
fn rule(rel: &Path, suffix: &str) -> Vec<u8> {
    let name = rel.as_os_str().as_bytes();
    let wild = |b: &u8| matches!(b, b'*' | b'?' | b'[');
    let escape = suffix.contains('*') || name.iter().any(wild);
    let mut out = vec![b'/'];
    for b in name {
        if escape && (wild(b) || *b == b'\\') {
            out.push(b'\\');
        }
        out.push(*b);
    }
    out.extend_from_slice(suffix.as_bytes());
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    fn module() -> Module {
        Module {
            name: "m".into(),
            path: "/srv/m".into(),
        }
    }

    #[test]
    fn changes_keep_only_topmost_subtrees_of_their_module() {
        let paths: Vec<PathBuf> = ["/srv/m/a/b", "/srv/m/a", "/srv/m/c/d", "/srv/other/x"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(
            changes_in(&module(), &paths),
            Some(Changes::Subtrees(vec!["a".into(), "c/d".into()]))
        );
        assert_eq!(
            changes_in(&module(), &["/srv/m".into()]),
            Some(Changes::Whole)
        );
        assert_eq!(changes_in(&module(), &["/srv/other/x".into()]), None);
    }

    #[test]
    fn rules_include_parents_and_escape_wildcards_only_where_they_count() {
        let rules = filter_rules(&["a[1]/b".into()]);
        let rules: Vec<&[u8]> = rules.split(|b| *b == 0).filter(|r| !r.is_empty()).collect();
        assert_eq!(
            rules,
            vec![&b"/a\\[1]/"[..], b"/a\\[1]/b", b"/a\\[1]/b/***"],
            "{:?}",
            rules
                .iter()
                .map(|r| String::from_utf8_lossy(r))
                .collect::<Vec<_>>()
        );
        let plain = filter_rules(&["x\\y".into()]);
        let plain: BTreeSet<&[u8]> = plain.split(|b| *b == 0).filter(|r| !r.is_empty()).collect();
        assert_eq!(plain, BTreeSet::from([&b"/x\\y"[..], b"/x\\\\y/***"]));
    }
}
