//! Where and how this node runs the telephony database Pequod manages (the `[database]`
//! section of the settings).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Whether a commit on the master waits for the slave to have it (`sync`) or not (`async`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    Sync,
    Async,
}

/// Where and how this node runs the telephony database Pequod manages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// The PostgreSQL programs (`initdb`, `pg_ctl`, `pg_basebackup`, `pg_rewind`, ...).
    pub bin_dir: PathBuf,
    /// The cluster's data directory; Pequod creates it, owned by `os_user`.
    pub data_dir: PathBuf,
    pub port: u16,
    /// Where the server puts its unix socket (Pequod connects there as the superuser).
    pub socket_dir: PathBuf,
    /// Addresses the server listens on besides this node's sync IP (the PBX's own).
    pub listen_addresses: Vec<IpAddr>,
    /// The OS user that owns the data and runs the server; also the superuser role.
    pub os_user: String,
    /// The durability mode asked for; a slave gone or lagging drops the master to async.
    pub durability: DurabilityMode,
    /// A slave further behind than this many seconds counts as lagging.
    pub lag_threshold_secs: f64,
    /// Cap on the WAL the slave's replication slot may hold back (PostgreSQL units).
    pub max_slot_wal_keep_size: String,
    /// Networks (`address/prefix`) whose clients may log in with a password, e.g. the
    /// PBX's LAN reaching the database at the cluster IP.
    pub clients: Vec<String>,
    /// Days an old master's cut-off WAL or replaced data directory is kept.
    pub keep_cut_off_days: u64,
}

impl DatabaseSettings {
    /// Refuses settings the server would choke on, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        for network in &self.clients {
            let valid = network.split_once('/').is_some_and(|(ip, prefix)| {
                let max = match ip.parse::<IpAddr>() {
                    Ok(IpAddr::V4(_)) => 32,
                    Ok(IpAddr::V6(_)) => 128,
                    Err(_) => return false,
                };
                prefix.parse::<u8>().is_ok_and(|p| p <= max)
            });
            if !valid {
                return Err(format!(
                    "database.clients: {network:?} is not a network as address/prefix (e.g. 10.0.0.0/24)"
                ));
            }
        }
        if !(self.lag_threshold_secs.is_finite() && self.lag_threshold_secs >= 1.0) {
            return Err("database.lag_threshold_secs must be at least 1".into());
        }
        Ok(())
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            bin_dir: "/usr/lib/postgresql/15/bin".into(),
            // Outside the 0700 /var/lib/pequod, which the PostgreSQL user cannot enter.
            data_dir: "/var/lib/postgresql/pequod".into(),
            port: 5432,
            socket_dir: "/run/pequod/postgresql".into(),
            listen_addresses: vec![IpAddr::from([127, 0, 0, 1])],
            os_user: "postgres".into(),
            durability: DurabilityMode::Sync,
            lag_threshold_secs: 10.0,
            max_slot_wal_keep_size: "1GB".into(),
            clients: Vec::new(),
            keep_cut_off_days: 14,
        }
    }
}
