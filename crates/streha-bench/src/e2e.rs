//! Streha end to end: two real daemons (a shelter sending to the police) as child processes
//! on 127.0.0.1, applications submitting consented disclosures and waiting for the receipt.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use streha_client::{Client, ClientConfig, NewConsent};
use streha_core::{
    AgeStatus, AgencyId, AgreementClause, Category, ClauseId, ConsentId, DisclosableCategory,
    ExchangeAgreement, Grantor, OfficerId, Purpose, Recipient, Role, SubjectId, Timestamp,
};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, ApplicationSecretKey, NodeIdentitySecretKey,
    RosterSecretKey,
};
use streha_wire::app::DeliveryState;
use streha_wire::{AgencyEntry, Roster};

use crate::{DAEMON_NAME, Sample, procstat};

struct Agency {
    id: AgencyId,
    role: Role,
    node_key: NodeIdentitySecretKey,
    signing_key: AgencySigningSecretKey,
    encryption_key: AgencyEncryptionSecretKey,
    app_key: ApplicationSecretKey,
    peer: SocketAddr,
    app: SocketAddr,
    /// `metrics_listen`: where the bench reads the daemon's commit counters.
    metrics: SocketAddr,
    dir: PathBuf,
}

/// A running two-node federation.
pub(crate) struct Federation {
    _dir: tempfile::TempDir,
    roster_key: RosterSecretKey,
    agencies: Vec<Agency>,
    daemons: Vec<Child>,
    subject: SubjectId,
    consent: ConsentId,
}

fn free_port() -> Result<SocketAddr> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?)
}

fn free_tcp_port() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

impl Federation {
    /// Generates keys, writes configurations, starts both daemons, and registers a subject
    /// with a consent at the shelter.
    pub(crate) async fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let roster_key = RosterSecretKey::generate();
        std::fs::write(
            dir.path().join("roster.pub"),
            roster_key.public_key().to_key_file(),
        )?;
        let mut agencies = Vec::new();
        for (name, role) in [("shelter", Role::LicensedNgo), ("police", Role::Police)] {
            let agency_dir = dir.path().join(name);
            std::fs::create_dir(&agency_dir)?;
            agencies.push(Agency {
                id: AgencyId::new(name)?,
                role,
                node_key: NodeIdentitySecretKey::generate(),
                signing_key: AgencySigningSecretKey::generate(),
                encryption_key: AgencyEncryptionSecretKey::generate(),
                app_key: ApplicationSecretKey::generate(),
                peer: free_port()?,
                app: free_port()?,
                metrics: free_tcp_port()?,
                dir: agency_dir,
            });
        }
        let entries = agencies
            .iter()
            .map(|a| AgencyEntry {
                id: a.id.clone(),
                role: a.role,
                address: a.peer.to_string(),
                node_key: a.node_key.public_key(),
                signing_key: a.signing_key.public_key(),
                encryption_key: a.encryption_key.public_key(),
                officers: vec![],
            })
            .collect();
        let agreement = ExchangeAgreement::new(vec![AgreementClause::new(
            ClauseId::new("police-identification")?,
            Role::Police,
            [Category::Identity].into_iter().collect(),
            [Purpose::IdentificationAndReferral].into_iter().collect(),
        )?])?;
        let roster = Roster::new("bench.example", 1, now(), entries, agreement)?;
        std::fs::write(dir.path().join("roster.note"), roster.sign(&roster_key)?)?;
        let mut daemons = Vec::new();
        for agency in &agencies {
            write_secret(&agency.dir.join("node.key"), &agency.node_key.to_key_file())?;
            std::fs::write(
                agency.dir.join("app.pub"),
                agency.app_key.public_key().to_key_file(),
            )?;
            std::fs::write(
                agency.dir.join("node.toml"),
                format!(
                    "agency = \"{}\"\nlisten = \"{}\"\napp_listen = \"{}\"\nmetrics_listen = \"{}\"\ndata_dir = \"data\"\n\
                     roster = \"../roster.note\"\nroster_key = \"../roster.pub\"\nnode_key = \"node.key\"\n\n\
                     [applications]\nbench = \"app.pub\"\n\n[witness]\ninterval_ms = 1000\n\n\
                     [limits]\nretry_initial_ms = 20\nretry_max_ms = 500\nrequest_timeout_ms = 30000\n",
                    agency.id, agency.peer, agency.app, agency.metrics
                ),
            )?;
            daemons.push(spawn_daemon(&agency.dir.join("node.toml"))?);
        }
        let mut federation = Self {
            _dir: dir,
            roster_key,
            agencies,
            daemons,
            subject: SubjectId::from_bytes([0; 16]),
            consent: ConsentId::from_bytes([0; 16]),
        };
        let shelter = federation.client(0).await?;
        let (subject, _) = shelter.register_subject(AgeStatus::Adult, vec![]).await?;
        let now = now();
        let (consent, _) = shelter
            .grant_consent(NewConsent {
                subject,
                granted_by: Grantor::Subject,
                recipients: vec![Recipient::Agency(federation.agencies[1].id.clone())],
                categories: [Category::Medical].into_iter().collect(),
                purposes: [Purpose::Assistance].into_iter().collect(),
                valid_from: Timestamp(now.0 - 60_000),
                expires_at: Timestamp(now.0 + 86_400_000),
                evidence_hash: [1; 32],
                recorded_by: OfficerId::new("bench-officer")?,
                recorded_at: now,
            })
            .await?;
        federation.subject = subject;
        federation.consent = consent;
        Ok(federation)
    }

    async fn client(&self, index: usize) -> Result<Client> {
        let agency = &self.agencies[index];
        let copy = |text: &str| text.to_owned();
        let config = ClientConfig {
            node_address: agency.app,
            node_key: agency.node_key.public_key(),
            agency: agency.id.clone(),
            application_key: ApplicationSecretKey::from_key_file(&copy(
                &agency.app_key.to_key_file(),
            ))?,
            signing_key: AgencySigningSecretKey::from_key_file(&copy(
                &agency.signing_key.to_key_file(),
            ))?,
            encryption_key: AgencyEncryptionSecretKey::from_key_file(&copy(
                &agency.encryption_key.to_key_file(),
            ))?,
            roster_key: self.roster_key.public_key(),
            request_timeout: Duration::from_secs(60),
        };
        Ok(Client::connect(config).await?)
    }

    /// Process ids of the daemons (shelter, police).
    pub(crate) fn pids(&self) -> Vec<String> {
        self.daemons.iter().map(|c| c.id().to_string()).collect()
    }

    /// `n` applications of the shelter, each on its own connection.
    pub(crate) async fn clients(&self, n: usize) -> Result<Vec<Arc<Client>>> {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            clients.push(Arc::new(self.client(0).await?));
        }
        Ok(clients)
    }

    /// What one application does per disclosure, with `size`-byte payloads.
    pub(crate) fn discloser(&self, size: usize) -> Discloser {
        Discloser {
            police: self.agencies[1].id.clone(),
            subject: self.subject,
            consent: self.consent,
            payload: Arc::new(vec![0x5a_u8; size]),
        }
    }

    /// Runs `concurrency` applications, each submitting `size`-byte disclosures and waiting
    /// for the receipt, for `duration`.
    pub(crate) async fn run(
        &self,
        size: usize,
        concurrency: usize,
        duration: Duration,
    ) -> Result<Sample> {
        let clients = self.clients(concurrency).await?;
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|client| {
                let disclose = self.discloser(size);
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while started.elapsed() < duration {
                        let t = Instant::now();
                        disclose.once(&client).await?;
                        latencies.push(t.elapsed());
                    }
                    Ok::<_, anyhow::Error>(latencies)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.context("load task")??);
        }
        Ok(Sample::new(latencies, started.elapsed()))
    }

    /// Each daemon's commit counters now (shelter, police), `None` where `/metrics` could
    /// not be read.
    pub(crate) async fn commit_counters(&self) -> Vec<Option<crate::commits::CommitCounters>> {
        let mut counters = Vec::with_capacity(self.agencies.len());
        for agency in &self.agencies {
            counters.push(crate::commits::scrape(agency.metrics).await.ok());
        }
        counters
    }

    /// Resident set of each daemon now, bytes.
    pub(crate) fn rss(&self) -> Vec<u64> {
        self.pids()
            .iter()
            .map(|pid| procstat::rss(pid).unwrap_or_default())
            .collect()
    }

    /// CPU time of each daemon so far.
    pub(crate) fn cpu(&self) -> Vec<Duration> {
        self.pids()
            .iter()
            .map(|pid| procstat::cpu_time(pid).unwrap_or_default())
            .collect()
    }

    /// Peak RSS of each daemon so far, bytes.
    pub(crate) fn peak_rss(&self) -> Vec<u64> {
        self.pids()
            .iter()
            .map(|pid| procstat::peak_rss(pid).unwrap_or_default())
            .collect()
    }
}

/// One application's disclosure: seal a record of one medical field to the police, submit
/// it, and wait until the shelter's node has logged the police's receipt.
pub(crate) struct Discloser {
    police: AgencyId,
    subject: SubjectId,
    consent: ConsentId,
    payload: Arc<Vec<u8>>,
}

impl Discloser {
    pub(crate) async fn once(&self, client: &Client) -> Result<()> {
        let sealed = client
            .disclosure(self.subject, self.police.clone(), Purpose::Assistance)
            .bytes_field(DisclosableCategory::Medical, "notes", self.payload.to_vec())?
            .consent(self.consent)
            .prepare()?
            .seal(client)?;
        let envelope = sealed.envelope_id();
        client.submit(&sealed).await?;
        match client
            .await_delivery(envelope, Duration::from_secs(60))
            .await?
        {
            DeliveryState::Delivered { .. } => Ok(()),
            other => bail!("not delivered: {other:?}"),
        }
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        for child in &mut self.daemons {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts this executable as `strehad` (see `main`) and waits for its ready line.
fn spawn_daemon(config: &Path) -> Result<Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg0(DAEMON_NAME)
        .arg("--config")
        .arg(config)
        .env("STREHA_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("daemon stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("strehad ready") => break,
            Some(Ok(_)) => {}
            _ => bail!("strehad exited before it was ready"),
        }
        if Instant::now() > deadline {
            bail!("strehad did not become ready");
        }
    }
    // Keep draining stdout so the daemon never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(child)
}
