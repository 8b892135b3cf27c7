use std::process::ExitCode;

use berth::author::{self, new};
use berth::cli::{AdminArgs, Cli, Command, LangArg, ServeArgs};
use berth::client::{AdminClient, ClientError};
use berth::{Application, telemetry};
use clap::Parser;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(&args),
        Command::Deploy(args) => admin(&args.admin, |c| async move {
            c.deploy(&args.file, args.name.as_deref(), &args.canary.query())
                .await
        }),
        Command::Promote(args) => {
            admin(&args.admin, |c| async move { c.promote(&args.name).await })
        }
        Command::Abort(args) => admin(&args.admin, |c| async move { c.abort(&args.name).await }),
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
        Command::Logs(args) => admin(&args.admin, |c| async move {
            c.logs(&args.name, args.lines, args.follow).await
        }),
        Command::New(args) => report(new::create(&args.name, lang(args.lang), &args.dir).map(|files| {
            let dir = args.dir.join(&args.name).display().to_string();
            format!(
                "wrote {} files into {dir}\nnext: `berth build {dir}`, or `berth dev {dir}` to build, deploy and rebuild on every save",
                files.len()
            )
        })),
        Command::Build(args) => report(build_all(&args.path)),
        Command::Dev(args) => {
            report(author::dev::run(&args.path, &args.public_url, &args.admin).map(|()| String::new()))
        }
    }
}

fn lang(arg: LangArg) -> author::Lang {
    match arg {
        LangArg::Rust => author::Lang::Rust,
        LangArg::Python => author::Lang::Python,
        LangArg::Js => author::Lang::Js,
    }
}

/// Builds every service `path` names; stops at the first that fails.
fn build_all(path: &std::path::Path) -> Result<String, String> {
    let mut lines = Vec::new();
    for (dir, lang) in author::services_under(path)? {
        let (out, took) = author::build(&dir, lang)
            .map_err(|e| format!("{} ({lang:?}) did not build:\n{e}", dir.display()))?;
        let size = std::fs::metadata(&out).map_or(0, |m| m.len());
        lines.push(format!(
            "built {} ({lang:?}, {:.1} MiB) in {:.1} s",
            out.display(),
            size as f64 / f64::from(1 << 20),
            took.as_secs_f64()
        ));
    }
    Ok(lines.join("\n"))
}

/// Prints a command's report, or its error.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(report) => {
            if !report.is_empty() {
                println!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("berth: {error}");
            ExitCode::FAILURE
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
            if !report.is_empty() {
                println!("{report}");
            }
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
    // Held to the end: it flushes the log lines still buffered.
    let _log = match telemetry::init(&settings.log, settings.log_format) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("berth: {error}");
            return ExitCode::from(2);
        }
    };
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
