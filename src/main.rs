//! `lineshard`: flags -> Config -> server::run(), or `lineshard check` (`check::check_data_dir`).
//! The only place that reports start-up errors.

use clap::Parser;
use lineshard::config::{print_config, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Check { data_dir }) = &cli.command {
        let report = lineshard::check::check_data_dir(data_dir);
        print!("{}", report.render(data_dir));
        return if report.failed() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let print = cli.print_config;
    let config = match cli.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lineshard: {e}");
            return ExitCode::from(2);
        }
    };
    if print {
        print!("{}", print_config(&config));
        return ExitCode::SUCCESS;
    }
    if let Err(e) = config.validate() {
        eprintln!("lineshard: {e}");
        return ExitCode::from(2);
    }
    lineshard::logging::init(&config.logging);
    match lineshard::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("lineshard: {e}");
            ExitCode::FAILURE
        }
    }
}
