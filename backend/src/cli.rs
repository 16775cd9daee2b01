//! The command line: `pequod serve` runs a node, `pequod openapi` prints the API contract.

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
