//! `streha witness serve`, the standalone C2SP tlog-witness, as a real process on
//! 127.0.0.1: every status code of the specification, malformed bodies refused with nothing
//! changed, concurrent requests that never roll its state back, and its state surviving
//! `kill -9`.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use streha_audit::{
    Checkpoint, ConsistencyProof, CosignatureSigner, MemoryTree, NoteSigner, NoteVerifier,
    SignedNote, consistency_proof, sign_checkpoint,
};
use streha_crypto::NodeIdentitySecretKey;
use streha_witness::client::{RawAnswer, Tls, post_add_checkpoint, post_add_new_epoch};
use streha_witness::protocol::{MAX_REQUEST_LEN, format_add_checkpoint, format_add_new_epoch};

const ORIGIN: &str = "test.example/streha/police";
const NAME: &str = "dpa.example/streha-witness";
const T: Duration = Duration::from_secs(20);

/// A witness process with its directory.
struct Witness {
    child: Option<Child>,
    addr: SocketAddr,
    config: PathBuf,
}

impl Witness {
    /// Writes a configuration following one log (`log_key`'s `ORIGIN`) into `dir` (once) and
    /// starts the witness on it.
    fn start(dir: &Path, log_key: &NodeIdentitySecretKey) -> Self {
        Self::start_with(dir, log_key, "")
    }

    /// As [`Witness::start`], with `extra` lines in its configuration.
    fn start_with(dir: &Path, log_key: &NodeIdentitySecretKey, extra: &str) -> Self {
        let config = dir.join("witness.toml");
        if !config.exists() {
            let key = NodeIdentitySecretKey::generate();
            std::fs::write(dir.join("witness.key"), key.to_key_file()).unwrap();
            let vkey = NoteVerifier::new(ORIGIN, *log_key.public_key().as_dalek())
                .unwrap()
                .to_vkey();
            std::fs::write(
                &config,
                format!(
                    "name = \"{NAME}\"\nkey = \"witness.key\"\nlisten = \"127.0.0.1:0\"\n\
                     state_dir = \"state\"\n{extra}\n[[logs]]\norigin = \"{ORIGIN}\"\nvkey = \"{vkey}\"\n"
                ),
            )
            .unwrap();
        }
        Self::run(config)
    }

    fn run(config: PathBuf) -> Self {
        let (child, addr) = common::spawn_witness(&config);
        Self {
            child: Some(child),
            addr,
            config,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The cosignature verifier of this witness.
    fn verifier(&self) -> NoteVerifier {
        let dir = self.config.parent().unwrap();
        let key = NodeIdentitySecretKey::from_key_file(
            &std::fs::read_to_string(dir.join("witness.key")).unwrap(),
        )
        .unwrap();
        CosignatureSigner::new(NAME, key.as_dalek().clone())
            .unwrap()
            .verifier()
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn metrics(&self) -> String {
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }

    fn count(&self, code: u16) -> u64 {
        let prefix = format!("streha_witness_http_requests_total{{code=\"{code}\"}} ");
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A log of `n` entries tagged `tag`.
fn tree(n: u64, tag: u8) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.append_entry(&[tag, i as u8]);
    }
    t
}

fn note(key: &NodeIdentitySecretKey, origin: &str, t: &MemoryTree) -> String {
    let signer = NoteSigner::new(origin, key.as_dalek().clone()).unwrap();
    sign_checkpoint(
        &Checkpoint::new(origin, t.size(), t.root()).unwrap(),
        &signer,
    )
    .to_text()
}

/// The client's TLS settings (system anchors only; these tests speak plain HTTP).
fn tls() -> Tls {
    Tls::new(b"").unwrap()
}

async fn post(witness: &Witness, body: impl Into<Vec<u8>>) -> RawAnswer {
    post_add_checkpoint(&witness.url(), &tls(), body.into(), T)
        .await
        .expect("the witness answers")
}

async fn submit(witness: &Witness, old: u64, proof: &ConsistencyProof, note: &str) -> RawAnswer {
    post(witness, format_add_checkpoint(old, proof, note)).await
}

fn empty() -> ConsistencyProof {
    ConsistencyProof::new(vec![]).unwrap()
}

#[track_caller]
fn assert_size_conflict(answer: &RawAnswer, size: u64) {
    assert_eq!(answer.status, 409, "{answer:?}");
    assert_eq!(answer.content_type.as_deref(), Some("text/x.tlog.size"));
    assert_eq!(answer.body, format!("{size}\n").into_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_witness_answers_every_status_of_the_specification() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = NodeIdentitySecretKey::generate();
    let witness = Witness::start(dir.path(), &log_key);
    let t5 = tree(5, b'a');
    let t8 = tree(8, b'a');

    // First sight: old size 0, no proof: cosigned, and the line verifies under its vkey.
    let answer = submit(&witness, 0, &empty(), &note(&log_key, ORIGIN, &t5)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut signed = SignedNote::parse(&note(&log_key, ORIGIN, &t5)).unwrap();
    let line = std::str::from_utf8(&answer.body).unwrap();
    signed
        .add_signature(streha_audit::NoteSignature::from_line(line).unwrap())
        .unwrap();
    let verified = signed.verify(&[witness.verifier()]).unwrap();
    assert!(verified.signers()[0].timestamp.unwrap() > 0);

    // 404: a log it does not follow.
    let other = submit(
        &witness,
        0,
        &empty(),
        &note(&log_key, "other.example/log", &t5),
    )
    .await;
    assert_eq!(other.status, 404, "{other:?}");
    // 403: not signed by the log's key; a line under the log's key that does not verify.
    let stranger = NodeIdentitySecretKey::generate();
    let unsigned = submit(&witness, 5, &empty(), &note(&stranger, ORIGIN, &t5)).await;
    assert_eq!(unsigned.status, 403, "{unsigned:?}");
    let genuine = note(&log_key, ORIGIN, &t8);
    let (body, sig) = genuine.split_once("\n\n").unwrap();
    let mut raw = sig.trim_end().rsplit_once(' ').unwrap().1.to_owned();
    raw.replace_range(10..11, if &raw[10..11] == "A" { "B" } else { "A" });
    let forged = format!("{body}\n\n\u{2014} {ORIGIN} {raw}\n");
    let answer = submit(&witness, 5, &consistency_proof(5, 8, &t8).unwrap(), &forged).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    // 400: old size above the checkpoint's.
    let answer = submit(&witness, 9, &empty(), &genuine).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    // 409 with the size: old size not its latest.
    let answer = submit(&witness, 0, &empty(), &genuine).await;
    assert_size_conflict(&answer, 5);
    let answer = submit(
        &witness,
        3,
        &consistency_proof(3, 8, &t8).unwrap(),
        &genuine,
    )
    .await;
    assert_size_conflict(&answer, 5);
    // 422: a proof that does not verify.
    let answer = submit(
        &witness,
        5,
        &consistency_proof(4, 8, &t8).unwrap(),
        &genuine,
    )
    .await;
    assert_eq!(answer.status, 422, "{answer:?}");
    // 409 (plain): another tree of the size it cosigned — a fork, kept as evidence.
    let fork = note(&log_key, ORIGIN, &tree(5, b'b'));
    let answer = submit(&witness, 5, &empty(), &fork).await;
    assert_eq!(answer.status, 409, "{answer:?}");
    assert_ne!(answer.content_type.as_deref(), Some("text/x.tlog.size"));
    let evidence = std::fs::read_dir(dir.path().join("state/evidence"))
        .unwrap()
        .count();
    assert_eq!(evidence, 2, "the bad proof and the fork are kept");
    // 200: a consistent growth; the same checkpoint again.
    let answer = submit(
        &witness,
        5,
        &consistency_proof(5, 8, &t8).unwrap(),
        &genuine,
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = submit(&witness, 8, &empty(), &genuine).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // Malformed bodies: 400, and nothing changes.
    let hash = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let t9 = tree(9, b'a');
    let n9 = note(&log_key, ORIGIN, &t9);
    let malformed: Vec<Vec<u8>> = vec![
        format!("old 8\n{}\n{n9}", format!("{hash}\n").repeat(64)).into_bytes(),
        format!("old 8\nnot base64!\n\n{n9}").into_bytes(),
        format!("old 8\n\n{}", "x".repeat(MAX_REQUEST_LEN)).into_bytes(),
        format!("old 8\n\n{}", &n9[..n9.len() / 2]).into_bytes(),
        format!("old 8\n\n{}", n9.split_once("\n\n").unwrap().0).into_bytes(),
        b"old 8\n".to_vec(),
        b"".to_vec(),
        format!("old 08\n\n{n9}").into_bytes(),
        format!("old 8\n\n{n9}{}", n9.split_once("\n\n").unwrap().1).into_bytes(),
    ];
    for body in malformed {
        let answer = post(&witness, body.clone()).await;
        assert_eq!(
            answer.status,
            400,
            "{:?} → {answer:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
    }
    assert_size_conflict(&submit(&witness, 0, &empty(), &n9).await, 8);

    // A checkpoint that other witnesses (keys it does not know) cosigned 40 times: the lines
    // are ignored and it is cosigned (a federation peer would take at most 32 lines; an HTTP
    // witness serves any C2SP log).
    let mut crowded = SignedNote::parse(&n9).unwrap();
    for i in 0..40u8 {
        let other = CosignatureSigner::new(
            &format!("w{i}.example/witness"),
            NodeIdentitySecretKey::generate().as_dalek().clone(),
        )
        .unwrap();
        crowded
            .add_signature(other.cosign(crowded.body(), 1).unwrap())
            .unwrap();
    }
    let answer = submit(
        &witness,
        8,
        &consistency_proof(8, 9, &t9).unwrap(),
        &crowded.to_text(),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // Every answer is counted.
    assert_eq!(witness.count(404), 1);
    assert_eq!(witness.count(403), 2);
    assert_eq!(witness.count(422), 1);
    assert!(witness.count(400) >= 10);
    assert!(witness.metrics().contains(&format!(
        "streha_witness_cosigned_size{{log=\"{ORIGIN}\"}} 9"
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_never_roll_the_state_back() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = NodeIdentitySecretKey::generate();
    let witness = Witness::start(dir.path(), &log_key);
    let big = tree(60, b'a');
    let t10 = tree(10, b'a');
    assert_eq!(
        submit(&witness, 0, &empty(), &note(&log_key, ORIGIN, &t10))
            .await
            .status,
        200
    );
    // The C2SP race: many requests from the same old size, each to another new size, at
    // once. One wins; every other one is told the winner's size, never rolls it back.
    let url = witness.url();
    let mut tasks = tokio::task::JoinSet::new();
    for size in 11..=60u64 {
        let t = tree(size, b'a');
        let body = format_add_checkpoint(
            10,
            &consistency_proof(10, size, &big).unwrap(),
            &note(&log_key, ORIGIN, &t),
        );
        let url = url.clone();
        tasks.spawn(async move {
            (
                size,
                post_add_checkpoint(&url, &tls(), body.into_bytes(), T)
                    .await
                    .unwrap(),
            )
        });
    }
    let mut cosigned = Vec::new();
    let mut conflicts = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (size, answer) = result.unwrap();
        match answer.status {
            200 => cosigned.push(size),
            409 => conflicts.push(String::from_utf8(answer.body).unwrap()),
            other => panic!("size {size}: {other}"),
        }
    }
    assert_eq!(cosigned.len(), 1, "exactly one request from size 10 wins");
    let winner = cosigned[0];
    assert!(conflicts.iter().all(|body| *body == format!("{winner}\n")));
    // The state is the winner's, not any loser's.
    let t = tree(61, b'a');
    assert_size_conflict(
        &submit(&witness, 0, &empty(), &note(&log_key, ORIGIN, &t)).await,
        winner,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = NodeIdentitySecretKey::generate();
    let mut witness = Witness::start(dir.path(), &log_key);
    let t5 = tree(5, b'a');
    let n5 = note(&log_key, ORIGIN, &t5);
    assert_eq!(submit(&witness, 0, &empty(), &n5).await.status, 200);
    witness.kill9();
    let witness = Witness::run(dir.path().join("witness.toml"));
    // It remembers size 5: a request from 0 is told so; the same checkpoint is cosigned
    // again; a fork of it is refused.
    assert_size_conflict(&submit(&witness, 0, &empty(), &n5).await, 5);
    assert_eq!(submit(&witness, 5, &empty(), &n5).await.status, 200);
    let fork = note(&log_key, ORIGIN, &tree(5, b'b'));
    assert_eq!(submit(&witness, 5, &empty(), &fork).await.status, 409);
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Over HTTPS: the witness serves TLS with a certificate for `localhost` from a private CA;
/// a client that trusts that CA (`witness.ca_file` on a node) gets its cosignature, one that
/// does not is refused at the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn the_witness_serves_https_to_clients_that_trust_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    std::fs::write(dir.path().join("tls.pem"), pem("CERTIFICATE", leaf.der())).unwrap();
    std::fs::write(
        dir.path().join("tls.key"),
        pem("PRIVATE KEY", &leaf_key.serialize_der()),
    )
    .unwrap();
    let ca_pem = pem("CERTIFICATE", ca.der());
    let log_key = NodeIdentitySecretKey::generate();
    let witness = Witness::start_with(
        dir.path(),
        &log_key,
        "tls_cert = \"tls.pem\"\ntls_key = \"tls.key\"\n",
    );
    let url = format!("https://localhost:{}", witness.addr.port());
    let body = format_add_checkpoint(0, &empty(), &note(&log_key, ORIGIN, &tree(3, b'a')));

    let trusting = Tls::new(ca_pem.as_bytes()).unwrap();
    let answer = post_add_checkpoint(&url, &trusting, body.clone().into_bytes(), T)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = streha_witness::client::add_checkpoint(
        &url,
        &trusting,
        0,
        &empty(),
        &note(&log_key, ORIGIN, &tree(3, b'a')),
        T,
    )
    .await
    .unwrap();
    assert!(
        matches!(answer, streha_witness::client::Answer::StaleOldSize(3)),
        "{answer:?}"
    );
    let error = post_add_checkpoint(&url, &tls(), body.into_bytes(), T)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("TLS"), "{error}");
}

/// A SIGTERM sent as soon as the ready line is printed stops the witness cleanly (exit code
/// 0), never by the signal's default action: the handlers are installed before that line.
#[test]
fn a_sigterm_right_after_the_ready_line_stops_the_witness_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = NodeIdentitySecretKey::generate();
    for _ in 0..3 {
        let mut witness = Witness::start(dir.path(), &log_key);
        let mut child = witness.child.take().unwrap();
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            status.is_some_and(|s| s.success()),
            "the witness did not stop cleanly: {status:?}"
        );
    }
}

/// Entry 0 of a new epoch of `ORIGIN`'s log: the declaration that the log was restored to
/// `restored` and that `proven_note` (a checkpoint of `previous`) proves the loss.
fn declaration(restored: &MemoryTree, proven_note: &str, previous: &str) -> Vec<u8> {
    streha_core::AuditEntry::LogRestored {
        previous_origin: streha_core::LogOrigin::new(previous).unwrap(),
        restored_size: restored.size(),
        restored_root: *restored.root().as_bytes(),
        proven_note: proven_note.to_owned(),
        proven_by: streha_core::AgencyId::new("shelter").unwrap(),
        at: streha_core::Timestamp(1),
    }
    .encode()
}

/// A new epoch whose entry 0 is `first`, then `more` entries.
fn epoch_tree(first: &[u8], more: u8) -> MemoryTree {
    let mut t = MemoryTree::new();
    t.append_entry(first);
    for i in 0..more {
        t.append_entry(&[b'e', i]);
    }
    t
}

async fn offer_epoch(
    witness: &Witness,
    declaration: &[u8],
    proof: &streha_audit::InclusionProof,
    note: &str,
) -> RawAnswer {
    post_add_new_epoch(
        &witness.url(),
        &tls(),
        format_add_new_epoch(declaration, proof, note).into_bytes(),
        T,
    )
    .await
    .expect("the witness answers")
}

fn cosigned_size(witness: &Witness, origin: &str) -> Option<u64> {
    let prefix = format!("streha_witness_cosigned_size{{log=\"{origin}\"}} ");
    witness
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

/// Issue 18.18: `streha witness serve` follows a later epoch of a log it follows
/// (`<origin>/epoch/<n>`) only once its first checkpoint came to `add-new-epoch` with a
/// declaration that holds (`rules::judge_new_epoch`, the nodes' rule): the same statuses as
/// add-checkpoint, a forged declaration and one that hides what it cosigned refused and
/// kept as evidence, nothing changed by a refusal, the acceptance durable across `kill -9`.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_epoch_is_cosigned_only_with_a_declaration_that_hides_nothing_it_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = NodeIdentitySecretKey::generate();
    let stranger = NodeIdentitySecretKey::generate();
    let mut witness = Witness::start(dir.path(), &log_key);
    let epoch2 = format!("{ORIGIN}/epoch/2");
    let (t3, t5, t7) = (tree(3, b'a'), tree(5, b'a'), tree(7, b'a'));
    // It cosigned size 5 of epoch 1; the log lost entries 3..7 (size 7 proven by a peer).
    let answer = submit(&witness, 0, &empty(), &note(&log_key, ORIGIN, &t5)).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let honest = declaration(&t3, &note(&log_key, ORIGIN, &t7), ORIGIN);
    let e2 = epoch_tree(&honest, 1);
    let e2_note = note(&log_key, &epoch2, &e2);
    let e2_proof = streha_audit::inclusion_proof(0, e2.size(), &e2).unwrap();

    // Before its declaration, add-checkpoint refuses the epoch (403), naming the endpoint.
    let answer = submit(&witness, 0, &empty(), &e2_note).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(
        String::from_utf8_lossy(&answer.body).contains("/add-new-epoch"),
        "{answer:?}"
    );

    // 400: a malformed body; the log's first epoch offered as a new one.
    let answer = post_add_new_epoch(&witness.url(), &tls(), b"old 0\n\nx\n".to_vec(), T)
        .await
        .unwrap();
    assert_eq!(answer.status, 400, "{answer:?}");
    let answer = offer_epoch(&witness, &honest, &e2_proof, &note(&log_key, ORIGIN, &t7)).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    // 404: an epoch of a log it does not follow.
    let other = "other.example/log/epoch/2";
    let answer = offer_epoch(&witness, &honest, &e2_proof, &note(&log_key, other, &e2)).await;
    assert_eq!(answer.status, 404, "{answer:?}");
    // 403: the new epoch's checkpoint is not signed by the log's key.
    let answer = offer_epoch(&witness, &honest, &e2_proof, &note(&stranger, &epoch2, &e2)).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    // 422: the declaration is not entry 0 of the checkpoint (another entry's proof).
    let answer = offer_epoch(
        &witness,
        &honest,
        &streha_audit::inclusion_proof(1, e2.size(), &e2).unwrap(),
        &e2_note,
    )
    .await;
    assert_eq!(answer.status, 422, "{answer:?}");
    // 422: a forged declaration — its proof of the loss is not signed by the log's key —
    // in a new epoch the log's key signed.
    let forged = declaration(&t3, &note(&stranger, ORIGIN, &t7), ORIGIN);
    let f = epoch_tree(&forged, 1);
    let answer = offer_epoch(
        &witness,
        &forged,
        &streha_audit::inclusion_proof(0, f.size(), &f).unwrap(),
        &note(&log_key, &epoch2, &f),
    )
    .await;
    assert_eq!(answer.status, 422, "{answer:?}");
    // 409 (plain): a declaration that hides what it cosigned — it proves size 4 where the
    // witness cosigned 5, or size 5 with another root: a rollback, kept as evidence.
    for proven in [tree(4, b'a'), tree(5, b'b')] {
        let hiding = declaration(&t3, &note(&log_key, ORIGIN, &proven), ORIGIN);
        let h = epoch_tree(&hiding, 1);
        let answer = offer_epoch(
            &witness,
            &hiding,
            &streha_audit::inclusion_proof(0, h.size(), &h).unwrap(),
            &note(&log_key, &epoch2, &h),
        )
        .await;
        assert_eq!(answer.status, 409, "{answer:?}");
        assert_ne!(answer.content_type.as_deref(), Some("text/x.tlog.size"));
    }
    // No refusal changed anything; the four refused declarations are kept as evidence.
    assert_eq!(cosigned_size(&witness, &epoch2), None);
    assert_eq!(cosigned_size(&witness, ORIGIN), Some(5));
    let evidence = std::fs::read_dir(dir.path().join("state/evidence"))
        .unwrap()
        .count();
    assert_eq!(evidence, 4, "422 and 409 declarations are kept as evidence");
    // Offered again (a node retries every round): refused again, kept once.
    let answer = offer_epoch(
        &witness,
        &forged,
        &streha_audit::inclusion_proof(0, f.size(), &f).unwrap(),
        &note(&log_key, &epoch2, &f),
    )
    .await;
    assert_eq!(answer.status, 422, "{answer:?}");
    let evidence = std::fs::read_dir(dir.path().join("state/evidence"))
        .unwrap()
        .count();
    assert_eq!(evidence, 4, "the same refused request is kept once");

    // 200: the honest declaration; its cosignature verifies on the new epoch's checkpoint.
    let answer = offer_epoch(&witness, &honest, &e2_proof, &e2_note).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut signed = SignedNote::parse(&e2_note).unwrap();
    signed
        .add_signature(
            streha_audit::NoteSignature::from_line(std::str::from_utf8(&answer.body).unwrap())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        signed.verify(&[witness.verifier()]).unwrap().signer_names(),
        vec![NAME.to_owned()]
    );
    assert_eq!(cosigned_size(&witness, &epoch2), Some(e2.size()));
    assert_eq!(cosigned_size(&witness, ORIGIN), Some(5), "epoch 1 is kept");
    // Offered again (an answer lost): cosigned again. A larger checkpoint of the epoch
    // offered as new: 409 with the size it holds, to go on at add-checkpoint.
    let answer = offer_epoch(&witness, &honest, &e2_proof, &e2_note).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let grown = epoch_tree(&honest, 4);
    let grown_note = note(&log_key, &epoch2, &grown);
    let answer = offer_epoch(
        &witness,
        &honest,
        &streha_audit::inclusion_proof(0, grown.size(), &grown).unwrap(),
        &grown_note,
    )
    .await;
    assert_size_conflict(&answer, e2.size());

    // Accepted, the epoch survives kill -9 and grows at add-checkpoint like any log.
    witness.kill9();
    let witness = Witness::run(witness.config.clone());
    let answer = submit(
        &witness,
        e2.size(),
        &consistency_proof(e2.size(), grown.size(), &grown).unwrap(),
        &grown_note,
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(cosigned_size(&witness, &epoch2), Some(grown.size()));
    // Epoch 3, undeclared, is refused as epoch 2 was.
    let e3 = format!("{ORIGIN}/epoch/3");
    let answer = submit(&witness, 0, &empty(), &note(&log_key, &e3, &grown)).await;
    assert_eq!(answer.status, 403, "{answer:?}");
}

/// A raw `GET <path>` to the witness: its status line and body.
fn raw_get(witness: &Witness, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(witness.addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// Issue 18.18: Streha's read extension, `GET <prefix>/latest-cosigned/<origin>`, answers
/// the latest checkpoint of a followed log the witness cosigned — as the log signed it, with
/// the witness's cosignature — and nothing else: 404 for a log it does not follow or has
/// cosigned nothing of, 414 past the origin budget, 400 for what names no origin; reading
/// changes no state (the state file's bytes, the next submission's old size).
#[tokio::test(flavor = "multi_thread")]
async fn latest_cosigned_reads_what_the_witness_cosigned_and_changes_nothing() {
    use streha_witness::client::{LatestCosigned, latest_cosigned};
    use streha_witness::protocol::{
        LATEST_COSIGNED_PATH, MAX_LATEST_COSIGNED_SEGMENT_LEN, encode_origin_segment,
    };
    let dir = tempfile::tempdir().unwrap();
    let log_key = NodeIdentitySecretKey::generate();
    let witness = Witness::start(dir.path(), &log_key);
    let read = |origin: &str| {
        let (url, origin) = (witness.url(), origin.to_owned());
        async move {
            latest_cosigned(&url, &tls(), &origin, T)
                .await
                .expect("the witness answers")
        }
    };
    // Nothing cosigned yet: 404, as for a log it does not follow.
    assert_eq!(read(ORIGIN).await, LatestCosigned::NotFound);
    assert_eq!(
        read("test.example/streha/unknown").await,
        LatestCosigned::NotFound
    );
    // A later epoch of a followed log it never accepted: nothing cosigned of it.
    assert_eq!(
        read(&format!("{ORIGIN}/epoch/2")).await,
        LatestCosigned::NotFound
    );
    let t5 = tree(5, b'a');
    let t8 = tree(8, b'a');
    assert_eq!(
        submit(&witness, 0, &empty(), &note(&log_key, ORIGIN, &t5))
            .await
            .status,
        200
    );
    let proof = consistency_proof(5, 8, &t8).unwrap();
    assert_eq!(
        submit(&witness, 5, &proof, &note(&log_key, ORIGIN, &t8))
            .await
            .status,
        200
    );
    let state = dir.path().join("state/state.json");
    let before = std::fs::read(&state).unwrap();
    let LatestCosigned::Note(answer) = read(ORIGIN).await else {
        panic!("the witness answers its latest cosigned checkpoint");
    };
    let parsed = SignedNote::parse(&answer).unwrap();
    let checkpoint = Checkpoint::parse_body(parsed.body()).unwrap();
    assert_eq!(
        (checkpoint.origin(), checkpoint.size(), *checkpoint.root()),
        (ORIGIN, 8, t8.root())
    );
    // Signed by the log and cosigned by the witness, both verifying.
    let log = NoteVerifier::new(ORIGIN, *log_key.public_key().as_dalek()).unwrap();
    let verified = parsed.verify(&[log, witness.verifier()]).unwrap();
    assert_eq!(verified.signers().len(), 2, "{answer}");
    assert!(
        verified
            .signers()
            .iter()
            .any(|s| s.timestamp.is_some_and(|t| t > 0))
    );
    // Reading changed nothing: the same state bytes; the next submission still goes on
    // from 8.
    for _ in 0..3 {
        assert!(matches!(read(ORIGIN).await, LatestCosigned::Note(_)));
    }
    assert_eq!(std::fs::read(&state).unwrap(), before);
    assert_size_conflict(
        &submit(&witness, 5, &proof, &note(&log_key, ORIGIN, &t8)).await,
        8,
    );

    // Bounded: an origin segment past the budget is refused before it is decoded, and what
    // is not the unpadded base64url of an origin is a bad request; neither reads anything.
    let long = "A".repeat(MAX_LATEST_COSIGNED_SEGMENT_LEN + 1);
    assert_eq!(
        raw_get(&witness, &format!("{LATEST_COSIGNED_PATH}/{long}")).0,
        414
    );
    for bad in [
        "not*base64".to_owned(),
        format!("{}=", encode_origin_segment(ORIGIN)),
        encode_origin_segment(" padded "),
        encode_origin_segment("bad\norigin"),
    ] {
        let (status, body) = raw_get(&witness, &format!("{LATEST_COSIGNED_PATH}/{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // The origin in the path itself (not encoded) is no route.
    assert_eq!(
        raw_get(&witness, &format!("{LATEST_COSIGNED_PATH}/{ORIGIN}")).0,
        404
    );
    // The raw read of a known log answers 200 with the note.
    let (status, body) = raw_get(
        &witness,
        &format!("{LATEST_COSIGNED_PATH}/{}", encode_origin_segment(ORIGIN)),
    );
    assert_eq!(status, 200);
    assert!(body.starts_with(&format!("{ORIGIN}\n8\n")), "{body}");
    assert_eq!(std::fs::read(&state).unwrap(), before);
    assert_eq!(witness.count(414), 1);
}
