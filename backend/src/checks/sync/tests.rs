//! The data-sync checks against real subjects: a PostgreSQL primary with its streaming
//! standby, and an rsync daemon on loopback (this "slave" on 127.0.0.1, its "master"
//! on 127.0.0.2); the manifest comparison by tables.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};

use secrecy::SecretString;
use sqlx::Connection;
use tempfile::TempDir;

use super::*;
use crate::sync::files::{FileSyncSettings, Module, RsyncDaemon};
use crate::sync::postgres::StopMode;
use crate::sync::postgres::tests::{pair, require_postgres};

const WAIT: Duration = Duration::from_secs(20);

/// Polls `check` until its result satisfies `done`, failing after `WAIT` with the last
/// result.
async fn until<F, Fut>(what: &str, mut check: F, done: impl Fn(&CheckResult) -> bool) -> CheckResult
where
    F: FnMut() -> Fut,
    Fut: Future<Output = CheckResult>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        let result = check().await;
        if done(&result) {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}; last result: {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn perf<'a>(result: &'a CheckResult, label: &str) -> &'a Perfdata {
    result
        .perfdata
        .iter()
        .find(|p| p.label == label)
        .unwrap_or_else(|| panic!("no perfdata {label} in {result:?}"))
}

fn is(state: CheckState) -> impl Fn(&CheckResult) -> bool {
    move |r| r.state == state
}

async fn execute(pg: &Postgres, statement: &str) {
    let mut conn = pg.connect().await.unwrap();
    sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn the_database_checks_follow_a_real_primary_and_standby_from_ok_to_critical() {
    if !require_postgres() {
        return;
    }
    let (primary, standby, _) = pair().await;
    let timeout = Duration::from_secs(5);

    // Database Query on the master: the row goes in and comes back.
    let query = database_query(&primary.pg, timeout).await;
    assert_eq!(query.state, CheckState::Ok, "{query:?}");
    assert!(query.output.contains("read it back"), "{}", query.output);
    let roundtrip = perf(&query, "roundtrip");
    assert_eq!(roundtrip.unit, Unit::Milliseconds);
    assert!(roundtrip.value.is_some_and(|ms| ms > 0.0), "{roundtrip:?}");
    // A standby where the master's database should be.
    let on_standby = database_query(&standby.pg, timeout).await;
    assert_eq!(on_standby.state, CheckState::Critical);
    assert!(
        on_standby
            .output
            .contains("the database is a standby on the master"),
        "{}",
        on_standby.output
    );

    // Database Sync on the slave: streaming, the row replayed, within the levels.
    let in_sync = until(
        "the standby has replayed a sync-test row",
        || async {
            primary.pg.write_sync_test_row().await.unwrap();
            database_sync(&standby.pg, LagThresholds::default()).await
        },
        is(CheckState::Ok),
    )
    .await;
    assert!(
        in_sync.output.contains("streaming from 127.0.0.2:"),
        "{}",
        in_sync.output
    );
    assert!(in_sync.output.contains("sync-test row written"));
    let bytes = perf(&in_sync, "lag_bytes");
    assert!(bytes.value.is_some(), "{bytes:?}");
    assert_eq!(bytes.crit.as_deref(), Some("268435456"));
    let seconds = perf(&in_sync, "lag_seconds");
    assert!(seconds.value.is_some_and(|s| s < 5.0), "{seconds:?}");
    assert_eq!(seconds.warn.as_deref(), Some("5"));
    // The row's real age against levels below it.
    let tight = LagThresholds {
        warning_secs: 0.0,
        ..LagThresholds::default()
    };
    let warning = until(
        "the row's age is past a zero warning level",
        || database_sync(&standby.pg, tight),
        is(CheckState::Warning),
    )
    .await;
    assert!(
        warning.output.contains("(warning above 0 s)"),
        "{}",
        warning.output
    );
    let critical = database_sync(
        &standby.pg,
        LagThresholds {
            critical_secs: 0.0,
            ..tight
        },
    )
    .await;
    assert_eq!(critical.state, CheckState::Critical, "{critical:?}");
    assert!(critical.output.contains("(critical above 0 s)"));
    // A primary where the slave's standby should be.
    let not_standby = database_sync(&primary.pg, LagThresholds::default()).await;
    assert_eq!(not_standby.state, CheckState::Critical);
    assert!(
        not_standby.output.contains("not a standby"),
        "{}",
        not_standby.output
    );

    // A write that hangs on a lock runs out of time, and the step is named.
    let mut locker = primary.pg.connect().await.unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::raw_sql("LOCK TABLE pequod.sync_test IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let hung = database_query(&primary.pg, Duration::from_millis(300)).await;
    assert_eq!(hung.state, CheckState::Critical);
    assert_eq!(
        hung.output,
        "DATABASE QUERY CRITICAL - no answer within 300 ms (writing the sync-test row)"
    );
    lock.rollback().await.unwrap();

    // A write that does not stick: the row is set back, or removed, after each write.
    execute(
        &primary.pg,
        "CREATE FUNCTION pequod.backdate() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF pg_trigger_depth() = 1 THEN
                 UPDATE pequod.sync_test SET written_at = NEW.written_at - interval '1 hour'
                 WHERE id = NEW.id;
             END IF;
             RETURN NULL;
         END $$;
         CREATE TRIGGER backdate AFTER INSERT OR UPDATE ON pequod.sync_test
             FOR EACH ROW EXECUTE FUNCTION pequod.backdate();",
    )
    .await;
    let older = database_query(&primary.pg, timeout).await;
    assert_eq!(older.state, CheckState::Critical);
    assert!(
        older
            .output
            .contains("read back mismatch: the sync-test row reads"),
        "{}",
        older.output
    );
    execute(
        &primary.pg,
        "DROP TRIGGER backdate ON pequod.sync_test;
         CREATE FUNCTION pequod.vanish() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN DELETE FROM pequod.sync_test WHERE id = NEW.id; RETURN NULL; END $$;
         CREATE TRIGGER vanish AFTER INSERT OR UPDATE ON pequod.sync_test
             FOR EACH ROW EXECUTE FUNCTION pequod.vanish();",
    )
    .await;
    let gone = database_query(&primary.pg, timeout).await;
    assert_eq!(gone.state, CheckState::Critical);
    assert!(gone.output.contains("is gone"), "{}", gone.output);

    // The master's server stops: nothing streams to the slave any more.
    primary.pg.stop(StopMode::Fast).await.unwrap();
    let cut = until(
        "the standby's WAL receiver has stopped streaming",
        || database_sync(&standby.pg, LagThresholds::default()),
        is(CheckState::Critical),
    )
    .await;
    assert!(
        cut.output
            .contains("no WAL receiver streams from the master"),
        "{}",
        cut.output
    );
    assert!(cut.perfdata.iter().any(|p| p.label == "lag_seconds"));
    let down = database_query(&primary.pg, timeout).await;
    assert_eq!(down.state, CheckState::Critical);
    assert!(
        down.output.contains("cannot connect to the database"),
        "{}",
        down.output
    );

    standby.pg.stop(StopMode::Fast).await.unwrap();
    let silent = database_sync(&standby.pg, LagThresholds::default()).await;
    assert_eq!(silent.state, CheckState::Critical);
    assert!(
        silent.output.contains("the database does not answer"),
        "{}",
        silent.output
    );
}

#[test]
fn the_lag_is_judged_by_the_worse_figure_and_needs_a_streaming_receiver() {
    let streaming = WalReceiver {
        status: "streaming".into(),
        sender: Some("10.0.0.1:5432".into()),
    };
    let waiting = WalReceiver {
        status: "waiting".into(),
        sender: None,
    };
    let levels = LagThresholds::default();
    let lag = |bytes: Option<u64>, seconds: Option<f64>| Lag { bytes, seconds };
    let mib = 1024 * 1024;
    let cases = [
        (Some(&streaming), lag(Some(0), Some(1.0)), CheckState::Ok),
        (
            Some(&streaming),
            lag(Some(20 * mib), Some(1.0)),
            CheckState::Warning,
        ),
        (
            Some(&streaming),
            lag(Some(0), Some(6.0)),
            CheckState::Warning,
        ),
        (
            Some(&streaming),
            lag(Some(300 * mib), Some(6.0)),
            CheckState::Critical,
        ),
        (
            Some(&streaming),
            lag(Some(0), Some(31.0)),
            CheckState::Critical,
        ),
        // At a level is not past it.
        (
            Some(&streaming),
            lag(Some(16 * mib), Some(5.0)),
            CheckState::Ok,
        ),
        (Some(&streaming), lag(Some(0), None), CheckState::Unknown),
        (
            Some(&streaming),
            lag(Some(20 * mib), None),
            CheckState::Warning,
        ),
        (
            Some(&waiting),
            lag(Some(0), Some(1.0)),
            CheckState::Critical,
        ),
        (None, lag(Some(0), Some(1.0)), CheckState::Critical),
    ];
    for (receiver, lag, expected) in cases {
        let result = evaluate_lag(receiver, lag, levels);
        assert_eq!(
            result.state, expected,
            "{receiver:?} {lag:?}: {}",
            result.output
        );
        assert!(result.configured);
        assert!(!result.output.contains('\n'));
    }

    let ok = evaluate_lag(Some(&streaming), lag(Some(512), Some(1.24)), levels);
    assert_eq!(
        ok.output,
        "DATABASE SYNC OK - streaming from 10.0.0.1:5432, replay 512 B behind what was \
         received, newest replayed sync-test row written 1.2 s ago (the master rewrites it \
         every few seconds)"
    );
    let perfdata: Vec<String> = ok.perfdata.iter().map(ToString::to_string).collect();
    assert_eq!(
        perfdata,
        [
            "lag_bytes=512B;16777216;268435456",
            "lag_seconds=1.24s;5;30"
        ]
    );
    assert!(
        ok.long_output
            .contains("rewrites that row every few seconds")
    );

    let behind = evaluate_lag(Some(&streaming), lag(Some(300 * mib), Some(1.0)), levels);
    assert!(
        behind
            .output
            .contains("replay 300.0 MiB behind what was received (critical above 256.0 MiB)"),
        "{}",
        behind.output
    );
    let unknown = evaluate_lag(Some(&streaming), lag(None, None), levels);
    assert_eq!(
        unknown
            .perfdata
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["lag_bytes=U;16777216;268435456", "lag_seconds=U;5;30"]
    );
    let cut = evaluate_lag(None, lag(Some(0), Some(40.0)), levels);
    assert!(
        cut.output.starts_with(
            "DATABASE SYNC CRITICAL - no WAL receiver streams from the master (none runs)"
        ),
        "{}",
        cut.output
    );
    let waits = evaluate_lag(Some(&waiting), lag(Some(0), Some(1.0)), levels);
    assert!(waits.output.contains("(it is waiting)"), "{}", waits.output);
}

fn file(path: &str, size: u64, mtime_ns: i64, sha: &str) -> ManifestEntry {
    ManifestEntry {
        path: path.into(),
        kind: EntryKind::File,
        size,
        mtime_ns,
        sha256: sha.into(),
    }
}

fn dir(path: &str) -> ManifestEntry {
    ManifestEntry {
        path: path.into(),
        kind: EntryKind::Dir,
        size: 0,
        mtime_ns: 0,
        sha256: String::new(),
    }
}

fn manifest(mut entries: Vec<ManifestEntry>) -> Manifest {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Manifest { entries }
}

#[test]
fn filesystem_sync_names_each_differing_path_and_how_it_differs() {
    let master = manifest(vec![
        dir("conf"),
        file("conf/sip.conf", 10, 1, "aa"),
        file("conf/extensions.conf", 20, 2, "bb"),
        file("conf/only-master", 1, 1, "cc"),
        file("conf/touched", 5, 1, "dd"),
        file("conf/link", 4, 0, "ee"),
    ]);
    let mut link = file("conf/link", 4, 0, "ee");
    link.kind = EntryKind::Symlink;
    let slave = manifest(vec![
        dir("conf"),
        file("conf/sip.conf", 10, 1, "aa"),
        file("conf/extensions.conf", 21, 3, "bx"),
        file("conf/only-slave", 1, 1, "ff"),
        file("conf/touched", 5, 9, "dd"),
        link,
    ]);

    let same = filesystem_sync(&master, Ok(master.clone()), "pbx-b");
    assert_eq!(same.state, CheckState::Ok);
    assert_eq!(
        same.output,
        "FILESYSTEM SYNC OK - 6 entries equal on both nodes"
    );
    assert_eq!(
        same.perfdata
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["entries=6", "differing=0;;1"]
    );

    let differ = filesystem_sync(&master, Ok(slave.clone()), "pbx-b");
    assert_eq!(differ.state, CheckState::Critical);
    assert_eq!(
        differ.output,
        "FILESYSTEM SYNC CRITICAL - 5 of the synced paths differ from pbx-b: \
         conf/extensions.conf (size, content, mtime differ), conf/link (file here, symlink \
         there), conf/only-master (only on this node), conf/only-slave (only on pbx-b), \
         conf/touched (mtime differ)"
    );
    assert_eq!(differ.long_output.lines().count(), 5);
    assert_eq!(perf(&differ, "differing").to_string(), "differing=5;;1");
    assert_eq!(
        differing_paths(&master, &slave),
        [
            "conf/extensions.conf",
            "conf/link",
            "conf/only-master",
            "conf/only-slave",
            "conf/touched"
        ]
    );
    assert!(differing_paths(&slave, &slave).is_empty());

    // Many: the first ten on the line, every one in the long output.
    let many = manifest(
        (0..25)
            .map(|i| file(&format!("conf/f{i:02}"), 1, 1, "x"))
            .collect(),
    );
    let result = filesystem_sync(&many, Ok(manifest(vec![])), "pbx-b");
    assert_eq!(result.state, CheckState::Critical);
    assert!(
        result
            .output
            .contains("conf/f09 (only on this node) and 15 more"),
        "{}",
        result.output
    );
    assert!(!result.output.contains("conf/f10"));
    assert_eq!(result.long_output.lines().count(), 25);
    assert!(result.long_output.ends_with("conf/f24 (only on this node)"));

    let unreachable = filesystem_sync(&master, Err("connection refused".into()), "pbx-b");
    assert_eq!(unreachable.state, CheckState::Unknown);
    assert!(unreachable.configured);
    assert_eq!(
        unreachable.output,
        "FILESYSTEM SYNC UNKNOWN - cannot get the manifest of pbx-b: connection refused"
    );
}

const SLAVE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const MASTER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const SECRET: &str = "cluster-secret-2";

/// This slave's daemon with one synced module; killed, then its directory removed,
/// when dropped.
struct Slave {
    config: DaemonConfig,
    daemon: Option<RsyncDaemon>,
    settings: FileSyncSettings,
    tmp: TempDir,
}

impl Slave {
    async fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind((SLAVE, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = DaemonConfig {
            bind: SLAVE,
            port,
            master: MASTER,
            secret: SecretString::from(SECRET),
            modules: vec![Module {
                name: "conf".into(),
                path: tmp.path().join("slave/conf"),
            }],
            run_dir: tmp.path().join("run"),
            rsync: "rsync".into(),
        };
        let daemon = RsyncDaemon::start(&config).await.unwrap();
        let settings = FileSyncSettings {
            io_timeout_secs: 5,
            ..FileSyncSettings::default()
        };
        Self {
            config,
            daemon: Some(daemon),
            settings,
            tmp,
        }
    }

    fn pusher(&self) -> Pusher {
        Pusher::with_modules(Vec::new(), &self.settings)
    }

    async fn check(&self, config: &DaemonConfig) -> CheckResult {
        rsync_server(config, &self.pusher(), Duration::from_secs(10)).await
    }
}

#[tokio::test]
async fn the_rsync_server_check_lands_a_canary_in_its_own_daemon() {
    if !crate::sync::files::tests::can_run() {
        return;
    }
    let slave = Slave::start().await;
    let landed = slave.config.canary_dir().join("canary");
    for _ in 0..2 {
        let result = slave.check(&slave.config).await;
        assert_eq!(result.state, CheckState::Ok, "{result:?}");
        assert!(
            result.output.starts_with(&format!(
                "RSYNC SERVER OK - the rsync daemon at 127.0.0.1:{} took the canary into pequod-canary in ",
                slave.config.port
            )),
            "{}",
            result.output
        );
        assert_eq!(perf(&result, "roundtrip").unit, Unit::Milliseconds);
        assert!(landed.is_file());
    }
    // Nothing reached the synced path.
    assert!(!slave.config.modules[0].path.join("canary").exists());
}

#[tokio::test]
async fn the_rsync_server_check_is_critical_when_the_daemon_refuses_loses_or_is_gone() {
    if !crate::sync::files::tests::can_run() {
        return;
    }
    let mut slave = Slave::start().await;

    let wrong_secret = DaemonConfig {
        secret: SecretString::from("guess"),
        ..slave.config.clone()
    };
    let refused = slave.check(&wrong_secret).await;
    assert_eq!(refused.state, CheckState::Critical, "{refused:?}");
    assert!(
        refused.output.contains("refused the canary"),
        "{}",
        refused.output
    );
    assert!(!refused.output.contains('\n'));

    // The daemon takes the file, but not where this node looks for it.
    let elsewhere = DaemonConfig {
        run_dir: slave.tmp.path().join("elsewhere"),
        ..slave.config.clone()
    };
    std::fs::create_dir_all(elsewhere.canary_dir()).unwrap();
    let lost = slave.check(&elsewhere).await;
    assert_eq!(lost.state, CheckState::Critical, "{lost:?}");
    assert!(lost.output.contains("did not land in"), "{}", lost.output);

    if let Some(daemon) = slave.daemon.take() {
        daemon.stop().await.unwrap();
    }
    let gone = slave.check(&slave.config).await;
    assert_eq!(gone.state, CheckState::Critical, "{gone:?}");
    assert!(
        gone.output.contains(&format!(
            "the rsync daemon at 127.0.0.1:{} does not answer",
            slave.config.port
        )),
        "{}",
        gone.output
    );
}

#[tokio::test]
async fn only_the_canary_module_admits_the_slaves_own_sync_ip() {
    if !crate::sync::files::tests::can_run() {
        return;
    }
    let slave = Slave::start().await;
    let conf = slave.config.render().unwrap();
    let section = |name: &str| {
        conf.split("\n[")
            .find(|s| s.starts_with(&format!("{name}]")))
            .unwrap_or_else(|| panic!("no [{name}] in {conf}"))
            .to_string()
    };
    assert!(
        section("conf").contains("hosts allow = 127.0.0.2\n"),
        "{conf}"
    );
    assert!(
        section(CANARY_MODULE).contains("hosts allow = 127.0.0.2 127.0.0.1\n"),
        "{conf}"
    );

    let source = slave.tmp.path().join("master/conf");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("sip.conf"), "[general]\n").unwrap();
    let pusher = Pusher::with_modules(
        vec![Module {
            name: "conf".into(),
            path: source,
        }],
        &slave.settings,
    );
    let from = |source: IpAddr| SyncTarget {
        source: Some(source),
        ..own_canary_target(&slave.config)
    };
    // The slave cannot write its own synced paths; the master can.
    assert!(matches!(
        pusher.full_pass(&from(SLAVE)).await,
        Err(FileSyncError::Rsync {
            failure: RsyncFailure::Refused,
            ..
        })
    ));
    assert!(!slave.config.modules[0].path.join("sip.conf").exists());
    pusher.full_pass(&from(MASTER)).await.unwrap();
    assert!(slave.config.modules[0].path.join("sip.conf").exists());
    // Nor does the canary module admit a third address.
    let third = from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    assert!(slave.pusher().canary(&third).await.is_err());
}
