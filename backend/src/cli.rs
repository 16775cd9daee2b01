//! The command line: `pequod serve` runs a node, `pequod openapi` prints the API contract,
//! `pequod release-vip` removes a cluster IP left behind (the service unit's stop hook).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pequod",
    version,
    about = "High-availability cluster manager for PBX appliances"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run this node: the REST API, the commander web UI, the job runner.
    ///
    /// Settings come from built-in defaults, then the TOML file given with --config,
    /// then environment variables PEQUOD_<SECTION>__<KEY> (e.g. PEQUOD_SERVER__LISTEN),
    /// then these flags. On the first start the user `admin` is created with the
    /// password from PEQUOD_ADMIN_PASSWORD, or a random one printed once in the log.
    Serve(ServeArgs),
    /// Print the OpenAPI document of the REST API (the committed openapi/openapi.json).
    Openapi,
    /// Remove the cluster IP from this machine's interfaces, if it is there.
    ///
    /// A killed `pequod` leaves the cluster IP on its interface, where the kernel keeps
    /// answering ARP for it beside the new master. The service unit runs this after
    /// every stop, however the process ended (ExecStopPost). It needs no running
    /// `pequod`: it reads the cluster IP from the node's stored configuration (the same
    /// --config and --data-dir as `serve`). Exits 0 once the address is gone (or was
    /// never there), non-zero with the reason when it could not be removed.
    ReleaseVip(ReleaseVipArgs),
}

#[derive(Debug, Clone, Default, Args)]
pub struct ReleaseVipArgs {
    /// TOML settings file (the one `serve` uses).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The node's data directory [default: from the settings, else ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML settings file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address and port the API and UI listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for the database, the node's SSH key and secrets [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}
