//! pequodctl: Pequod from a shell. The client in [`client`] is generated at build time
//! from `openapi/openapi.json`; the commands only arrange its answers for a person
//! (tables, a progress bar) or a script (`--json`).

pub mod openapi30;
pub mod session;
pub mod tls;

/// The client generated from the contract by `build.rs` (progenitor). Generated code
/// is not held to the workspace's lints: its `unwrap`s are on regexes and builder
/// settings fixed at generation time.
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unused,
    non_camel_case_types
)]
pub mod client {
    include!(concat!(env!("OUT_DIR"), "/client.rs"));
}
