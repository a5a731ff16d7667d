//! The `strehad` command line: load the configuration, run until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::{NodeConfig, RunningNode};

/// Exit code: a configuration problem (bad file, key, roster).
const EXIT_CONFIG: u8 = 2;
/// Exit code: a failure while running (storage, network).
const EXIT_RUNTIME: u8 = 1;

/// The Streha node daemon: one per agency.
#[derive(Debug, Parser)]
#[command(
    name = "strehad",
    version,
    about = "The Streha node daemon: one per agency",
    after_help = "Exit codes: 0 stopped cleanly; 1 runtime failure; 2 configuration error.\n\
                  Logs go to standard error; set STREHA_LOG (e.g. STREHA_LOG=debug) to change the level.\n\
                  SIGHUP re-reads the roster file; SIGTERM or SIGINT stops the node gracefully.\n\
                  On start, one line `strehad ready peer=ADDR app=ADDR` goes to standard output."
)]
struct Args {
    /// The node configuration file (node.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration, keys and roster, then exit without serving.
    #[arg(long)]
    check: bool,
}

/// Runs `strehad` with the process's arguments and returns its exit code.
pub fn daemon_main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("STREHA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    let config = match NodeConfig::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("strehad: configuration error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("strehad: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    runtime.block_on(async move {
        let node = match RunningNode::start(config).await {
            Ok(node) => node,
            Err(error) => {
                eprintln!("strehad: cannot start: {error}");
                let code = if error.is_configuration() {
                    EXIT_CONFIG
                } else {
                    EXIT_RUNTIME
                };
                return ExitCode::from(code);
            }
        };
        if args.check {
            node.shutdown().await;
            println!("strehad: configuration, keys and roster are valid");
            return ExitCode::SUCCESS;
        }
        let show = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        println!(
            "strehad ready peer={} app={}",
            show(node.peer_addr()),
            show(node.app_addr())
        );
        while let Signal::Reload = wait_for_signal().await {
            match node.reload_roster().await {
                // An adoption is logged where it happens, with version and hash.
                Ok(crate::RosterReload::Adopted { .. }) => {}
                Ok(crate::RosterReload::Unchanged { version }) => {
                    tracing::info!(
                        version,
                        "SIGHUP: the roster file holds the roster in force; nothing changed"
                    )
                }
                Err(error) => {
                    tracing::error!(%error, "roster not reloaded; the roster in use stays")
                }
            }
        }
        tracing::info!("signal received; shutting down");
        node.shutdown().await;
        ExitCode::SUCCESS
    })
}

enum Signal {
    Reload,
    Stop,
}

#[cfg(unix)]
async fn wait_for_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(mut term), Ok(mut int), Ok(mut hup)) => {
            tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Signal {
    let _ = tokio::signal::ctrl_c().await;
    Signal::Stop
}
