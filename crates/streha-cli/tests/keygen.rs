//! `streha keygen` and `streha key show`, run as the built binary against temporary
//! directories.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use streha_crypto::{
    AgencyEncryptionPublicKey, AgencyEncryptionSecretKey, AgencySigningPublicKey,
    AgencySigningSecretKey, Fingerprint, KeyFile, KeyKind, KeyPart, NodeIdentityPublicKey,
    NodeIdentitySecretKey,
};

const AGENCY: &str = "police-prishtina";
const AGENCY_KINDS: [&str; 3] = ["node-identity", "agency-signing", "agency-encryption"];

fn streha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_streha"))
        .args(args)
        .output()
        .expect("run the streha binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

fn keygen_agency(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["keygen", "--agency", AGENCY, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    streha(&args)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn key_path(dir: &Path, name: &str, kind: &str, part: KeyPart) -> PathBuf {
    let ext = match part {
        KeyPart::Secret => "key",
        KeyPart::Public => "pub",
    };
    dir.join(format!("{name}.{kind}.{ext}"))
}

/// The `kind short full` rows of keygen's report.
fn reported_fingerprints(out: &str) -> BTreeMap<String, (String, String)> {
    out.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [kind, short, full] if KeyKind::from_name(kind).is_some() => {
                    Some((kind.to_owned(), (short.to_owned(), full.to_owned())))
                }
                _ => None,
            }
        })
        .collect()
}

/// Every file in `dir` with its contents and mode.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, (fs::read(&path).unwrap(), mode(&path)))
        })
        .collect()
}

fn assert_fingerprint(reported: &BTreeMap<String, (String, String)>, kind: &str, fp: Fingerprint) {
    let (short, full) = &reported[kind];
    assert_eq!(full, &fp.to_hex(), "{kind}");
    assert_eq!(short, &fp.short(), "{kind}");
}

#[test]
fn keygen_writes_owner_only_secret_files_that_parse_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("keys"); // does not exist yet
    let run = keygen_agency(&out, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(mode(&out), 0o700, "a created --out is owner-only");

    // Exactly the six files, no temporary file left behind.
    let names: Vec<String> = snapshot(&out).into_keys().collect();
    let mut expected: Vec<String> = AGENCY_KINDS
        .iter()
        .flat_map(|k| [format!("{AGENCY}.{k}.key"), format!("{AGENCY}.{k}.pub")])
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    for kind in AGENCY_KINDS {
        let secret = key_path(&out, AGENCY, kind, KeyPart::Secret);
        assert_eq!(mode(&secret), 0o600, "{}", secret.display());
        let public = key_path(&out, AGENCY, kind, KeyPart::Public);
        assert_eq!(mode(&public) & 0o022, 0, "{}", public.display());
    }

    // Each file parses as the kind and part its name says, and the pairs match.
    let reported = reported_fingerprints(&stdout(&run));
    assert_eq!(reported.len(), 3, "{}", stdout(&run));
    let read = |kind, part| fs::read_to_string(key_path(&out, AGENCY, kind, part)).unwrap();

    let secret =
        NodeIdentitySecretKey::from_key_file(&read("node-identity", KeyPart::Secret)).unwrap();
    let public =
        NodeIdentityPublicKey::from_key_file(&read("node-identity", KeyPart::Public)).unwrap();
    assert_eq!(secret.public_key(), public);
    assert_fingerprint(&reported, "node-identity", public.fingerprint());

    let secret =
        AgencySigningSecretKey::from_key_file(&read("agency-signing", KeyPart::Secret)).unwrap();
    let public =
        AgencySigningPublicKey::from_key_file(&read("agency-signing", KeyPart::Public)).unwrap();
    assert_eq!(secret.public_key(), public);
    assert_fingerprint(&reported, "agency-signing", public.fingerprint());

    let secret =
        AgencyEncryptionSecretKey::from_key_file(&read("agency-encryption", KeyPart::Secret))
            .unwrap();
    let public =
        AgencyEncryptionPublicKey::from_key_file(&read("agency-encryption", KeyPart::Public))
            .unwrap();
    assert_eq!(secret.public_key(), public);
    assert_fingerprint(&reported, "agency-encryption", public.fingerprint());

    // Three distinct keys.
    let fulls: std::collections::BTreeSet<_> = reported.values().map(|(_, f)| f).collect();
    assert_eq!(fulls.len(), 3);
}

#[test]
fn secret_files_are_owner_only_even_with_a_permissive_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("keys");
    let run = Command::new("sh")
        .arg("-c")
        .arg(r#"umask 000 && exec "$0" keygen --agency police-prishtina --out "$1""#)
        .arg(env!("CARGO_BIN_EXE_streha"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(mode(&out), 0o700);
    for kind in AGENCY_KINDS {
        assert_eq!(mode(&key_path(&out, AGENCY, kind, KeyPart::Secret)), 0o600);
        assert_eq!(mode(&key_path(&out, AGENCY, kind, KeyPart::Public)), 0o644);
    }
}

#[test]
fn keygen_refuses_to_overwrite_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    assert!(keygen_agency(out, &[]).status.success());
    let before = snapshot(out);

    let again = keygen_agency(out, &[]);
    assert_eq!(again.status.code(), Some(2));
    let message = stderr(&again);
    assert!(message.contains("--force"), "{message}");
    assert!(message.contains("exist"), "{message}");
    assert!(message.contains(AGENCY), "{message}");
    assert!(stdout(&again).is_empty());
    assert_eq!(snapshot(out), before, "a refused keygen changes nothing");
}

#[test]
fn one_existing_target_blocks_every_write() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    // Only one of the six targets exists; it must stop the other five too.
    let blocker = key_path(out, AGENCY, "agency-encryption", KeyPart::Public);
    fs::write(&blocker, "not mine\n").unwrap();

    let run = keygen_agency(out, &[]);
    assert_eq!(run.status.code(), Some(2));
    let message = stderr(&run);
    assert!(
        message.contains(&format!(
            "{} exists; pass --force to overwrite it, or choose another --out",
            blocker.display()
        )),
        "{message}"
    );
    let left: Vec<String> = snapshot(out).into_keys().collect();
    assert_eq!(left, [format!("{AGENCY}.agency-encryption.pub")]);
    assert_eq!(fs::read_to_string(&blocker).unwrap(), "not mine\n");
}

#[test]
fn force_overwrites_with_new_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let first = keygen_agency(out, &[]);
    assert!(first.status.success());
    let before = snapshot(out);

    let forced = keygen_agency(out, &["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("replacing 6 existing key file(s)"));
    let after = snapshot(out);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "same six files, no temporary file left"
    );
    for (name, (contents, mode)) in &after {
        assert_ne!(contents, &before[name].0, "{name} holds a new key");
        if name.ends_with(".key") {
            assert_eq!(*mode, 0o600, "{name}");
        }
    }
    assert_ne!(
        reported_fingerprints(&stdout(&first)),
        reported_fingerprints(&stdout(&forced))
    );
}

#[test]
fn bad_agency_name_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("keys");
    for bad in ["Police", "police/prishtina", "../police", "", "1police"] {
        let run = streha(&["keygen", "--agency", bad, "--out", out.to_str().unwrap()]);
        assert_eq!(run.status.code(), Some(2), "{bad:?}");
        let message = stderr(&run);
        assert!(message.contains("--agency"), "{message}");
        assert!(message.contains("invalid agency id"), "{message}");
        assert!(
            message.contains("use 1 to 64 characters of a-z, 0-9 and '-', starting with a letter"),
            "{message}"
        );
        assert!(!out.exists(), "nothing is created for a bad name");
    }
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["keygen", "--out", out],                                      // no holder
        &["keygen", "--kind", "roster", "--out", out],                  // no --name
        &["keygen", "--name", "x", "--out", out],                       // no --kind
        &["keygen", "--agency", "a", "--kind", "roster", "--out", out], // both
        &[
            "keygen",
            "--kind",
            "node-identity",
            "--name",
            "x",
            "--out",
            out,
        ],
        &[
            "keygen",
            "--kind",
            "officer",
            "--name",
            "Ana Krasniqi",
            "--out",
            out,
        ],
        &["keygen", "--agency", "a"], // no --out
        &["frobnicate"],
    ];
    for args in cases {
        let run = streha(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", stderr(&run));
        assert!(stderr(&run).starts_with("error:"), "{args:?}");
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);

    // --out naming a file.
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    let run = keygen_agency(&file, &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("is not a directory; choose another --out"));
}

#[test]
fn help_documents_exit_codes() {
    for args in [
        &["--help"][..],
        &["keygen", "--help"],
        &["key", "show", "--help"],
    ] {
        let run = streha(args);
        assert_eq!(run.status.code(), Some(0), "{args:?}");
        let text = stdout(&run);
        assert!(text.contains("Exit status:"), "{args:?}");
        assert!(text.contains("2  usage or configuration error"), "{args:?}");
    }
}

#[test]
fn single_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    for (kind, name) in [
        ("roster", "national-authority"),
        ("application", "police-prishtina-app"),
        ("officer", "police-officer-1"),
    ] {
        let run = streha(&[
            "keygen",
            "--kind",
            kind,
            "--name",
            name,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        let reported = reported_fingerprints(&stdout(&run));
        assert_eq!(reported.len(), 1);

        let secret_path = key_path(out, name, kind, KeyPart::Secret);
        assert_eq!(mode(&secret_path), 0o600);
        let secret = KeyFile::parse(&fs::read_to_string(&secret_path).unwrap()).unwrap();
        let public = KeyFile::parse(
            &fs::read_to_string(key_path(out, name, kind, KeyPart::Public)).unwrap(),
        )
        .unwrap();
        assert_eq!(secret.kind().as_str(), kind);
        assert_eq!(secret.part(), KeyPart::Secret);
        assert_eq!(public.kind().as_str(), kind);
        assert_eq!(public.part(), KeyPart::Public);
        assert_eq!(secret.fingerprint(), public.fingerprint());
        assert_fingerprint(&reported, kind, public.fingerprint());
    }
    assert_eq!(snapshot(out).len(), 6);
}

#[test]
fn key_show_prints_kind_part_and_fingerprint_but_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    assert!(keygen_agency(out, &[]).status.success());
    let secret_path = key_path(out, AGENCY, "agency-signing", KeyPart::Secret);
    let secret_text = fs::read_to_string(&secret_path).unwrap();
    let secret = AgencySigningSecretKey::from_key_file(&secret_text).unwrap();
    let fp = secret.fingerprint();

    for (path, part) in [
        (secret_path.clone(), "secret"),
        (
            key_path(out, AGENCY, "agency-signing", KeyPart::Public),
            "public",
        ),
    ] {
        let run = streha(&["key", "show", path.to_str().unwrap()]);
        assert!(run.status.success(), "{}", stderr(&run));
        let text = stdout(&run);
        assert!(text.contains("kind: agency-signing\n"), "{text}");
        assert!(text.contains("algorithm: Ed25519\n"), "{text}");
        assert!(text.contains(&format!("part: {part}\n")), "{text}");
        assert!(
            text.contains(&format!("fingerprint: {}\n", fp.to_hex())),
            "{text}"
        );
        assert!(
            text.contains(&format!("fingerprint-short: {}\n", fp.short())),
            "{text}"
        );
        assert!(stderr(&run).is_empty(), "0600 secret file: no warning");
    }

    // The secret (the base64 of the `key:` line) never appears in the output.
    let secret_value = secret_text
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap();
    let run = streha(&["key", "show", secret_path.to_str().unwrap()]);
    assert!(!stdout(&run).contains(secret_value));
    assert!(!stderr(&run).contains(secret_value));

    // A secret file readable by others is shown, with a warning.
    fs::set_permissions(&secret_path, fs::Permissions::from_mode(0o644)).unwrap();
    let run = streha(&["key", "show", secret_path.to_str().unwrap()]);
    assert!(run.status.success());
    assert!(stderr(&run).contains("chmod 600"), "{}", stderr(&run));
}

#[test]
fn key_show_refuses_malformed_files_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert!(keygen_agency(dir, &[]).status.success());
    let good = fs::read_to_string(key_path(dir, AGENCY, "node-identity", KeyPart::Public)).unwrap();

    let last_hex_digit = good.trim_end().chars().last().unwrap();
    let flipped = if last_hex_digit == '0' { '1' } else { '0' };
    let mut tampered_fingerprint = good.trim_end().to_owned();
    tampered_fingerprint.pop();
    tampered_fingerprint.push(flipped);
    tampered_fingerprint.push('\n');

    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("garbage.key", b"hello\n".to_vec(), "not a Streha key file"),
        (
            "crlf.pub",
            good.replace('\n', "\r\n").into_bytes(),
            "control character",
        ),
        (
            "fingerprint.pub",
            tampered_fingerprint.into_bytes(),
            "`fingerprint:` line does not match",
        ),
        (
            "future.pub",
            good.replace("streha-key v1", "streha-key v2").into_bytes(),
            "unsupported key-file version",
        ),
        ("huge.key", vec![b'a'; 100_000], "larger than 4096 bytes"),
    ];
    for (name, contents, expected) in cases {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap();
        let run = streha(&["key", "show", path.to_str().unwrap()]);
        assert_eq!(run.status.code(), Some(1), "{name}");
        let message = stderr(&run);
        assert!(message.starts_with("error: "), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(expected), "{name}: {message}");
        assert!(stdout(&run).is_empty());
    }

    let missing = dir.join("missing.key");
    let run = streha(&["key", "show", missing.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("cannot open"), "{}", stderr(&run));
}

/// The committed demo keys of `keys-example/` parse, pair up, and match the README's table.
#[test]
fn keys_example_is_complete_and_matches_its_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys-example");
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("never for real use"));

    let mut expected: Vec<(&str, String, &str)> =
        vec![("national-authority", "national-authority".into(), "roster")];
    for agency in [
        "police-prishtina",
        "shelter-prishtina",
        "prosecution-prishtina",
    ] {
        for kind in AGENCY_KINDS {
            expected.push((agency, agency.into(), kind));
        }
        expected.push((agency, format!("{agency}-app"), "application"));
    }
    for officer in ["police-officer-1", "police-officer-2"] {
        expected.push(("police-prishtina", officer.into(), "officer"));
    }

    let mut fingerprints = std::collections::BTreeSet::new();
    for (dir, name, kind) in &expected {
        let dir = root.join(dir);
        let secret = KeyFile::parse(
            &fs::read_to_string(key_path(&dir, name, kind, KeyPart::Secret)).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}.{kind}.key: {e}"));
        let public_path = key_path(&dir, name, kind, KeyPart::Public);
        let public = KeyFile::parse(&fs::read_to_string(&public_path).unwrap())
            .unwrap_or_else(|e| panic!("{name}.{kind}.pub: {e}"));
        assert_eq!(secret.kind().as_str(), *kind);
        assert_eq!(secret.part(), KeyPart::Secret);
        assert_eq!(public.kind().as_str(), *kind);
        assert_eq!(public.part(), KeyPart::Public);
        let fp = public.fingerprint();
        assert_eq!(secret.fingerprint(), fp, "{name}.{kind}: the pair matches");
        assert!(
            fingerprints.insert(fp),
            "{name}.{kind}: every key is distinct"
        );

        // The README's row for this file.
        let relative = public_path
            .strip_prefix(&root)
            .unwrap()
            .display()
            .to_string();
        let row = format!(
            "| {name} | {kind} | `{relative}` | `{}` | `{}` |",
            fp.short(),
            fp.to_hex()
        );
        assert!(
            readme.lines().any(|line| line == row),
            "README.md lacks or has a stale row for {relative}; run keys-example/generate.sh"
        );
    }

    // No other key files in the directories (besides them: the example configurations
    // that keys-example/configure.sh writes, checked by tests/tests/config.rs).
    let files: usize = [
        "national-authority",
        "police-prishtina",
        "shelter-prishtina",
        "prosecution-prishtina",
    ]
    .into_iter()
    .flat_map(|d| fs::read_dir(root.join(d)).unwrap())
    .filter(|entry| {
        let path = entry.as_ref().unwrap().path();
        path.extension().is_some_and(|e| e == "key" || e == "pub")
    })
    .count();
    assert_eq!(files, 2 * expected.len());
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The base64 secret of a secret key file's `key:` line.
fn secret_value(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap()
        .to_owned()
}

#[test]
fn keygen_and_key_show_print_json_with_files_and_fingerprints_but_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("keys");

    // keygen --agency --json: one line of JSON, the three key pairs with their files.
    let run = keygen_agency(&out, &["--json"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    assert_eq!(text.lines().count(), 1, "{text}");
    let v = json(&text);
    assert_eq!(v["holder"], AGENCY);
    assert_eq!(v["kind"], "agency");
    assert_eq!(v["dir"], out.to_str().unwrap());
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for (key, kind) in keys.iter().zip(AGENCY_KINDS) {
        assert_eq!(key["kind"], kind);
        let secret_file = PathBuf::from(key["secret_file"].as_str().unwrap());
        let public_file = PathBuf::from(key["public_file"].as_str().unwrap());
        assert_eq!(secret_file, key_path(&out, AGENCY, kind, KeyPart::Secret));
        assert_eq!(public_file, key_path(&out, AGENCY, kind, KeyPart::Public));
        assert_eq!(mode(&secret_file), 0o600);
        let public = KeyFile::parse(&fs::read_to_string(&public_file).unwrap()).unwrap();
        assert_eq!(key["fingerprint"], public.fingerprint().to_hex().as_str());
        assert_eq!(
            key["fingerprint_short"],
            public.fingerprint().short().as_str()
        );
        assert!(!text.contains(&secret_value(&secret_file)), "{text}");
    }

    // keygen --kind officer --json.
    let run = streha(&[
        "keygen",
        "--kind",
        "officer",
        "--name",
        "police-officer-9",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let v = json(&stdout(&run));
    assert_eq!(v["holder"], "police-officer-9");
    assert_eq!(v["kind"], "officer");
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    assert_eq!(v["keys"][0]["kind"], "officer");
    let officer_secret = key_path(&out, "police-officer-9", "officer", KeyPart::Secret);
    assert_eq!(
        v["keys"][0]["secret_file"],
        officer_secret.to_str().unwrap()
    );
    assert!(!stdout(&run).contains(&secret_value(&officer_secret)));

    // A refusal stays an error on standard error, with nothing on standard output.
    let run = keygen_agency(&out, &["--json"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stdout(&run).is_empty());
    assert!(stderr(&run).contains("pass --force"), "{}", stderr(&run));

    // key show --json: the same fields as the text, for the secret and the public file.
    let signing_secret = key_path(&out, AGENCY, "agency-signing", KeyPart::Secret);
    let signing_public = key_path(&out, AGENCY, "agency-signing", KeyPart::Public);
    let public = KeyFile::parse(&fs::read_to_string(&signing_public).unwrap()).unwrap();
    for (path, part) in [(&signing_secret, "secret"), (&signing_public, "public")] {
        let run = streha(&["key", "show", path.to_str().unwrap(), "--json"]);
        assert!(run.status.success(), "{}", stderr(&run));
        let text = stdout(&run);
        assert_eq!(text.lines().count(), 1, "{text}");
        let v = json(&text);
        assert_eq!(v["file"], path.to_str().unwrap());
        assert_eq!(v["kind"], "agency-signing");
        assert_eq!(v["algorithm"], "Ed25519");
        assert_eq!(v["part"], part);
        assert_eq!(v["fingerprint"], public.fingerprint().to_hex().as_str());
        assert_eq!(
            v["fingerprint_short"],
            public.fingerprint().short().as_str()
        );
        assert_eq!(v["public_key"].as_str().unwrap().len(), 64);
        assert!(!text.contains(&secret_value(&signing_secret)), "{text}");
        assert!(stderr(&run).is_empty());
    }
    // A malformed file: an error, no JSON.
    let bad = tmp.path().join("bad.key");
    fs::write(&bad, "not a key\n").unwrap();
    let run = streha(&["key", "show", bad.to_str().unwrap(), "--json"]);
    assert!(!run.status.success());
    assert!(stdout(&run).is_empty());
}
