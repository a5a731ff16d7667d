//! Storage faults with real daemons (issue 16.1–16.5, 18.2, 18.11, 18.14): a full disk
//! mid-commit and the free-space reserve, a log shorter than its high-water mark, a
//! leftover of a failed start, a damaged key vault, two daemons on one data directory, a
//! port in use, file permissions, and `strehad --check` as a read-only dry run.
//!
//! The full-disk tests put a node's data directory on a small tmpfs and need root to mount
//! it; without root they say so and pass without testing (CI runs them as root).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use streha_client::Client;
use streha_core::{
    AgeStatus, AuditEntry, Category, DisclosableCategory, EnvelopeId, Grantor, Purpose,
};
use streha_wire::app::DeliveryState;

/// A small tmpfs mounted on a member's data directory, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "8m") as `member`'s data directory, or `None` (with a
    /// message) if this process may not mount one.
    fn on_data_dir(member: &Member, size: &str, test: &str) -> Option<Self> {
        if !rustix_is_root() {
            eprintln!("SKIPPED {test}: needs root to mount a small tmpfs (CI runs as root)");
            return None;
        }
        let path = member.dir.join("data");
        std::fs::create_dir_all(&path).expect("mount point");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIPPED {test}: mounting a tmpfs failed (no mount privilege here)");
            return None;
        }
        Some(Self { path })
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount the tmpfs");
    }

    /// Fills it with a file until fewer than `leave` bytes are free.
    fn fill(&self, leave: u64) {
        use std::io::Write as _;
        let mut file =
            std::fs::File::create(self.path.join("filler")).expect("create the filler file");
        let chunk = vec![0u8; 64 * 1024];
        while free_bytes(&self.path) > leave + chunk.len() as u64 {
            if file.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = file.sync_all();
    }

    fn unfill(&self) {
        std::fs::remove_file(self.path.join("filler")).expect("remove the filler file");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_bytes(path: &Path) -> u64 {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}

/// Registers an adult at the shelter with a consent for medical data to the police.
async fn consented_subject(shelter: &Client) -> (streha_core::SubjectId, streha_core::ConsentId) {
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .expect("register");
    let (consent, _) = shelter
        .grant_consent(consent_terms(
            subject,
            Grantor::Subject,
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .expect("grant");
    (subject, consent)
}

fn seal_medical(
    shelter: &Client,
    subject: streha_core::SubjectId,
    consent: streha_core::ConsentId,
    note: String,
) -> streha_client::SealedDisclosure {
    shelter
        .disclosure(
            subject,
            streha_core::AgencyId::new(POLICE).expect("id"),
            Purpose::Assistance,
        )
        .field(DisclosableCategory::Medical, "note", note)
        .expect("field")
        .consent(consent)
        .prepare()
        .expect("prepare")
        .seal(shelter)
        .expect("seal")
}

async fn delivered(client: &Client, id: EnvelopeId) -> bool {
    matches!(
        client.delivery_status(id).await,
        Ok(DeliveryState::Delivered { .. })
    )
}

/// Envelope ids of the log's entries of one kind.
fn ids_of(entries: &[AuditEntry], kind: &str) -> Vec<EnvelopeId> {
    entries
        .iter()
        .filter(|e| e.kind_name() == kind)
        .filter_map(|e| match e {
            AuditEntry::Disclosed { header, .. } | AuditEntry::Received { header, .. } => {
                Some(header.envelope_id)
            }
            _ => None,
        })
        .collect()
}

/// Issue 16.1. The shelter sends on a nearly full disk until a commit fails. Before the fix
/// the failed submission's retry was answered `Accepted` from sled's memory, and after a
/// restart its `disclosed` entry was gone while the police could hold its `received`. Now
/// either the disk fills while the envelope's body is written to its segment, before the commit
/// (issue 19.3): the request is refused as not recorded and the node keeps serving; or it
/// fills during the commit itself: the failing request's outcome is "unknown", the node stops
/// serving at once and exits with code 3. Either way, once there is room every `received` at
/// the police has its `disclosed` at the shelter, exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_commit_stops_the_node_and_nothing_unsaved_is_ever_served() {
    let federation = Federation::new();
    let Some(fs) = Tmpfs::on_data_dir(
        federation.member(SHELTER),
        "6m",
        "a_failed_commit_stops_the_node",
    ) else {
        return;
    };
    // No reserve: this test is about meeting the full disk itself.
    federation.set_limit(SHELTER, "disk_reserve_bytes = 0");
    // The police are down while the shelter fills its disk: the envelopes stay queued
    // (delivered ones would have their body files deleted).
    let mut shelter_daemon = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, consent) = consented_subject(&shelter).await;

    let mut accepted = Vec::new();
    let mut failed = None;
    for n in 0..500 {
        let note = format!("visit {n} {}", "x".repeat(150_000));
        let sealed = seal_medical(&shelter, subject, consent, note);
        match shelter.submit(&sealed).await {
            Ok(_) => accepted.push(sealed.envelope_id()),
            Err(error) => {
                failed = Some((sealed, error.to_string()));
                break;
            }
        }
    }
    let (failed, message) = failed.expect("a 6 MiB data directory never filled");
    assert!(
        !accepted.is_empty(),
        "nothing was accepted before the disk filled"
    );
    eprintln!("the failing submission was answered: {message}");

    let shelter = if message.contains("unknown") {
        assert!(
            !message.contains("nothing was recorded"),
            "a failed commit's outcome is unknown, never 'nothing was recorded': {message}"
        );
        // The retry must not be answered from memory: the node no longer serves anything.
        let retry = shelter.submit(&failed).await;
        assert!(
            retry.is_err(),
            "after a failed commit, a retry was answered from unsaved state: {retry:?}"
        );
        assert_eq!(
            shelter_daemon.wait_for_exit(Duration::from_secs(60)),
            Some(3),
            "a node whose store failed exits with code 3 for its supervisor to restart it"
        );
        drop(shelter);
        fs.resize("64m");
        shelter_daemon = federation.start(SHELTER);
        federation.client(SHELTER).await
    } else {
        // Refused before the commit: known not recorded, and the node goes on serving.
        assert!(
            message.contains("not recorded") && message.contains("disk is full"),
            "a full disk before the commit is said so: {message}"
        );
        assert!(
            shelter.delivery_status(accepted[0]).await.is_ok(),
            "the node keeps serving"
        );
        fs.resize("64m");
        shelter
    };
    let _shelter_daemon = shelter_daemon;
    let _police_daemon = federation.start(POLICE);
    // The failed one, resubmitted, is accepted (again or for the first time) exactly once.
    shelter
        .submit(&failed)
        .await
        .expect("the resubmission is accepted");
    let mut all = accepted.clone();
    all.push(failed.envelope_id());
    let done = eventually(Duration::from_secs(120), || {
        let (shelter, all) = (&shelter, &all);
        async move {
            for id in all {
                if !delivered(shelter, *id).await {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(done.is_some(), "not every disclosure was delivered");

    let police = federation.client(POLICE).await;
    let disclosed = ids_of(&log_entries(&shelter).await, "disclosed");
    let received = ids_of(&log_entries(&police).await, "received");
    let disclosed_set: BTreeSet<_> = disclosed.iter().copied().collect();
    assert_eq!(
        disclosed.len(),
        disclosed_set.len(),
        "a disclosure logged twice"
    );
    assert_eq!(
        received.len(),
        received.iter().copied().collect::<BTreeSet<_>>().len(),
        "a delivery received twice"
    );
    for id in &received {
        assert!(
            disclosed_set.contains(id),
            "the police received {id}, which the shelter's log does not disclose"
        );
    }
    assert_eq!(disclosed_set, all.iter().copied().collect());
}

/// Issue 16.2, on a real file system: below the reserve, new disclosures are refused with
/// "disk nearly full" (nothing logged) and /health says degraded; once space is freed they
/// are accepted again.
#[tokio::test(flavor = "multi_thread")]
async fn below_the_free_space_reserve_new_disclosures_are_refused() {
    let federation = Federation::new();
    let Some(fs) = Tmpfs::on_data_dir(
        federation.member(SHELTER),
        "64m",
        "below_the_free_space_reserve",
    ) else {
        return;
    };
    federation.set_limit(SHELTER, "disk_reserve_bytes = 16777216");
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, consent) = consented_subject(&shelter).await;
    let before = seal_medical(&shelter, subject, consent, "first".into());
    shelter.submit(&before).await.expect("room to spare");

    fs.fill(8 << 20);
    let size = shelter.checkpoint().await.expect("checkpoint").size();
    let refused = seal_medical(&shelter, subject, consent, "second".into());
    let error = shelter
        .submit(&refused)
        .await
        .expect_err("refused below the reserve");
    assert!(error.to_string().contains("disk nearly full"), "{error}");
    assert_eq!(
        shelter.checkpoint().await.expect("checkpoint").size(),
        size,
        "nothing logged for a refusal of the environment"
    );
    let (code, body) = http_get_status(federation.member(SHELTER), "/health");
    assert_eq!(code, 200, "degraded is still serving: {body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["status"], "degraded", "{body}");
    assert_eq!(health["disk"]["below_reserve"], true, "{body}");
    // A consent change still goes through.
    shelter
        .revoke_consent(
            consent,
            now(),
            streha_core::OfficerId::new("intake-officer").expect("id"),
        )
        .await
        .expect("consent changes are not refused below the reserve");

    fs.unfill();
    let (subject, consent) = consented_subject(&shelter).await;
    let after = seal_medical(&shelter, subject, consent, "third".into());
    shelter
        .submit(&after)
        .await
        .expect("accepted once space is freed");
}

/// Issue 16.3: a store whose log is shorter than the node's high-water mark (here the
/// database of an older copy of the data directory) refuses to start with exit code 4,
/// naming both sizes and what to do; before, it opened at the older size.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_shorter_than_the_high_water_mark_refuses_to_start() {
    let federation = Federation::new();
    let data = federation.member(SHELTER).dir.join("data");
    let older = federation.dir.path().join("older-copy");
    {
        let daemon = federation.start(SHELTER);
        let shelter = federation.client(SHELTER).await;
        consented_subject(&shelter).await;
        assert!(daemon.terminate());
        copy_dir(&data, &older);
        let daemon = federation.start(SHELTER);
        let shelter = federation.client(SHELTER).await;
        consented_subject(&shelter).await;
        consented_subject(&shelter).await;
        assert!(daemon.terminate());
    }
    // sled's files from the older copy; the high-water mark stays the newer one's.
    for item in std::fs::read_dir(&older).expect("list") {
        let item = item.expect("entry");
        let name = item.file_name();
        let name = name.to_string_lossy();
        if name == "db" || name == "conf" || name.starts_with("snap.") || name == "blobs" {
            let target = data.join(&*name);
            if target.is_dir() {
                std::fs::remove_dir_all(&target).expect("remove");
                copy_dir(&item.path(), &target);
            } else {
                let _ = std::fs::remove_file(&target);
                std::fs::copy(item.path(), &target).expect("copy");
            }
        }
    }
    for item in std::fs::read_dir(&data).expect("list") {
        let name = item.expect("entry").file_name();
        if name.to_string_lossy().starts_with("snap.") && !older.join(&name).exists() {
            std::fs::remove_file(data.join(name)).expect("remove a newer snapshot");
        }
    }
    let (code, _, stderr) = federation.run_to_exit(SHELTER, &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("opened at size")
            && stderr.contains("signed and acknowledged a log of size")
            && stderr.contains("restore"),
        "{stderr}"
    );
    // `--check` does not open the store (sled cannot open it read-only, and a live node
    // holds it); it verifies the mark itself and says what it leaves to the start.
    let (code, stdout, stderr) = federation.run_to_exit(SHELTER, &["--check"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("high-water mark: size") && stdout.contains("not checked here"),
        "{stdout}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for item in std::fs::read_dir(from).expect("list") {
        let item = item.expect("entry");
        let target = to.join(item.file_name());
        let kind = item.file_type().expect("type");
        if std::os::unix::fs::FileTypeExt::is_socket(&kind) {
            continue; // the node's admin socket: not data
        }
        if kind.is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).expect("copy file");
        }
    }
}

/// Issue 16.4: sled's incomplete snapshot (a start that failed on a full disk leaves one)
/// made every later start fail with "Read corrupted data". It is now removed at start, and
/// `--check` names it.
#[tokio::test(flavor = "multi_thread")]
async fn an_incomplete_snapshot_does_not_stop_the_next_start() {
    let federation = Federation::new();
    let daemon = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    consented_subject(&shelter).await;
    let size = shelter.checkpoint().await.expect("checkpoint").size();
    drop(shelter);
    assert!(daemon.terminate());
    let leftover = federation
        .member(SHELTER)
        .dir
        .join("data/snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&leftover, b"").expect("leftover");
    let (code, stdout, stderr) = federation.run_to_exit(SHELTER, &["--check"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("incomplete sled snapshot"), "{stdout}");

    let _daemon = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    assert_eq!(shelter.checkpoint().await.expect("checkpoint").size(), size);
    assert!(!leftover.exists());
}

/// Issue 16.5: a truncated key vault was re-initialised or cut silently, and every missing
/// key then reported as lawful shredding (Art. 18.5). Now a vault missing a key the store
/// relies on refuses to start (exit 4), naming what is missing — never "shredded".
#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_key_vault_refuses_to_start() {
    let federation = Federation::new();
    {
        let daemon = federation.start(SHELTER);
        let shelter = federation.client(SHELTER).await;
        let (subject, consent) = consented_subject(&shelter).await;
        // Queued for the police (not running): kept sealed under the subject's data key.
        let sealed = seal_medical(&shelter, subject, consent, "kept".into());
        shelter.submit(&sealed).await.expect("accepted");
        assert!(daemon.terminate());
    }
    let vault = federation
        .member(SHELTER)
        .dir
        .join("data/subject-keys.vault");
    let intact = std::fs::read(&vault).expect("vault");
    assert!(intact.len() > 16, "the vault holds a key");
    for (what, bytes) in [
        ("cut mid-slot", intact[..intact.len() - 20].to_vec()),
        ("cut to its header", intact[..16].to_vec()),
        ("emptied", Vec::new()),
    ] {
        std::fs::write(&vault, &bytes).expect("damage the vault");
        let (code, _, stderr) = federation.run_to_exit(SHELTER, &[]);
        assert_eq!(code, Some(4), "{what}: {stderr}");
        assert!(
            stderr.contains("vault") && !stderr.contains("shredded"),
            "{what}: {stderr}"
        );
        if what != "emptied" {
            assert!(
                stderr.contains("1 data key(s) the store relies on are missing"),
                "{what}: {stderr}"
            );
        }
    }
    std::fs::write(&vault, &intact).expect("restore the vault");
    let _daemon = federation.start(SHELTER);
}

/// Issue 18.11: a second strehad on a data directory in use says which process holds it
/// (exit 2), instead of a Rust debug lock error and "check disk space and permissions".
#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_one_data_dir_names_the_first() {
    let federation = Federation::new();
    let first = federation.start(POLICE);
    let member = federation.member(POLICE);
    let text = std::fs::read_to_string(member.dir.join("node.toml")).expect("node.toml");
    let second = member.dir.join("second.toml");
    std::fs::write(
        &second,
        text.replace(&member.peer_addr.to_string(), "127.0.0.1:0")
            .replace(&member.app_addr.to_string(), "127.0.0.1:0")
            .replace(
                &format!("metrics_listen = \"{}\"\n", member.metrics_addr),
                "",
            ),
    )
    .expect("second config");
    let (code, _, stderr) = federation.run_config_to_exit(&second, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "is in use by another strehad (pid {})",
            first.pid()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("Os {"), "no Rust debug form: {stderr}");
}

/// Issue 18.11: an address in use is a configuration error (exit 2) naming the field, and
/// nothing is created; before, the store was created first and the exit code was 1.
#[test]
fn a_port_in_use_is_a_configuration_error_and_creates_nothing() {
    let federation = Federation::new();
    let member = federation.member(POLICE);
    member.release_ports();
    let _taken = std::net::UdpSocket::bind(member.app_addr).expect("take the app port");
    let (code, _, stderr) = federation.run_to_exit(POLICE, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`app_listen`"), "{stderr}");
    assert!(
        !member.dir.join("data").exists(),
        "a failed start left a store behind"
    );
}

/// Issue 18.14: whatever the umask, the data directory is 0700 and every file in it 0600;
/// a data directory others can read is refused with the chmod that fixes it.
#[tokio::test(flavor = "multi_thread")]
async fn the_data_dir_is_private_and_an_open_one_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let federation = Federation::new();
    // The test process's umask (usually 022) is inherited by the daemon.
    {
        let _police = federation.start(POLICE);
        let daemon = federation.start(SHELTER);
        let shelter = federation.client(SHELTER).await;
        let (subject, consent) = consented_subject(&shelter).await;
        let sealed = seal_medical(&shelter, subject, consent, "x".repeat(200_000));
        shelter.submit(&sealed).await.expect("accepted");
        assert!(daemon.terminate());
    }
    let data = federation.member(SHELTER).dir.join("data");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut checked = 0;
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).expect("list") {
            let path = item.expect("entry").path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(
                    mode(&path) & 0o077,
                    0,
                    "{} is readable by others",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "the store's files were checked");

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for extra in [&[][..], &["--check"][..]] {
        let (code, _, stderr) = federation.run_to_exit(SHELTER, extra);
        assert_eq!(code, Some(2), "{extra:?}: {stderr}");
        assert!(
            stderr.contains("`data_dir`")
                && stderr.contains(&format!("chmod 700 {}", data.display())),
            "{extra:?}: {stderr}"
        );
    }
}

/// Issue 18.2: `strehad --check` is a read-only dry run: it creates no data directory,
/// works beside a running node (before: a lock error), appends nothing to the log, binds no
/// port; a damaged high-water mark fails it with exit code 4.
#[tokio::test(flavor = "multi_thread")]
async fn check_is_a_read_only_dry_run() {
    let federation = Federation::new();
    let data = federation.member(POLICE).dir.join("data");
    let (code, stdout, stderr) = federation.run_to_exit(POLICE, &["--check"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("does not exist yet"), "{stdout}");
    assert!(!data.exists(), "--check created the data directory");

    let daemon = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let size = police.checkpoint().await.expect("checkpoint").size();
    let (code, stdout, stderr) = federation.run_to_exit(POLICE, &["--check"]);
    assert_eq!(code, Some(0), "beside a running node: {stderr}");
    assert!(
        stdout.contains(&format!(
            "in use by a running strehad (pid {})",
            daemon.pid()
        )),
        "{stdout}"
    );
    assert_eq!(
        police.checkpoint().await.expect("checkpoint").size(),
        size,
        "--check appended to the log"
    );
    // The node still serves on its ports.
    police
        .refresh_roster()
        .await
        .expect("the node still answers");
    assert!(daemon.terminate());

    let mark = data.join("high_water");
    let mut bytes = std::fs::read(&mark).expect("mark");
    for byte in &mut bytes {
        *byte ^= 0x5a;
    }
    std::fs::write(&mark, bytes).expect("damage the mark");
    let (code, _, stderr) = federation.run_to_exit(POLICE, &["--check"]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("high-water mark"), "{stderr}");
}
