//! Data sync from the master to the slave (never back). `postgres` runs the telephony
//! database as the master's primary or the slave's streaming standby, with the
//! durability mode, the lag, promotion and the rewind of an old master; `settings` is
//! its `[database]` section.

pub mod postgres;
pub mod settings;
