//! Data sync from the master to the slave, never back.

pub mod files;
