//! The API's integration tests: one binary, so the suite links once. Each test starts
//! its own `pequod` on port 0 with a fresh data directory.

// Tests may fail loudly: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod auth;
mod checks;
mod cluster;
mod events;
mod helpers;
mod jobs;
mod logging;
mod metrics;
mod nodes;
mod notifications;
mod openapi;
mod password;
mod services;
mod serving;
mod sync;
mod tls;
mod users;
