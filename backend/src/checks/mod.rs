//! Health checks: the building blocks the check scheduler runs. Results in Nagios
//! terms, the soft/hard state machine, custom plugins, the built-in checks and the
//! catalog of which check runs on which node (DESIGN.md, "Failover checks", "Notify checks").

pub mod plugin;
pub mod result;
pub mod state;

pub use result::{CheckResult, Perfdata, Unit};
pub use state::{CheckStatus, Transition};
