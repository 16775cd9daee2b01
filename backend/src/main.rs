//! The `pequod` binary: parse the command line, set up logging, run the node.

use clap::Parser;
use pequod::cli::{Cli, Command};
use pequod::settings::Settings;
use pequod::startup::Application;
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
    }
}
