//! Logging: `tracing` to stderr, filtered by RUST_LOG or the configured level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) {
    // netlink-packet-route warns about every attribute newer than itself on each read.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let filter = match "netlink_packet_route=error".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: journald, a log file or a pipe
        // would keep the escape codes as garbage.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
