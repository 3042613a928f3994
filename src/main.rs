//! `cutover`: command-line dispatch only. Each verb lives in its module.

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use cutover::cli::{Cli, Command, Target, UsageError};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread starts: the variables are read and removed here.
    cutover::daemon::listeners::take_systemd_sockets();
    let _ = color_eyre::install();
    let cli = parse();
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

/// The command line, with every usage mistake reported (exit 2) before
/// anything else happens.
fn parse() -> Cli {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let before: Vec<&str> = Target::FLAGS
        .iter()
        .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(|(_, flag)| *flag)
        .collect();
    if let Some(UsageError { verb, message }) = cli.usage_error(&before) {
        // The verb's usage line under the message, as clap's own errors have.
        let mut root = Cli::command();
        root.build();
        let sub = verb.and_then(|v| root.find_subcommand(v)).cloned();
        let mut cmd = sub.unwrap_or(root);
        cmd.error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    cli
}

async fn dispatch(cli: Cli) -> u8 {
    let Some(command) = &cli.command else {
        // Bare `cutover`: the cockpit when a daemon is running, else a hint.
        let target = &cli.target;
        if cutover::state_dir::discover(target).is_ok() {
            let args = cutover::cli::TuiArgs {
                theme: None,
                target: target.clone(),
            };
            return tui(&args, target).await;
        }
        eprintln!(
            "cutover: no daemon found; start one with `cutover up --plan cutover.toml`, try `cutover demo`, or see `cutover --help`"
        );
        return 2;
    };
    let result = match command {
        Command::Tui(_)
        | Command::Status(_)
        | Command::Weight(_)
        | Command::Deploy(_)
        | Command::Pause(_)
        | Command::Resume(_)
        | Command::Promote(_)
        | Command::Rollback(_)
        | Command::Drain(_)
        | Command::Resize(_)
        | Command::Scale(_)
        | Command::Logs(_)
        | Command::Wait(_)
        | Command::Train(_)
        | Command::Approve(_) => {
            let target = cli.verb_target().unwrap_or_else(|| cli.target.clone());
            if let Command::Tui(args) = command {
                return tui(args, &target).await;
            }
            return cutover::api::verbs::run(command, &target).await;
        }
        Command::Up(args) => cutover::daemon::run_up(args, &cli.target).await,
        Command::Load(args) => return exit(cutover::demo::load::run(args).await),
        Command::Demo(args) => return exit(cutover::demo::run::run(args).await),
        Command::DemoApp(args) => cutover::demo::app::run(args.clone()).await,
        Command::Image {
            command: cutover::cli::ImageCommand::Build { repo },
        } => cutover::runtime::image::image_build_cmd(repo).await,
        Command::Replay(args) if args.no_tui => {
            cutover::journal::headless::run_headless(args).await
        }
        Command::Replay(args) => cutover::tui::run_replay(args).await,
        Command::Export(args) => cutover::journal::export::run(args),
        Command::Backtest(args) => {
            return cutover::guard::backtest_verb::run(args);
        }
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "cutover", &mut text);
            print_all(&text)
        }
        Command::Man => {
            let mut text = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut text) {
                Ok(()) => print_all(&text),
                Err(e) => Err(e.into()),
            }
        }
    };
    exit(result.map(|()| 0))
}

/// Write generated text to stdout; a reader that stops early (`| head`) is
/// not an error.
fn print_all(text: &[u8]) -> color_eyre::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The cockpit: 3 when no daemon can be found, like the other client verbs.
async fn tui(args: &cutover::cli::TuiArgs, target: &Target) -> u8 {
    // One daemon, several services: the fleet view first.
    if let Some(names) = cutover::state_dir::fleet_services(target) {
        let mut clients = Vec::new();
        for name in names {
            let mut t = target.clone();
            t.service = Some(name.clone());
            match cutover::api::client::Client::from_target(&t) {
                Ok(c) => clients.push((name, c)),
                Err(e) => {
                    eprintln!("cutover: cannot reach service {name}: {e}");
                    return e.exit_code();
                }
            }
        }
        let mut args = args.clone();
        args.target.read_only |= target.read_only;
        let target = cutover::tui::fleet::FleetTarget { clients };
        return exit(cutover::tui::fleet::run(&args, target).await.map(|()| 0));
    }
    match cutover::api::client::Client::from_target(target) {
        Ok(client) => {
            // `--read-only` before the verb counts as after it.
            let mut args = args.clone();
            args.target.read_only |= target.read_only;
            exit(cutover::tui::run(&args, client).await.map(|()| 0))
        }
        Err(e) => {
            eprintln!("cutover: cannot find the daemon to attach to: {e}");
            e.exit_code()
        }
    }
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
