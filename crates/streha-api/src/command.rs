//! `streha api …`: the service's command line (the `streha` binary dispatches to
//! [`run`]).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::auth::{CallerName, NewToken, Scope};
use crate::config::{ApiConfig, CallerFile, ConfigError, ConfigFile, write_atomically};
use crate::server::RunningApi;

/// Why a command failed, and so its exit status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command line or the configuration is wrong; nothing was changed (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The command was valid but failed while running (exit 1).
    #[error("{0}")]
    Failure(String),
}

impl CommandError {
    /// The exit status: 2 for usage and configuration errors, 1 otherwise (as `streha`).
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Usage(_) => 2,
            CommandError::Failure(_) => 1,
        }
    }
}

impl From<ConfigError> for CommandError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Read { .. } | ConfigError::Write { .. } => {
                CommandError::Failure(e.to_string())
            }
            other => CommandError::Usage(other.to_string()),
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "streha api",
    about = "The agency's application as a local HTTP/JSON service (OpenAPI 3.1) for case-management systems",
    long_about = "The agency's application as a local HTTP/JSON service for case-management \
                  systems written in any language. It holds the agency's signing and encryption \
                  keys (from the client profile), talks to the agency's node with the Streha \
                  client library, and serves register subject, representatives, age status, \
                  consent, disclosures, the inbox, and the audit log as JSON over HTTP on a Unix \
                  socket or a loopback address. Callers authenticate with bearer tokens, each \
                  with its scopes. The contract is served at /openapi.json (spec/openapi.json)."
)]
struct ApiCli {
    #[command(subcommand)]
    command: ApiCommand,
}

#[derive(Debug, Subcommand)]
enum ApiCommand {
    /// Write a new api.toml (no callers yet: add them with `token add`)
    Init(InitArgs),
    /// Run the service until SIGTERM or SIGINT; prints `streha-api ready …` when it serves
    Serve(ConfigArg),
    /// Manage the callers' tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the OpenAPI 3.1 document (as served at /openapi.json)
    Openapi,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The service's configuration file
    #[arg(long, value_name = "FILE", default_value = "api.toml")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The agency application's client profile (client.toml), as `streha node init --client` writes it
    #[arg(long, value_name = "FILE")]
    profile: PathBuf,
    /// A loopback address to listen on, e.g. 127.0.0.1:8480
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with = "socket",
        required_unless_present = "socket"
    )]
    listen: Option<String>,
    /// A Unix socket path to listen on instead
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The directory of the idempotency records
    #[arg(long, value_name = "DIR", default_value = "api-state")]
    state_dir: PathBuf,
    /// The file to write
    #[arg(long, value_name = "FILE", default_value = "api.toml")]
    out: PathBuf,
    /// Overwrite an existing file
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Add a caller with a new token, printed once (only its SHA-256 is stored)
    Add(TokenAddArgs),
    /// List the callers and their scopes (never a token)
    List(TokenListArgs),
    /// Remove a caller: its token stops working at the next start of the service
    Remove(TokenRemoveArgs),
}

#[derive(Debug, Args)]
struct TokenAddArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The caller's name (in logs), e.g. intake
    #[arg(long)]
    name: String,
    /// A scope the caller gets (repeat): subjects, consent, disclose, delivery, inbox, inbox:open, audit
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    scopes: Vec<String>,
    /// Print one line of JSON: {"name", "scopes", "token"}
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TokenListArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print one line of JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TokenRemoveArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The caller's name
    #[arg(long)]
    name: String,
}

/// Runs `streha api` with `args` (the words after `api`).
///
/// # Errors
/// [`CommandError`]; help and version requests are printed and are not errors.
pub fn run(args: &[OsString]) -> Result<(), CommandError> {
    let words = std::iter::once(OsString::from("streha api")).chain(args.iter().cloned());
    let cli = match ApiCli::try_parse_from(words) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(());
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.trim_start_matches("error: ").trim_end().to_owned();
            return Err(CommandError::Usage(text));
        }
    };
    match cli.command {
        ApiCommand::Init(args) => init(&args),
        ApiCommand::Serve(args) => serve(&args.config),
        ApiCommand::Token(TokenCommand::Add(args)) => token_add(&args),
        ApiCommand::Token(TokenCommand::List(args)) => token_list(&args),
        ApiCommand::Token(TokenCommand::Remove(args)) => token_remove(&args),
        ApiCommand::Openapi => {
            print!("{}", crate::openapi::document());
            Ok(())
        }
    }
}

/// `main` of a binary that is only `streha api` (the tests' `streha-api-test`): runs
/// [`run`] with the process's arguments and prints an error as `streha api: …`.
pub fn main_entry() -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streha api: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn path_string(path: &Path) -> Result<String, CommandError> {
    path.to_str()
        .map(toml_string)
        .ok_or_else(|| CommandError::Usage(format!("{} is not UTF-8", path.display())))
}

fn init(args: &InitArgs) -> Result<(), CommandError> {
    if args.out.exists() && !args.force {
        return Err(CommandError::Usage(format!(
            "{} exists; use --force to overwrite it",
            args.out.display()
        )));
    }
    let mut text = String::from(
        "# Streha application service (`streha api serve --config FILE`).\n\
         # Callers are added with `streha api token add`; see spec/protocol.md §12.\n",
    );
    let _ = writeln!(text, "profile = {}", path_string(&args.profile)?);
    match (&args.listen, &args.socket) {
        (Some(listen), _) => {
            let _ = writeln!(text, "listen = {}", toml_string(listen));
        }
        (None, Some(socket)) => {
            let _ = writeln!(text, "socket = {}", path_string(socket)?);
        }
        (None, None) => {
            return Err(CommandError::Usage("give --listen or --socket".into()));
        }
    }
    let _ = writeln!(text, "state_dir = {}", path_string(&args.state_dir)?);
    // Checked as the service will read it before it is written.
    let file: ConfigFile = toml::from_str(&text)
        .map_err(|e| CommandError::Usage(format!("cannot write the configuration: {e}")))?;
    ApiConfig::from_file(&args.out, file)?;
    write_atomically(&args.out, &text)?;
    println!(
        "Wrote {}. Add callers with `streha api token add --config {} --name NAME --scope SCOPE`.",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

fn serve(config: &Path) -> Result<(), CommandError> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STREHA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    let config = ApiConfig::load(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Failure(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let mut api = RunningApi::start(config).await.map_err(|e| {
            if e.is_configuration() {
                CommandError::Usage(e.to_string())
            } else {
                CommandError::Failure(e.to_string())
            }
        })?;
        let listening = match (api.local_addr(), api.socket_path()) {
            (Some(address), _) => format!("listen=http://{address}"),
            (None, Some(path)) => format!("socket={}", path.display()),
            (None, None) => String::new(),
        };
        // Before the ready line: a SIGTERM sent as soon as it is printed must stop the service
        // cleanly, not kill it by the signal's default action.
        let watch = |kind| {
            tokio::signal::unix::signal(kind)
                .map_err(|e| CommandError::Failure(format!("cannot watch signals: {e}")))
        };
        let mut terminate = watch(tokio::signal::unix::SignalKind::terminate())?;
        let mut interrupt = watch(tokio::signal::unix::SignalKind::interrupt())?;
        println!("streha-api ready {listening}");
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            result = api.wait() => {
                return result.map_err(|e| CommandError::Failure(format!("the server failed: {e}")));
            }
        }
        tracing::info!("stopping");
        api.shutdown().await;
        Ok(())
    })
}

fn token_add(args: &TokenAddArgs) -> Result<(), CommandError> {
    let path = &args.config.config;
    let name = CallerName::new(&args.name)
        .map_err(|e| CommandError::Usage(format!("--name `{}`: {e}", args.name)))?;
    let mut scopes: Vec<Scope> = Vec::new();
    for scope in &args.scopes {
        let scope: Scope = scope
            .parse()
            .map_err(|e| CommandError::Usage(format!("--scope: {e}")))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let file = ConfigFile::read(path)?;
    if file.callers.iter().any(|c| c.name == name.as_str()) {
        return Err(CommandError::Usage(format!(
            "caller `{name}` exists in {}; remove it first (`streha api token remove --name {name}`) to give it a new token",
            path.display()
        )));
    }
    let token = NewToken::generate()
        .map_err(|e| CommandError::Failure(format!("no randomness for the token: {e}")))?;
    let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let mut block = String::from("\n[[callers]]\n");
    let _ = writeln!(block, "name = {}", toml_string(name.as_str()));
    let _ = writeln!(block, "token_sha256 = \"{}\"", token.hash().to_hex());
    let _ = writeln!(
        block,
        "scopes = [{}]",
        scope_names
            .iter()
            .map(|s| toml_string(s))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let text = crate::config::read_bounded(path, crate::limits::MAX_CONFIG_LEN)?;
    let mut updated = text.clone();
    if !updated.ends_with('\n') && !updated.is_empty() {
        updated.push('\n');
    }
    updated.push_str(&block);
    // The result is checked as the service will read it, before it is written.
    let parsed: ConfigFile = toml::from_str(&updated)
        .map_err(|e| CommandError::Usage(format!("{}: {}", path.display(), e.message())))?;
    ApiConfig::from_file(path, parsed)?;
    write_atomically(path, &updated)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"name": name.as_str(), "scopes": scope_names, "token": token.expose()})
        );
    } else {
        println!(
            "Added caller `{name}` with scopes {} to {}.\nIts token (shown once; only its SHA-256 is stored; restart the service to use it):\n{}",
            scope_names.join(", "),
            path.display(),
            token.expose()
        );
    }
    Ok(())
}

fn token_list(args: &TokenListArgs) -> Result<(), CommandError> {
    let config = ApiConfig::load(&args.config.config)?;
    let callers: Vec<_> = config
        .callers
        .iter()
        .map(|c| {
            (
                c.name.as_str().to_owned(),
                c.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            )
        })
        .collect();
    if args.json {
        let list: Vec<_> = callers
            .iter()
            .map(|(name, scopes)| serde_json::json!({"name": name, "scopes": scopes}))
            .collect();
        println!("{}", serde_json::json!({ "callers": list }));
    } else if callers.is_empty() {
        println!("No callers; add one with `streha api token add`.");
    } else {
        for (name, scopes) in callers {
            println!("{name}: {}", scopes.join(", "));
        }
    }
    Ok(())
}

fn token_remove(args: &TokenRemoveArgs) -> Result<(), CommandError> {
    let path = &args.config.config;
    let mut file = ConfigFile::read(path)?;
    let before = file.callers.len();
    file.callers.retain(|c: &CallerFile| c.name != args.name);
    if file.callers.len() == before {
        return Err(CommandError::Usage(format!(
            "no caller `{}` in {}",
            args.name,
            path.display()
        )));
    }
    ApiConfig::from_file(path, file.clone())?;
    let body = toml::to_string(&file)
        .map_err(|e| CommandError::Failure(format!("cannot write the configuration: {e}")))?;
    let text = format!(
        "# Streha application service (`streha api serve --config FILE`).\n\
         # Callers are added with `streha api token add`; see spec/protocol.md §12.\n{body}"
    );
    write_atomically(path, &text)?;
    println!(
        "Removed caller `{}` from {}; restart the service for it to take effect.",
        args.name,
        path.display()
    );
    Ok(())
}
