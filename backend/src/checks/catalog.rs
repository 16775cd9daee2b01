//! The built-in checks of the seed's two tables: which exist, whether they fail
//! over or only notify, on which node they run, and their default timing.

use std::borrow::Cow;
use std::time::Duration;

use pequod_api::checks::{CheckKind, RunsOn};
use pequod_api::cluster::Role;

use super::plugin::PluginCommand;

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
    /// A custom check's plugin; built-in checks have none.
    pub plugin: Option<PluginCommand>,
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
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A notify check at the pace Icinga uses for services: once a minute, retried
/// every 20 s, hard after three failures.
const fn notify(
    id: &'static str,
    name: &'static str,
    runs_on: RunsOn,
    needs_peer: bool,
) -> CheckDefinition {
    CheckDefinition {
        id: Cow::Borrowed(id),
        name: Cow::Borrowed(name),
        kind: CheckKind::Notify,
        runs_on,
        needs_peer,
        interval: secs(60),
        retry_interval: secs(20),
        timeout: secs(10),
        max_attempts: 3,
        plugin: None,
    }
}

pub const BUILTIN_CHECKS: &[CheckDefinition] = &[
    // Failover checks: fast, since a dead master costs calls every second.
    CheckDefinition {
        id: Cow::Borrowed("master-node-alive"),
        name: Cow::Borrowed("Master Node Alive"),
        kind: CheckKind::Failover,
        runs_on: RunsOn::Slave,
        needs_peer: true,
        // Mirrors the heartbeat verdict, which already waited dead_after on both
        // links; retrying on top would only delay the takeover.
        interval: secs(1),
        retry_interval: secs(1),
        timeout: secs(1),
        max_attempts: 1,
        plugin: None,
    },
    CheckDefinition {
        id: Cow::Borrowed("cluster-status"),
        name: Cow::Borrowed("Cluster Status"),
        kind: CheckKind::Failover,
        runs_on: RunsOn::Master,
        needs_peer: true,
        interval: secs(5),
        retry_interval: secs(2),
        timeout: secs(5),
        max_attempts: 3,
        plugin: None,
    },
    CheckDefinition {
        id: Cow::Borrowed("raid"),
        name: Cow::Borrowed("RAID"),
        kind: CheckKind::Failover,
        runs_on: RunsOn::Master,
        needs_peer: false,
        interval: secs(60),
        retry_interval: secs(10),
        timeout: secs(10),
        // mdstat does not flicker; two readings rule out catching a reshape mid-write.
        max_attempts: 2,
        plugin: None,
    },
    CheckDefinition {
        id: Cow::Borrowed("network-failover"),
        name: Cow::Borrowed("Network Failover"),
        kind: CheckKind::Failover,
        runs_on: RunsOn::Slave,
        needs_peer: true,
        interval: secs(5),
        retry_interval: secs(1),
        timeout: secs(5),
        // A switch hiccup must not move the PBX: confirm over a few seconds.
        max_attempts: 3,
        plugin: None,
    },
    // Notify checks.
    notify("asterisk-ami", "Asterisk AMI", RunsOn::Master, false),
    notify("asterisk-sip", "Asterisk SIP", RunsOn::Master, false),
    notify("database-query", "Database Query", RunsOn::Master, false),
    notify(
        "default-services",
        "Default Services",
        RunsOn::Master,
        false,
    ),
    notify("disk-usage", "Disk Usage", RunsOn::Both, false),
    notify("filesystem-sync", "Filesystem Sync", RunsOn::Both, true),
    // Clocks drift slowly; asking the NTP server more often is impolite.
    CheckDefinition {
        id: Cow::Borrowed("time"),
        name: Cow::Borrowed("Time"),
        kind: CheckKind::Notify,
        runs_on: RunsOn::Both,
        needs_peer: false,
        interval: secs(300),
        retry_interval: secs(60),
        timeout: secs(10),
        max_attempts: 3,
        plugin: None,
    },
    notify("rsync-server", "Rsync Server", RunsOn::Slave, true),
    notify("database-sync", "Database Sync", RunsOn::Slave, true),
];

/// The built-in check with this id.
pub fn find(id: &str) -> Option<&'static CheckDefinition> {
    BUILTIN_CHECKS.iter().find(|c| c.id == id)
}

/// The built-in checks a node with `role` runs, in catalog order.
pub fn for_role(role: Role) -> impl Iterator<Item = &'static CheckDefinition> {
    BUILTIN_CHECKS.iter().filter(move |c| c.runs_here(role))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ids(role: Role) -> Vec<&'static str> {
        for_role(role).map(|c| c.id.as_ref()).collect()
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
        let got: Vec<_> = BUILTIN_CHECKS
            .iter()
            .map(|c| (c.name.as_ref(), c.kind, c.runs_on))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn ids_are_unique_and_url_safe() {
        let mut seen = HashSet::new();
        for check in BUILTIN_CHECKS {
            assert!(seen.insert(check.id.clone()), "duplicate id {}", check.id);
            assert!(
                check.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                check.id
            );
            assert_eq!(find(&check.id), Some(check));
        }
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn timing_is_sane() {
        for c in BUILTIN_CHECKS {
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
