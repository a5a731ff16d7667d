//! Test harness: a demo federation of real `strehad` processes on 127.0.0.1.
//!
//! [`Federation::new`] generates every key (roster authority, agencies, applications,
//! officers) into a temporary directory, picks OS-assigned loopback ports, signs a roster
//! with an exchange agreement, and writes one `node.toml` per agency. [`Federation::start`]
//! runs the daemon as a child process (the `strehad-test` binary, which is `strehad`) and
//! waits for its ready line; [`Daemon::kill9`] and [`Daemon::terminate`] stop it the hard or
//! the graceful way. Stores are real sled directories under the federation's directory and
//! survive restarts.

#![allow(dead_code, missing_docs, unreachable_pub)] // shared by several test binaries, each using a part

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use streha_core::{
    AgencyId, AgreementClause, Category, CategorySet, ClauseId, ExchangeAgreement, OfficerId,
    Purpose, PurposeSet, Role, Timestamp,
};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, ApplicationSecretKey, NodeIdentitySecretKey,
    OfficerSecretKey, RosterSecretKey,
};
use streha_wire::{AgencyEntry, OfficerEntry, Roster};

/// The federation name used by the tests.
pub const FEDERATION: &str = "test-federation.example";

/// One member agency's keys and addresses.
pub struct Member {
    /// Its id.
    pub id: AgencyId,
    /// Its role.
    pub role: Role,
    /// Its node identity key.
    pub node_key: NodeIdentitySecretKey,
    /// Its agency signing key (held by the application).
    pub signing_key: AgencySigningSecretKey,
    /// Its agency encryption key (held by the application).
    pub encryption_key: AgencyEncryptionSecretKey,
    /// The enrolled application's key.
    pub app_key: ApplicationSecretKey,
    /// Officers who may approve urgent-danger disclosures.
    pub officers: Vec<(OfficerId, OfficerSecretKey)>,
    /// Peer endpoint.
    pub peer_addr: SocketAddr,
    /// Application endpoint.
    pub app_addr: SocketAddr,
    /// Metrics and health endpoint (TCP, loopback).
    pub metrics_addr: SocketAddr,
    /// Its directory (configuration, keys, store).
    pub dir: PathBuf,
    /// The sockets that hold its three ports whenever its daemon does not: from the moment
    /// the OS assigned them until its daemon starts, and again from the moment a daemon of
    /// it has exited (see [`Daemon`]). A port let go of can be handed to any other socket
    /// bound to port 0 meanwhile (a test's QUIC client, another test's federation, the source
    /// port of a test's HTTP request), and the next daemon would then fail to start with
    /// "address in use".
    reserved: std::sync::Arc<PortSlot>,
}

/// A member's three ports and the sockets holding them while no daemon does.
struct PortSlot {
    peer: SocketAddr,
    app: SocketAddr,
    metrics: SocketAddr,
    held: std::sync::Mutex<Option<ReservedPorts>>,
}

impl PortSlot {
    /// Takes the ports back once a daemon holding them has exited (its sockets closed with
    /// it). A port another socket took in between is left to it: the next start then fails
    /// as it would have anyway, naming the address.
    fn hold_again(&self) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some() {
            return;
        }
        if let (Ok(peer), Ok(app), Ok(metrics)) = (
            UdpSocket::bind(self.peer),
            UdpSocket::bind(self.app),
            std::net::TcpListener::bind(self.metrics),
        ) {
            *held = Some(ReservedPorts {
                _peer: peer,
                _app: app,
                _metrics: metrics,
            });
        }
    }
}

/// The sockets holding a member's ports until its daemon binds them.
struct ReservedPorts {
    _peer: UdpSocket,
    _app: UdpSocket,
    _metrics: std::net::TcpListener,
}

impl Member {
    /// Lets go of the ports reserved for this member, so that its daemon (or a test that takes
    /// one on purpose) can bind them. Its daemon's start does this itself.
    pub fn release_ports(&self) {
        let held = self
            .reserved
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if held.is_none() {
            return;
        }
        drop(held);
        // A child process forked by another test of this binary holds copies of our sockets
        // until it calls exec (they are close-on-exec): wait until each port is free again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(UdpSocket::bind(self.peer_addr).is_ok()
            && UdpSocket::bind(self.app_addr).is_ok()
            && std::net::TcpListener::bind(self.metrics_addr).is_ok())
        {
            assert!(
                Instant::now() < deadline,
                "the ports of {} stayed in use after their release",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its roster entry.
    pub fn entry(&self) -> AgencyEntry {
        AgencyEntry {
            id: self.id.clone(),
            role: self.role,
            address: self.peer_addr.to_string(),
            node_key: self.node_key.public_key(),
            signing_key: self.signing_key.public_key(),
            encryption_key: self.encryption_key.public_key(),
            officers: self
                .officers
                .iter()
                .map(|(id, key)| OfficerEntry {
                    id: id.clone(),
                    key: key.public_key(),
                })
                .collect(),
        }
    }

    /// A client configuration for its application.
    pub fn client_config(&self, roster_key: &RosterSecretKey) -> streha_client::ClientConfig {
        streha_client::ClientConfig {
            node_address: self.app_addr,
            node_key: self.node_key.public_key(),
            agency: self.id.clone(),
            // Secret keys are not Clone; a key-file round trip copies them.
            application_key: ApplicationSecretKey::from_key_file(&self.app_key.to_key_file())
                .expect("copy application key"),
            signing_key: AgencySigningSecretKey::from_key_file(&self.signing_key.to_key_file())
                .expect("copy signing key"),
            encryption_key: AgencyEncryptionSecretKey::from_key_file(
                &self.encryption_key.to_key_file(),
            )
            .expect("copy encryption key"),
            roster_key: roster_key.public_key(),
            request_timeout: Duration::from_secs(20),
        }
    }
}

/// A federation on loopback.
pub struct Federation {
    /// Holds every file; removed on drop.
    pub dir: tempfile::TempDir,
    /// The national authority's roster key.
    pub roster_key: RosterSecretKey,
    /// The members.
    pub members: Vec<Member>,
    /// The roster version last written.
    pub roster_version: u64,
}

/// Three agencies of the demo: police, a licensed shelter NGO, prosecution.
pub const POLICE: &str = "police";
/// The shelter NGO.
pub const SHELTER: &str = "shelter";
/// The prosecution office.
pub const PROSECUTION: &str = "prosecution";

/// An OS-assigned loopback UDP port, held by the returned socket until the daemon starts.
fn free_port() -> (SocketAddr, UdpSocket) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
    (socket.local_addr().expect("local address"), socket)
}

/// An OS-assigned loopback TCP port, held by the returned listener until the daemon starts.
fn free_tcp_port() -> (SocketAddr, std::net::TcpListener) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback TCP port");
    (listener.local_addr().expect("local address"), listener)
}

/// Writes `text` to `path` as a whole (a temporary file renamed over it), so that a node
/// reloading on SIGHUP meanwhile reads the old file or the new one, never half of it.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write file");
    std::fs::rename(&tmp, path).expect("rename file");
}

fn write_secret(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create secret key file");
    file.write_all(text.as_bytes())
        .expect("write secret key file");
}

/// The test agreement (Art. 18.2): what each role may receive without consent.
pub fn agreement() -> ExchangeAgreement {
    let clause = |id: &str, role: Role, categories: &[Category], purposes: &[Purpose]| {
        AgreementClause::new(
            ClauseId::new(id).expect("clause id"),
            role,
            categories.iter().copied().collect::<CategorySet>(),
            purposes.iter().copied().collect::<PurposeSet>(),
        )
        .expect("valid clause")
    };
    ExchangeAgreement::new(vec![
        clause(
            "prosecution-investigation",
            Role::Prosecution,
            &[
                Category::Identity,
                Category::CaseSummary,
                Category::Investigation,
            ],
            &[
                Purpose::CriminalInvestigationAndProsecution,
                Purpose::UrgentDanger,
            ],
        ),
        clause(
            "ngo-referral",
            Role::LicensedNgo,
            &[
                Category::Identity,
                Category::Referral,
                Category::VictimStatus,
            ],
            &[Purpose::IdentificationAndReferral, Purpose::Assistance],
        ),
        clause(
            "police-identification",
            Role::Police,
            &[Category::Identity, Category::VictimStatus],
            &[Purpose::IdentificationAndReferral],
        ),
    ])
    .expect("valid agreement")
}

impl Federation {
    /// The three demo agencies, keys generated fresh, roster version 1 written.
    pub fn new() -> Self {
        Self::with_members(&[
            (POLICE, Role::Police),
            (SHELTER, Role::LicensedNgo),
            (PROSECUTION, Role::Prosecution),
        ])
    }

    /// A federation of the given agencies.
    pub fn with_members(spec: &[(&str, Role)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let roster_key = RosterSecretKey::generate();
        std::fs::write(
            dir.path().join("roster.pub"),
            roster_key.public_key().to_key_file(),
        )
        .expect("write roster key");
        let members = spec
            .iter()
            .map(|(name, role)| {
                let member_dir = dir.path().join(name);
                std::fs::create_dir_all(&member_dir).expect("member dir");
                let (peer_addr, peer_socket) = free_port();
                let (app_addr, app_socket) = free_port();
                let (metrics_addr, metrics_socket) = free_tcp_port();
                Member {
                    id: AgencyId::new(*name).expect("agency id"),
                    role: *role,
                    node_key: NodeIdentitySecretKey::generate(),
                    signing_key: AgencySigningSecretKey::generate(),
                    encryption_key: AgencyEncryptionSecretKey::generate(),
                    app_key: ApplicationSecretKey::generate(),
                    officers: (1..=2)
                        .map(|n| {
                            (
                                OfficerId::new(format!("{name}-officer-{n}")).expect("officer id"),
                                OfficerSecretKey::generate(),
                            )
                        })
                        .collect(),
                    peer_addr,
                    app_addr,
                    metrics_addr,
                    dir: member_dir,
                    reserved: std::sync::Arc::new(PortSlot {
                        peer: peer_addr,
                        app: app_addr,
                        metrics: metrics_addr,
                        held: std::sync::Mutex::new(Some(ReservedPorts {
                            _peer: peer_socket,
                            _app: app_socket,
                            _metrics: metrics_socket,
                        })),
                    }),
                }
            })
            .collect();
        let mut federation = Self {
            dir,
            roster_key,
            members,
            roster_version: 0,
        };
        for member in &federation.members {
            write_secret(&member.dir.join("node.key"), &member.node_key.to_key_file());
            std::fs::write(
                member.dir.join("app.pub"),
                member.app_key.public_key().to_key_file(),
            )
            .expect("write app key");
            std::fs::write(member.dir.join("node.toml"), federation.node_toml(member))
                .expect("write node.toml");
        }
        let roster = federation.roster_of(federation.members.iter().map(Member::entry).collect());
        federation.publish(roster);
        federation
    }

    fn node_toml(&self, member: &Member) -> String {
        format!(
            "agency = \"{}\"\nlisten = \"{}\"\napp_listen = \"{}\"\nmetrics_listen = \"{}\"\n\
             data_dir = \"data\"\nroster = \"../roster.note\"\nroster_key = \"../roster.pub\"\n\
             node_key = \"node.key\"\n\n\
             [applications]\ncase-system = \"app.pub\"\n\n\
             [witness]\nquorum = 1\ninterval_ms = 300\n\n\
             [limits]\nretry_initial_ms = 100\nretry_max_ms = 500\nrequest_timeout_ms = 5000\n",
            member.id, member.peer_addr, member.app_addr, member.metrics_addr
        )
    }

    /// A roster of `entries` at the next version (not yet written).
    pub fn roster_of(&self, entries: Vec<AgencyEntry>) -> Roster {
        Roster::new(
            FEDERATION,
            self.roster_version + 1,
            Timestamp(1_763_856_000_000 + self.roster_version),
            entries,
            agreement(),
        )
        .expect("valid roster")
    }

    /// Signs and writes `roster` as the federation's roster file.
    pub fn publish(&mut self, roster: Roster) {
        let note = roster.sign(&self.roster_key).expect("sign roster");
        write_atomically(&self.dir.path().join("roster.note"), &note);
        self.roster_version = roster.version();
    }

    /// Gives every member a roster file of its own (`<member>/roster.note`, a copy of the
    /// federation's), so that a roster can be given to one node only
    /// ([`Federation::give_roster`]). Call before starting the daemons.
    pub fn separate_roster_files(&self) {
        for member in &self.members {
            std::fs::copy(
                self.dir.path().join("roster.note"),
                member.dir.join("roster.note"),
            )
            .expect("copy the roster");
            let path = member.dir.join("node.toml");
            let toml = std::fs::read_to_string(&path).expect("read node.toml");
            let own = toml.replace("roster = \"../roster.note\"", "roster = \"roster.note\"");
            assert_ne!(own, toml, "node.toml names the shared roster file");
            std::fs::write(&path, own).expect("write node.toml");
        }
    }

    /// Signs `roster` and writes it as `name`'s own roster file only (after
    /// [`Federation::separate_roster_files`]); returns the signed note.
    pub fn give_roster(&mut self, name: &str, roster: &Roster) -> String {
        let note = roster.sign(&self.roster_key).expect("sign roster");
        write_atomically(&self.member(name).dir.join("roster.note"), &note);
        self.roster_version = self.roster_version.max(roster.version());
        note
    }

    /// The member `name`.
    pub fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.id.as_str() == name)
            .unwrap_or_else(|| panic!("no member {name}"))
    }

    /// Starts `name`'s daemon and waits until it serves.
    pub fn start(&self, name: &str) -> Daemon {
        self.start_with_log(name, None)
    }

    /// Starts `name`'s daemon with its log (level `info`, no colours) written to `log`, and
    /// waits until it serves.
    pub fn start_logging_to(&self, name: &str, log: &Path) -> Daemon {
        self.start_with_log(name, Some(log))
    }

    fn start_with_log(&self, name: &str, log: Option<&Path>) -> Daemon {
        let member = self.member(name);
        member.release_ports();
        let mut command = Command::new(env!("CARGO_BIN_EXE_strehad-test"));
        command
            .arg("--config")
            .arg(member.dir.join("node.toml"))
            .stdout(Stdio::piped());
        // The daemon's standard error goes to a file, shown when the daemon exits unexpectedly
        // or the test fails (see `Daemon`).
        let stderr = match log {
            None => {
                static STARTS: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                command.env(
                    "STREHA_LOG",
                    std::env::var("STREHA_LOG").unwrap_or_else(|_| "warn".into()),
                );
                member.dir.join(format!("strehad-{n}.stderr"))
            }
            Some(path) => {
                command.env("STREHA_LOG", "info").env("NO_COLOR", "1");
                path.to_owned()
            }
        };
        command.stderr(std::fs::File::create(&stderr).expect("create the daemon's stderr file"));
        let mut child = command.spawn().expect("spawn strehad");
        let stdout = child.stdout.take().expect("daemon stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.starts_with("strehad ready") {
                    let _ = tx.send(line);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "strehad for {name} exited during start-up: {status}; its stderr:\n{}",
                    read_stderr(&stderr)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "strehad for {name} did not become ready; its stderr:\n{}",
                    read_stderr(&stderr)
                );
            }
        }
        Daemon {
            name: name.to_owned(),
            child: Some(child),
            stderr,
            ports: std::sync::Arc::clone(&member.reserved),
        }
    }

    /// Runs `name`'s daemon with `extra` arguments until it exits (killed after 60 s) and
    /// returns its exit code, standard output and standard error.
    pub fn run_to_exit(&self, name: &str, extra: &[&str]) -> (Option<i32>, String, String) {
        self.member(name).release_ports();
        self.run_config_to_exit(&self.member(name).dir.join("node.toml"), extra)
    }

    /// Like [`Federation::run_to_exit`], for any configuration file.
    pub fn run_config_to_exit(
        &self,
        config: &Path,
        extra: &[&str],
    ) -> (Option<i32>, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strehad-test"))
            .arg("--config")
            .arg(config)
            .args(extra)
            .env("STREHA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strehad");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let output = child.wait_with_output().expect("strehad output");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Adds `line` (e.g. `disk_reserve_bytes = 0`) to the `[limits]` of `name`'s node.toml.
    pub fn set_limit(&self, name: &str, line: &str) {
        let path = self.member(name).dir.join("node.toml");
        let text = std::fs::read_to_string(&path).expect("read node.toml");
        std::fs::write(
            &path,
            text.replace("[limits]\n", &format!("[limits]\n{line}\n")),
        )
        .expect("write node.toml");
    }

    /// A connected client for `name`'s application.
    pub async fn client(&self, name: &str) -> streha_client::Client {
        streha_client::Client::connect(self.member(name).client_config(&self.roster_key))
            .await
            .unwrap_or_else(|e| panic!("client for {name} cannot connect: {e}"))
    }
}

impl Default for Federation {
    fn default() -> Self {
        Self::new()
    }
}

/// A running daemon (child process). Killed on drop. Its standard error is printed when it
/// does not stop cleanly when asked to ([`Daemon::terminate`]) and when the test fails while
/// it runs.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    stderr: PathBuf,
    /// Its member's ports, held again by the harness once this daemon has exited.
    ports: std::sync::Arc<PortSlot>,
}

/// A daemon's standard error so far (its last 64 KiB).
fn read_stderr(path: &Path) -> String {
    const SHOWN: usize = 64 * 1024;
    match std::fs::read(path) {
        Ok(bytes) => {
            let from = bytes.len().saturating_sub(SHOWN);
            String::from_utf8_lossy(&bytes[from..]).into_owned()
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

/// How a process ended, naming the signal that killed it.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => format!("{status} (killed by signal {signal})"),
        None => status.to_string(),
    }
}

impl Daemon {
    /// The agency it serves.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.ports.hold_again();
        }
    }

    /// SIGTERM, then waits for a clean exit; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.ports.hold_again();
                if !status.success() {
                    eprintln!(
                        "strehad for {} did not stop cleanly on SIGTERM: {}; its stderr:\n{}",
                        self.name,
                        describe(status),
                        read_stderr(&self.stderr)
                    );
                }
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.ports.hold_again();
        eprintln!(
            "strehad for {} did not stop within 30 s of SIGTERM (killed); its stderr:\n{}",
            self.name,
            read_stderr(&self.stderr)
        );
        false
    }

    /// Waits up to `timeout` for the daemon to exit by itself; returns its exit code.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                self.ports.hold_again();
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends SIGHUP (roster reload).
    pub fn hangup(&self) {
        let _ = Command::new("kill")
            .arg("-HUP")
            .arg(self.pid().to_string())
            .status();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let exited = child.try_wait().ok().flatten();
            let _ = child.kill();
            let _ = child.wait();
            self.ports.hold_again();
            if std::thread::panicking() {
                let state = exited.map_or_else(
                    || "was running".to_owned(),
                    |status| format!("had exited: {}", describe(status)),
                );
                eprintln!(
                    "strehad for {} {state} when the test failed; its stderr:\n{}",
                    self.name,
                    read_stderr(&self.stderr)
                );
            }
        }
    }
}

/// Polls `check` until it returns `Some`, up to `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The current time.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    Timestamp::from_unix_millis(u64::try_from(ms).expect("ms fit u64"))
}

/// A consent for `subject` to `recipient` for the given assistance categories and purposes,
/// in force from an hour ago for a day.
pub fn consent_terms(
    subject: streha_core::SubjectId,
    granted_by: streha_core::Grantor,
    recipient: &str,
    categories: &[Category],
    purposes: &[Purpose],
) -> streha_client::NewConsent {
    let now = now();
    streha_client::NewConsent {
        subject,
        granted_by,
        recipients: vec![streha_core::Recipient::Agency(
            AgencyId::new(recipient).expect("agency id"),
        )],
        categories: categories.iter().copied().collect(),
        purposes: purposes.iter().copied().collect(),
        valid_from: Timestamp::from_unix_millis(now.unix_millis() - 3_600_000),
        expires_at: Timestamp::from_unix_millis(now.unix_millis() + 86_400_000),
        evidence_hash: [7; 32],
        recorded_by: OfficerId::new("intake-officer").expect("officer id"),
        recorded_at: now,
    }
}

/// One application request from `agency`'s enrolled application on a raw connection: for
/// what the client library will not send (a forged header, a chosen subject id, an
/// envelope sealed outside it).
pub async fn raw_request(
    federation: &Federation,
    agency: &str,
    request: streha_wire::app::AppRequest,
) -> streha_wire::app::AppResponse {
    let member = federation.member(agency);
    let identity = streha_transport::Identity::from_key(&member.app_key).expect("identity");
    let connection = raw_connection(
        &identity,
        member.node_key.public_key().to_bytes(),
        member.app_addr,
        streha_wire::APP_ALPN,
    )
    .await
    .expect("raw connection to the application endpoint");
    let response = streha_transport::request(
        &connection,
        &request,
        streha_wire::MAX_FRAME_LEN,
        Duration::from_secs(10),
    )
    .await
    .expect("an answer");
    connection.close(0u32.into(), b"done");
    response
}

/// Seals `header` (and an empty record) with `sender`'s agency key to the encryption key of
/// its recipient (the shelter's if the recipient is not a member: a header naming an unknown
/// agency, which a node must refuse), bypassing every check of the client library.
pub fn seal_raw(
    federation: &Federation,
    sender: &str,
    header: &streha_core::DisclosureHeader,
) -> streha_crypto::Envelope {
    let recipient = federation
        .members
        .iter()
        .find(|m| m.id == header.recipient)
        .unwrap_or_else(|| federation.member(SHELTER));
    streha_crypto::seal(
        &federation.member(sender).signing_key,
        &recipient.encryption_key.public_key(),
        &header.encode(),
        &streha_core::Record::new().encode(),
    )
    .expect("seal")
}

/// A raw QUIC connection presenting `identity`, pinning `server_key`.
pub async fn raw_connection(
    identity: &streha_transport::Identity,
    server_key: [u8; 32],
    addr: SocketAddr,
    alpn: &[u8],
) -> Result<quinn::Connection, String> {
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).map_err(|e| e.to_string())?;
    endpoint.set_default_client_config(
        streha_transport::client_config(streha_transport::ClientSetup {
            identity,
            server_key,
            alpn,
            limits: streha_transport::TransportLimits::default(),
        })
        .map_err(|e| e.to_string())?,
    );
    let connection = endpoint
        .connect(addr, "streha.invalid")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(connection)
}

/// Decoded entries of a client's node log.
pub async fn log_entries(client: &streha_client::Client) -> Vec<streha_core::AuditEntry> {
    let bundle = client.export_bundle().await.expect("export bundle");
    bundle
        .entries
        .iter()
        .map(|e| streha_core::AuditEntry::decode(e).expect("entry decodes"))
        .collect()
}

/// How many entries of `kind` the log holds.
pub fn count(entries: &[streha_core::AuditEntry], kind: &str) -> usize {
    entries.iter().filter(|e| e.kind_name() == kind).count()
}

/// `GET path` on a member's metrics endpoint; returns the body.
pub fn http_get(member: &Member, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(member.metrics_addr).expect("connect to metrics");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// `GET path` on a member's metrics endpoint; returns the HTTP status code and the body.
pub fn http_get_status(member: &Member, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(member.metrics_addr).expect("connect to metrics");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        code,
        response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    )
}

/// The value of an unlabelled metric.
pub fn metric(member: &Member, name: &str) -> u64 {
    http_get(member, "/metrics")
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// The `disclosed` entry of `envelope` proven in a log of `from`'s node that holds only that
/// entry, under a checkpoint signed by `from`'s node key: evidence a delivery must carry
/// (`spec/protocol.md` §6), made the way an operator holding that key can make it for any
/// envelope. The receiving node cannot tell it from the node's real log; the offline
/// verifier can (the real log does not have that root at that size).
pub fn sender_evidence(
    federation: &Federation,
    from: &str,
    envelope: &streha_crypto::Envelope,
) -> streha_wire::peer::ProvenEntry {
    let header = streha_core::DisclosureHeader::decode(&envelope.header.context).expect("a header");
    let entry = streha_core::AuditEntry::Disclosed {
        header: header.clone(),
        basis: streha_core::Basis::Agreement(vec![ClauseId::new("any").expect("clause id")]),
        urgent_review: false,
        ciphertext_hash: envelope.ciphertext_hash,
        at: header.created_at,
    }
    .encode();
    proven_in_own_log(federation, from, &[entry], 0)
}

/// Entry `index` of `entries`, proven in a log of `from`'s node made of exactly these
/// entries, under a checkpoint of all of them signed by `from`'s node key.
pub fn proven_in_own_log(
    federation: &Federation,
    from: &str,
    entries: &[Vec<u8>],
    index: u64,
) -> streha_wire::peer::ProvenEntry {
    let member = federation.member(from);
    let origin = member.entry().log_origin(FEDERATION);
    let tree = streha_audit::MemoryTree::from_entries(entries);
    let size = tree.size();
    let signer = streha_audit::NoteSigner::new(&origin, member.node_key.as_dalek().clone())
        .expect("key name");
    let checkpoint =
        streha_audit::Checkpoint::new(origin.as_str(), size, tree.root()).expect("checkpoint");
    streha_wire::peer::ProvenEntry {
        entry: entries[usize::try_from(index).expect("index")].clone(),
        index,
        proof: streha_audit::inclusion_proof(index, size, &tree).expect("in the tree"),
        checkpoint: streha_audit::sign_checkpoint(&checkpoint, &signer).to_text(),
    }
}

/// The sum of every series of a metric (all its label sets).
pub fn metric_sum(member: &Member, name: &str) -> u64 {
    http_get(member, "/metrics")
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.parse::<u64>().ok()
        })
        .sum()
}

/// An independent witness process (`streha witness serve`, the `streha-witness-test`
/// binary), killed when dropped.
pub struct WitnessProcess(pub Child);

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `streha witness serve --config config` and waits for its ready line.
pub fn start_witness(config: &Path) -> WitnessProcess {
    WitnessProcess(spawn_witness(config).0)
}

/// Spawns `streha witness serve --config config` and waits for its ready line; returns
/// the process and the address the line names.
pub fn spawn_witness(config: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_streha-witness-test"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the witness");
    let stdout = child.stdout.take().expect("the witness's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("streha witness ready on ") {
                let _ = tx.send(
                    addr.parse::<SocketAddr>()
                        .expect("the ready line's address"),
                );
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the witness becomes ready");
    (child, addr)
}
