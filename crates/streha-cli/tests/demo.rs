//! `streha demo`, as a newcomer runs it: every step behaves as stated, the nodes' logs are
//! exported, and nothing is left behind (or everything is kept, with --keep).

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

#[test]
fn the_demo_runs_every_step_and_keeps_its_files_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("demo");
    let run = Command::new(env!("CARGO_BIN_EXE_streha"))
        .args(["demo", "--keep"])
        .arg(&keep)
        .output()
        .expect("run streha demo");
    let out = String::from_utf8(run.stdout).unwrap();
    let err = String::from_utf8(run.stderr).unwrap();
    assert!(run.status.success(), "stdout:\n{out}\nstderr:\n{err}");

    // One line per step, each ok, in the order the issue states them.
    let steps: Vec<&str> = out.lines().filter(|l| l.contains("/9 ")).collect();
    assert_eq!(steps.len(), 9, "{out}");
    assert!(steps.iter().all(|l| l.contains(" ok ")), "{out}");
    for (step, words) in steps.iter().zip([
        "consented medical disclosure",
        "protection-measure disclosure (Art. 18.4): refused",
        "own consent (Art. 18.3, 36): refused",
        "legal representative's consent",
        "revoked it: refused",
        "receiver offline",
        "urgent danger",
        "log export",
        "inclusion proofs",
    ]) {
        assert!(step.contains(words), "expected `{words}` in: {step}");
    }
    assert!(
        out.contains("Summary: 9 of 9 steps behaved as stated"),
        "{out}"
    );
    assert!(!out.contains("FAIL"), "{out}");

    // --keep: the exported bundles, configurations, stores and daemon logs stay.
    for agency in [
        "police-prishtina",
        "shelter-prishtina",
        "prosecution-prishtina",
    ] {
        let bundle = std::fs::read(keep.join("logs").join(format!("{agency}.bundle"))).unwrap();
        assert!(bundle.starts_with(b"STREHA-LOG-BUNDLE\n"), "{agency}");
        assert!(keep.join(agency).join("node.toml").is_file());
        assert!(keep.join(agency).join("client.toml").is_file());
        assert!(keep.join(agency).join("data").is_dir());
        let key = keep
            .join("keys")
            .join(agency)
            .join(format!("{agency}.node-identity.key"));
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "copied secrets are owner-only");
    }
    assert!(keep.join("roster.note").is_file());

    // The data-protection officer's check of the demo's logs: zero findings.
    let verify = Command::new(env!("CARGO_BIN_EXE_streha"))
        .args(["audit", "verify", "--json", "--roster"])
        .arg(keep.join("roster.note"))
        .arg("--roster-key")
        .arg(
            keep.join("keys")
                .join("national-authority")
                .join("national-authority.roster.pub"),
        )
        .args(
            [
                "police-prishtina",
                "shelter-prishtina",
                "prosecution-prishtina",
            ]
            .map(|a| keep.join("logs").join(format!("{a}.bundle"))),
        )
        .output()
        .expect("run streha audit verify");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "the demo's logs must verify with zero findings:\n{report}\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        report.contains("\"findings\": []") || report.contains("\"findings\":[]"),
        "{report}"
    );
    // The daemons were stopped: nothing holds the stores any more (a new run could open
    // them), and no daemon log reports an error.
    for agency in [
        "police-prishtina",
        "shelter-prishtina",
        "prosecution-prishtina",
    ] {
        let log = std::fs::read_to_string(keep.join(agency).join("strehad.log")).unwrap();
        assert!(!log.contains("ERROR"), "{agency}: {log}");
    }
}

#[test]
fn the_demo_without_keep_removes_its_temporary_directory() {
    // The demo's temporary directory is created under TMPDIR: a fresh one here, so what is
    // left behind (nothing) can be seen.
    let tmp = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_streha"))
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run streha demo");
    let out = String::from_utf8(run.stdout).unwrap();
    let err = String::from_utf8(run.stderr).unwrap();
    assert_eq!(run.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("Summary: 9 of 9 steps behaved as stated"),
        "{out}"
    );

    // The first line names the work directory: a `streha-demo.*` directory under TMPDIR …
    let first = out.lines().next().unwrap_or_default();
    let (_, dir) = first
        .rsplit_once(" in ")
        .unwrap_or_else(|| panic!("no work directory in the first line: {first}"));
    let dir = std::path::Path::new(dir.trim());
    assert!(dir.starts_with(tmp.path()), "{first}");
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("streha-demo."),
        "{first}"
    );
    // … which is gone afterwards, with nothing else left in TMPDIR.
    assert!(!dir.exists(), "{} was left behind", dir.display());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        out.contains("Stopped the nodes and removed the demo's files"),
        "{out}"
    );
    assert!(!out.contains("Kept in"), "{out}");
}

#[test]
fn the_demo_refuses_a_missing_strehad_and_a_non_empty_keep_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_streha"))
        .args(["demo", "--strehad"])
        .arg(tmp.path().join("no-such-strehad"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8(run.stderr).unwrap();
    assert!(err.contains("cargo build -p streha-node"), "{err}");

    std::fs::write(tmp.path().join("something"), "").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_streha"))
        .args(["demo", "--keep"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8(run.stderr).unwrap();
    assert!(err.contains("is not empty"), "{err}");
}
