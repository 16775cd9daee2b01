//! The `pequod` binary: parse the command line, set up logging, run the node.

use anyhow::Context;
use clap::Parser;
use pequod::cli::{Cli, Command, ReleaseVipArgs, ServeArgs};
use pequod::cluster::vip::{self, Leftover};
use pequod::settings::Settings;
use pequod::startup::{Application, DATABASE_FILE};
use pequod::storage::SqliteStore;
use pequod::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::load(&args)?;
            telemetry::init(&settings.log.level);
            let app = Application::build(settings).await?;
            app.run_until_stopped().await
        }
        Command::Openapi => {
            print!("{}", pequod::openapi::spec_json()?);
            Ok(())
        }
        Command::ReleaseVip(args) => {
            println!("{}", release_vip(args).await?);
            Ok(())
        }
    }
}

/// `pequod release-vip`: what it did, as one sentence; an error when the address may
/// still be there.
async fn release_vip(args: ReleaseVipArgs) -> anyhow::Result<String> {
    let settings = Settings::load(&ServeArgs {
        config: args.config,
        data_dir: args.data_dir,
        listen: None,
    })?;
    let database = settings.server.data_dir.join(DATABASE_FILE);
    // Never create a store here: a node without one has no cluster and no cluster IP.
    if !database.is_file() {
        return Ok(format!(
            "no cluster is configured ({} does not exist): no cluster IP to release",
            database.display()
        ));
    }
    let store = SqliteStore::open(&database)
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    Ok(match vip::release_leftover(&store).await? {
        Leftover::NoCluster => "no cluster is configured: no cluster IP to release".to_string(),
        Leftover::Absent(ip) => format!("the cluster IP {ip} is not on this machine"),
        Leftover::Removed { ip, interfaces } => {
            format!("removed the cluster IP {ip} from {}", interfaces.join(", "))
        }
    })
}
