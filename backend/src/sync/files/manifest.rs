//! The Filesystem Sync check's evidence: every entry of the synced paths with its size,
//! mtime and SHA-256, sorted, so that the master's and the slave's can be compared and
//! the differing paths named.

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{FileSyncError, Module, modules_for};

/// What an entry is. Directories carry no time: writing into one changes it, and a
/// mirror is judged by what is in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
    /// `sha256` is that of the link's target text; the link is never followed.
    Symlink,
    /// Devices, sockets, FIFOs: compared by kind only.
    Other,
}

/// One entry: `path` is `module/relative/path` (the module alone for its root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Nanoseconds since the epoch; 0 for directories and links.
    pub mtime_ns: i64,
    /// Hex SHA-256 of a file's content or a link's target; empty otherwise.
    pub sha256: String,
}

/// The entries of the synced paths, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

/// How a path differs between this manifest and the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    OnlyHere,
    OnlyThere,
    /// Both have it, with another kind, size, mtime or content.
    Differs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub path: String,
    pub kind: DifferenceKind,
}

impl Manifest {
    /// The manifest of the configured paths on this node.
    pub async fn build(paths: &[PathBuf]) -> Result<Self, FileSyncError> {
        Self::build_modules(&modules_for(paths)?).await
    }

    /// The manifest of modules served from the given directories. A missing directory
    /// has no entries: the comparison names everything the other side has.
    pub async fn build_modules(modules: &[Module]) -> Result<Self, FileSyncError> {
        let modules = modules.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut entries = Vec::new();
            for module in &modules {
                walk(&module.path, &module.name, &mut entries)?;
            }
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(Self { entries })
        })
        .await
        .map_err(|e| FileSyncError::Task(e.to_string()))?
    }

    /// The paths that differ, in path order.
    pub fn diff(&self, other: &Manifest) -> Vec<Difference> {
        let (here, there) = (&self.entries, &other.entries);
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        let mut push = |path: &String, kind| {
            out.push(Difference {
                path: path.clone(),
                kind,
            })
        };
        while i < here.len() || j < there.len() {
            match (here.get(i), there.get(j)) {
                (Some(a), Some(b)) if a.path == b.path => {
                    if a != b {
                        push(&a.path, DifferenceKind::Differs);
                    }
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a.path < b.path => {
                    push(&a.path, DifferenceKind::OnlyHere);
                    i += 1;
                }
                (Some(a), None) => {
                    push(&a.path, DifferenceKind::OnlyHere);
                    i += 1;
                }
                (_, Some(b)) => {
                    push(&b.path, DifferenceKind::OnlyThere);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        out
    }
}

fn walk(dir: &Path, name: &str, entries: &mut Vec<ManifestEntry>) -> Result<(), FileSyncError> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FileSyncError::io("cannot read", dir, e)),
    };
    // The root is followed when it is a link: the module is what it points to, as
    // rsync sends it.
    let meta = if meta.file_type().is_symlink() {
        match std::fs::metadata(dir) {
            Ok(meta) => meta,
            Err(_) => return Ok(()),
        }
    } else {
        meta
    };
    if !meta.is_dir() {
        return Ok(());
    }
    entries.push(dir_entry(name.to_string()));
    walk_dir(dir, name, entries)
}

fn walk_dir(
    dir: &Path,
    prefix: &str,
    entries: &mut Vec<ManifestEntry>,
) -> Result<(), FileSyncError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        // Removed while we walk: the next manifest sees the new state.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FileSyncError::io("cannot list", dir, e)),
    };
    for item in read {
        let item = item.map_err(|e| FileSyncError::io("cannot list", dir, e))?;
        let path = item.path();
        let rel = format!("{prefix}/{}", item.file_name().to_string_lossy());
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(FileSyncError::io("cannot read", &path, e)),
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            entries.push(dir_entry(rel.clone()));
            walk_dir(&path, &rel, entries)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|e| FileSyncError::io("cannot read the link", &path, e))?;
            let target = target.as_os_str().as_bytes();
            entries.push(ManifestEntry {
                path: rel,
                kind: EntryKind::Symlink,
                size: target.len() as u64,
                mtime_ns: 0,
                sha256: hex(&Sha256::digest(target)),
            });
        } else if kind.is_file() {
            let sha256 = match hash_file(&path) {
                Ok(sha) => sha,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(FileSyncError::io("cannot read", &path, e)),
            };
            entries.push(ManifestEntry {
                path: rel,
                kind: EntryKind::File,
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
                sha256,
            });
        } else {
            entries.push(ManifestEntry {
                path: rel,
                kind: EntryKind::Other,
                size: 0,
                mtime_ns: 0,
                sha256: String::new(),
            });
        }
    }
    Ok(())
}

fn dir_entry(path: String) -> ManifestEntry {
    ManifestEntry {
        path,
        kind: EntryKind::Dir,
        size: 0,
        mtime_ns: 0,
        sha256: String::new(),
    }
}

fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
