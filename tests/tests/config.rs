//! A bad configuration stops strehad with exit code 2 and one message naming the field.

mod common;

use std::process::Command;

use common::*;

fn run(config: &std::path::Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_strehad-test"))
        .arg("--config")
        .arg(config)
        .arg("--check")
        .output()
        .expect("run strehad");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_valid_configuration_checks_out() {
    let federation = Federation::new();
    let config = federation.member(POLICE).dir.join("node.toml");
    let (code, stderr) = run(&config);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn each_bad_field_is_named_with_exit_code_2() {
    let federation = Federation::new();
    let dir = &federation.member(POLICE).dir;
    let good = std::fs::read_to_string(dir.join("node.toml")).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace("agency = \"police\"", "agency = \"Police Unit\""),
            "`agency`",
        ),
        (
            good.replace("listen = \"127.0.0.1:", "listen = \"localhost:"),
            "`listen`",
        ),
        (
            good.replace("node_key = \"node.key\"", "node_key = \"missing.key\""),
            "`node_key`",
        ),
        (
            good.replace("node_key = \"node.key\"", "node_key = \"app.pub\""),
            "`node_key`",
        ),
        (
            good.replace(
                "roster_key = \"../roster.pub\"",
                "roster_key = \"node.key\"",
            ),
            "`roster_key`",
        ),
        (
            good.replace("retry_initial_ms = 100", "retry_initial_ms = 0"),
            "`limits.retry_initial_ms`",
        ),
        (good.replace("quorum = 1", "quorum = 0"), "`witness.quorum`"),
        (
            good.replace(
                "retry_initial_ms = 100",
                "retry_initial_ms = 100\nclock_skew_ms = 300001",
            ),
            "`limits.clock_skew_ms`",
        ),
        (
            format!("{good}\nsurprise = true\n"),
            "not a valid node configuration",
        ),
        (
            good.replace("agency = \"police\"", "agency = \"shelter\""),
            "`node_key`",
        ),
    ];
    for (n, (text, expected)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("bad-{n}.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, stderr) = run(&path);
        assert_eq!(code, Some(2), "case {n}: {stderr}");
        assert!(
            stderr.contains(expected),
            "case {n}: expected {expected} in: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "case {n}: one clear line: {stderr}"
        );
    }
}

#[test]
fn a_group_readable_node_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let federation = Federation::new();
    let dir = &federation.member(POLICE).dir;
    std::fs::set_permissions(dir.join("node.key"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, stderr) = run(&dir.join("node.toml"));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`node_key`") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

#[test]
fn an_unsigned_or_foreign_roster_is_refused() {
    let federation = Federation::new();
    let dir = &federation.member(POLICE).dir;
    let roster = federation.dir.path().join("roster.note");
    let note = std::fs::read_to_string(&roster).unwrap();
    let body = note.split("\n\n").next().unwrap().to_owned() + "\n";
    std::fs::write(&roster, body).unwrap();
    let (code, stderr) = run(&dir.join("node.toml"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`roster`"), "{stderr}");
}

#[test]
fn an_older_roster_than_the_node_ran_on_is_refused() {
    let mut federation = Federation::new();
    let config = federation.member(POLICE).dir.join("node.toml");
    let roster_file = federation.dir.path().join("roster.note");
    let v1 = std::fs::read_to_string(&roster_file).unwrap();
    let v2 = federation.roster_of(federation.members.iter().map(Member::entry).collect());
    federation.publish(v2);
    assert_eq!(run(&config).0, Some(0), "version 2 checks out");
    // The node adopts version 2 when it runs (`--check` is a dry run: it adopts nothing).
    assert!(
        federation.start(POLICE).terminate(),
        "the node runs on version 2"
    );
    std::fs::write(&roster_file, v1).unwrap();
    // The node keeps the roster it runs on in its data directory and starts on it, the
    // newer of the two (`spec/protocol.md` §8).
    assert!(
        federation.start(POLICE).terminate(),
        "the node starts on its kept version 2"
    );
    // Without that copy, the older file is refused.
    let kept = federation
        .member(POLICE)
        .dir
        .join("data")
        .join("roster-in-force.note");
    std::fs::remove_file(kept).unwrap();
    let (code, _, stderr) = federation.run_to_exit(POLICE, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("older"), "{stderr}");
}

/// The example configurations in `keys-example/` work as shipped (once the secret keys are
/// owner-only, which git does not record).
#[test]
fn the_keys_example_configurations_check_out() {
    use std::os::unix::fs::PermissionsExt;
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys-example");
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&source, copy.path());
    for entry in walk(copy.path()) {
        if entry.extension().is_some_and(|e| e == "key") {
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    for agency in [
        "police-prishtina",
        "shelter-prishtina",
        "prosecution-prishtina",
    ] {
        let (code, stderr) = run(&copy.path().join(agency).join("node.toml"));
        assert_eq!(code, Some(0), "{agency}: {stderr}");
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "data" {
                copy_tree(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_quorum_above_the_other_agencies_starts_with_a_warning() {
    let federation = Federation::new();
    let dir = &federation.member(POLICE).dir;
    let good = std::fs::read_to_string(dir.join("node.toml")).unwrap();
    assert!(good.contains("quorum = 1"));
    let path = dir.join("quorum-5.toml");
    std::fs::write(&path, good.replace("quorum = 1", "quorum = 5")).unwrap();
    let (code, stderr) = run(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("`witness.quorum` is larger than the number of other agencies")
            && stderr.contains("WARN"),
        "{stderr}"
    );
}
