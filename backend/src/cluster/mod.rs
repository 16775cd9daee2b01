//! The HA core: the pure decision (`decide`), the agent that executes it, heartbeats,
//! the cluster IP, the managed services, the SSH control channel between the nodes and
//! the cluster operations (`operations`); plus the cluster as this node sees it, with the lamp.

pub mod agent;
pub mod arp;
pub mod config;
pub mod decide;
pub mod heartbeat;
pub mod lamp;
pub mod operations;
pub mod probe;
pub mod remote;
pub mod services;
pub mod settings;
pub mod ssh;
pub mod ssh_binding;
pub mod vip;
