//! File sync against a real rsync daemon on loopback: the "slave" listens on
//! 127.0.0.2 and allows only 127.0.0.1, the "master"; both trees live in temp dirs.
//! Root is needed: the daemon chroots into each module and keeps owners (uid 0).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use tempfile::TempDir;

use super::*;

const SLAVE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const MASTER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const SECRET: &str = "cluster-secret-1";
/// Changes must reach the slave within this.
const ARRIVAL: Duration = Duration::from_secs(5);

/// Whether these tests can run: root (chroot, owners) and the rsync program. Not so:
/// skipped with a notice, or failed when `CI` is set.
pub(crate) fn can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let rsync = std::process::Command::new("rsync")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && rsync {
        return true;
    }
    let why = if root {
        "the rsync program is missing (scripts/setup installs it)"
    } else {
        "the rsync daemon needs root (use chroot, uid 0)"
    };
    if std::env::var_os("CI").is_some() {
        panic!("file sync tests cannot run and CI is set: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind((SLAVE, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A master tree with two synced paths, a slave daemon serving the same modules from
/// other directories, and the settings that tie them together. Dropping it kills the
/// daemon and removes the directories.
struct Fixture {
    master_paths: Vec<PathBuf>,
    slave_modules: Vec<Module>,
    daemon_config: DaemonConfig,
    daemon: Option<RsyncDaemon>,
    settings: FileSyncSettings,
    target: SyncTarget,
    // Last: the daemon stops before its directories go.
    tmp: TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let master_paths: Vec<PathBuf> = ["conf", "voicemail"]
            .iter()
            .map(|n| tmp.path().join("master").join(n))
            .collect();
        for path in &master_paths {
            std::fs::create_dir_all(path).expect("master dir");
        }
        let slave_modules: Vec<Module> = modules_for(&master_paths)
            .expect("modules")
            .iter()
            .zip(["conf", "voicemail"])
            .map(|(m, n)| m.at(tmp.path().join("slave").join(n)))
            .collect();
        let port = free_port();
        let settings = FileSyncSettings {
            paths: master_paths.clone(),
            port,
            // Only the watcher and explicit triggers make passes during a test.
            full_pass_interval_secs: 3600,
            debounce_ms: 100,
            max_delay_ms: 1000,
            retry_initial_ms: 100,
            retry_max_ms: 400,
            io_timeout_secs: 10,
            rsync: "rsync".into(),
        };
        let daemon_config = DaemonConfig {
            bind: SLAVE,
            port,
            master: MASTER,
            secret: SecretString::from(SECRET),
            modules: slave_modules.clone(),
            run_dir: tmp.path().join("run"),
            rsync: "rsync".into(),
        };
        let daemon = RsyncDaemon::start(&daemon_config)
            .await
            .expect("daemon starts");
        let target = SyncTarget {
            host: SLAVE,
            port,
            secret: SecretString::from(SECRET),
            source: Some(MASTER),
        };
        Self {
            master_paths,
            slave_modules,
            daemon_config,
            daemon: Some(daemon),
            settings,
            target,
            tmp,
        }
    }

    fn master(&self, rel: &str) -> PathBuf {
        self.master_paths[0].join(rel)
    }

    fn slave(&self, rel: &str) -> PathBuf {
        self.slave_modules[0].path.join(rel)
    }

    fn pusher(&self) -> Pusher {
        Pusher::new(&self.settings).expect("pusher")
    }

    fn spawn(&self) -> FileSyncHandle {
        FileSync::spawn(self.settings.clone(), self.target.clone()).expect("file sync starts")
    }

    async fn master_manifest(&self) -> Manifest {
        Manifest::build(&self.master_paths)
            .await
            .expect("master manifest")
    }

    async fn slave_manifest(&self) -> Manifest {
        Manifest::build_modules(&self.slave_modules)
            .await
            .expect("slave manifest")
    }

    async fn differences(&self) -> Vec<Difference> {
        self.master_manifest()
            .await
            .diff(&self.slave_manifest().await)
    }

    async fn stop_daemon(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await.expect("daemon stops");
        }
    }

    async fn start_daemon(&mut self) {
        self.daemon = Some(
            RsyncDaemon::start(&self.daemon_config)
                .await
                .expect("daemon starts again"),
        );
    }

    fn daemon_log(&self) -> String {
        self.daemon
            .as_ref()
            .map(RsyncDaemon::log)
            .unwrap_or_default()
    }

    /// Waits until the slave's trees equal the master's.
    async fn until_mirrored(&self, within: Duration, what: &str) {
        let mirrored = until(within, || async { self.differences().await.is_empty() }).await;
        assert!(
            mirrored,
            "{what}: not mirrored within {within:?}: {:?}\ndaemon log:\n{}",
            self.differences().await,
            self.daemon_log()
        );
    }
}

/// Polls `cond` until it holds or `within` passes; tells which.
async fn until<F, Fut>(within: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the sync task's state to satisfy `pred`.
async fn state_until(
    handle: &FileSyncHandle,
    what: &str,
    pred: impl FnMut(&FileSyncState) -> bool,
) -> FileSyncState {
    let mut rx = handle.subscribe();
    match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(pred)).await {
        Ok(Ok(state)) => state.clone(),
        _ => panic!(
            "file sync state never reached: {what}; state: {:?}",
            handle.state()
        ),
    }
}

fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("parent");
    }
    std::fs::write(path, content).expect("write");
}

fn inodes(root: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).expect("read dir") {
            let item = item.expect("entry");
            let meta = std::fs::symlink_metadata(item.path()).expect("meta");
            if meta.is_dir() {
                stack.push(item.path());
            }
            out.insert(item.path(), meta.ino());
        }
    }
    out
}

/// A small tree: nested files, an empty directory, a link, an odd name.
fn seed(fx: &Fixture) {
    write(&fx.master("sip.conf"), "[general]\n");
    write(
        &fx.master("dialplan/extensions.conf"),
        "[default]\nexten => 100,1,Answer()\n",
    );
    write(&fx.master("dialplan/deep/nested/x.conf"), "x");
    write(&fx.master("odd [name] *?.txt"), "wild");
    std::fs::create_dir_all(fx.master("empty")).expect("empty dir");
    std::os::unix::fs::symlink("sip.conf", fx.master("current.conf")).expect("symlink");
    write(
        &fx.master_paths[1].join("1000/INBOX/msg0000.wav"),
        "RIFF....",
    );
}

#[tokio::test]
async fn a_full_pass_mirrors_the_tree_and_removes_what_the_master_lacks() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    seed(&fx);
    write(&fx.slave("stale.conf"), "left over");
    assert!(!fx.differences().await.is_empty(), "the trees start apart");

    fx.pusher().full_pass(&fx.target).await.expect("full pass");

    assert_eq!(fx.differences().await, vec![], "mirrored");
    assert!(!fx.slave("stale.conf").exists(), "deletes propagate");
    assert_eq!(
        std::fs::read_link(fx.slave("current.conf")).expect("a link on the slave"),
        PathBuf::from("sip.conf")
    );
}

#[tokio::test]
async fn a_change_and_a_delete_on_the_master_arrive_within_seconds() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    seed(&fx);
    let sync = fx.spawn();
    state_until(&sync, "first full pass", |s| s.full_passes == 1).await;
    fx.until_mirrored(ARRIVAL, "initial").await;

    write(&fx.master("sip.conf"), "[general]\nbindport=5070\n");
    write(&fx.master("dialplan/new.conf"), "new");
    std::fs::remove_file(fx.master("dialplan/extensions.conf")).expect("delete");
    std::fs::remove_dir_all(fx.master("dialplan/deep")).expect("delete a tree");
    write(&fx.master_paths[1].join("1000/INBOX/msg0001.wav"), "RIFF2");

    fx.until_mirrored(ARRIVAL, "change and delete").await;
    assert!(!fx.slave("dialplan/deep").exists());
    let state = state_until(&sync, "a change push", |s| s.change_pushes >= 1).await;
    assert_eq!(
        state.full_passes, 1,
        "the watcher pushed them, not a full pass"
    );
    sync.stop().await;
}

#[tokio::test]
async fn a_hand_change_on_the_slave_is_named_by_the_manifest_diff() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    seed(&fx);
    fx.pusher().full_pass(&fx.target).await.expect("full pass");
    let module = &fx.slave_modules[0].name;

    // Same size, other content: only the hash tells.
    let sip = fx.slave("sip.conf");
    let mtime = std::fs::metadata(&sip)
        .expect("meta")
        .modified()
        .expect("mtime");
    std::fs::write(&sip, "[GENERAL]\n").expect("hand edit");
    std::fs::File::options()
        .write(true)
        .open(&sip)
        .and_then(|f| f.set_modified(mtime))
        .expect("keep mtime");
    write(&fx.slave("extra.conf"), "by hand");
    std::fs::remove_file(fx.slave("dialplan/extensions.conf")).expect("remove by hand");

    let diff = fx.differences().await;
    assert_eq!(
        diff,
        vec![
            Difference {
                path: format!("{module}/dialplan/extensions.conf"),
                kind: DifferenceKind::OnlyHere
            },
            Difference {
                path: format!("{module}/extra.conf"),
                kind: DifferenceKind::OnlyThere
            },
            Difference {
                path: format!("{module}/sip.conf"),
                kind: DifferenceKind::Differs
            },
        ]
    );
}

#[tokio::test]
async fn lost_watcher_events_bring_a_full_pass_at_once() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    seed(&fx);
    let sync = fx.spawn();
    state_until(&sync, "first full pass", |s| s.full_passes == 1).await;
    // A change the watcher cannot see (it is on the slave) stands for the lost events.
    write(&fx.slave("drift.conf"), "drift");
    std::fs::remove_file(fx.slave("sip.conf")).expect("drift");
    assert!(!fx.differences().await.is_empty());

    // What notify delivers when the inotify queue overflows.
    sync.inject(Ok(
        notify::Event::new(notify::EventKind::Other).set_flag(notify::event::Flag::Rescan)
    ));

    state_until(&sync, "a second full pass", |s| s.full_passes == 2).await;
    assert_eq!(fx.differences().await, vec![]);
    sync.stop().await;
}

#[tokio::test]
async fn a_directory_created_and_filled_in_one_burst_arrives_complete() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    let sync = fx.spawn();
    state_until(&sync, "first full pass", |s| s.full_passes == 1).await;

    for i in 0..300 {
        write(
            &fx.master(&format!("burst/sub{}/file{i}.txt", i % 7)),
            &"x".repeat(i),
        );
    }

    fx.until_mirrored(ARRIVAL, "burst").await;
    assert_eq!(
        std::fs::read_dir(fx.slave("burst/sub6"))
            .expect("dir")
            .count(),
        300 / 7
    );
    sync.stop().await;
}

#[tokio::test]
async fn a_directory_replaced_by_a_symlink_is_mirrored_as_the_symlink() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    write(&fx.master("sounds/en/hello.wav"), "hello");
    // What the link points to exists on the slave only: following it would show.
    write(&fx.tmp.path().join("elsewhere/secret"), "not synced");
    let sync = fx.spawn();
    state_until(&sync, "first full pass", |s| s.full_passes == 1).await;
    fx.until_mirrored(ARRIVAL, "initial").await;

    std::fs::remove_dir_all(fx.master("sounds")).expect("remove dir");
    let elsewhere = fx.tmp.path().join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, fx.master("sounds")).expect("symlink");

    fx.until_mirrored(ARRIVAL, "dir → symlink").await;
    let meta = std::fs::symlink_metadata(fx.slave("sounds")).expect("on the slave");
    assert!(meta.file_type().is_symlink(), "a link, not a directory");
    assert_eq!(
        std::fs::read_link(fx.slave("sounds")).expect("link"),
        elsewhere
    );
    assert!(
        elsewhere.join("secret").exists(),
        "the target was left alone"
    );
    sync.stop().await;
}

#[tokio::test]
async fn a_failed_pass_is_reported_and_retried_until_it_succeeds() {
    if !can_run() {
        return;
    }
    let mut fx = Fixture::new().await;
    seed(&fx);
    let sync = fx.spawn();
    state_until(&sync, "first full pass", |s| s.full_passes == 1).await;

    fx.stop_daemon().await;
    write(&fx.master("while-down.conf"), "queued");
    let failed = state_until(&sync, "a failure waiting for its retry", |s| {
        s.pending_retry.is_some()
    })
    .await;
    let error = failed
        .last_pass
        .as_ref()
        .and_then(|p| p.error.clone())
        .expect("the failed pass is reported");
    assert!(
        matches!(
            *error,
            FileSyncError::Rsync {
                failure: RsyncFailure::Unreachable,
                ..
            }
        ),
        "{error}"
    );
    // Retried with backoff, not forgotten.
    state_until(&sync, "retried more than once", |s| {
        s.pending_retry.as_ref().is_some_and(|r| r.attempt >= 2)
    })
    .await;

    fx.start_daemon().await;
    let recovered = state_until(&sync, "a retry succeeds", FileSyncState::in_sync).await;
    assert!(recovered.failed_passes >= 2, "{recovered:?}");
    assert!(recovered.last_error.is_some(), "the failure stays visible");
    assert_eq!(
        recovered.last_pass.as_ref().map(|p| p.kind),
        Some(PassKind::Full),
        "a retry is a full pass"
    );
    assert_eq!(fx.differences().await, vec![]);
    sync.stop().await;
}

#[tokio::test]
async fn a_restart_of_either_side_deletes_nothing_the_master_has() {
    if !can_run() {
        return;
    }
    let mut fx = Fixture::new().await;
    seed(&fx);
    let sync = fx.spawn();
    state_until(&sync, "first full pass", |s| s.full_passes == 1).await;
    let before = inodes(&fx.tmp.path().join("slave"));

    // Both sides restart.
    sync.stop().await;
    fx.stop_daemon().await;
    fx.start_daemon().await;
    let sync = fx.spawn();
    state_until(&sync, "full pass after restart", |s| s.full_passes == 1).await;
    assert_eq!(
        inodes(&fx.tmp.path().join("slave")),
        before,
        "every file kept its inode: nothing deleted or rewritten"
    );
    sync.stop().await;

    // A master that comes up with a synced path missing (an unmounted disk) must
    // not empty the slave's copy.
    let aside = fx.tmp.path().join("aside");
    std::fs::rename(&fx.master_paths[0], &aside).expect("move aside");
    let sync = fx.spawn();
    let state = state_until(&sync, "the pass fails", |s| s.pending_retry.is_some()).await;
    let error = state.last_error.and_then(|p| p.error).expect("reported");
    assert!(matches!(*error, FileSyncError::MissingSource(_)), "{error}");
    assert_eq!(inodes(&fx.tmp.path().join("slave")), before);
    sync.stop().await;
}

#[tokio::test]
async fn the_daemon_refuses_a_wrong_secret_other_hosts_and_paths_outside_its_modules() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    seed(&fx);
    let refused = |r: Result<(), FileSyncError>| {
        matches!(
            r,
            Err(FileSyncError::Rsync {
                failure: RsyncFailure::Refused,
                ..
            })
        )
    };

    let wrong_secret = SyncTarget {
        secret: SecretString::from("guess"),
        ..fx.target.clone()
    };
    assert!(refused(fx.pusher().full_pass(&wrong_secret).await));
    let other_host = SyncTarget {
        source: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))),
        ..fx.target.clone()
    };
    assert!(refused(fx.pusher().full_pass(&other_host).await));
    assert!(fx.pusher().canary(&wrong_secret).await.is_err());

    // A module nobody configured.
    let etc = Pusher::with_modules(
        vec![Module {
            name: "etc".into(),
            path: fx.master_paths[0].clone(),
        }],
        &fx.settings,
    );
    assert!(refused(etc.full_pass(&fx.target).await));
    // Nothing reached the slave through any of that.
    let roots = fx.slave_manifest().await.entries;
    assert_eq!(roots.len(), 2, "only the module roots: {roots:?}");

    // A path that climbs out of a module stays inside it (chroot).
    let escape = std::process::Command::new("rsync")
        .args(["-a", "--address=127.0.0.1"])
        .arg(format!("{}/", fx.master_paths[0].display()))
        .arg(format!(
            "rsync://{RSYNC_USER}@127.0.0.2:{}/{}/../../escaped/",
            fx.target.port, fx.slave_modules[0].name
        ))
        .env("RSYNC_PASSWORD", SECRET)
        .output()
        .expect("rsync runs");
    let outside = [
        fx.tmp.path().join("escaped"),
        fx.tmp.path().join("slave/escaped"),
        fx.tmp.path().join("slave/voicemail/escaped"),
    ];
    assert!(
        outside.iter().all(|p| !p.exists()),
        "wrote outside the module: {}",
        String::from_utf8_lossy(&escape.stderr)
    );

    // The canary lands in its own module, in no synced tree.
    fx.pusher()
        .canary(&fx.target)
        .await
        .expect("canary accepted");
    assert!(fx.daemon_config.canary_dir().join("canary").exists());
    assert!(!fx.slave("canary").exists());
}

#[tokio::test]
async fn nothing_flows_from_the_slave_to_the_master() {
    if !can_run() {
        return;
    }
    let fx = Fixture::new().await;
    seed(&fx);
    let sync = fx.spawn();
    state_until(&sync, "first full pass", |s| s.full_passes == 1).await;
    let master_before = fx.master_manifest().await;

    // Even with the secret, the daemon lets nobody read a module.
    let pulled = fx.tmp.path().join("pulled");
    let pull = std::process::Command::new("rsync")
        .args(["-a", "--address=127.0.0.1"])
        .arg(format!(
            "rsync://{RSYNC_USER}@127.0.0.2:{}/{}/",
            fx.target.port, fx.slave_modules[0].name
        ))
        .arg(&pulled)
        .env("RSYNC_PASSWORD", SECRET)
        .output()
        .expect("rsync runs");
    assert!(!pull.status.success(), "a pull from the slave succeeded");
    assert!(!pulled.join("sip.conf").exists());

    // What appears on the slave is removed by the next full pass, never copied back.
    write(&fx.slave("slave-only.conf"), "slave");
    sync.request_full_pass().await;
    state_until(&sync, "second full pass", |s| s.full_passes == 2).await;
    assert!(!fx.slave("slave-only.conf").exists());
    assert_eq!(fx.master_manifest().await, master_before);
    sync.stop().await;
}
