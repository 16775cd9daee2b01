//! The built-in checks of the seed's two tables: which exist, whether they fail
//! over or only notify, on which node they run, and their default timing. Each is a
//! variant of `BuiltinCheck`, so the engine's exhaustive `match` has an arm for every
//! one: a check cannot be listed without saying what it does.

use std::borrow::Cow;
use std::time::Duration;

use pequod_api::checks::{CheckKind, CheckState, RunsOn};
use pequod_api::cluster::Role;

use super::plugin::PluginCommand;
use super::result::CheckResult;

/// The built-in checks, in the seed's table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinCheck {
    MasterNodeAlive,
    ClusterStatus,
    Raid,
    NetworkFailover,
    AsteriskAmi,
    AsteriskSip,
    DatabaseQuery,
    DefaultServices,
    DiskUsage,
    FilesystemSync,
    Time,
    RsyncServer,
    DatabaseSync,
}

impl BuiltinCheck {
    /// Every built-in check, in the order Service Status lists them.
    pub const ALL: [BuiltinCheck; 13] = [
        Self::MasterNodeAlive,
        Self::ClusterStatus,
        Self::Raid,
        Self::NetworkFailover,
        Self::AsteriskAmi,
        Self::AsteriskSip,
        Self::DatabaseQuery,
        Self::DefaultServices,
        Self::DiskUsage,
        Self::FilesystemSync,
        Self::Time,
        Self::RsyncServer,
        Self::DatabaseSync,
    ];

    /// Stable id used in the API path (`/checks/{id}`) and in settings.
    pub const fn id(self) -> &'static str {
        match self {
            Self::MasterNodeAlive => "master-node-alive",
            Self::ClusterStatus => "cluster-status",
            Self::Raid => "raid",
            Self::NetworkFailover => "network-failover",
            Self::AsteriskAmi => "asterisk-ami",
            Self::AsteriskSip => "asterisk-sip",
            Self::DatabaseQuery => "database-query",
            Self::DefaultServices => "default-services",
            Self::DiskUsage => "disk-usage",
            Self::FilesystemSync => "filesystem-sync",
            Self::Time => "time",
            Self::RsyncServer => "rsync-server",
            Self::DatabaseSync => "database-sync",
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::MasterNodeAlive => "Master Node Alive",
            Self::ClusterStatus => "Cluster Status",
            Self::Raid => "RAID",
            Self::NetworkFailover => "Network Failover",
            Self::AsteriskAmi => "Asterisk AMI",
            Self::AsteriskSip => "Asterisk SIP",
            Self::DatabaseQuery => "Database Query",
            Self::DefaultServices => "Default Services",
            Self::DiskUsage => "Disk Usage",
            Self::FilesystemSync => "Filesystem Sync",
            Self::Time => "Time",
            Self::RsyncServer => "Rsync Server",
            Self::DatabaseSync => "Database Sync",
        }
    }

    pub const fn kind(self) -> CheckKind {
        match self {
            Self::MasterNodeAlive | Self::ClusterStatus | Self::Raid | Self::NetworkFailover => {
                CheckKind::Failover
            }
            Self::AsteriskAmi
            | Self::AsteriskSip
            | Self::DatabaseQuery
            | Self::DefaultServices
            | Self::DiskUsage
            | Self::FilesystemSync
            | Self::Time
            | Self::RsyncServer
            | Self::DatabaseSync => CheckKind::Notify,
        }
    }

    pub const fn runs_on(self) -> RunsOn {
        match self {
            Self::MasterNodeAlive
            | Self::NetworkFailover
            | Self::RsyncServer
            | Self::DatabaseSync => RunsOn::Slave,
            Self::ClusterStatus
            | Self::Raid
            | Self::AsteriskAmi
            | Self::AsteriskSip
            | Self::DatabaseQuery
            | Self::DefaultServices => RunsOn::Master,
            Self::DiskUsage | Self::FilesystemSync | Self::Time => RunsOn::Both,
        }
    }

    /// Only meaningful with a peer (sync, replication, heartbeats).
    pub const fn needs_peer(self) -> bool {
        match self {
            Self::MasterNodeAlive
            | Self::ClusterStatus
            | Self::NetworkFailover
            | Self::FilesystemSync
            | Self::RsyncServer
            | Self::DatabaseSync => true,
            Self::Raid
            | Self::AsteriskAmi
            | Self::AsteriskSip
            | Self::DatabaseQuery
            | Self::DefaultServices
            | Self::DiskUsage
            | Self::Time => false,
        }
    }

    /// The failover checks whose verdict the agent reaches from its own heartbeats
    /// and probes; the decision core does not take them a second time from here.
    pub const fn judged_by_the_agent(self) -> bool {
        matches!(
            self,
            Self::MasterNodeAlive | Self::ClusterStatus | Self::NetworkFailover
        )
    }

    /// The built-in check with this id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|check| check.id() == id)
    }

    /// The check and its timing.
    pub const fn definition(self) -> CheckDefinition {
        let timing = match self {
            // Failover checks: fast, since a dead master costs calls every second.
            // Master Node Alive mirrors the heartbeat verdict, which already waited
            // dead_after on both links; retrying on top would only delay the takeover.
            Self::MasterNodeAlive => Timing::new(1, 1, 1, 1),
            Self::ClusterStatus => Timing::new(5, 2, 5, 3),
            // mdstat does not flicker; two readings rule out catching a reshape mid-write.
            Self::Raid => Timing::new(60, 10, 10, 2),
            // A switch hiccup must not move the PBX: confirm over a few seconds.
            Self::NetworkFailover => Timing::new(5, 1, 5, 3),
            // Clocks drift slowly; asking the NTP server more often is impolite.
            Self::Time => Timing::new(300, 60, 10, 3),
            // Notify checks at the pace Icinga uses for services: once a minute,
            // retried every 20 s, hard after three failures.
            Self::AsteriskAmi
            | Self::AsteriskSip
            | Self::DatabaseQuery
            | Self::DefaultServices
            | Self::DiskUsage
            | Self::FilesystemSync
            | Self::RsyncServer
            | Self::DatabaseSync => Timing::new(60, 20, 10, 3),
        };
        CheckDefinition {
            id: Cow::Borrowed(self.id()),
            name: Cow::Borrowed(self.name()),
            kind: self.kind(),
            runs_on: self.runs_on(),
            needs_peer: self.needs_peer(),
            interval: timing.interval,
            retry_interval: timing.retry_interval,
            timeout: timing.timeout,
            max_attempts: timing.max_attempts,
            source: CheckSource::Builtin(self),
        }
    }
}

struct Timing {
    interval: Duration,
    retry_interval: Duration,
    timeout: Duration,
    max_attempts: u32,
}

impl Timing {
    const fn new(interval: u64, retry_interval: u64, timeout: u64, max_attempts: u32) -> Self {
        Self {
            interval: Duration::from_secs(interval),
            retry_interval: Duration::from_secs(retry_interval),
            timeout: Duration::from_secs(timeout),
            max_attempts,
        }
    }
}

/// What runs when a check is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSource {
    Builtin(BuiltinCheck),
    /// A custom check's Nagios/Icinga plugin.
    Plugin(PluginCommand),
}

/// One check and its timing: a built-in one, or a custom plugin from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDefinition {
    /// Stable id used in the API path (`/checks/{id}`) and in settings.
    pub id: Cow<'static, str>,
    pub name: Cow<'static, str>,
    pub kind: CheckKind,
    pub runs_on: RunsOn,
    /// Only meaningful with a peer (sync, replication, heartbeats): never runs on a
    /// standalone or standby node.
    pub needs_peer: bool,
    pub interval: Duration,
    /// How often a soft problem is re-checked until it is confirmed or gone.
    pub retry_interval: Duration,
    pub timeout: Duration,
    /// Consecutive problem results before the state is hard (Icinga's
    /// max_check_attempts); 1 means hard on the first failure.
    pub max_attempts: u32,
    pub source: CheckSource,
}

impl CheckDefinition {
    /// Whether this check runs on a node with `role`. Master and slave follow the
    /// seed's tables. A standalone node runs the telephony services, so it runs the
    /// master's notify checks that need no peer; a standby node runs nothing but the
    /// machine's own health (disk, time), as it serves nothing and receives no sync.
    pub fn runs_here(&self, role: Role) -> bool {
        match role {
            Role::Master => matches!(self.runs_on, RunsOn::Master | RunsOn::Both),
            Role::Slave => matches!(self.runs_on, RunsOn::Slave | RunsOn::Both),
            Role::Standalone => {
                self.kind == CheckKind::Notify
                    && !self.needs_peer
                    && matches!(self.runs_on, RunsOn::Master | RunsOn::Both)
            }
            Role::Standby => !self.needs_peer && self.runs_on == RunsOn::Both,
        }
    }

    /// The state of a run that did not end within the timeout. A failover check that
    /// hangs is taken as failed, as the monitoring plugins take their own timeout by
    /// default: a master too sick to answer its own checks is not known healthy. A
    /// notify check that hangs only says it cannot tell.
    pub fn timeout_state(&self) -> CheckState {
        match self.kind {
            CheckKind::Failover => CheckState::Critical,
            CheckKind::Notify => CheckState::Unknown,
        }
    }

    /// The result of a run that did not end within the timeout.
    pub fn timed_out(&self) -> CheckResult {
        CheckResult::new(
            self.timeout_state(),
            format!(
                "the check did not end within {}",
                super::plugin::format_seconds(self.timeout)
            ),
        )
    }
}

/// The built-in checks, in catalog order.
pub fn builtin_checks() -> impl Iterator<Item = CheckDefinition> {
    BuiltinCheck::ALL.into_iter().map(BuiltinCheck::definition)
}

/// The built-in check with this id.
pub fn find(id: &str) -> Option<CheckDefinition> {
    BuiltinCheck::from_id(id).map(BuiltinCheck::definition)
}

/// The built-in checks a node with `role` runs, in catalog order.
pub fn for_role(role: Role) -> impl Iterator<Item = CheckDefinition> {
    builtin_checks().filter(move |c| c.runs_here(role))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ids(role: Role) -> Vec<String> {
        for_role(role).map(|c| c.id.into_owned()).collect()
    }

    #[test]
    fn seed_tables() {
        use CheckKind::{Failover as F, Notify as N};
        use RunsOn::{Both as B, Master as M, Slave as S};
        let expected = [
            ("Master Node Alive", F, S),
            ("Cluster Status", F, M),
            ("RAID", F, M),
            ("Network Failover", F, S),
            ("Asterisk AMI", N, M),
            ("Asterisk SIP", N, M),
            ("Database Query", N, M),
            ("Default Services", N, M),
            ("Disk Usage", N, B),
            ("Filesystem Sync", N, B),
            ("Time", N, B),
            ("Rsync Server", N, S),
            ("Database Sync", N, S),
        ];
        let got: Vec<_> = builtin_checks()
            .map(|c| (c.name.into_owned(), c.kind, c.runs_on))
            .collect();
        let expected: Vec<_> = expected
            .iter()
            .map(|(name, kind, runs_on)| (name.to_string(), *kind, *runs_on))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn ids_are_unique_and_url_safe() {
        let mut seen = HashSet::new();
        for check in builtin_checks() {
            assert!(seen.insert(check.id.clone()), "duplicate id {}", check.id);
            assert!(
                check.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                check.id
            );
            assert_eq!(find(&check.id).as_ref(), Some(&check));
        }
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn every_built_in_check_is_its_own_source() {
        for (position, check) in BuiltinCheck::ALL.into_iter().enumerate() {
            assert_eq!(check as usize, position, "ALL is in declaration order");
            assert_eq!(BuiltinCheck::from_id(check.id()), Some(check));
            assert_eq!(check.definition().source, CheckSource::Builtin(check));
        }
        assert_eq!(
            BuiltinCheck::DatabaseSync as usize + 1,
            BuiltinCheck::ALL.len(),
            "ALL ends with the last variant"
        );
    }

    #[test]
    fn a_hung_failover_check_is_critical_and_a_hung_notify_check_unknown() {
        let raid = BuiltinCheck::Raid.definition().timed_out();
        assert_eq!(raid.state, CheckState::Critical);
        assert_eq!(raid.output, "the check did not end within 10 s");
        let time = BuiltinCheck::Time.definition().timed_out();
        assert_eq!(time.state, CheckState::Unknown);
        assert!(raid.configured && time.configured, "a hang is no setting");
    }

    #[test]
    fn timing_is_sane() {
        for c in builtin_checks() {
            assert!(c.max_attempts >= 1, "{}", c.id);
            assert!(
                c.timeout <= c.interval,
                "{}: a run must end before the next",
                c.id
            );
            assert!(c.retry_interval <= c.interval, "{}", c.id);
        }
    }

    #[test]
    fn which_checks_run_where() {
        assert_eq!(
            ids(Role::Master),
            [
                "cluster-status",
                "raid",
                "asterisk-ami",
                "asterisk-sip",
                "database-query",
                "default-services",
                "disk-usage",
                "filesystem-sync",
                "time"
            ]
        );
        assert_eq!(
            ids(Role::Slave),
            [
                "master-node-alive",
                "network-failover",
                "disk-usage",
                "filesystem-sync",
                "time",
                "rsync-server",
                "database-sync"
            ]
        );
        assert_eq!(
            ids(Role::Standalone),
            [
                "asterisk-ami",
                "asterisk-sip",
                "database-query",
                "default-services",
                "disk-usage",
                "time"
            ]
        );
        assert_eq!(ids(Role::Standby), ["disk-usage", "time"]);
    }
}
