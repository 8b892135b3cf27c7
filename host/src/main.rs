use std::process::ExitCode;

use berth::cli::{AdminArgs, Cli, Command, ServeArgs};
use berth::client::{AdminClient, ClientError};
use berth::{Application, telemetry};
use clap::Parser;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(&args),
        Command::Deploy(args) => admin(&args.admin, |c| async move {
            c.deploy(&args.file, args.name.as_deref()).await
        }),
        Command::Services(args) => admin(&args, |c| async move { c.services().await }),
        Command::Rollback(args) => {
            admin(&args.admin, |c| async move { c.rollback(&args.name).await })
        }
        Command::Undeploy(args) => {
            admin(&args.admin, |c| async move { c.undeploy(&args.name).await })
        }
        Command::History(args) => {
            admin(&args.admin, |c| async move { c.history(&args.name).await })
        }
    }
}

/// Runs one admin API call and prints its report.
fn admin<F, Fut>(args: &AdminArgs, call: F) -> ExitCode
where
    F: FnOnce(AdminClient) -> Fut,
    Fut: Future<Output = Result<String, ClientError>>,
{
    let result = AdminClient::new(args).and_then(|client| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .block_on(call(client))
    });
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("berth: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("berth: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = telemetry::init(&settings.log, settings.log_format) {
        eprintln!("berth: {error}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("berth: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = Application::build(settings).await?;
        let shutdown = app.shutdown_token();
        tokio::spawn(async move {
            berth::app::shutdown_signal().await;
            shutdown.cancel();
        });
        app.run_until_stopped().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("berth: {error:#}");
            ExitCode::FAILURE
        }
    }
}
