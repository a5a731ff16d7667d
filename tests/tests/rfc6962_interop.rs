//! Streha's log checked by an RFC 6962 implementation that is not Streha's: Go's
//! `golang.org/x/mod/sumdb/tlog` and `golang.org/x/mod/sumdb/note` (`spec/audit-log.md` §1,
//! §8), through `tests/interop/rfc6962_check.go`.
//!
//! Inputs: the known-answer vectors of `spec/vectors/`, and the log of live nodes — every
//! entry and signed checkpoint of a real store, inclusion and consistency proofs the node
//! generated, and C2SP `tlog-proof`s built from the node's answers exactly as `streha audit
//! prove` writes them. Go recomputes every tree head, checks every proof with
//! `tlog.CheckRecord`/`tlog.CheckTree` and requires it equal to its own, opens every
//! checkpoint with `note.Open` (the log's key, and the peers' `cosignature/v1`).
//!
//! Needs `go` and the module source (Debian: `golang-go`, `golang-golang-x-mod-dev`; the
//! build is offline, in GOPATH mode). The source is looked for in `$STREHA_GOPATH`, then in
//! `/usr/share/gocode`. Without them each test prints why and passes without checking,
//! unless `STREHA_REQUIRE_INTEROP=1` (set by `.ci/run` once it installed them), where a
//! missing toolchain is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use serde_json::{Value, json};
use streha_audit::{NoteVerifier, TlogProof};
use streha_client::VerifiedCheckpoint;
use streha_core::AgeStatus;

const GO_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/rfc6962_check.go");
const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors");

/// The checker binary, built once per test process; `Err` says why it cannot be.
fn checker() -> &'static Result<PathBuf, String> {
    static CHECKER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CHECKER.get_or_init(build_checker)
}

fn build_checker() -> Result<PathBuf, String> {
    let gopath = std::env::var_os("STREHA_GOPATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/gocode"));
    let module = gopath.join("src/golang.org/x/mod/sumdb/tlog/tlog.go");
    if !module.is_file() {
        return Err(format!(
            "golang.org/x/mod is not at {} (install golang-golang-x-mod-dev, or set \
             STREHA_GOPATH to a GOPATH holding it)",
            gopath.display()
        ));
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rfc6962-interop");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let binary = work.join(format!("rfc6962_check-{}", std::process::id()));
    let output = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(GO_SOURCE)
        // GOPATH mode: the Debian package's source, nothing from the network.
        .env("GO111MODULE", "off")
        .env("GOPATH", &gopath)
        .env("GOCACHE", work.join("go-cache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .output()
        .map_err(|e| format!("cannot run `go` ({e}); install golang-go"))?;
    if !output.status.success() {
        return Err(format!(
            "`go build {GO_SOURCE}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(binary)
}

/// The checker, or `None` after saying why the test does not check anything.
fn checker_or_skip(test: &str) -> Option<&'static Path> {
    match checker() {
        Ok(path) => Some(path),
        Err(why) => {
            assert!(
                std::env::var_os("STREHA_REQUIRE_INTEROP").is_none_or(|v| v != "1"),
                "STREHA_REQUIRE_INTEROP=1 but the RFC 6962 cross-check cannot run: {why}"
            );
            eprintln!("SKIPPED {test}: the RFC 6962 cross-check needs Go: {why}");
            None
        }
    }
}

/// Runs the checker on `logs`; returns (exit code, stdout, stderr).
fn run(checker: &Path, logs: &Value) -> (i32, String, String) {
    let input = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(input.path(), serde_json::to_vec(logs).expect("json")).expect("write input");
    let output = Command::new(checker)
        .arg(input.path())
        .output()
        .expect("run the checker");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the checker on `logs` and requires every check to hold; returns its summary.
fn check(checker: &Path, logs: &Value) -> String {
    let (code, stdout, stderr) = run(checker, logs);
    assert_eq!(
        code, 0,
        "Go's RFC 6962 implementation rejects Streha's log:\n{stderr}\n{stdout}"
    );
    stdout
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(BASE64.encode(bytes))
}

fn hex_to_b64(hex: &Value) -> Value {
    b64(&hex::decode(hex.as_str().expect("hex string")).expect("hex"))
}

fn hashes_to_b64(hashes: &[streha_audit::Hash]) -> Value {
    Value::Array(hashes.iter().map(|h| b64(h.as_bytes())).collect())
}

fn read_json(name: &str) -> Value {
    let path = format!("{VECTORS}/{name}");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read vectors")).expect("json")
}

/// `spec/vectors/merkle.json` and `checkpoint.json` as checker input.
fn vector_logs() -> Value {
    let merkle = read_json("merkle.json");
    let cp = read_json("checkpoint.json");
    let entries = |n: u64| -> Vec<Value> {
        (0..n)
            .map(|i| b64(format!("leaf-{i}").as_bytes()))
            .collect()
    };
    let path = |v: &Value| -> Value {
        Value::Array(
            v["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(hex_to_b64)
                .collect(),
        )
    };
    let mut heads: Vec<Value> = merkle["trees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({"size": t["size"], "root": hex_to_b64(&t["root"])}))
        .collect();
    heads.push(json!({"size": 0, "root": hex_to_b64(&merkle["empty_root"])}));
    let inclusion: Vec<Value> = merkle["inclusion_proofs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"index": p["index"], "size": p["size"], "proof": path(p)}))
        .collect();
    let consistency: Vec<Value> = merkle["consistency_proofs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"old": p["old_size"], "new": p["new_size"], "proof": path(p)}))
        .collect();
    // The leaf hashes are checked through the heads of sizes 1..8 and the proofs.
    json!([
        {
            "name": "spec/vectors/merkle.json",
            "entries": entries(1000),
            "heads": heads,
            "inclusion": inclusion,
            "consistency": consistency,
        },
        {
            "name": cp["checkpoint"]["origin"],
            "vkey": cp["log"]["vkey"],
            "witness_vkeys": [cp["witness"]["vkey"]],
            "entries": entries(8),
            "heads": [{"size": 8, "root": hex_to_b64(&cp["checkpoint"]["root"])}],
            "checkpoints": [cp["checkpoint"]["note"], cp["cosignature"]["note"]],
        }
    ])
}

#[test]
fn the_spec_vectors_verify_with_go_sumdb_tlog() {
    let Some(checker) = checker_or_skip("the_spec_vectors_verify_with_go_sumdb_tlog") else {
        return;
    };
    let summary = check(checker, &vector_logs());
    assert!(
        summary.contains("verified 13 tree heads, 45 inclusion proofs, 55 consistency proofs"),
        "{summary}"
    );
    assert!(
        summary.contains("1 tree heads, 0 inclusion proofs, 0 consistency proofs, 2 signed checkpoints, 1 witness cosignatures"),
        "{summary}"
    );
}

/// The checker is not vacuous: one changed hash, one changed root or one wrong key each
/// make it fail.
#[test]
fn the_go_checker_rejects_a_forged_proof_root_or_signature() {
    let Some(checker) = checker_or_skip("the_go_checker_rejects_a_forged_proof_root_or_signature")
    else {
        return;
    };
    let flip = |value: &mut Value| {
        let mut bytes = BASE64.decode(value.as_str().unwrap()).unwrap();
        bytes[0] ^= 1;
        *value = b64(&bytes);
    };
    let mut logs = vector_logs();
    flip(&mut logs[0]["inclusion"][20]["proof"][0]);
    let (code, _, stderr) = run(checker, &logs);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("tlog.CheckRecord"), "{stderr}");

    let mut logs = vector_logs();
    flip(&mut logs[0]["consistency"][30]["proof"][0]);
    let (code, _, stderr) = run(checker, &logs);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("tlog.CheckTree"), "{stderr}");

    let mut logs = vector_logs();
    flip(&mut logs[0]["heads"][5]["root"]);
    let (code, _, stderr) = run(checker, &logs);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("tlog.TreeHash"), "{stderr}");

    // The witness's vkey presented as the log's: the note opens with no log signature.
    let mut logs = vector_logs();
    logs[1]["checkpoints"] = json!([logs[1]["checkpoints"][0]
        .as_str()
        .unwrap()
        .replace("\n\u{2014} ", "\n\u{2014} x")]);
    let (code, _, stderr) = run(checker, &logs);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("note.Open"), "{stderr}");
}

/// A live node's log: two nodes cosign each other; the shelter's entries, every checkpoint
/// it issued, its inclusion and consistency proofs and tlog-proofs go to Go unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_nodes_proofs_and_checkpoints_verify_with_go_sumdb_tlog() {
    let Some(checker) =
        checker_or_skip("a_live_nodes_proofs_and_checkpoints_verify_with_go_sumdb_tlog")
    else {
        return;
    };
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;
    let member = federation.member(SHELTER);
    let origin = shelter.log_origin().to_owned();
    let node_key = member.node_key.public_key();
    // One batch per request: many checkpoints, of sizes that are and are not powers of two.
    for _ in 0..21 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .expect("register a subject");
    }
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .expect("register a subject at the police");

    // A checkpoint the police has cosigned, and a tlog-proof against it.
    let (published, witnesses) = eventually(Duration::from_secs(30), || async {
        let (entry, witnesses) = shelter.prove_published(5).await.ok()?;
        (!witnesses.is_empty()).then_some((entry, witnesses))
    })
    .await
    .expect("the police cosigns a checkpoint of the shelter");
    assert_eq!(witnesses, vec![federation.member(POLICE).id.clone()]);

    let mut inclusion = Vec::new();
    let mut tlog_proofs = Vec::new();
    let to_tlog = |proven: &streha_wire::peer::ProvenEntry| {
        let text = TlogProof::new(proven.index, proven.proof.clone(), &proven.checkpoint)
            .expect("a tlog-proof")
            .to_text();
        json!({"text": text, "entry": b64(&proven.entry)})
    };
    tlog_proofs.push(to_tlog(published.proven()));
    for index in [0, 1, 2, 3, 7, 8, 12, 16, 20] {
        let entry = shelter.prove_entry(index).await.expect("prove an entry");
        let proven = entry.proven();
        inclusion.push(json!({
            "index": index,
            "size": entry.checkpoint().size(),
            "proof": hashes_to_b64(proven.proof.hashes()),
        }));
        tlog_proofs.push(to_tlog(proven));
    }

    // Every entry and checkpoint of the store, and consistency proofs between checkpoints.
    let bundle = shelter.export_bundle().await.expect("export the log");
    let checkpoints: Vec<VerifiedCheckpoint> = bundle
        .checkpoints
        .iter()
        .map(|note| VerifiedCheckpoint::verify(note, &origin, &node_key).expect("checkpoint"))
        .collect();
    assert!(checkpoints.len() >= 10, "{} checkpoints", checkpoints.len());
    let last = checkpoints.last().expect("a checkpoint");
    let mut consistency = Vec::new();
    for (i, old) in checkpoints.iter().enumerate() {
        for new in [checkpoints.get(i + 1), Some(last)].into_iter().flatten() {
            if old.size() == 0 || old.size() >= new.size() {
                continue;
            }
            let proof = shelter
                .prove_consistency(old, new)
                .await
                .expect("prove consistency");
            consistency.push(json!({
                "old": old.size(),
                "new": new.size(),
                "proof": hashes_to_b64(proof.hashes()),
            }));
        }
    }
    let heads: Vec<Value> = checkpoints
        .iter()
        .map(|c| json!({"size": c.size(), "root": b64(c.root().as_bytes())}))
        .collect();
    let police_member = federation.member(POLICE);
    let police_witness = NoteVerifier::cosignature_v1(
        police.log_origin(),
        *police_member.node_key.public_key().as_dalek(),
    )
    .expect("witness verifier");
    let log_vkey = NoteVerifier::new(&origin, *node_key.as_dalek())
        .expect("log verifier")
        .to_vkey();
    let logs = json!([{
        "name": origin,
        "vkey": log_vkey,
        "witness_vkeys": [police_witness.to_vkey()],
        "entries": bundle.entries.iter().map(|e| b64(e)).collect::<Vec<_>>(),
        "heads": heads,
        "checkpoints": bundle.checkpoints,
        "inclusion": inclusion,
        "consistency": consistency,
        "tlog_proofs": tlog_proofs,
    }]);
    let summary = check(checker, &logs);
    let n_checkpoints = bundle.checkpoints.len();
    let n_consistency = consistency.len();
    assert!(
        summary.contains(&format!(
            "verified {n_checkpoints} tree heads, 9 inclusion proofs, {n_consistency} \
             consistency proofs, {n_checkpoints} signed checkpoints"
        )),
        "{summary}"
    );
    assert!(summary.contains(", 10 tlog-proofs"), "{summary}");
    assert!(
        !summary.contains(" 0 witness cosignatures"),
        "the police's cosignatures were checked by Go's note verifier: {summary}"
    );
    shelter.close().await;
    police.close().await;
}
