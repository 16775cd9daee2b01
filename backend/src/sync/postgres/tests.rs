//! Two real PostgreSQL servers on loopback addresses, each in its own temporary
//! directory owned by the `postgres` user, on free ports.

use std::future::Future;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::time::Instant;

use tempfile::TempDir;

use super::*;

const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// Connections between loopback addresses come from 127.0.0.1, whatever address they
/// go to: that is the peer's sync IP as either server sees it.
const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(20);

/// Whether PostgreSQL can run here (root, to run it as `postgres`; the binaries).
/// Skips with a message, or fails when `CI` is set.
pub(crate) fn require_postgres() -> bool {
    let missing = if !nix::unistd::geteuid().is_root() {
        Some("root (to run PostgreSQL as the postgres user)")
    } else if !Path::new(BIN_DIR).join("pg_ctl").exists() || lookup_user("postgres").is_err() {
        Some("PostgreSQL 15 in /usr/lib/postgresql/15/bin (scripts/setup test)")
    } else {
        None
    };
    let Some(what) = missing else {
        return true;
    };
    if std::env::var_os("CI").is_some() {
        panic!("the PostgreSQL tests need {what}, and CI is set");
    }
    eprintln!("skipping: the PostgreSQL tests need {what}");
    false
}

/// One server; stopped (immediately) and its directory removed when dropped.
pub(crate) struct Node {
    pub(crate) pg: Postgres,
    pub(crate) name: StandbyName,
    _dir: TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let user = lookup_user("postgres");
        if let Ok(user) = user {
            let _ = std::process::Command::new(Path::new(BIN_DIR).join("pg_ctl"))
                .uid(user.uid)
                .gid(user.gid)
                .current_dir("/")
                .arg("stop")
                .arg("-D")
                .arg(self.pg.data_dir())
                .args(["-m", "immediate", "-w", "-s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub(crate) fn node(last_octet: u8, name: &str) -> Node {
    let ip = Ipv4Addr::new(127, 0, 0, last_octet);
    let dir = tempfile::tempdir().unwrap();
    // The postgres user must reach the data and socket directories inside.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let port = TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = DatabaseSettings {
        bin_dir: BIN_DIR.into(),
        data_dir: dir.path().join("data"),
        port,
        socket_dir: dir.path().join("sock"),
        listen_addresses: Vec::new(),
        max_slot_wal_keep_size: "64MB".into(),
        ..DatabaseSettings::default()
    };
    Node {
        pg: Postgres::new(settings, IpAddr::V4(ip)).unwrap(),
        name: StandbyName::for_host(name),
        _dir: dir,
    }
}

/// A primary on 127.0.0.2 and, made by pg_basebackup, its running standby on 127.0.0.3.
pub(crate) async fn pair() -> (Node, Node, ReplicationCredentials) {
    let primary = node(2, "node-a");
    let standby = node(3, "node-b");
    primary.pg.init_primary().await.unwrap();
    let credentials = ReplicationCredentials::generate();
    primary
        .pg
        .configure_replication(PEER_IP, &credentials)
        .await
        .unwrap();
    primary.pg.create_slot(&standby.name).await.unwrap();
    let mut reports = Vec::new();
    standby
        .pg
        .basebackup_standby(primary.pg.address(), &credentials, &standby.name, |p| {
            reports.push(p)
        })
        .await
        .unwrap();
    let last = reports.last().copied().unwrap();
    assert!(
        last.total_kb > 0 && last.done_kb == last.total_kb,
        "{reports:?}"
    );
    standby.pg.start().await.unwrap();
    (primary, standby, credentials)
}

async fn execute(pg: &Postgres, statement: &str) {
    let mut conn = pg.connect().await.unwrap();
    sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
}

async fn values(pg: &Postgres) -> Vec<String> {
    let mut conn = pg.connect().await.unwrap();
    sqlx::query_scalar("SELECT v FROM t ORDER BY v")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default()
}

/// Polls `condition` until it holds, failing after `WAIT`.
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_standby_replays_the_primarys_commits_and_its_slot_goes_with_it() {
    if !require_postgres() {
        return;
    }
    let (primary, standby, _) = pair().await;
    assert!(!primary.pg.is_standby().await.unwrap());
    assert!(standby.pg.is_standby().await.unwrap());
    assert_eq!(
        primary.pg.slots().await.unwrap(),
        [standby.name.to_string()]
    );

    execute(
        &primary.pg,
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('one')",
    )
    .await;
    eventually("the standby has the row", || async {
        values(&standby.pg).await == ["one"]
    })
    .await;
    let mut conn = standby.pg.connect().await.unwrap();
    let refused = sqlx::query("INSERT INTO t VALUES ('two')")
        .execute(&mut conn)
        .await;
    assert!(refused.is_err(), "a standby takes no writes");

    primary.pg.write_sync_test_row().await.unwrap();
    eventually("the primary sees the standby caught up", || async {
        let lag = primary.pg.lag(&standby.name).await.unwrap();
        lag.bytes == Some(0) && lag.seconds == Some(0.0)
    })
    .await;
    let seen = standby.pg.standby_lag().await.unwrap();
    assert!(seen.seconds.is_some_and(|s| s < 5.0), "{seen:?}");

    // Removed while it streams: its connection ends and its slot is dropped.
    primary.pg.remove_standby(&standby.name).await.unwrap();
    assert!(primary.pg.slots().await.unwrap().is_empty());

    // A master stepping down takes no more writes.
    primary.pg.refuse_writes().await.unwrap();
    assert!(primary.pg.connect().await.is_err());
    assert!(!primary.pg.is_running().await.unwrap());
}

#[tokio::test]
async fn switching_to_async_releases_a_commit_waiting_for_a_gone_standby() {
    if !require_postgres() {
        return;
    }
    let (primary, standby, _) = pair().await;
    execute(&primary.pg, "CREATE TABLE t (v text)").await;
    primary
        .pg
        .set_durability(DurabilityMode::Sync, &standby.name)
        .await
        .unwrap();
    let mut conn = primary.pg.connect().await.unwrap();
    tokio::time::timeout(
        WAIT,
        sqlx::query("INSERT INTO t VALUES ('with standby')").execute(&mut conn),
    )
    .await
    .unwrap()
    .unwrap();

    standby.pg.stop(StopMode::Fast).await.unwrap();
    // The sync-test row never waits for the standby, and its age becomes the lag.
    tokio::time::timeout(WAIT, primary.pg.write_sync_test_row())
        .await
        .unwrap()
        .unwrap();
    eventually("the primary sees the standby falling behind", || async {
        let lag = primary.pg.lag(&standby.name).await.unwrap();
        lag.bytes.is_some_and(|b| b > 0) && lag.seconds.is_some_and(|s| s > 0.0)
    })
    .await;
    let waiting = tokio::spawn(async move {
        sqlx::query("INSERT INTO t VALUES ('without standby')")
            .execute(&mut conn)
            .await
    });
    eventually("the commit waits for the standby", || async {
        let mut conn = primary.pg.connect().await.unwrap();
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        waiting == 1
    })
    .await;
    assert!(!waiting.is_finished());

    primary
        .pg
        .set_durability(DurabilityMode::Async, &standby.name)
        .await
        .unwrap();
    tokio::time::timeout(WAIT, waiting)
        .await
        .expect("async mode releases the commit")
        .unwrap()
        .unwrap();
    assert_eq!(
        values(&primary.pg).await,
        ["with standby", "without standby"]
    );
}

#[tokio::test]
async fn the_old_primary_is_rewound_to_follow_the_promoted_standby() {
    if !require_postgres() {
        return;
    }
    let (old, new, credentials) = pair().await;
    execute(
        &old.pg,
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('before')",
    )
    .await;
    eventually("the standby has the row", || async {
        values(&new.pg).await == ["before"]
    })
    .await;

    new.pg.promote().await.unwrap();
    assert!(!new.pg.is_standby().await.unwrap());
    execute(&new.pg, "INSERT INTO t VALUES ('on the new')").await;
    // Split: the old primary goes on taking writes the new one never sees, then crashes.
    execute(&old.pg, "INSERT INTO t VALUES ('on the old')").await;
    old.pg.stop(StopMode::Immediate).await.unwrap();

    new.pg
        .configure_replication(PEER_IP, &credentials)
        .await
        .unwrap();
    new.pg.create_slot(&old.name).await.unwrap();
    let outcome = old
        .pg
        .rewind_from(new.pg.address(), &credentials, &old.name, |_| {})
        .await
        .unwrap();
    let RewindOutcome::Rewound {
        diverged: Some(diverged),
    } = outcome
    else {
        panic!("expected a rewind over diverged WAL, got {outcome:?}");
    };
    assert_eq!(diverged.timeline, 1);
    assert!(diverged.from < diverged.to, "{diverged:?}");
    assert!(diverged.commits >= 1, "{diverged:?}");
    // What was cut off is kept aside, not thrown away unseen.
    let kept = diverged.kept.as_ref().expect("the cut-off WAL is kept");
    assert!(kept.join("pg_wal").is_dir(), "{kept:?}");

    old.pg.start().await.unwrap();
    assert!(old.pg.is_standby().await.unwrap());
    execute(&new.pg, "INSERT INTO t VALUES ('after')").await;
    eventually("the old primary follows the new one", || async {
        values(&old.pg).await == ["after", "before", "on the new"]
    })
    .await;
}

#[tokio::test]
async fn an_old_primary_without_a_database_is_rebuilt_by_basebackup() {
    if !require_postgres() {
        return;
    }
    let primary = node(4, "node-a");
    let empty = node(5, "node-b");
    primary.pg.init_primary().await.unwrap();
    let credentials = ReplicationCredentials::generate();
    primary
        .pg
        .configure_replication(PEER_IP, &credentials)
        .await
        .unwrap();
    primary.pg.create_slot(&empty.name).await.unwrap();
    let outcome = empty
        .pg
        .rewind_from(primary.pg.address(), &credentials, &empty.name, |_| {})
        .await
        .unwrap();
    assert_eq!(
        outcome,
        RewindOutcome::Rebuilt {
            why: RebuildReason::NotInitialized,
            kept: None,
        }
    );
    empty.pg.start().await.unwrap();
    assert!(empty.pg.is_standby().await.unwrap());
}

#[tokio::test]
async fn replication_is_admitted_only_from_the_peers_sync_ip() {
    if !require_postgres() {
        return;
    }
    let primary = node(6, "node-a");
    let standby = node(7, "node-b");
    primary.pg.init_primary().await.unwrap();
    let credentials = ReplicationCredentials::generate();
    let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    primary
        .pg
        .configure_replication(elsewhere, &credentials)
        .await
        .unwrap();
    primary.pg.create_slot(&standby.name).await.unwrap();
    let refused = standby
        .pg
        .basebackup_standby(primary.pg.address(), &credentials, &standby.name, |_| {})
        .await;
    match refused {
        Err(PostgresError::Tool { stderr, .. }) => {
            assert!(stderr.contains("pg_hba.conf"), "{stderr}")
        }
        other => panic!("expected pg_hba.conf to refuse 127.0.0.1, got {other:?}"),
    }
}

#[test]
fn wal_locations_read_and_print_as_postgresql_writes_them() {
    let lsn: Lsn = "16/B374D848".parse().unwrap();
    assert_eq!(lsn, Lsn((0x16 << 32) | 0xB374_D848));
    assert_eq!(lsn.to_string(), "16/B374D848");
    assert!("16B374D848".parse::<Lsn>().is_err());
}

#[test]
fn pg_rewind_and_pg_basebackup_reports_are_read() {
    let report = "pg_rewind: servers diverged at WAL location 0/3000148 on timeline 1\n\
                  pg_rewind: rewinding from last common checkpoint at 0/2000060 on timeline 1\n";
    assert_eq!(parse_divergence(report), Some((Lsn(0x300_0148), 1)));
    assert_eq!(
        parse_progress("  22788/22788 kB (100%), 1/1 tablespace\n"),
        Some(BackupProgress {
            done_kb: 22788,
            total_kb: 22788
        })
    );
    assert_eq!(parse_progress("pg_basebackup: error: x"), None);
    assert_eq!(StandbyName::for_host("PBX-2.lan").as_str(), "pbx_2_lan");
}
