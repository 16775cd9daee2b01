//! Pequod's REST contract: every type that crosses the wire between `pequod` and the
//! commander UI, the paths it crosses on, and the field rules both sides apply. No
//! HTTP framework and no database here; OpenAPI schemas are derived behind the
//! `schema` feature so the WASM frontend stays small.

pub mod audit;
pub mod auth;
pub mod checks;
pub mod cluster;
pub mod domain;
pub mod email;
pub mod events;
pub mod jobs;
pub mod nodes;
pub mod notifications;
pub mod paths;
pub mod problem;
pub mod rules;
pub mod services;
pub mod slaves;
pub mod sync;
pub mod users;

pub use domain::{ClusterIp, Hostname, InvalidValue, NodeId};
pub use email::{EmailAddress, is_email_address};
pub use problem::{FieldError, Problem};

/// Every API path below this prefix needs a bearer token, except the login.
pub const API_PREFIX: &str = "/api/v1";
