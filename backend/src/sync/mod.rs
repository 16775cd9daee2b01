//! Data sync from the master to the slave (never back). `postgres` runs the telephony
//! database as the master's primary or the slave's streaming standby, with the
//! durability mode, the lag, promotion and the rewind of an old master; `settings` is
//! its `[database]` section. `files` mirrors the configured paths with rsync: a daemon
//! on the slave, pushes from the master on every change and in periodic full passes,
//! and the manifests that Filesystem Sync compares.

pub mod advert;
pub mod files;
pub mod postgres;
pub mod service;
pub mod settings;

pub use service::DataSync;
