//! `streha demo`: a three-agency federation on 127.0.0.1 and a scripted scenario that shows
//! each rule of Law No. 04/L-218 at work.
//!
//! The federation is built with the same code as the operator's commands: the roster with
//! `roster add`'s entries and `roster sign`, each node's `node.toml` and `client.toml` with
//! `node init`'s checks, the clients from `client.toml` as every client command loads them.
//! The nodes are child processes running `strehad` — this binary's embedded copy (started
//! under the name `strehad`, which `main` dispatches to `streha_node::daemon_main`), or the
//! binary given with `--strehad`.
//!
//! Every step checks that the system behaved as stated and prints one line; a step that did
//! not is marked FAIL, the rest still run, and the command exits 1. The children are stopped
//! and the temporary directory removed on every path out, including Ctrl-C.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use streha_client::{Client, ClientError, DeliveryState, NewConsent};
use streha_core::{
    AgeStatus, AgencyId, AgreementClause, AuditEntry, Category, CategorySet, ClauseId, ConsentId,
    DisclosableCategory, DisclosureHeader, EnvelopeId, ExchangeAgreement, Grantor, OfficerId,
    Purpose, PurposeSet, Recipient, RefusalReason, RepresentativeId, Role, SubjectId, Timestamp,
};
use streha_crypto::{AnySecretKey, KeyKind, OfficerSecretKey};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::{APP_ALPN, MAX_FRAME_LEN, Roster};

use crate::DAEMON_NAME;
use crate::cli::{DemoArgs, parse_field};
use crate::commands::audit::describe;
use crate::commands::node::{self, AgencyKeyFiles, NodeLimits, NodeSpec};
use crate::commands::roster;
use crate::error::CliError;
use crate::profile::{self, ClientProfile};
use crate::util::{self, PUBLIC_MODE, SECRET_MODE};

/// The demo federation's name.
const FEDERATION: &str = "kosovo-demo.example";
/// The roster key's holder in `keys-example/`.
const AUTHORITY: &str = "national-authority";
/// The three agencies.
const POLICE: &str = "police-prishtina";
const SHELTER: &str = "shelter-prishtina";
const PROSECUTION: &str = "prosecution-prishtina";
/// The police officers who approve urgent-danger disclosures.
const OFFICERS: [&str; 2] = ["police-officer-1", "police-officer-2"];
/// How long to wait for a daemon to start, or a delivery to arrive.
const PATIENCE: Duration = Duration::from_secs(30);

/// One member of the demo federation.
struct Member {
    id: AgencyId,
    role: Role,
    /// Its configuration, client profile, store and daemon log.
    dir: PathBuf,
    /// Its copied keys.
    keys: PathBuf,
    peer: SocketAddr,
    app: SocketAddr,
}

impl Member {
    fn config(&self) -> PathBuf {
        self.dir.join("node.toml")
    }
    fn profile(&self) -> PathBuf {
        self.dir.join("client.toml")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("strehad.log")
    }
}

/// How the daemons are started.
enum Launcher {
    /// This binary under the name `strehad`.
    Embedded(PathBuf),
    /// Another `strehad` binary.
    External(PathBuf),
}

impl Launcher {
    fn describe(&self) -> String {
        match self {
            Self::Embedded(_) => "strehad embedded in this binary".to_owned(),
            Self::External(path) => path.display().to_string(),
        }
    }

    fn command(&self) -> Command {
        match self {
            Self::Embedded(exe) => {
                let mut command = Command::new(exe);
                command.arg0(DAEMON_NAME);
                command
            }
            Self::External(path) => Command::new(path),
        }
    }
}

/// A running daemon, stopped when dropped.
struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    /// Starts the daemon of `member` and waits for its ready line.
    fn start(launcher: &Launcher, member: &Member) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(member.log())
            .with_context(|| format!("cannot open {}", member.log().display()))?;
        let mut child = launcher
            .command()
            .arg("--config")
            .arg(member.config())
            .env(
                "STREHA_LOG",
                std::env::var("STREHA_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start strehad ({})", launcher.describe()))?;
        let mut daemon = Self { child: None };
        let stdout = child.stdout.take().context("the daemon has no stdout")?;
        daemon.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Read (and keep draining) the daemon's stdout; report its ready line.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("strehad ready") {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + PATIENCE;
        loop {
            if rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                return Ok(daemon);
            }
            if let Some(status) = daemon
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "strehad for {} exited during start-up ({status}): {}",
                    member.id,
                    log_tail(&member.log())
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "strehad for {} did not become ready within {} s; its log is {}",
                    member.id,
                    PATIENCE.as_secs(),
                    member.log().display()
                );
            }
        }
    }

    /// Stops at once (SIGKILL): nothing is flushed that was not already durable.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops gracefully (SIGTERM), then at once if it does not exit within 10 s.
    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last lines of a daemon's log (which never holds record content or keys), for an
/// error message: the log itself may be in a directory about to be removed.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    if tail.is_empty() {
        "its log is empty".to_owned()
    } else {
        format!("its log ends: {tail}")
    }
}

/// Where the demo's files live: a temporary directory, or `--keep DIR`.
enum WorkDir {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temporary(dir) => dir.path(),
            Self::Kept(dir) => dir,
        }
    }
}

/// An OS-assigned loopback UDP port: bind port 0, read it, release it for the daemon.
fn free_port() -> anyhow::Result<SocketAddr> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("cannot bind a loopback UDP port")?;
    socket.local_addr().context("cannot read the bound port")
}

/// The demo keys: `--keys`, else `keys-example/` of the source tree this binary was built
/// from, else `keys-example/` beside the binary.
fn find_keys(args: &DemoArgs) -> Result<PathBuf, CliError> {
    if let Some(dir) = &args.keys {
        return Ok(dir.clone());
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys-example");
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|p| p.join("keys-example")));
    [Some(source), beside]
        .into_iter()
        .flatten()
        .find(|dir| dir.join(AUTHORITY).is_dir())
        .ok_or_else(|| {
            CliError::usage(
                "cannot find the demo keys (keys-example/ of the Streha source tree); pass \
                 --keys DIR",
            )
        })
}

/// Copies the demo keys into `to`: secret files with mode 0600 (git checks them out 0644),
/// public files 0644.
fn copy_keys(from: &Path, to: &Path) -> Result<(), CliError> {
    for holder in [AUTHORITY, POLICE, SHELTER, PROSECUTION] {
        let source = from.join(holder);
        let target = to.join(holder);
        std::fs::create_dir_all(&target)
            .and_then(|()| {
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700))
            })
            .with_context(|| format!("cannot create {}", target.display()))?;
        let entries = std::fs::read_dir(&source).map_err(|e| {
            CliError::usage(format!(
                "cannot read the demo keys in {}: {e}; pass --keys DIR (the keys-example/ \
                 directory)",
                source.display()
            ))
        })?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", source.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let mode = if name.ends_with(".key") {
                SECRET_MODE
            } else if name.ends_with(".pub") {
                PUBLIC_MODE
            } else {
                continue;
            };
            let bytes = std::fs::read(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            util::write_file(&target.join(name), &bytes, mode, false)?;
        }
    }
    Ok(())
}

/// The demo's exchange agreement (Art. 18.2, 45.1): what each role may receive, for which
/// purposes, without consent. Assistance categories are never in it (they need consent), nor
/// protection categories (never disclosed).
fn agreement() -> anyhow::Result<ExchangeAgreement> {
    let clause = |id: &str, role: Role, categories: &[Category], purposes: &[Purpose]| {
        AgreementClause::new(
            ClauseId::new(id)?,
            role,
            CategorySet::of(categories),
            PurposeSet::of(purposes),
        )
        .map_err(anyhow::Error::from)
    };
    Ok(ExchangeAgreement::new(vec![
        clause(
            "prosecution-investigation",
            Role::Prosecution,
            &[
                Category::Identity,
                Category::CaseSummary,
                Category::Investigation,
            ],
            // Art. 45.3: urgent danger is on the information of the police or prosecution.
            &[
                Purpose::CriminalInvestigationAndProsecution,
                Purpose::UrgentDanger,
            ],
        )?,
        clause(
            "ngo-referral",
            Role::LicensedNgo,
            &[
                Category::Identity,
                Category::Referral,
                Category::VictimStatus,
            ],
            &[Purpose::IdentificationAndReferral, Purpose::Assistance],
        )?,
        clause(
            "police-identification",
            Role::Police,
            &[Category::Identity, Category::VictimStatus],
            &[Purpose::IdentificationAndReferral],
        )?,
    ])?)
}

/// A disclosure (or refusal) the demo made, to prove afterwards.
struct Made {
    /// The step that made it.
    step: usize,
    /// The agency whose log holds the entry.
    agency: &'static str,
    /// The entry's index there.
    index: u64,
    /// The envelope.
    envelope: EnvelopeId,
    /// `disclosed`, `refused` or `received`.
    kind: &'static str,
}

/// The running federation and what the scenario did.
struct Demo {
    members: Vec<Member>,
    launcher: Launcher,
    daemons: Vec<Daemon>,
    clients: Vec<Client>,
    roster: Roster,
    bundles: PathBuf,
    made: Vec<Made>,
    /// The adult subject at the shelter and the consent it gave to the police.
    adult: Option<(SubjectId, ConsentId)>,
    /// The presumed child at the shelter, its legal representative, and the
    /// representative's consent.
    child: Option<(SubjectId, RepresentativeId, Option<ConsentId>)>,
}

impl Demo {
    fn index_of(&self, agency: &str) -> usize {
        self.members
            .iter()
            .position(|m| m.id.as_str() == agency)
            .unwrap_or_default()
    }

    fn client(&self, agency: &str) -> &Client {
        &self.clients[self.index_of(agency)]
    }

    fn agency(&self, agency: &str) -> AgencyId {
        self.members[self.index_of(agency)].id.clone()
    }

    fn record(
        &mut self,
        step: usize,
        agency: &'static str,
        index: u64,
        envelope: EnvelopeId,
        kind: &'static str,
    ) {
        self.made.push(Made {
            step,
            agency,
            index,
            envelope,
            kind,
        });
    }

    /// Waits until `envelope` from `sender` is delivered; returns (receipt, receiver index).
    async fn delivered(&self, sender: &str, envelope: EnvelopeId) -> anyhow::Result<(u64, u64)> {
        let client = self.client(sender);
        let deadline = Instant::now() + PATIENCE;
        loop {
            match client.delivery_status(envelope).await? {
                DeliveryState::Delivered {
                    receipt_index,
                    receiver_index,
                } => return Ok((receipt_index, receiver_index)),
                DeliveryState::Held { reason } => bail!("held by the sender's node: {reason}"),
                _ if Instant::now() > deadline => {
                    bail!("not delivered within {} s", PATIENCE.as_secs())
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// A consent in force from a minute ago for thirty days.
    fn consent_terms(
        subject: SubjectId,
        granted_by: Grantor,
        recipient: AgencyId,
        category: Category,
    ) -> NewConsent {
        let now = util::now();
        NewConsent {
            subject,
            granted_by,
            recipients: vec![Recipient::Agency(recipient)],
            categories: CategorySet::of(&[category]),
            purposes: PurposeSet::of(&[Purpose::Assistance]),
            valid_from: Timestamp(now.unix_millis().saturating_sub(60_000)),
            expires_at: now.saturating_add_millis(30 * util::DAY_MS),
            evidence_hash: *blake3::hash(b"demo: a signed consent form").as_bytes(),
            recorded_by: OfficerId::new("shelter-intake-1").expect("valid officer id"),
            recorded_at: now,
        }
    }

    // ----- The steps ------------------------------------------------------------------------

    /// 1. A consented medical disclosure: allowed, delivered, opened.
    async fn consented_medical(&mut self, step: usize) -> anyhow::Result<String> {
        let shelter = self.client(SHELTER);
        let police = self.agency(POLICE);
        let (subject, _) = shelter.register_subject(AgeStatus::Adult, vec![]).await?;
        let (consent, _) = shelter
            .grant_consent(Self::consent_terms(
                subject,
                Grantor::Subject,
                police.clone(),
                Category::Medical,
            ))
            .await?;
        let submitted = shelter
            .submit(
                shelter
                    .disclosure(subject, police, Purpose::Assistance)
                    .field(
                        DisclosableCategory::Medical,
                        "treatment",
                        "demo: follow-up needed",
                    )?
                    .consent(consent),
            )
            .await
            .context("expected the disclosure to be allowed")?;
        let (_, received) = self.delivered(SHELTER, submitted.envelope).await?;
        let opened = self.client(POLICE).open(submitted.envelope).await?;
        ensure!(
            opened.header.categories == CategorySet::of(&[Category::Medical]),
            "the opened record declares {}",
            opened.header.categories
        );
        self.adult = Some((subject, consent));
        self.record(
            step,
            SHELTER,
            submitted.index,
            submitted.envelope,
            "disclosed",
        );
        self.record(step, POLICE, received, submitted.envelope, "received");
        Ok(format!(
            "consented medical disclosure shelter → police (Art. 18.3): allowed (shelter log \
             #{}), delivered (police log #{received}) and opened by police",
            submitted.index
        ))
    }

    /// 2. Protection data: refused by type at the parser, and by the node for a forged
    ///    header submitted raw.
    async fn protection(&mut self, step: usize) -> anyhow::Result<String> {
        // The typed API has no way to express it: the parser (and the type) refuse it.
        let parse = parse_field("protection_measures:safe_house=demo");
        let message = match parse {
            Err(message) if message.contains("Art. 18.4") => message,
            Err(other) => bail!("the parser refused it without citing Art. 18.4: {other}"),
            Ok(_) => bail!("the parser accepted a protection category"),
        };
        ensure!(
            "protection_measures"
                .parse::<DisclosableCategory>()
                .is_err(),
            "DisclosableCategory parsed a protection category"
        );

        // A hand-built envelope whose signed header declares protection_measures, submitted
        // to the node directly, as a compromised or buggy application could.
        let (subject, _) = self.adult.context("step 1 registered no subject")?;
        let shelter = &self.members[self.index_of(SHELTER)];
        let keys =
            AgencyKeyFiles::in_dir(&shelter.keys, &shelter.id, &format!("{}-app", shelter.id));
        let AnySecretKey::AgencySigning(signing) =
            util::load_secret(&keys.signing_secret, KeyKind::AgencySigning).map_err(cli_error)?
        else {
            bail!("not an agency signing key")
        };
        let AnySecretKey::Application(app_key) =
            util::load_secret(&keys.app_secret, KeyKind::Application).map_err(cli_error)?
        else {
            bail!("not an application key")
        };
        let police = self.agency(POLICE);
        let recipient = self
            .roster
            .agency(&police)
            .context("police is not in the roster")?;
        // An honest header from the client library (fresh envelope id, time, sender), with
        // its categories replaced.
        let mut header: DisclosureHeader = self
            .client(SHELTER)
            .disclosure(subject, police.clone(), Purpose::Assistance)
            .field(DisclosableCategory::CaseSummary, "placeholder", "demo")?
            .prepare()?
            .header()
            .clone();
        header.categories = CategorySet::of(&[Category::ProtectionMeasures]);
        let envelope = streha_crypto::seal(
            &signing,
            &recipient.encryption_key,
            &header.encode(),
            &streha_core::Record::new().encode(),
        )?;
        let node_key = node_key_of(&self.roster, &shelter.id)?;
        let response = raw_request(
            &app_key,
            node_key,
            shelter.app,
            &AppRequest::Submit(Box::new(envelope)),
        )
        .await?;
        let index = match response {
            AppResponse::Refused {
                reason:
                    RefusalReason::ProtectionCategory {
                        category: Category::ProtectionMeasures,
                    },
                index,
            } => index,
            AppResponse::Refused { reason, .. } => {
                bail!("refused, but for another reason: {reason}")
            }
            AppResponse::Accepted { .. } => bail!("the node ACCEPTED a protection category"),
            other => bail!("unexpected answer: {other:?}"),
        };
        self.record(step, SHELTER, index, header.envelope_id, "refused");
        let short = message.split(':').next().unwrap_or_default().to_owned();
        Ok(format!(
            "protection-measure disclosure (Art. 18.4): refused by the typed API ({short}: \
             cannot be sent) and, for a hand-built envelope declaring protection_measures, by \
             the node (refusal logged, shelter log #{index})"
        ))
    }

    /// 3. A child's own consent: refused when it is recorded (issue 18.4), the refusal
    ///    logged (`consent_refused`).
    async fn child_own_consent(&mut self, _step: usize) -> anyhow::Result<String> {
        let shelter = self.client(SHELTER);
        let police = self.agency(POLICE);
        let guardian = RepresentativeId::new("guardian-0042")?;
        let (child, _) = shelter
            .register_subject(AgeStatus::PresumedChild, vec![guardian.clone()])
            .await?;
        self.child = Some((child, guardian, None));
        let shelter = self.client(SHELTER);
        let result = shelter
            .grant_consent(Self::consent_terms(
                child,
                Grantor::Subject,
                police,
                Category::Psychological,
            ))
            .await;
        let index = match result {
            Err(ClientError::ConsentRefused {
                reason: RefusalReason::ChildOwnConsent { .. },
                log_index,
                ..
            }) => log_index,
            Err(ClientError::ConsentRefused { reason, .. }) => {
                bail!("refused, but for another reason: {reason}")
            }
            Err(other) => return Err(anyhow!(other)),
            Ok((_, index)) => bail!(
                "RECORDED (log #{index}), but the policy should have refused a child's own consent"
            ),
        };
        Ok(format!(
            "a presumed child's own consent (Art. 18.3, 36): refused when recorded — \
             ChildOwnConsent (shelter log #{index}, consent_refused)"
        ))
    }

    /// 4. The legal representative's consent: allowed. Returns the consent for step 5.
    async fn representative_consent(&mut self, step: usize) -> anyhow::Result<String> {
        let (child, guardian, _) = self.child.clone().context("step 3 registered no child")?;
        let shelter = self.client(SHELTER);
        let police = self.agency(POLICE);
        let (consent, _) = shelter
            .grant_consent(Self::consent_terms(
                child,
                Grantor::Representative(guardian.clone()),
                police.clone(),
                Category::Psychological,
            ))
            .await?;
        let submitted = shelter
            .submit(
                shelter
                    .disclosure(child, police, Purpose::Assistance)
                    .field(
                        DisclosableCategory::Psychological,
                        "assessment",
                        "demo: stable",
                    )?
                    .consent(consent),
            )
            .await
            .context("expected the disclosure to be allowed")?;
        let (_, received) = self.delivered(SHELTER, submitted.envelope).await?;
        self.record(
            step,
            SHELTER,
            submitted.index,
            submitted.envelope,
            "disclosed",
        );
        self.record(step, POLICE, received, submitted.envelope, "received");
        self.child = Some((child, guardian, Some(consent)));
        Ok(format!(
            "the legal representative's consent for the child (Art. 18.3, 38.5): allowed \
             (shelter log #{}), delivered (police log #{received})",
            submitted.index
        ))
    }

    /// 5. A revoked consent: refused.
    async fn revoked(&mut self, step: usize) -> anyhow::Result<String> {
        let (child, _, consent) = self.child.clone().context("step 3 registered no child")?;
        let consent = consent.context("step 4 recorded no consent")?;
        let shelter = self.client(SHELTER);
        let police = self.agency(POLICE);
        shelter
            .revoke_consent(
                consent,
                util::now(),
                OfficerId::new("shelter-intake-1").expect("valid officer id"),
            )
            .await?;
        let prepared = shelter
            .disclosure(child, police, Purpose::Assistance)
            .field(
                DisclosableCategory::Psychological,
                "assessment",
                "demo: update",
            )?
            .consent(consent)
            .prepare()?;
        let (envelope, result) = seal_and_submit(shelter, prepared).await?;
        let index = expect_refusal(result, |r| {
            matches!(r, RefusalReason::ConsentNotInForce { .. })
        })?;
        self.record(step, SHELTER, index, envelope, "refused");
        Ok(format!(
            "the same consent after the representative revoked it: refused — consent not in \
             force, revoked (shelter log #{index})"
        ))
    }

    /// 6. The receiver offline, then back: delivered once it returns.
    async fn offline(&mut self, step: usize) -> anyhow::Result<String> {
        let (subject, consent) = self.adult.context("step 1 registered no subject")?;
        let police_at = self.index_of(POLICE);
        self.daemons[police_at].kill();
        let shelter = self.client(SHELTER);
        let submitted = shelter
            .submit(
                shelter
                    .disclosure(subject, self.agency(POLICE), Purpose::Assistance)
                    .field(DisclosableCategory::Medical, "lab_result", "demo: negative")?
                    .consent(consent),
            )
            .await
            .context("expected the disclosure to be allowed while the receiver is down")?;
        // Give the sender's node time to try (and fail) at least once.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        match shelter.delivery_status(submitted.envelope).await? {
            DeliveryState::Queued { .. } => {}
            other => bail!("expected it queued while police is down, found {other:?}"),
        }
        let daemon = Daemon::start(&self.launcher, &self.members[police_at])?;
        self.daemons[police_at] = daemon;
        // The police application's connection died with its node: connect again.
        let config = profile::load(&self.members[police_at].profile()).map_err(cli_error)?;
        self.clients[police_at] = Client::connect(config).await?;
        let (receipt, received) = self.delivered(SHELTER, submitted.envelope).await?;
        let inbox = self.client(POLICE).inbox(None, 256).await?;
        ensure!(
            inbox.iter().any(|e| e.envelope == submitted.envelope),
            "delivered, but not in the police inbox"
        );
        self.record(
            step,
            SHELTER,
            submitted.index,
            submitted.envelope,
            "disclosed",
        );
        self.record(step, POLICE, received, submitted.envelope, "received");
        Ok(format!(
            "receiver offline: police node killed (SIGKILL); disclosure allowed (shelter log \
             #{}) and still queued 1.5 s later; police restarted; delivered (police log \
             #{received}), receipt logged (shelter log #{receipt})",
            submitted.index
        ))
    }

    /// 7. Urgent danger: one approval refused; two distinct officers' approvals allowed and
    ///    flagged for review.
    async fn urgent(&mut self, step: usize) -> anyhow::Result<String> {
        let police_member = &self.members[self.index_of(POLICE)];
        let mut officers: Vec<(OfficerId, OfficerSecretKey)> = Vec::new();
        for officer in OFFICERS {
            let file = police_member.keys.join(format!("{officer}.officer.key"));
            let AnySecretKey::Officer(key) =
                util::load_secret(&file, KeyKind::Officer).map_err(cli_error)?
            else {
                bail!("not an officer key")
            };
            officers.push((OfficerId::new(officer)?, key));
        }
        let police = self.client(POLICE);
        let prosecution = self.agency(PROSECUTION);
        let (subject, _) = police.register_subject(AgeStatus::Adult, vec![]).await?;
        let build = || -> anyhow::Result<_> {
            Ok(police
                .disclosure(subject, prosecution.clone(), Purpose::UrgentDanger)
                .field(DisclosableCategory::Identity, "alias", "demo: A.")?
                .field(
                    DisclosableCategory::CaseSummary,
                    "danger",
                    "demo: credible threat abroad",
                )?)
        };
        // One officer: refused.
        let one = build()?
            .prepare()?
            .urgent_approval(officers[0].0.clone(), &officers[0].1)?;
        let (refused_envelope, result) = seal_and_submit(police, one).await?;
        let refused_index = expect_refusal(result, |r| {
            matches!(
                r,
                RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 }
            )
        })?;
        // Two distinct officers: allowed, flagged for review.
        let mut two = build()?.prepare()?;
        for (officer, key) in &officers {
            two = two.urgent_approval(officer.clone(), key)?;
        }
        let submitted = police
            .submit(two)
            .await
            .context("expected the two-officer disclosure to be allowed")?;
        let proven = police.prove_entry(submitted.index).await?;
        match proven.audit_entry()? {
            AuditEntry::Disclosed {
                urgent_review: true,
                header,
                ..
            } if header.approvals.len() == 2 => {}
            other => bail!(
                "expected a disclosed entry flagged for review with two approvals, found: {}",
                describe(&other)
            ),
        }
        let (_, received) = self.delivered(POLICE, submitted.envelope).await?;
        self.record(step, POLICE, refused_index, refused_envelope, "refused");
        self.record(
            step,
            POLICE,
            submitted.index,
            submitted.envelope,
            "disclosed",
        );
        self.record(step, PROSECUTION, received, submitted.envelope, "received");
        Ok(format!(
            "urgent danger police → prosecution (Art. 45.3): with one officer's approval \
             refused (police log #{refused_index}); with {} and {} allowed, flagged for \
             review (police log #{}), delivered (prosecution log #{received})",
            OFFICERS[0], OFFICERS[1], submitted.index
        ))
    }

    /// 8. Every node's log exported and verified; the logs agree with each other.
    async fn export(&mut self) -> anyhow::Result<String> {
        std::fs::create_dir_all(&self.bundles)
            .with_context(|| format!("cannot create {}", self.bundles.display()))?;
        let mut parts = Vec::new();
        let mut disclosed = std::collections::BTreeSet::new();
        let mut received = Vec::new();
        for (member, client) in self.members.iter().zip(&self.clients) {
            // Ends at a checkpoint the node's witnesses cosigned, so that the bundles verify
            // with `--min-witnesses` at its default of 1.
            let bundle = client
                .export_cosigned_bundle(std::time::Duration::from_secs(60))
                .await?;
            let bytes = bundle.encode()?;
            let file = self.bundles.join(format!("{}.bundle", member.id));
            util::write_file(&file, &bytes, PUBLIC_MODE, true).map_err(cli_error)?;
            for raw in &bundle.entries {
                match AuditEntry::decode(raw)? {
                    AuditEntry::Disclosed { header, .. } => {
                        ensure!(
                            !header.categories.iter().any(Category::is_protection),
                            "{} logged a disclosure of a protection category",
                            member.id
                        );
                        disclosed.insert(header.envelope_id);
                    }
                    AuditEntry::Received { header, .. } => {
                        ensure!(
                            !header.categories.iter().any(Category::is_protection),
                            "{} logged receiving a protection category",
                            member.id
                        );
                        received.push(header.envelope_id);
                    }
                    _ => {}
                }
            }
            parts.push(format!(
                "{} {} entries/{} checkpoints",
                member.id,
                bundle.entries.len(),
                bundle.checkpoints.len()
            ));
        }
        for envelope in &received {
            ensure!(
                disclosed.contains(envelope),
                "envelope {envelope} was received without a disclosed entry at its sender"
            );
        }
        Ok(format!(
            "log export: {} — each verified (signed checkpoints, roots, consistency); no \
             protection category ever left; all {} received entries have their disclosed \
             entry at the sender",
            parts.join(", "),
            received.len()
        ))
    }

    /// 9. The inclusion proofs of the demo's disclosures and refusals.
    async fn proofs(&self) -> anyhow::Result<String> {
        for made in &self.made {
            let proven = self
                .client(made.agency)
                .prove_entry(made.index)
                .await
                .with_context(|| {
                    format!(
                        "entry #{} of {} (step {})",
                        made.index, made.agency, made.step
                    )
                })?;
            let entry = proven.audit_entry()?;
            let envelope = match &entry {
                AuditEntry::Disclosed { header, .. }
                | AuditEntry::Refused { header, .. }
                | AuditEntry::Received { header, .. } => header.envelope_id,
                other => bail!(
                    "entry #{} of {} is not a {}: {}",
                    made.index,
                    made.agency,
                    made.kind,
                    describe(other)
                ),
            };
            ensure!(
                entry.kind_name() == made.kind && envelope == made.envelope,
                "entry #{} of {} (step {}) is `{}` for {envelope}, expected `{}` for {}",
                made.index,
                made.agency,
                made.step,
                entry.kind_name(),
                made.kind,
                made.envelope
            );
        }
        let count = |kind: &str| self.made.iter().filter(|m| m.kind == kind).count();
        Ok(format!(
            "inclusion proofs: {} disclosed, {} received and {} refused entries of this demo \
             proven against their nodes' signed checkpoints",
            count("disclosed"),
            count("received"),
            count("refused")
        ))
    }
}

fn cli_error(error: CliError) -> anyhow::Error {
    anyhow!("{error}")
}

/// The node identity key of `agency` in the roster.
fn node_key_of(roster: &Roster, agency: &AgencyId) -> anyhow::Result<[u8; 32]> {
    Ok(roster
        .agency(agency)
        .context("the agency is not in the roster")?
        .node_key
        .to_bytes())
}

/// One application request on a raw connection (the demo's forged submission).
async fn raw_request(
    app_key: &streha_crypto::ApplicationSecretKey,
    node_key: [u8; 32],
    address: SocketAddr,
    request: &AppRequest,
) -> anyhow::Result<AppResponse> {
    let identity = streha_transport::Identity::from_key(app_key)?;
    let config = streha_transport::client_config(streha_transport::ClientSetup {
        identity: &identity,
        server_key: node_key,
        alpn: APP_ALPN,
        limits: streha_transport::TransportLimits::default(),
    })?;
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(config);
    let connection = endpoint.connect(address, "streha.invalid")?.await?;
    let response: AppResponse =
        streha_transport::request(&connection, request, MAX_FRAME_LEN, PATIENCE).await?;
    connection.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    Ok(response)
}

/// Seals a disclosure and submits it: its envelope id, and the node's answer.
async fn seal_and_submit(
    client: &Client,
    disclosure: streha_client::PreparedDisclosure,
) -> anyhow::Result<(EnvelopeId, Result<streha_client::Submitted, ClientError>)> {
    let sealed = client.seal(disclosure)?;
    let envelope = sealed.envelope_id();
    Ok((envelope, client.submit(&sealed).await))
}

/// The refusal a step expects: its log index.
fn expect_refusal(
    result: Result<streha_client::Submitted, ClientError>,
    expected: impl Fn(&RefusalReason) -> bool,
) -> anyhow::Result<u64> {
    match result {
        Err(ClientError::Refused { reason, log_index }) if expected(&reason) => Ok(log_index),
        Err(ClientError::Refused { reason, .. }) => {
            bail!("refused, but for another reason: {reason}")
        }
        Err(other) => Err(anyhow!(other)),
        Ok(submitted) => bail!(
            "ALLOWED (log #{}), but the policy should have refused it",
            submitted.index
        ),
    }
}

/// Prints one line now (the scenario's progress is worth seeing as it happens).
fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// The work directory: `--keep DIR` (new or empty) or a fresh temporary directory.
fn work_dir(args: &DemoArgs) -> Result<WorkDir, CliError> {
    let Some(dir) = &args.keep else {
        let temp = tempfile::Builder::new()
            .prefix("streha-demo.")
            .tempdir()
            .context("cannot create a temporary directory")?;
        return Ok(WorkDir::Temporary(temp));
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CliError::usage(format!(
                    "--keep {} is not empty; give a new or empty directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Err(e) => {
            return Err(CliError::usage(format!(
                "--keep {}: {e}; give a new or empty directory",
                dir.display()
            )));
        }
    }
    Ok(WorkDir::Kept(util::absolute(dir)?))
}

/// Builds the federation's files: keys, roster, one node.toml and client.toml per agency.
fn build(work: &Path, keys_source: &Path) -> Result<(Vec<Member>, Roster), CliError> {
    let keys = work.join("keys");
    copy_keys(keys_source, &keys)?;
    let mut members = Vec::new();
    for (id, role) in [
        (POLICE, Role::Police),
        (SHELTER, Role::LicensedNgo),
        (PROSECUTION, Role::Prosecution),
    ] {
        let dir = work.join(id);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        members.push(Member {
            id: AgencyId::new(id).map_err(|e| anyhow!(e))?,
            role,
            dir,
            keys: keys.join(id),
            peer: free_port()?,
            app: free_port()?,
        });
    }

    // The roster, as `roster add` and `roster sign` build it.
    let mut entries = Vec::new();
    for member in &members {
        let files = roster::keygen_public_files(&member.keys, &member.id);
        let officers: Vec<(OfficerId, PathBuf)> = if member.role == Role::Police {
            OFFICERS
                .iter()
                .map(|o| {
                    Ok((
                        OfficerId::new(*o).map_err(|e| anyhow!(e))?,
                        member.keys.join(format!("{o}.officer.pub")),
                    ))
                })
                .collect::<anyhow::Result<_>>()?
        } else {
            Vec::new()
        };
        entries.push(roster::agency_entry(
            member.id.clone(),
            member.role,
            member.peer.to_string(),
            [&files[0], &files[1], &files[2]],
            &officers,
        )?);
    }
    let body = Roster::new(FEDERATION, 0, util::now(), entries, agreement()?)
        .map_err(|e| anyhow!("the demo roster is invalid: {e}"))?;
    let roster_secret = keys.join(AUTHORITY).join(format!("{AUTHORITY}.roster.key"));
    let AnySecretKey::Roster(roster_key) = util::load_secret(&roster_secret, KeyKind::Roster)?
    else {
        unreachable!("load_secret checked the kind")
    };
    let (signed, note) = roster::sign_roster(
        &body,
        1,
        util::now(),
        crate::cli::ValidFor::Millis(30 * 86_400_000),
        &roster_key,
    )?;
    roster::write_body(&work.join("roster.toml"), &signed, false)?;
    util::write_file(
        &work.join("roster.note"),
        note.as_bytes(),
        PUBLIC_MODE,
        false,
    )?;
    let roster_public = keys.join(AUTHORITY).join(format!("{AUTHORITY}.roster.pub"));

    // Each node's configuration and client profile, as `node init --client` writes them.
    for member in &members {
        let app = format!("{}-app", member.id);
        let checked = node::check(&NodeSpec {
            agency: &member.id,
            keys: AgencyKeyFiles::in_dir(&member.keys, &member.id, &app),
            app: &app,
            roster: &work.join("roster.note"),
            roster_key: &roster_public,
            listen: Some(member.peer),
            app_listen: member.app,
            metrics_listen: None,
            data_dir: &member.dir.join("data"),
            with_client: true,
            // Retry quickly, so the "receiver offline" step does not wait for long.
            limits: Some(NodeLimits {
                retry_initial_ms: 100,
                retry_max_ms: 500,
                request_timeout_ms: 3000,
            }),
        })?;
        util::write_file(
            &member.config(),
            checked.config.to_toml()?.as_bytes(),
            PUBLIC_MODE,
            false,
        )?;
        let profile: ClientProfile = checked
            .profile
            .context("node init wrote no client profile")?;
        util::write_file(
            &member.profile(),
            profile
                .to_toml()
                .map_err(|e| CliError::usage(e.to_string()))?
                .as_bytes(),
            PUBLIC_MODE,
            false,
        )?;
    }
    Ok((members, signed))
}

/// What the scenario found.
struct Outcome {
    steps: usize,
    failed: Vec<usize>,
    summary: Vec<String>,
}

/// Starts the federation and runs the scenario.
async fn scenario(
    work: &Path,
    members: Vec<Member>,
    roster: Roster,
    launcher: Launcher,
) -> Result<Outcome, CliError> {
    let mut daemons = Vec::new();
    for member in &members {
        daemons.push(Daemon::start(&launcher, member)?);
    }
    let mut clients = Vec::new();
    for member in &members {
        let config = profile::load(&member.profile())?;
        clients.push(Client::connect(config).await.map_err(|e| {
            crate::error::from_client(&format!("cannot connect to the node of {}", member.id), e)
        })?);
    }
    let mut demo = Demo {
        members,
        launcher,
        daemons,
        clients,
        roster,
        bundles: work.join("logs"),
        made: Vec::new(),
        adult: None,
        child: None,
    };

    const TITLES: [&str; 9] = [
        "consented medical disclosure allowed",
        "protection-measure disclosure refused",
        "a child's own consent refused",
        "the legal representative's consent allowed",
        "a revoked consent refused",
        "receiver offline, then delivered once it returns",
        "urgent danger with two officers' approvals",
        "every node's log exported and verified",
        "inclusion proofs of the demo's disclosures verified",
    ];
    let mut failed = Vec::new();
    for (i, title) in TITLES.iter().enumerate() {
        let step = i + 1;
        let result = match step {
            1 => demo.consented_medical(step).await,
            2 => demo.protection(step).await,
            3 => demo.child_own_consent(step).await,
            4 => demo.representative_consent(step).await,
            5 => demo.revoked(step).await,
            6 => demo.offline(step).await,
            7 => demo.urgent(step).await,
            8 => demo.export().await,
            _ => demo.proofs().await,
        };
        match result {
            Ok(line) => say(format!("{step:>2}/{} ok    {line}", TITLES.len())),
            Err(error) => {
                say(format!(
                    "{step:>2}/{} FAIL  {title}: {error:#}",
                    TITLES.len()
                ));
                failed.push(step);
            }
        }
    }

    let mut summary = Vec::new();
    let count = |kind: &str| demo.made.iter().filter(|m| m.kind == kind).count();
    summary.push(format!(
        "Summary: {} of {} steps behaved as stated; {} disclosures allowed and delivered, {} \
         refused by the policy (each refusal logged), {} received entries, all proven.",
        TITLES.len() - failed.len(),
        TITLES.len(),
        count("disclosed"),
        count("refused"),
        count("received")
    ));
    for client in demo.clients.drain(..) {
        client.close().await;
    }
    for daemon in &mut demo.daemons {
        daemon.terminate();
    }
    Ok(Outcome {
        steps: TITLES.len(),
        failed,
        summary,
    })
}

/// Runs `streha demo`.
pub(crate) fn run(args: &DemoArgs) -> Result<(), CliError> {
    let keys_source = find_keys(args)?;
    let launcher = match &args.strehad {
        // Not canonicalized: a symbolic link named `strehad` to `streha` must keep its name.
        Some(path) if path.is_file() => Launcher::External(
            std::path::absolute(path)
                .with_context(|| format!("cannot resolve {}", path.display()))?,
        ),
        Some(path) => {
            return Err(CliError::usage(format!(
                "--strehad {}: no such file; build it with `cargo build -p streha-node --bin \
                 strehad`, or leave --strehad out to use the daemon embedded in streha",
                path.display()
            )));
        }
        None => Launcher::Embedded(
            std::env::current_exe().context("cannot find this executable to start strehad")?,
        ),
    };
    let work = work_dir(args)?;
    let path = work.path().to_path_buf();
    say(format!(
        "Streha demo: three agencies on 127.0.0.1 with the PUBLIC demo keys of keys-example/, \
         in {}",
        path.display()
    ));
    let (members, roster) = build(&path, &keys_source)?;
    for member in &members {
        say(format!(
            "  {:<22} {:<13} peers {:<16} applications {}",
            member.id.as_str(),
            member.role.as_str(),
            member.peer,
            member.app
        ));
    }
    say(format!(
        "  roster version {} of `{FEDERATION}` signed with the demo roster key: {} agencies, {} \
         agreement clauses; daemons: {}",
        roster.version(),
        roster.agencies().len(),
        roster.agreement().clauses().len(),
        launcher.describe()
    ));

    // The scenario, stopped cleanly on Ctrl-C: the daemons are stopped when `scenario`'s
    // future is dropped (each `Daemon` kills its child), and the directory is removed below.
    let outcome = util::block_on(async {
        tokio::select! {
            outcome = scenario(&path, members, roster, launcher) => outcome,
            _ = tokio::signal::ctrl_c() => Err(CliError::Failure(anyhow!("interrupted"))),
        }
    })?;

    let kept = matches!(work, WorkDir::Kept(_));
    drop(work); // removes a temporary directory
    let outcome = outcome?;
    for line in &outcome.summary {
        say(line);
    }
    if kept {
        say(format!(
            "Kept in {dir}: keys/, roster.toml, roster.note, <agency>/{{node.toml, client.toml, \
             data/, strehad.log}}, logs/<agency>.bundle. Audit them offline with: streha audit \
             verify {dir}/logs/*.bundle --roster {dir}/roster.note --roster-key \
             {dir}/keys/{AUTHORITY}/{AUTHORITY}.roster.pub",
            dir = path.display()
        ));
    } else {
        say("Stopped the nodes and removed the demo's files (keep them with --keep DIR).");
    }
    if outcome.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failure(anyhow!(
            "{} of {} demo steps did not behave as stated (steps {}); run with --keep DIR to \
             inspect the daemons' logs (DIR/<agency>/strehad.log)",
            outcome.failed.len(),
            outcome.steps,
            outcome
                .failed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}
