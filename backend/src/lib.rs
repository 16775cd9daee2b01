//! Pequod: a high-availability cluster manager for PBX appliances. One process per node
//! serves the REST API and the commander UI and runs the cluster agent and jobs.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod events;
pub mod extract;
pub mod identity;
pub mod jobs;
pub mod metrics;
pub mod netif;
pub mod notify;
pub mod openapi;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod storage;
pub mod sync;
pub mod systemd;
pub mod telemetry;
pub mod tls;
pub mod tool;
