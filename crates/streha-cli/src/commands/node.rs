//! `streha node init`: a working `node.toml` (the format of `streha_node::NodeConfig`,
//! `spec/protocol.md`), checked against the keys and the roster before it is written, and
//! optionally the application's client profile.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use streha_core::AgencyId;
use streha_crypto::{AnySecretKey, KeyKind};
use streha_wire::Roster;

use crate::cli::NodeInitArgs;
use crate::commands::roster;
use crate::error::CliError;
use crate::profile::ClientProfile;
use crate::util::{self, PUBLIC_MODE};

/// The fields of `node.toml` this command writes (the node reads more, all optional).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeToml {
    pub(crate) agency: String,
    pub(crate) listen: String,
    pub(crate) app_listen: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) roster: PathBuf,
    pub(crate) roster_key: PathBuf,
    pub(crate) node_key: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metrics_listen: Option<String>,
    pub(crate) applications: std::collections::BTreeMap<String, PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limits: Option<NodeLimits>,
}

/// `[limits]` overrides (the demo retries faster than the defaults).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct NodeLimits {
    pub(crate) retry_initial_ms: u64,
    pub(crate) retry_max_ms: u64,
    pub(crate) request_timeout_ms: u64,
}

impl NodeToml {
    /// The file's text, with a header comment.
    pub(crate) fn to_toml(&self) -> Result<String, CliError> {
        let body = toml::to_string(self)
            .map_err(|e| anyhow::anyhow!("cannot write the node configuration: {e}"))?;
        Ok(format!(
            "# strehad configuration for agency {} (spec/protocol.md; written by `streha node \
             init`).\n# Check it with: strehad --config THIS-FILE --check\n{body}",
            self.agency
        ))
    }
}

/// What `node init` found and checked.
pub(crate) struct CheckedNode {
    /// The configuration to write.
    pub(crate) config: NodeToml,
    /// The client profile, if asked for.
    pub(crate) profile: Option<ClientProfile>,
    /// The roster it was checked against.
    pub(crate) roster: Roster,
}

/// The key files of `agency` and application `app` in a `streha keygen` directory.
pub(crate) struct AgencyKeyFiles {
    pub(crate) node_secret: PathBuf,
    pub(crate) node_public: PathBuf,
    pub(crate) signing_secret: PathBuf,
    pub(crate) encryption_secret: PathBuf,
    pub(crate) app_public: PathBuf,
    pub(crate) app_secret: PathBuf,
}

impl AgencyKeyFiles {
    pub(crate) fn in_dir(dir: &Path, agency: &AgencyId, app: &str) -> Self {
        let file = |name: &str, kind: KeyKind, ext: &str| dir.join(format!("{name}.{kind}.{ext}"));
        Self {
            node_secret: file(agency.as_str(), KeyKind::NodeIdentity, "key"),
            node_public: file(agency.as_str(), KeyKind::NodeIdentity, "pub"),
            signing_secret: file(agency.as_str(), KeyKind::AgencySigning, "key"),
            encryption_secret: file(agency.as_str(), KeyKind::AgencyEncryption, "key"),
            app_public: file(app, KeyKind::Application, "pub"),
            app_secret: file(app, KeyKind::Application, "key"),
        }
    }
}

/// The inputs of a node configuration.
pub(crate) struct NodeSpec<'a> {
    pub(crate) agency: &'a AgencyId,
    pub(crate) keys: AgencyKeyFiles,
    pub(crate) app: &'a str,
    pub(crate) roster: &'a Path,
    pub(crate) roster_key: &'a Path,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) app_listen: SocketAddr,
    pub(crate) metrics_listen: Option<SocketAddr>,
    pub(crate) data_dir: &'a Path,
    pub(crate) with_client: bool,
    pub(crate) limits: Option<NodeLimits>,
}

/// Checks everything a node configuration names and builds it (and the client profile).
/// Paths are written absolute, so the files work from any directory.
pub(crate) fn check(spec: &NodeSpec<'_>) -> Result<CheckedNode, CliError> {
    let keys = &spec.keys;
    let roster_key = roster::load_roster_key(spec.roster_key)?;
    let roster = roster::open_signed(spec.roster, &roster_key)?;
    let entry = roster.agency(spec.agency).ok_or_else(|| {
        CliError::usage(format!(
            "agency {} is not in the roster {} (version {}); ask the national authority to add \
             it, or check --agency",
            spec.agency,
            spec.roster.display(),
            roster.version()
        ))
    })?;
    let mut needed = vec![&keys.node_secret, &keys.app_public];
    if spec.with_client {
        needed.extend([
            &keys.node_public,
            &keys.signing_secret,
            &keys.encryption_secret,
            &keys.app_secret,
        ]);
    }
    if let Some(missing) = needed.into_iter().find(|f| !f.exists()) {
        return Err(CliError::usage(format!(
            "{} does not exist: --keys DIR must hold the key files `streha keygen --agency {}` \
             and `streha keygen --kind application --name {}` wrote",
            missing.display(),
            spec.agency,
            spec.app
        )));
    }
    let AnySecretKey::NodeIdentity(node_key) =
        util::load_secret(&keys.node_secret, KeyKind::NodeIdentity)?
    else {
        unreachable!("load_secret checked the kind")
    };
    if entry.node_key != node_key.public_key() {
        return Err(CliError::usage(format!(
            "the node identity key {} ({}) is not the node key of {} in the roster ({}); use \
             the agency's own key files, or ask the national authority to update the roster",
            keys.node_secret.display(),
            node_key.public_key().fingerprint().short(),
            spec.agency,
            entry.node_key.fingerprint().short()
        )));
    }
    let listen = match spec.listen {
        Some(listen) => listen,
        None => entry.address.parse().map_err(|_| {
            CliError::usage(format!(
                "the roster's address of {} (`{}`) is not an IP address and port; give \
                 --listen",
                spec.agency, entry.address
            ))
        })?,
    };
    if listen == spec.app_listen {
        return Err(CliError::usage(
            "--app-listen must differ from the peer address (--listen): applications and peers \
             use separate endpoints",
        ));
    }
    if let Some(metrics) = spec.metrics_listen
        && !metrics.ip().is_loopback()
    {
        return Err(CliError::usage(format!(
            "--metrics-listen {metrics} is not a loopback address; the node serves metrics on \
             127.0.0.1 or ::1 only"
        )));
    }
    util::load_public(&keys.app_public, KeyKind::Application)?;

    let config = NodeToml {
        agency: spec.agency.to_string(),
        listen: listen.to_string(),
        app_listen: spec.app_listen.to_string(),
        data_dir: util::absolute(spec.data_dir)?,
        roster: util::absolute(spec.roster)?,
        roster_key: util::absolute(spec.roster_key)?,
        node_key: util::absolute(&keys.node_secret)?,
        metrics_listen: spec.metrics_listen.map(|a| a.to_string()),
        applications: [(spec.app.to_owned(), util::absolute(&keys.app_public)?)]
            .into_iter()
            .collect(),
        limits: spec.limits,
    };

    let profile = if spec.with_client {
        let AnySecretKey::AgencySigning(signing) =
            util::load_secret(&keys.signing_secret, KeyKind::AgencySigning)?
        else {
            unreachable!("load_secret checked the kind")
        };
        let AnySecretKey::AgencyEncryption(encryption) =
            util::load_secret(&keys.encryption_secret, KeyKind::AgencyEncryption)?
        else {
            unreachable!("load_secret checked the kind")
        };
        let AnySecretKey::Application(app_key) =
            util::load_secret(&keys.app_secret, KeyKind::Application)?
        else {
            unreachable!("load_secret checked the kind")
        };
        util::load_public(&keys.node_public, KeyKind::NodeIdentity)?;
        if entry.signing_key != signing.public_key()
            || entry.encryption_key != encryption.public_key()
        {
            return Err(CliError::usage(format!(
                "the agency signing or encryption key in {} is not the one of {} in the roster; \
                 use the agency's own key files",
                keys.signing_secret
                    .parent()
                    .unwrap_or(Path::new("."))
                    .display(),
                spec.agency
            )));
        }
        drop(app_key);
        Some(ClientProfile {
            agency: spec.agency.clone(),
            node_address: spec.app_listen,
            node_key: util::absolute(&keys.node_public)?,
            roster_key: util::absolute(spec.roster_key)?,
            application_key: util::absolute(&keys.app_secret)?,
            signing_key: util::absolute(&keys.signing_secret)?,
            encryption_key: util::absolute(&keys.encryption_secret)?,
            request_timeout_ms: None,
        })
    } else {
        None
    };
    Ok(CheckedNode {
        config,
        profile,
        roster,
    })
}

/// Runs `streha node init`.
pub(crate) fn init(args: &NodeInitArgs) -> Result<(), CliError> {
    let app = args
        .app
        .clone()
        .unwrap_or_else(|| format!("{}-app", args.agency));
    let spec = NodeSpec {
        agency: &args.agency,
        keys: AgencyKeyFiles::in_dir(&args.keys, &args.agency, &app),
        app: &app,
        roster: &args.roster,
        roster_key: &args.roster_key,
        listen: args.listen,
        app_listen: args.app_listen,
        metrics_listen: args.metrics_listen,
        data_dir: &args.data_dir,
        with_client: args.client.is_some(),
        limits: None,
    };
    // Check every target before writing anything.
    util::check_target(&args.out, args.force)?;
    if let Some(client) = &args.client {
        util::check_target(client, args.force)?;
    }
    let checked = check(&spec)?;
    util::write_file(
        &args.out,
        checked.config.to_toml()?.as_bytes(),
        PUBLIC_MODE,
        args.force,
    )?;
    if let (Some(client), Some(profile)) = (&args.client, &checked.profile) {
        util::write_file(
            client,
            profile
                .to_toml()
                .map_err(|e| CliError::usage(e.to_string()))?
                .as_bytes(),
            PUBLIC_MODE,
            args.force,
        )?;
    }
    if args.json {
        let node_key = checked
            .roster
            .agency(&args.agency)
            .map(|entry| entry.node_key.fingerprint().to_hex());
        return util::print_json(&serde_json::json!({
            "config": args.out.display().to_string(),
            "client": args.client.as_ref().map(|c| c.display().to_string()),
            "agency": args.agency.as_str(),
            "application": app,
            "roster_version": checked.roster.version(),
            "node_key": node_key,
            "listen": checked.config.listen,
            "app_listen": checked.config.app_listen,
            "metrics_listen": checked.config.metrics_listen,
            "data_dir": checked.config.data_dir.display().to_string(),
        }));
    }
    let mut lines = vec![format!(
        "Wrote {} for {} (roster version {}): peers on {}, applications on {}, store in {}, \
         application `{app}` enrolled.",
        args.out.display(),
        args.agency,
        checked.roster.version(),
        checked.config.listen,
        checked.config.app_listen,
        checked.config.data_dir.display()
    )];
    if let (Some(client), Some(profile)) = (&args.client, &checked.profile) {
        lines.push(format!(
            "Wrote the client profile {} (node at {}).",
            client.display(),
            profile.node_address
        ));
    }
    lines.push(format!(
        "Next: strehad --config {} --check, then run it (SIGHUP re-reads the roster).",
        args.out.display()
    ));
    util::print_lines(&lines)
}
