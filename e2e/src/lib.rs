//! The lab: network namespaces made and torn down by the tests themselves, Pequod
//! nodes running in them (`cluster`), a headless browser for the UI (`browser`), and
//! the reading of a test mail server's Maildir (`maildir`), and the phone's view of
//! who answers ARP for the cluster IP (`arp`), from what is read off the wire (`packet`).
//!
//! See [`lab::Lab`] for the topology; tests start with
//! `if !pequod_e2e::require_root() { return; }`.

pub mod arp;
pub mod browser;
pub mod cluster;
pub mod lab;
pub mod maildir;
pub mod packet;

pub use lab::{Lab, Ns, require_root, wait_until};
