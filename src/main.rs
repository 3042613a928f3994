//! `cutover`: command-line dispatch only. Each verb lives in its module.

use clap::Parser;
use cutover::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = color_eyre::install();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cutover: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Do not wait for detached tasks (event streams, pools) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    let target = cli.target;
    let Some(command) = cli.command else {
        // Bare `cutover`: the cockpit when a daemon is running, else a hint.
        if cutover::state_dir::discover(&target).is_ok() {
            let args = cutover::cli::TuiArgs { theme: None };
            return exit(cutover::tui::run(&args, &target).await.map(|()| 0));
        }
        eprintln!(
            "cutover: no daemon found; start one with `cutover up --plan cutover.toml`, try `cutover demo`, or see `cutover --help`"
        );
        return 2;
    };
    if let Some(code) = cutover::api::verbs::run(&command, &target).await {
        return code;
    }
    let result = match &command {
        Command::Up(args) => cutover::daemon::run_up(args, &target).await,
        Command::Tui(args) => cutover::tui::run(args, &target).await,
        Command::Load(args) => return exit(cutover::demo::load::run(args).await),
        Command::Demo(args) => return exit(cutover::demo::run::run(args).await),
        Command::DemoApp(args) => cutover::demo::app::run(args.clone()).await,
        Command::Image {
            command: cutover::cli::ImageCommand::Build { repo },
        } => cutover::runtime::image::image_build_cmd(repo).await,
        Command::Replay(args) if args.no_tui => cutover::journal::replay::run_headless(args).await,
        Command::Replay(args) => cutover::tui::run_replay(args).await,
        Command::Export(args) => cutover::journal::export::run(args),
        _ => Err(color_eyre::eyre::eyre!("this verb is not built yet")),
    };
    exit(result.map(|()| 0))
}

/// Print an error the way operators read it; 1 on failure.
fn exit(result: color_eyre::Result<u8>) -> u8 {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cutover: {e:#}");
            1
        }
    }
}
