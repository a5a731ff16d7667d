//! The `strehad` command line: load the configuration, run until SIGTERM or SIGINT, or
//! until the store fails.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::{NodeConfig, RunningNode, StartError};

/// Exit code: a failure of the environment while starting or running (the network, a full
/// disk at start); the supervisor may restart the node.
const EXIT_RUNTIME: u8 = 1;
/// Exit code: a configuration problem (file, keys, roster, the data directory's permissions
/// or another node using it, an address in use); restarting will not help.
const EXIT_CONFIG: u8 = 2;
/// Exit code: a write could not be made durable while running. The node stopped serving at
/// once (nothing more is answered from memory) so that its supervisor restarts it, and the
/// restart reopens the store from what is on disk.
const EXIT_STORAGE_FAILED: u8 = 3;
/// Exit code: the store or the key vault does not match what this node acknowledged (a log
/// shorter than its high-water mark, damaged files, data keys missing); restarting will not
/// help: restore the data directory from a backup.
const EXIT_INTEGRITY: u8 = 4;

/// How long a node whose store failed may take to stop before the process exits anyway.
const STOP_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The Streha node daemon: one per agency.
#[derive(Debug, Parser)]
#[command(
    name = "strehad",
    version,
    about = "The Streha node daemon: one per agency",
    after_help = "Exit codes: 0 stopped cleanly; 1 runtime failure (restart may help); \
                  2 configuration error; 3 the store failed while running (restart: it \
                  reopens from disk); 4 the store or key vault does not match what the node \
                  acknowledged (restore from a backup; do not restart blindly).\n\
                  Logs go to standard error; set STREHA_LOG (e.g. STREHA_LOG=debug) to change the level.\n\
                  Colour only when standard error is a terminal and NO_COLOR is unset or empty.\n\
                  SIGHUP re-reads the roster file; SIGTERM or SIGINT stops the node gracefully.\n\
                  On start, one line `strehad ready peer=ADDR app=ADDR` goes to standard output.\n\
                  Files the node creates are private to its user (umask 077)."
)]
struct Args {
    /// The node configuration file (node.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration, keys, roster and data directory, then exit, without opening
    /// the store, binding a port or writing anything (safe beside a running node).
    #[arg(long)]
    check: bool,
    /// How log lines are written to standard error: `text` for people, `json` (one object
    /// per line) for log collectors
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
}

/// The format of the log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line of text per event: time, level, message, `key=value` fields.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`), `span`.
    Json,
}

/// Logging to standard error: the level from `STREHA_LOG` (default `info`), text or JSON
/// lines, colour only where a person reads a terminal (`NO_COLOR` honoured, no-color.org).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("STREHA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().with_ansi(false).init(),
        LogFormat::Text => builder
            .with_ansi(use_colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ))
            .init(),
    }
}

/// Colour codes only for a terminal, and never when `NO_COLOR` is set to anything but the
/// empty string (no-color.org).
fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// The exit code of a start that failed.
fn start_exit_code(error: &StartError) -> u8 {
    if error.is_integrity() {
        EXIT_INTEGRITY
    } else if error.is_configuration() {
        EXIT_CONFIG
    } else {
        EXIT_RUNTIME
    }
}

/// Runs `strehad` with the process's arguments and returns its exit code.
pub fn daemon_main() -> ExitCode {
    // Whatever the caller's umask, nothing this process creates (store, key vault, marks,
    // sled's snapshots and blobs) is readable by another user.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let args = Args::parse();
    init_logging(args.log_format);

    let config = match NodeConfig::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("strehad: configuration error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check {
        return match crate::check::run(&config) {
            Ok(lines) => {
                for line in lines {
                    println!("strehad: {line}");
                }
                println!(
                    "strehad: configuration, keys and roster are valid, and the data directory is usable"
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("strehad: check failed: {error}");
                ExitCode::from(start_exit_code(&error))
            }
        };
    }
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
        let mut signals = Signals::install();
        let mut config = config;
        let mut node = match RunningNode::start(config).await {
            Ok(node) => node,
            Err(error) => {
                eprintln!("strehad: cannot start: {error}");
                return ExitCode::from(start_exit_code(&error));
            }
        };
        let show = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        println!(
            "strehad ready peer={} app={}",
            show(node.peer_addr()),
            show(node.app_addr())
        );
        loop {
            let event = tokio::select! {
                signal = signals.next() => Event::Signal(signal),
                () = node.storage_failed() => Event::StorageFailed,
                () = node.restart_requested() => Event::Restart,
            };
            match event {
                Event::Restart => {
                    // An accepted loss: the log continues in a new epoch, which is opened
                    // at start; the node comes back on the addresses it had.
                    tracing::warn!("restarting the node: its log continues in a new epoch");
                    let (peer, app, metrics) =
                        (node.peer_addr(), node.app_addr(), node.metrics_addr());
                    node.shutdown().await;
                    // `shutdown` returns once the old endpoints' sockets are closed (or
                    // after a bounded wait, logged); the old store may still be held a
                    // moment by a task finishing (an admin request being answered). As a
                    // safety net, binding the same addresses and locking the store are
                    // retried for a while.
                    let deadline = tokio::time::Instant::now() + RESTART_BIND_WAIT;
                    node = loop {
                        config = match NodeConfig::load(&args.config) {
                            Ok(config) => config,
                            Err(error) => {
                                eprintln!("strehad: configuration error at restart: {error}");
                                return ExitCode::from(EXIT_CONFIG);
                            }
                        };
                        if let Some(peer) = peer {
                            config.listen = peer;
                        }
                        if let Some(app) = app {
                            config.app_listen = app;
                        }
                        if metrics.is_some() {
                            config.metrics_listen = metrics;
                        }
                        match RunningNode::start(config).await {
                            Ok(node) => break node,
                            Err(
                                crate::StartError::Bind { .. }
                                | crate::StartError::Store(streha_store::StoreError::InUse {
                                    ..
                                }),
                            ) if tokio::time::Instant::now() < deadline => {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                            Err(error) => {
                                eprintln!("strehad: cannot restart: {error}");
                                return ExitCode::from(start_exit_code(&error));
                            }
                        }
                    };
                    println!(
                        "strehad ready peer={} app={}",
                        show(node.peer_addr()),
                        show(node.app_addr())
                    );
                }
                Event::Signal(Signal::Reload) => match node.reload_roster().await {
                    // An adoption is logged where it happens, with version and hash.
                    Ok(crate::RosterReload::Adopted { .. }) => {}
                    Ok(crate::RosterReload::Unchanged { version }) => tracing::info!(
                        version,
                        "SIGHUP: the roster file holds the roster in force; nothing changed"
                    ),
                    Err(error) => {
                        tracing::error!(%error, "roster not reloaded; the roster in use stays")
                    }
                },
                Event::Signal(Signal::Stop) => {
                    tracing::info!("signal received; shutting down");
                    node.shutdown().await;
                    return ExitCode::SUCCESS;
                }
                Event::StorageFailed => {
                    // PostgreSQL's lesson: after a failed flush, memory is not the truth.
                    eprintln!(
                        "strehad: the store failed: a write could not be made durable (see the \
                         log above); the node stopped serving and exits with code \
                         {EXIT_STORAGE_FAILED} so that its supervisor restarts it from what is \
                         on disk (free space or fix the disk first if that was the cause)"
                    );
                    let _ = tokio::time::timeout(STOP_AFTER_FAILURE, node.shutdown()).await;
                    return ExitCode::from(EXIT_STORAGE_FAILED);
                }
            }
        }
    })
}

/// How long a restart (into a new log epoch) waits for the old endpoints' addresses and
/// the old store's lock.
const RESTART_BIND_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

enum Event {
    Signal(Signal),
    StorageFailed,
    Restart,
}

enum Signal {
    Reload,
    Stop,
}

/// The signals the daemon answers, listened for from before it says it is ready until it
/// exits: a signal handler installed only when the daemon first waits would leave the
/// default action (the process killed, no clean stop) to a SIGTERM or SIGHUP sent right
/// after the ready line, and a signal arriving while a restart or a reload is under way
/// would be lost.
#[cfg(unix)]
struct Signals(Option<[tokio::signal::unix::Signal; 3]>);

#[cfg(unix)]
impl Signals {
    /// Installs the handlers (within the runtime).
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(term), Ok(int), Ok(hup)) => Self(Some([term, int, hup])),
            _ => Self(None),
        }
    }

    async fn next(&mut self) -> Signal {
        match &mut self.0 {
            Some([term, int, hup]) => tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
            },
            None => {
                let _ = tokio::signal::ctrl_c().await;
                Signal::Stop
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }

    async fn next(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Stop
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::use_colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some(OsStr::new(""))));
    }
}
