//! Replays every committed corpus and crash file through its target, on stable Rust.
//!
//! For each target of `streha_fuzz_targets::TARGETS`, every file under
//! `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` (when present) is fed to the
//! target function; a panic is a regression. This is what CI runs on every change; the
//! fuzzer itself (`fuzz/README.md`) needs nightly flags.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};
use std::time::Instant;

use streha_fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The regular files of `dir`, sorted, skipping hidden ones; none if `dir` is absent.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_fuzz_target_and_a_seed_corpus() {
    for (name, _) in TARGETS {
        let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(source.is_file(), "missing {}", source.display());
        assert!(
            !files(&fuzz_dir().join("corpus").join(name)).is_empty(),
            "target {name} has no seed corpus under fuzz/corpus/{name}/"
        );
    }
}

#[test]
fn corpus_and_crash_files_replay_without_failure() {
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut count = 0usize;
    for (name, target) in TARGETS {
        for kind in ["corpus", "artifacts"] {
            for path in files(&fuzz_dir().join(kind).join(name)) {
                let data = fs::read(&path).expect("readable corpus file");
                count += 1;
                let target = *target;
                if panic::catch_unwind(move || target(&data)).is_err() {
                    failures.push(path.display().to_string());
                }
            }
        }
    }
    eprintln!(
        "replayed {count} corpus and crash files in {:.1?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} file(s) fail their target (replay one with `cargo fuzz run <target> <file>` \
         or the test above):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The `tlog_proof` seeds reach the success path of the target: a real proof checks against
/// the fixed roster exactly as `streha audit check-proof` reports it, and the near-valid
/// seeds fail for their own reason.
#[test]
fn tlog_proof_seeds_check_as_expected() {
    use streha_audit::{NoteError, TlogProofError};
    use streha_fuzz_targets::{TLOG_COSIGNED_AT, tlog_entry, tlog_roster};

    let seed = |name: &str| {
        let path = fuzz_dir()
            .join("corpus/tlog_proof")
            .join(format!("seed-{name}"));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let checked = streha_verify::check_proof(
        &seed("police-5-of-21-cosigned"),
        &tlog_entry(5),
        tlog_roster(),
        1,
    )
    .expect("a real proof checks");
    assert_eq!(checked.agency, "police-a");
    assert_eq!(checked.index, 5);
    assert_eq!(checked.size, 21);
    assert_eq!(checked.entry_kind, None);
    assert_eq!(
        checked.witnesses,
        vec![("shelter-a".to_owned(), TLOG_COSIGNED_AT)]
    );
    let even = streha_verify::check_proof(
        &seed("police-12-of-21-cosigned"),
        &tlog_entry(12),
        tlog_roster(),
        1,
    )
    .expect("a real proof checks");
    assert_eq!(even.entry_kind, Some("subject_registered"));
    let own = streha_verify::check_proof(
        &seed("shelter-9-of-16-cosigned"),
        &tlog_entry(9),
        tlog_roster(),
        1,
    )
    .expect("the witness's own log checks");
    assert_eq!(own.agency, "shelter-a");
    assert_eq!(own.witnesses[0].0, "police-a");

    let check = |name: &str, index: u64| {
        streha_verify::check_proof(&seed(name), &tlog_entry(index), tlog_roster(), 0).unwrap_err()
    };
    assert!(matches!(
        check("wrong-index", 5),
        TlogProofError::Inclusion(_)
    ));
    assert!(matches!(
        check("hash-edited", 5),
        TlogProofError::Inclusion(_)
    ));
    assert!(matches!(
        check("forged-cosignature", 5),
        TlogProofError::Note(NoteError::InvalidSignature { .. })
    ));
    assert!(matches!(
        check("untrusted-origin", 2),
        TlogProofError::OriginNotTrusted { .. }
    ));
    assert!(matches!(
        check("size-edited", 5),
        TlogProofError::Note(NoteError::InvalidSignature { .. })
    ));
    assert_eq!(check("crlf", 5), TlogProofError::MissingHeader);
}
