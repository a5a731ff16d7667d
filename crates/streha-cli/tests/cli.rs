//! The `streha` commands, run as the built binary: the roster and node configuration
//! offline, and the client commands against real daemons (this binary started under the
//! name `strehad`), each with its happy path and its clearest bad input.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use common::*;

#[test]
fn roster_init_add_remove_sign_verify_show() {
    let ws = Workspace::new();
    let roster_pub = Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub");
    ws.roster(7401, 7402);
    let body = fs::read_to_string(ws.path("roster.toml")).unwrap();
    assert!(body.contains("version = 1"), "sign bumps the body: {body}");

    // verify: text and JSON.
    let out = ok(ws.run(&[
        "roster",
        "verify",
        "roster.note",
        "--roster-key",
        &roster_pub,
    ]));
    assert!(
        out.contains("valid roster of federation `cli-test.example`, version 1"),
        "{out}"
    );
    let v = json(&ok(ws.run(&[
        "roster",
        "verify",
        "roster.note",
        "--roster-key",
        &roster_pub,
        "--json",
    ])));
    assert_eq!(v["verified"], true);
    assert_eq!(v["agencies"].as_array().unwrap().len(), 2);
    assert_eq!(v["agencies"][0]["officers"].as_array().unwrap().len(), 2);
    assert_eq!(v["agreement"][0]["id"], "police-identification");

    // show: the note (unchecked, then checked) and the body.
    let out = ok(ws.run(&["roster", "show", "roster.note"]));
    assert!(out.contains("signature NOT checked"), "{out}");
    assert!(out.contains("officer police-officer-1"), "{out}");
    let out = ok(ws.run(&["roster", "show", "roster.note", "--roster-key", &roster_pub]));
    assert!(out.contains("signature verified"), "{out}");
    let v = json(&ok(ws.run(&["roster", "show", "roster.toml", "--json"])));
    assert_eq!(v["state"], "unsigned body");

    // remove, and sign again: version 2.
    ok(ws.run(&["roster", "remove", "roster.toml", "--agency", SHELTER]));
    let out = ok(ws.run(&[
        "roster",
        "sign",
        "roster.toml",
        "--key",
        &Workspace::key(AUTHORITY, AUTHORITY, "roster", "key"),
        "--out",
        "roster-2.note",
    ]));
    assert!(out.contains("Signed roster version 2"), "{out}");
    let v = json(&ok(ws.run(&[
        "roster",
        "verify",
        "roster-2.note",
        "--roster-key",
        &roster_pub,
        "--json",
    ])));
    assert_eq!(v["version"], 2);
    assert_eq!(v["agencies"].as_array().unwrap().len(), 1);
}

#[test]
fn roster_bad_inputs_say_what_to_do() {
    let ws = Workspace::new();
    let roster_pub = Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub");
    // A federation name outside the rule.
    let err = fails(
        ws.run(&[
            "roster",
            "init",
            "--federation",
            "Kosovo!",
            "--out",
            "r.toml",
        ]),
        2,
    );
    assert!(
        err.contains("\"Kosovo!\" is not a DNS domain name"),
        "{err}"
    );
    ws.roster(7401, 7402);

    // A secret key file where the roster needs a public key.
    let err = fails(
        ws.run(&[
            "roster",
            "add",
            "roster.toml",
            "--agency",
            "prosecution-prishtina",
            "--role",
            "prosecution",
            "--address",
            "127.0.0.1:7403",
            "--node-key",
            &Workspace::key(POLICE, POLICE, "node-identity", "key"),
            "--signing-key",
            &Workspace::key(POLICE, POLICE, "agency-signing", "pub"),
            "--encryption-key",
            &Workspace::key(POLICE, POLICE, "agency-encryption", "pub"),
        ]),
        2,
    );
    assert!(err.contains("give the public key file (.pub)"), "{err}");
    // A key of another kind.
    let err = fails(
        ws.run(&[
            "roster",
            "add",
            "roster.toml",
            "--agency",
            "prosecution-prishtina",
            "--role",
            "prosecution",
            "--address",
            "127.0.0.1:7403",
            "--node-key",
            &Workspace::key(POLICE, POLICE, "agency-signing", "pub"),
            "--signing-key",
            &Workspace::key(POLICE, POLICE, "agency-signing", "pub"),
            "--encryption-key",
            &Workspace::key(POLICE, POLICE, "agency-encryption", "pub"),
        ]),
        2,
    );
    assert!(
        err.contains("where a `node-identity` key is needed"),
        "{err}"
    );
    // A role that does not exist.
    let err = fails(
        ws.run(&[
            "roster",
            "add",
            "roster.toml",
            "--agency",
            "x",
            "--role",
            "army",
            "--address",
            "1.2.3.4:5",
            "--keys",
            "keys/x",
        ]),
        2,
    );
    assert!(err.contains("unknown role `army`; one of: police"), "{err}");
    // An agency that is not there.
    let err = fails(
        ws.run(&["roster", "remove", "roster.toml", "--agency", "nobody"]),
        2,
    );
    assert!(err.contains("not in roster.toml"), "{err}");

    // Signing with a key file that is not the roster key, or readable by others.
    let err = fails(
        ws.run(&[
            "roster",
            "sign",
            "roster.toml",
            "--key",
            &Workspace::key(POLICE, POLICE, "node-identity", "key"),
            "--out",
            "x.note",
        ]),
        2,
    );
    assert!(err.contains("where a `roster` key is needed"), "{err}");
    let roster_key = ws.path(&Workspace::key(AUTHORITY, AUTHORITY, "roster", "key"));
    fs::set_permissions(&roster_key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = fails(
        ws.run(&[
            "roster",
            "sign",
            "roster.toml",
            "--key",
            roster_key.to_str().unwrap(),
            "--out",
            "x.note",
        ]),
        2,
    );
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!ws.path("x.note").exists());
    // An existing signed roster is not replaced without --force.
    fs::set_permissions(&roster_key, fs::Permissions::from_mode(0o600)).unwrap();
    let err = fails(
        ws.run(&[
            "roster",
            "sign",
            "roster.toml",
            "--key",
            roster_key.to_str().unwrap(),
            "--out",
            "roster.note",
        ]),
        2,
    );
    assert!(err.contains("pass --force"), "{err}");

    // An unsigned roster, a doctored one, one checked with another key: verification fails.
    let err = fails(
        ws.run(&[
            "roster",
            "verify",
            "roster.toml",
            "--roster-key",
            &roster_pub,
        ]),
        4,
    );
    assert!(err.contains("unsigned roster body"), "{err}");
    assert!(err.contains("streha roster sign"), "{err}");
    let note = fs::read_to_string(ws.path("roster.note")).unwrap();
    fs::write(ws.path("doctored.note"), note.replace("7402", "7499")).unwrap();
    let err = fails(
        ws.run(&[
            "roster",
            "verify",
            "doctored.note",
            "--roster-key",
            &roster_pub,
        ]),
        4,
    );
    assert!(err.contains("not validly signed"), "{err}");
    let err = fails(
        ws.run(&[
            "roster",
            "verify",
            "roster.note",
            "--roster-key",
            &Workspace::key(POLICE, POLICE, "node-identity", "pub"),
        ]),
        2,
    );
    assert!(err.contains("where a `roster` key is needed"), "{err}");
    // A signed roster given where the body is edited.
    let err = fails(
        ws.run(&["roster", "remove", "roster.note", "--agency", POLICE]),
        2,
    );
    assert!(
        err.contains("is a signed roster; edit the roster body"),
        "{err}"
    );
}

#[test]
fn node_init_writes_what_strehad_accepts_and_refuses_mismatched_keys() {
    let ws = Workspace::new();
    ws.roster(free_port(), free_port());
    let out = ok(ws.node_init(POLICE, free_port()));
    assert!(out.contains("police-prishtina.toml"), "{out}");
    let config = fs::read_to_string(ws.path("police-prishtina.toml")).unwrap();
    assert!(config.contains("agency = \"police-prishtina\""), "{config}");
    assert!(config.contains("[applications]"), "{config}");
    let profile = fs::read_to_string(ws.path("police-prishtina-client.toml")).unwrap();
    assert!(profile.contains("signing_key = "), "{profile}");
    assert!(
        !profile.contains("part: secret"),
        "the profile names files, holds no key"
    );

    // strehad (this binary under that name) accepts the configuration.
    let check = Command::new(env!("CARGO_BIN_EXE_streha"))
        .arg0("strehad")
        .args(["--config", "police-prishtina.toml", "--check"])
        .current_dir(ws.dir())
        .env("STREHA_LOG", "error")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stdout(&check).contains("configuration, keys and roster are valid"));

    // Not overwritten without --force.
    let err = fails(ws.node_init(POLICE, free_port()), 2);
    assert!(err.contains("pass --force"), "{err}");

    // An agency the roster does not list.
    let err = fails(
        ws.run(&[
            "node",
            "init",
            "--agency",
            "prosecution-prishtina",
            "--keys",
            &format!("keys/{POLICE}"),
            "--roster",
            "roster.note",
            "--roster-key",
            &Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub"),
            "--app-listen",
            "127.0.0.1:1",
            "--out",
            "p.toml",
        ]),
        2,
    );
    assert!(err.contains("is not in the roster"), "{err}");
    // Another agency's keys under this agency's names.
    let mixed = ws.path("mixed");
    fs::create_dir_all(&mixed).unwrap();
    for kind in ["node-identity.key", "node-identity.pub"] {
        fs::copy(
            ws.path(&format!("keys/{SHELTER}/{SHELTER}.{kind}")),
            mixed.join(format!("{POLICE}.{kind}")),
        )
        .unwrap();
    }
    fs::copy(
        ws.path(&format!("keys/{POLICE}/{POLICE}-app.application.pub")),
        mixed.join(format!("{POLICE}-app.application.pub")),
    )
    .unwrap();
    fs::set_permissions(
        mixed.join(format!("{POLICE}.node-identity.key")),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let err = fails(
        ws.run(&[
            "node",
            "init",
            "--agency",
            POLICE,
            "--keys",
            "mixed",
            "--roster",
            "roster.note",
            "--roster-key",
            &Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub"),
            "--app-listen",
            "127.0.0.1:1",
            "--out",
            "m.toml",
        ]),
        2,
    );
    assert!(
        err.contains("is not the node key of police-prishtina"),
        "{err}"
    );
    // An unsigned roster.
    let err = fails(
        ws.run(&[
            "node",
            "init",
            "--agency",
            POLICE,
            "--keys",
            &format!("keys/{POLICE}"),
            "--roster",
            "roster.toml",
            "--roster-key",
            &Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub"),
            "--app-listen",
            "127.0.0.1:1",
            "--out",
            "u.toml",
        ]),
        4,
    );
    assert!(err.contains("unsigned roster body"), "{err}");
}

#[test]
fn roster_and_node_init_print_json_for_scripts() {
    let ws = Workspace::new();
    let roster_pub = Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub");
    let fingerprint = |file: &str| {
        json(&ok(ws.run(&["key", "show", file, "--json"])))["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // init: the body written, version 0, unsigned.
    let v = json(&ok(ws.run(&[
        "roster",
        "init",
        "--federation",
        "cli-test.example",
        "--out",
        "roster.toml",
        "--json",
    ])));
    assert_eq!(v["roster"], "roster.toml");
    assert_eq!(v["federation"], "cli-test.example");
    assert_eq!(v["version"], 0);
    assert_eq!(v["signed"], false);
    assert_eq!(v["agencies"], 0);

    // add: the entry with its keys' full fingerprints and officers; again: replaced.
    let add = |extra: &[&str]| {
        let mut args = vec![
            "roster",
            "add",
            "roster.toml",
            "--agency",
            POLICE,
            "--role",
            "police",
            "--address",
            "127.0.0.1:7401",
            "--keys",
            "keys/police-prishtina",
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&ok(ws.run(&args)))
    };
    let officer_pub = format!("keys/{POLICE}/police-officer-1.officer.pub");
    let v = add(&["--officer", &format!("police-officer-1={officer_pub}")]);
    assert_eq!(v["roster"], "roster.toml");
    assert_eq!(v["action"], "added");
    assert_eq!(v["agencies"], 1);
    assert_eq!(v["signed"], false);
    assert_eq!(v["agency"]["id"], POLICE);
    assert_eq!(v["agency"]["role"], "police");
    assert_eq!(v["agency"]["address"], "127.0.0.1:7401");
    for (field, kind) in [
        ("node_key", "node-identity"),
        ("signing_key", "agency-signing"),
        ("encryption_key", "agency-encryption"),
    ] {
        assert_eq!(
            v["agency"][field].as_str().unwrap(),
            fingerprint(&Workspace::key(POLICE, POLICE, kind, "pub")),
            "{field}"
        );
    }
    assert_eq!(v["agency"]["officers"][0]["id"], "police-officer-1");
    assert_eq!(
        v["agency"]["officers"][0]["key"].as_str().unwrap(),
        fingerprint(&officer_pub)
    );
    assert_eq!(add(&[])["action"], "replaced");
    ok(ws.run(&[
        "roster",
        "add",
        "roster.toml",
        "--agency",
        SHELTER,
        "--role",
        "licensed_ngo",
        "--address",
        "127.0.0.1:7402",
        "--keys",
        &format!("keys/{SHELTER}"),
    ]));

    // remove.
    let v = json(&ok(ws.run(&[
        "roster",
        "remove",
        "roster.toml",
        "--agency",
        SHELTER,
        "--json",
    ])));
    assert_eq!(v["action"], "removed");
    assert_eq!(v["agency"], SHELTER);
    assert_eq!(v["agencies"], 1);

    // sign: the note and the body written, the new version, the roster key's fingerprint.
    let roster_key = Workspace::key(AUTHORITY, AUTHORITY, "roster", "key");
    let v = json(&ok(ws.run(&[
        "roster",
        "sign",
        "roster.toml",
        "--key",
        &roster_key,
        "--out",
        "roster.note",
        "--json",
    ])));
    assert_eq!(v["roster"], "roster.note");
    assert_eq!(v["body"], "roster.toml");
    assert_eq!(v["federation"], "cli-test.example");
    assert_eq!(v["version"], 1);
    assert_eq!(v["signed"], true);
    assert_eq!(v["agencies"], 1);
    assert_eq!(v["agreement_clauses"], 0);
    assert!(v["issued_at"].as_str().unwrap().ends_with('Z'), "{v}");
    assert_eq!(v["roster_key"].as_str().unwrap(), fingerprint(&roster_pub));
    let text = v.to_string();
    let secret = fs::read_to_string(ws.path(&roster_key)).unwrap();
    let secret = secret
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap();
    assert!(!text.contains(secret), "{text}");

    // node init: the files written, the roster version, the addresses, the node key.
    let v = json(&ok(ws.run(&[
        "node",
        "init",
        "--agency",
        POLICE,
        "--keys",
        &format!("keys/{POLICE}"),
        "--roster",
        "roster.note",
        "--roster-key",
        &roster_pub,
        "--app-listen",
        "127.0.0.1:7411",
        "--metrics-listen",
        "127.0.0.1:9401",
        "--data-dir",
        "police-data",
        "--out",
        "police.toml",
        "--client",
        "police-client.toml",
        "--json",
    ])));
    assert_eq!(v["config"], "police.toml");
    assert_eq!(v["client"], "police-client.toml");
    assert_eq!(v["agency"], POLICE);
    assert_eq!(v["application"], "police-prishtina-app");
    assert_eq!(v["roster_version"], 1);
    assert_eq!(v["listen"], "127.0.0.1:7401");
    assert_eq!(v["app_listen"], "127.0.0.1:7411");
    assert_eq!(v["metrics_listen"], "127.0.0.1:9401");
    assert!(
        v["data_dir"].as_str().unwrap().ends_with("police-data"),
        "{v}"
    );
    assert_eq!(
        v["node_key"].as_str().unwrap(),
        fingerprint(&Workspace::key(POLICE, POLICE, "node-identity", "pub"))
    );
    assert!(ws.path("police.toml").is_file() && ws.path("police-client.toml").is_file());
    // Without --client: no profile.
    let v = json(&ok(ws.run(&[
        "node",
        "init",
        "--agency",
        POLICE,
        "--keys",
        &format!("keys/{POLICE}"),
        "--roster",
        "roster.note",
        "--roster-key",
        &roster_pub,
        "--app-listen",
        "127.0.0.1:7411",
        "--out",
        "police-2.toml",
        "--json",
    ])));
    assert_eq!(v["client"], Value::Null);
    assert_eq!(v["metrics_listen"], Value::Null);
    // A refusal is an error line on standard error, nothing on standard output.
    let run = ws.run(&[
        "roster",
        "init",
        "--federation",
        "cli-test.example",
        "--out",
        "roster.toml",
        "--json",
    ]);
    assert!(stdout(&run).is_empty());
    let err = fails(run, 2);
    assert!(err.contains("pass --force"), "{err}");
}

/// A directory no file can be created in, even by root (`None` if there is none here).
fn unwritable_dir(ws: &Workspace) -> Option<PathBuf> {
    let read_only = ws.path("read-only");
    fs::create_dir_all(&read_only).unwrap();
    fs::set_permissions(&read_only, fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes to a 0555 directory anyway; sysfs refuses new files to everyone.
    [read_only, PathBuf::from("/sys")]
        .into_iter()
        .find(|dir| fs::write(dir.join("probe"), "").is_err())
}

#[test]
fn consent_list_and_audit_checkpoint_and_export_refuse_bad_input() {
    let ws = Workspace::new();
    ws.roster(free_port(), free_port());
    // A profile whose node is not running (it answers nothing), with a short timeout.
    ok(ws.node_init(POLICE, free_port()));
    let profile = fs::read_to_string(ws.path("police-prishtina-client.toml")).unwrap();
    fs::write(
        ws.path("police-prishtina-client.toml"),
        format!("{profile}request_timeout_ms = 1000\n"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--profile", "police-prishtina-client.toml"]);
        ws.run(&all)
    };
    /// Exactly one line on standard error, nothing on standard output.
    #[track_caller]
    fn one_line(output: Output, code: i32) -> String {
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
        let err = fails(output, code);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    }

    // consent list: a malformed subject id is a usage error, before any connection.
    for bad in ["xyz", "0123", "0123456789ABCDEF0123456789ABCDEF", ""] {
        let out = run(&["consent", "list", "--subject", bad]);
        assert!(stdout(&out).is_empty());
        let err = fails(out, 2);
        let first = err.lines().next().unwrap();
        assert!(first.contains("invalid subject id"), "{err}");
        assert!(first.contains("32 lowercase hexadecimal digits"), "{err}");
    }
    let err = fails(run(&["consent", "list"]), 2);
    assert!(err.contains("--subject"), "{err}");

    // The node unreachable: a runtime failure (exit 1) that says what to check.
    let subject = "0123456789abcdef0123456789abcdef";
    for args in [
        &["consent", "list", "--subject", subject][..],
        &["consent", "list", "--subject", subject, "--json"],
        &["audit", "checkpoint"],
        &[
            "audit",
            "checkpoint",
            "--out",
            "police.checkpoint",
            "--json",
        ],
        &["audit", "export", "--out", "police.bundle"],
    ] {
        let err = one_line(run(args), 1);
        assert!(
            err.contains("check that the node is running"),
            "{args:?}: {err}"
        );
    }
    assert!(!ws.path("police.checkpoint").exists() && !ws.path("police.bundle").exists());

    // A wrong --out is refused before the node is asked (the node is down, yet the error is
    // about the path): a missing directory, a file as directory, an existing file, a
    // directory as the file.
    fs::write(ws.path("plain-file"), "x").unwrap();
    fs::write(ws.path("existing.bundle"), "keep me").unwrap();
    fs::create_dir_all(ws.path("a-directory")).unwrap();
    for command in ["checkpoint", "export"] {
        for (out, says) in [
            (
                "no-such-dir/out",
                "the directory no-such-dir does not exist",
            ),
            ("plain-file/out", "plain-file is not a directory"),
            ("existing.bundle", "pass --force"),
            ("a-directory", "is a directory"),
        ] {
            let err = one_line(run(&["audit", command, "--out", out]), 2);
            assert!(err.contains(says), "audit {command} --out {out}: {err}");
            assert!(err.contains(out), "audit {command} --out {out}: {err}");
        }
        // A directory no file can be created in: a failure to write (exit 1).
        if let Some(dir) = unwritable_dir(&ws) {
            let out = dir.join("out");
            let err = one_line(
                run(&["audit", command, "--out", out.to_str().unwrap(), "--force"]),
                1,
            );
            assert!(err.contains("no file can be created in"), "{err}");
            assert!(!out.exists());
        }
    }
    assert_eq!(
        fs::read_to_string(ws.path("existing.bundle")).unwrap(),
        "keep me"
    );
    // audit export needs --out.
    let err = fails(run(&["audit", "export"]), 2);
    assert!(err.contains("--out"), "{err}");
}

/// A running two-agency federation configured entirely with the CLI.
struct Running {
    ws: Workspace,
    _daemons: Vec<Daemon>,
}

impl Running {
    fn start() -> Self {
        let ws = Workspace::new();
        ws.roster(free_port(), free_port());
        ok(ws.node_init(POLICE, free_port()));
        ok(ws.node_init(SHELTER, free_port()));
        let daemons = vec![
            Daemon::start(&ws.path(&format!("{POLICE}.toml"))),
            Daemon::start(&ws.path(&format!("{SHELTER}.toml"))),
        ];
        Self {
            ws,
            _daemons: daemons,
        }
    }

    /// `streha ARGS… --profile AGENCY-client.toml`.
    fn as_agency(&self, agency: &str, args: &[&str]) -> Output {
        let profile = format!("{agency}-client.toml");
        let mut all = args.to_vec();
        all.extend_from_slice(&["--profile", profile.as_str()]);
        self.ws.run(&all)
    }

    fn register(&self, agency: &str, age: &str, extra: &[&str]) -> String {
        let mut args = vec!["subject", "register", "--age", age, "--json"];
        args.extend_from_slice(extra);
        let v = json(&ok(self.as_agency(agency, &args)));
        v["subject"].as_str().unwrap().to_owned()
    }

    fn grant(&self, subject: &str, by: &str, until: &[&str]) -> String {
        let mut args = vec![
            "consent",
            "grant",
            "--subject",
            subject,
            "--granted-by",
            by,
            "--to",
            "agency:police-prishtina",
            "--category",
            "medical",
            "--purpose",
            "assistance",
            "--recorded-by",
            "intake-1",
            "--json",
        ];
        args.extend_from_slice(until);
        let v = json(&ok(self.as_agency(SHELTER, &args)));
        v["consent"].as_str().unwrap().to_owned()
    }

    fn send_medical(&self, subject: &str, consent: &str) -> Output {
        self.as_agency(
            SHELTER,
            &[
                "send",
                "--subject",
                subject,
                "--to",
                POLICE,
                "--purpose",
                "assistance",
                "--consent",
                consent,
                "--field",
                "medical:treatment=@treatment.txt",
                "--wait",
                "20",
                "--json",
            ],
        )
    }
}

#[test]
fn subject_consent_send_inbox_and_audit_against_real_daemons() {
    let fed = Running::start();
    fs::write(
        fed.ws.path("treatment.txt"),
        "cli-test: follow-up in two weeks",
    )
    .unwrap();

    // subject register; a bad age status.
    let adult = fed.register(SHELTER, "adult", &[]);
    let err = fails(
        fed.as_agency(SHELTER, &["subject", "register", "--age", "old"]),
        2,
    );
    assert!(err.contains("presumed_child"), "{err}");

    // consent grant; an expired consent and an unknown subject are refused.
    let consent = fed.grant(&adult, "subject", &["--days", "30"]);
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "consent",
                "grant",
                "--subject",
                &adult,
                "--granted-by",
                "subject",
                "--to",
                "agency:police-prishtina",
                "--category",
                "medical",
                "--purpose",
                "assistance",
                "--recorded-by",
                "intake-1",
                "--valid-from",
                "2020-01-01",
                "--expires",
                "2020-02-01",
            ],
        ),
        2,
    );
    assert!(err.contains("would already have expired"), "{err}");
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "consent",
                "grant",
                "--subject",
                "00000000000000000000000000000000",
                "--granted-by",
                "subject",
                "--to",
                "role:police",
                "--category",
                "medical",
                "--purpose",
                "assistance",
                "--recorded-by",
                "intake-1",
                "--days",
                "1",
            ],
        ),
        2,
    );
    assert!(err.contains("is not registered at this node"), "{err}");
    // A consent cannot name identity or protection data.
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "consent",
                "grant",
                "--subject",
                &adult,
                "--granted-by",
                "subject",
                "--to",
                "role:police",
                "--category",
                "identity",
                "--purpose",
                "assistance",
                "--recorded-by",
                "intake-1",
                "--days",
                "1",
            ],
        ),
        2,
    );
    assert!(err.contains("Art. 18.2"), "{err}");

    // consent list; a subject the node does not know has no consents.
    let v = json(&ok(fed.as_agency(
        SHELTER,
        &["consent", "list", "--subject", &adult, "--json"],
    )));
    assert_eq!(v["consents"][0]["consent"], consent.as_str());
    assert_eq!(v["consents"][0]["in_force"], true);
    let v = json(&ok(fed.as_agency(
        SHELTER,
        &[
            "consent",
            "list",
            "--subject",
            "0123456789abcdef0123456789abcdef",
            "--json",
        ],
    )));
    assert_eq!(v["consents"].as_array().map(Vec::len), Some(0), "{v}");
    let err = fails(
        fed.as_agency(SHELTER, &["consent", "list", "--subject", "not-an-id"]),
        2,
    );
    assert!(err.contains("invalid subject id"), "{err}");

    // send: allowed and delivered.
    let v = json(&ok(fed.send_medical(&adult, &consent)));
    assert_eq!(v["delivery"]["state"], "delivered", "{v}");
    let envelope = v["envelope"].as_str().unwrap().to_owned();
    // A protection category is refused by the parser, citing the article.
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "send",
                "--subject",
                &adult,
                "--to",
                POLICE,
                "--purpose",
                "assistance",
                "--field",
                "protection_measures:safe_house=x",
            ],
        ),
        2,
    );
    assert!(err.contains("Art. 18.4"), "{err}");
    // … and in a fields file, with the line at fault.
    fs::write(
        fed.ws.path("fields.txt"),
        "# a record\nidentity:alias=A.\nshelter_location:address=x\n",
    )
    .unwrap();
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "send",
                "--subject",
                &adult,
                "--to",
                POLICE,
                "--purpose",
                "identification_and_referral",
                "--fields-file",
                "fields.txt",
            ],
        ),
        2,
    );
    assert!(
        err.contains("fields.txt line 3") && err.contains("Art. 18.4"),
        "{err}"
    );
    // Assistance data without a consent: refused by the policy and logged (exit 3).
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "send",
                "--subject",
                &adult,
                "--to",
                POLICE,
                "--purpose",
                "assistance",
                "--field",
                "medical:x=y",
            ],
        ),
        3,
    );
    assert!(
        err.contains("Art. 18.3") && err.contains("logged at index"),
        "{err}"
    );
    // An unknown subject: refused by the policy.
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "send",
                "--subject",
                "0123456789abcdef0123456789abcdef",
                "--to",
                POLICE,
                "--purpose",
                "identification_and_referral",
                "--field",
                "identity:alias=x",
            ],
        ),
        3,
    );
    assert!(err.contains("is not registered here"), "{err}");
    // An expired consent: refused by the policy.
    let brief = fed.grant(
        &adult,
        "subject",
        &["--valid-from", "now", "--expires", &in_ms(1500)],
    );
    std::thread::sleep(Duration::from_millis(2000));
    let err = fails(fed.send_medical(&adult, &brief), 3);
    assert!(err.contains("not in force"), "{err}");
    // A revoked consent: refused.
    ok(fed.as_agency(
        SHELTER,
        &["consent", "revoke", &consent, "--recorded-by", "intake-1"],
    ));
    let err = fails(fed.send_medical(&adult, &consent), 3);
    assert!(err.contains("not in force"), "{err}");
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "consent",
                "revoke",
                "00000000000000000000000000000000",
                "--recorded-by",
                "intake-1",
            ],
        ),
        2,
    );
    assert!(err.contains("does not exist"), "{err}");

    // inbox list and open at the police.
    let v = json(&ok(fed.as_agency(POLICE, &["inbox", "list", "--json"])));
    assert_eq!(v["entries"][0]["envelope"], envelope.as_str());
    assert_eq!(v["entries"][0]["categories"][0], "medical");
    let listed = ok(fed.as_agency(POLICE, &["inbox", "list"]));
    assert!(!listed.contains("follow-up"), "the list shows no content");
    let opened = ok(fed.as_agency(POLICE, &["inbox", "open", &envelope]));
    assert!(
        opened.contains("medical:treatment=cli-test: follow-up in two weeks"),
        "{opened}"
    );
    let err = fails(
        fed.as_agency(
            POLICE,
            &["inbox", "open", "00000000000000000000000000000000"],
        ),
        2,
    );
    assert!(err.contains("not in the inbox"), "{err}");

    // audit checkpoint, prove, export at the shelter.
    let v = json(&ok(
        fed.as_agency(SHELTER, &["audit", "checkpoint", "--json"])
    ));
    let size = v["size"].as_u64().unwrap();
    assert!(size > 3);
    assert!(
        v["note"]
            .as_str()
            .unwrap()
            .starts_with("cli-test.example/streha/shelter-prishtina\n")
    );
    let out = ok(fed.as_agency(SHELTER, &["audit", "prove", "0", "--out", "entry0.proof"]));
    assert!(out.contains("entry 0:"), "{out}");
    let proof = fs::read_to_string(fed.ws.path("entry0.proof")).unwrap();
    assert!(
        proof.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n"),
        "{proof}"
    );
    assert!(fed.ws.path("entry0.proof.entry").exists());
    let err = fails(
        fed.as_agency(SHELTER, &["audit", "prove", "100000", "--out", "far.proof"]),
        2,
    );
    assert!(err.contains("beyond the latest checkpoint"), "{err}");
    let v = json(&ok(fed.as_agency(
        SHELTER,
        &["audit", "export", "--out", "shelter.bundle", "--json"],
    )));
    assert!(v["entries"].as_u64().unwrap() >= size);
    let bundle = fs::read(fed.ws.path("shelter.bundle")).unwrap();
    assert!(bundle.starts_with(b"STREHA-LOG-BUNDLE\n"));

    // audit check-proof: the proof `audit prove` wrote checks offline against the roster …
    let roster_pub = Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub");
    let check = |proof: &str, entry: &str, json: bool| {
        let mut args = vec![
            "audit",
            "check-proof",
            proof,
            "--entry",
            entry,
            "--roster",
            "roster.note",
            "--roster-key",
            roster_pub.as_str(),
        ];
        if json {
            args.push("--json");
        }
        fed.ws.run(&args)
    };
    let out = ok(check("entry0.proof", "entry0.proof.entry", false));
    assert!(out.contains("entry 0 ("), "{out}");
    // Without --entry, the entry is read from PROOF.entry, where `audit prove` wrote it.
    let out = ok(fed.ws.run(&[
        "audit",
        "check-proof",
        "entry0.proof",
        "--roster",
        "roster.note",
        "--roster-key",
        roster_pub.as_str(),
    ]));
    assert!(out.contains("entry 0 ("), "{out}");
    assert!(out.contains(&format!("log of `{SHELTER}`")), "{out}");
    let v = json(&ok(check("entry0.proof", "entry0.proof.entry", true)));
    assert_eq!(v["index"].as_u64(), Some(0));
    assert_eq!(v["agency"].as_str(), Some(SHELTER));
    assert_eq!(v["size"].as_u64(), Some(size));
    // … and not for other bytes, nor for a proof whose index was changed (exit 4).
    let mut tampered = fs::read(fed.ws.path("entry0.proof.entry")).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    fs::write(fed.ws.path("tampered.entry"), &tampered).unwrap();
    let err = fails(check("entry0.proof", "tampered.entry", false), 4);
    assert!(err.contains("entry0.proof"), "{err}");
    fs::write(
        fed.ws.path("moved.proof"),
        proof.replacen("\nindex 0\n", "\nindex 1\n", 1),
    )
    .unwrap();
    fails(check("moved.proof", "entry0.proof.entry", false), 4);
    // A file that is not a proof: exit 4 with the line; a missing one: a usage error.
    fs::write(fed.ws.path("garbage.proof"), "not a proof\n").unwrap();
    fails(check("garbage.proof", "entry0.proof.entry", false), 4);
    fails(check("missing.proof", "entry0.proof.entry", false), 2);

    // audit subject: the shelter's disclosures go to the police, but a shelter is never
    // shown (Art. 18.4): nothing is listed, nor is the shelter named; the notice is there.
    let subject = |id: &str, json: bool| {
        let mut args = vec![
            "audit",
            "subject",
            id,
            "shelter.bundle",
            "--roster",
            "roster.note",
            "--roster-key",
            roster_pub.as_str(),
        ];
        if json {
            args.push("--json");
        }
        fed.ws.run(&args)
    };
    let out = ok(subject(&adult, false));
    assert!(
        out.starts_with(&format!(
            "Disclosures about subject {adult}\n  (none shown)\n"
        )),
        "{out}"
    );
    assert!(out.contains("Art. 18.4"), "{out}");
    assert!(!out.contains(SHELTER), "{out}");
    let v = json(&ok(subject(&adult, true)));
    assert_eq!(v["format"].as_str(), Some("streha-subject-view/v1"));
    assert_eq!(v["subject"].as_str(), Some(adult.as_str()));
    assert_eq!(v["disclosures"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["logs_verified"].as_bool(), Some(true));
    assert!(!v.to_string().contains(SHELTER));
    let err = fails(subject("not-an-id", false), 2);
    assert!(err.contains("not-an-id") || err.contains("hex"), "{err}");

    // audit verify: one good bundle, one that is not a bundle, one missing. The good one is
    // still verified and reported; each unusable one is a finding; the exit status is 4
    // (spec/verification.md §1). The report says how it was made.
    fs::write(fed.ws.path("garbage.bundle"), b"not a bundle").unwrap();
    let run = fed.ws.run(&[
        "audit",
        "verify",
        "shelter.bundle",
        "garbage.bundle",
        "missing.bundle",
        "--roster",
        "roster.note",
        "--roster-key",
        roster_pub.as_str(),
        "--json",
    ]);
    assert_eq!(run.status.code(), Some(4), "{}", stderr(&run));
    let v = json(&stdout(&run));
    let unreadable: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "unreadable_bundle")
        .map(|f| f["node"].as_str().unwrap())
        .collect();
    assert_eq!(unreadable, ["garbage.bundle", "missing.bundle"], "{v}");
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["nodes"][0]["agency"].as_str(), Some(SHELTER));
    let inputs = v["meta"]["inputs"].as_array().unwrap();
    let kinds: Vec<&str> = inputs.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["roster_key", "roster", "bundle", "bundle", "bundle"]
    );
    assert_eq!(inputs[2]["sha256"].as_str().map(str::len), Some(64));
    assert!(
        inputs[3]["error"]
            .as_str()
            .unwrap()
            .contains("not a valid log bundle")
    );
    assert!(inputs[4]["sha256"].is_null());
    assert!(v["meta"]["generated_at"].as_str().is_some());
    assert!(
        v["meta"]["verifier"]
            .as_str()
            .unwrap()
            .starts_with("streha-verify ")
    );
    assert_eq!(
        v["meta"]["roster_key_fingerprint"].as_str().map(str::len),
        Some(64)
    );
    // The good bundle alone: clean, exit 0.
    ok(fed.ws.run(&[
        "audit",
        "verify",
        "shelter.bundle",
        "--roster",
        "roster.note",
        "--roster-key",
        roster_pub.as_str(),
    ]));
}

/// A UTC time `ms` milliseconds from now, as the CLI reads it.
fn in_ms(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + ms;
    streha_core::Timestamp(now).to_string()
}

#[test]
fn rekey_and_urgent_danger_from_the_command_line() {
    let fed = Running::start();

    // subject rekey: prints the new id, writes the salt 0600, which opens the commitment.
    let old = fed.register(
        SHELTER,
        "presumed_child",
        &["--representative", "guardian-1"],
    );
    let v = json(&ok(fed.as_agency(
        SHELTER,
        &["subject", "rekey", &old, "--salt-out", "salt.txt", "--json"],
    )));
    let new = v["subject"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let salt_file = fed.ws.path("salt.txt");
    assert_eq!(mode(&salt_file), 0o600);
    let text = fs::read_to_string(&salt_file).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_owned()
    };
    assert_eq!(field("old"), old);
    assert_eq!(field("new"), new);
    let salt: [u8; 32] = hex::decode(field("salt")).unwrap().try_into().unwrap();
    let commitment = streha_core::rekey_commitment(&salt, new.parse().unwrap());
    assert_eq!(field("commitment"), hex::encode(commitment));
    // The old id is closed; an unknown subject cannot be re-keyed; the salt file is never
    // overwritten.
    let err = fails(
        fed.as_agency(
            SHELTER,
            &["subject", "rekey", &old, "--salt-out", "salt-2.txt"],
        ),
        2,
    );
    assert!(err.contains("re-keyed"), "{err}");
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "subject",
                "rekey",
                "00000000000000000000000000000000",
                "--salt-out",
                "salt-3.txt",
            ],
        ),
        2,
    );
    assert!(err.contains("not registered"), "{err}");
    let err = fails(
        fed.as_agency(
            SHELTER,
            &["subject", "rekey", &new, "--salt-out", "salt.txt"],
        ),
        2,
    );
    assert!(err.contains("exists"), "{err}");
    assert!(!fed.ws.path("salt-2.txt").exists() && !fed.ws.path("salt-3.txt").exists());

    // Urgent danger (Art. 45.3) from the police to itself is not possible; to the shelter
    // no clause allows it; but the approvals are checked first: one approval is refused,
    // two distinct officers pass that rule and the agreement decides.
    let subject = fed.register(POLICE, "adult", &[]);
    let officer =
        |n: u8| format!("police-officer-{n}=keys/{POLICE}/police-officer-{n}.officer.key");
    let send = |approvals: &[String]| {
        let mut args: Vec<String> = [
            "send",
            "--subject",
            &subject,
            "--to",
            SHELTER,
            "--purpose",
            "urgent_danger",
            "--field",
            "identity:alias=A.",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for approval in approvals {
            args.push("--approval".into());
            args.push(approval.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fed.as_agency(POLICE, &args)
    };
    let err = fails(send(&[officer(1)]), 3);
    assert!(err.contains("two different officers"), "{err}");
    let err = fails(send(&[officer(1), officer(2)]), 3);
    assert!(err.contains("no clause of the exchange agreement"), "{err}");
    // The same officer twice is refused before anything is sent.
    let err = fails(send(&[officer(1), officer(1)]), 2);
    assert!(err.contains("must come from a different officer"), "{err}");

    // Allowed: the victim's status, which a clause allows the shelter in urgent danger,
    // approved by two distinct officers of the police, is disclosed, delivered, and logged
    // flagged for review at both ends.
    let v = json(&ok(fed.as_agency(
        POLICE,
        &[
            "send",
            "--subject",
            &subject,
            "--to",
            SHELTER,
            "--purpose",
            "urgent_danger",
            "--field",
            "victim_status:status=in immediate danger",
            "--approval",
            &officer(1),
            "--approval",
            &officer(2),
            "--wait",
            "20",
            "--json",
        ],
    )));
    assert_eq!(v["delivery"]["state"], "delivered", "{v}");
    let envelope = v["envelope"].as_str().unwrap().to_owned();
    let index = v["log_index"].as_u64().unwrap();
    // The sender's `disclosed` entry, proven from its log: flagged for review, with both
    // approvals in the logged header.
    let proven = json(&ok(fed.as_agency(
        POLICE,
        &[
            "audit",
            "prove",
            &index.to_string(),
            "--out",
            "urgent.proof",
            "--json",
        ],
    )));
    let describes = proven["describes"].as_str().unwrap();
    assert!(
        describes.contains("flagged for urgent-danger review"),
        "{describes}"
    );
    let entry =
        streha_core::AuditEntry::decode(&fs::read(fed.ws.path("urgent.proof.entry")).unwrap())
            .unwrap();
    let streha_core::AuditEntry::Disclosed {
        header,
        urgent_review,
        ..
    } = entry
    else {
        panic!("entry {index} is not `disclosed`: {entry:?}");
    };
    assert!(urgent_review);
    assert_eq!(header.envelope_id.to_string(), envelope);
    assert_eq!(header.purpose.as_str(), "urgent_danger");
    assert_eq!(header.approvals.len(), 2);
    let approvers: std::collections::BTreeSet<String> = header
        .approvals
        .iter()
        .map(|a| a.officer.to_string())
        .collect();
    assert_eq!(approvers.len(), 2, "{approvers:?}");
    // Delivered: in the shelter's inbox, for urgent danger, and it opens.
    let inbox = json(&ok(fed.as_agency(SHELTER, &["inbox", "list", "--json"])));
    let received = inbox["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["envelope"] == envelope.as_str())
        .unwrap_or_else(|| panic!("{envelope} not in the shelter's inbox: {inbox}"));
    assert_eq!(received["purpose"], "urgent_danger", "{received}");
    let opened = ok(fed.as_agency(SHELTER, &["inbox", "open", &envelope]));
    assert!(
        opened.contains("victim_status:status=in immediate danger"),
        "{opened}"
    );
    // An approval key file of the wrong kind.
    let err = fails(
        send(&[format!(
            "police-officer-1=keys/{POLICE}/{POLICE}.agency-signing.key"
        )]),
        2,
    );
    assert!(err.contains("where a `officer` key is needed"), "{err}");
}

#[test]
fn the_profile_must_exist_and_name_the_right_key_files() {
    let ws = Workspace::new();
    let err = fails(ws.run(&["subject", "register", "--age", "adult"]), 2);
    assert!(err.contains("client.toml"), "{err}");
    assert!(err.contains("streha node init"), "{err}");
    ws.roster(free_port(), free_port());
    ok(ws.node_init(POLICE, free_port()));
    // The encryption key where the signing key belongs.
    let profile = fs::read_to_string(ws.path("police-prishtina-client.toml")).unwrap();
    let wrong = profile.replace(
        "police-prishtina.agency-signing.key",
        "police-prishtina.agency-encryption.key",
    );
    fs::write(ws.path("wrong.toml"), wrong).unwrap();
    let err = fails(ws.run(&["inbox", "list", "--profile", "wrong.toml"]), 2);
    assert!(err.contains("`signing_key`"), "{err}");
    assert!(
        err.contains("where a `agency-signing` key is needed"),
        "{err}"
    );
    // No node listening: a runtime failure, with what to check.
    let profile = fs::read_to_string(ws.path("police-prishtina-client.toml")).unwrap();
    fs::write(
        ws.path("police-prishtina-client.toml"),
        format!("{profile}request_timeout_ms = 1000\n"),
    )
    .unwrap();
    let err = fails(
        ws.run(&["inbox", "list", "--profile", "police-prishtina-client.toml"]),
        1,
    );
    assert!(err.contains("check that the node is running"), "{err}");
}

#[test]
fn every_command_documents_its_exit_codes() {
    let ws = Workspace::new();
    for args in [
        &["--help"][..],
        &["roster", "--help"],
        &["roster", "sign", "--help"],
        &["node", "init", "--help"],
        &["subject", "rekey", "--help"],
        &["consent", "grant", "--help"],
        &["send", "--help"],
        &["inbox", "open", "--help"],
        &["audit", "prove", "--help"],
        &["demo", "--help"],
    ] {
        let text = ok(ws.run(args));
        assert!(text.contains("Exit status:"), "{args:?}");
        assert!(
            text.contains("3  the disclosure policy refused"),
            "{args:?}"
        );
    }
}

/// `roster init` takes the federation's DNS domain (issue 17 point 2): a bare name is
/// refused with the value, the rule and why; a domain is accepted and the origins it gives
/// are printed (with a note for a domain reserved for examples).
#[test]
fn roster_init_takes_the_federations_domain() {
    let ws = Workspace::new();
    let err = fails(
        ws.run(&[
            "roster",
            "init",
            "--federation",
            "kosovo",
            "--out",
            "roster.toml",
        ]),
        2,
    );
    assert!(err.contains("--federation"), "{err}");
    assert!(err.contains("\"kosovo\" is not a DNS domain name"), "{err}");
    assert!(err.contains("<domain>/streha/<agency>"), "{err}");
    assert!(!ws.path("roster.toml").exists());

    let out = ok(ws.run(&[
        "roster",
        "init",
        "--domain",
        "kosovo-demo.example",
        "--out",
        "roster.toml",
    ]));
    assert!(
        out.contains("`kosovo-demo.example/streha/<agency>`"),
        "{out}"
    );
    assert!(out.contains("reserved for examples and tests"), "{out}");
    let body = fs::read_to_string(ws.path("roster.toml")).unwrap();
    assert!(
        body.contains("federation = \"kosovo-demo.example\""),
        "{body}"
    );
    let out = ok(ws.run(&[
        "roster",
        "init",
        "--federation",
        "trafficking.rks-gov.net",
        "--out",
        "real.toml",
    ]));
    assert!(!out.contains("reserved"), "{out}");
}

/// Output to a reader that went away (`streha … 2>&1 | head`) never panics (exit 101): the
/// command stops writing and exits with the status its work earned (issue 18 point 6).
#[test]
fn a_closed_pipe_never_panics_and_the_exit_status_stands() {
    let ws = Workspace::new();
    ws.roster(7401, 7402);
    ok(ws.run(&[
        "keygen", "--kind", "roster", "--name", "impostor", "--out", "other",
    ]));
    // Standard output and standard error both a pipe whose reader is closed.
    let closed = |args: &[&str]| -> Option<i32> {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Command::new(env!("CARGO_BIN_EXE_streha"))
            .current_dir(ws.dir())
            .env_remove("STREHA_PROFILE")
            .args(args)
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .status()
            .unwrap()
            .code()
    };
    let roster_pub = Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub");
    assert_eq!(closed(&["key", "show", &roster_pub]), Some(0));
    assert_eq!(closed(&["roster", "show", "roster.toml"]), Some(0));
    assert_eq!(
        closed(&[
            "roster",
            "verify",
            "roster.note",
            "--roster-key",
            &roster_pub
        ]),
        Some(0)
    );
    assert_eq!(closed(&["--help"]), Some(0));
    assert_eq!(closed(&["audit", "verify", "--help"]), Some(0));
    // Failures keep their documented codes even when they cannot be told.
    assert_eq!(
        closed(&[
            "roster",
            "init",
            "--federation",
            "kosovo",
            "--out",
            "x.toml"
        ]),
        Some(2)
    );
    assert_eq!(
        closed(&[
            "roster",
            "verify",
            "roster.note",
            "--roster-key",
            "other/impostor.roster.pub",
        ]),
        Some(4)
    );
    assert_eq!(closed(&["no-such-command"]), Some(2));
}

/// After `subject rekey` the representatives are gone; `subject add-representative` brings
/// a re-keyed child's representative back, so a consented disclosure is possible again;
/// `subject age` records an adult age (issue 18 point 5).
#[test]
fn a_rekeyed_child_gets_its_representative_back_and_an_age_can_be_recorded() {
    let fed = Running::start();
    let old = fed.register(SHELTER, "child", &["--representative", "guardian-1"]);
    let v = json(&ok(fed.as_agency(
        SHELTER,
        &["subject", "rekey", &old, "--salt-out", "salt.txt", "--json"],
    )));
    let child = v["subject"].as_str().unwrap().to_owned();

    // Under the new id the representative is not registered: their consent is refused.
    let grant = |by: &str| {
        fed.as_agency(
            SHELTER,
            &[
                "consent",
                "grant",
                "--subject",
                &child,
                "--granted-by",
                by,
                "--to",
                "agency:police-prishtina",
                "--category",
                "medical",
                "--purpose",
                "assistance",
                "--recorded-by",
                "intake-1",
                "--days",
                "30",
                "--json",
            ],
        )
    };
    // Refused when recorded (a policy refusal, exit 3), and the refusal logged.
    let err = fails(grant("representative:guardian-1"), 3);
    assert!(err.contains("guardian-1"), "{err}");

    let v = json(&ok(fed.as_agency(
        SHELTER,
        &[
            "subject",
            "add-representative",
            &child,
            "--representative",
            "guardian-1",
            "--json",
        ],
    )));
    assert_eq!(v["subject"].as_str(), Some(child.as_str()));
    assert_eq!(v["representative"].as_str(), Some("guardian-1"));
    assert!(v["log_index"].as_u64().is_some());
    let consent = json(&ok(grant("representative:guardian-1")))["consent"]
        .as_str()
        .unwrap()
        .to_owned();
    fs::write(fed.ws.path("treatment.txt"), "follow-up").unwrap();
    let sent = json(&ok(fed.send_medical(&child, &consent)));
    assert_eq!(
        sent["delivery"]["state"].as_str(),
        Some("delivered"),
        "{sent}"
    );

    // The delivery's state, asked again by its envelope id.
    let envelope = sent["envelope"].as_str().unwrap();
    let status = json(&ok(
        fed.as_agency(SHELTER, &["delivery", "status", envelope, "--json"])
    ));
    assert_eq!(status["delivery"]["state"].as_str(), Some("delivered"));
    let text = ok(fed.as_agency(SHELTER, &["delivery", "status", envelope]));
    assert!(text.contains("Delivered"), "{text}");

    // subject age: the person is found to be an adult; their own consent then counts.
    let out = ok(fed.as_agency(SHELTER, &["subject", "age", &child, "--age", "adult"]));
    assert!(out.contains("adult"), "{out}");
    ok(grant("subject"));
    let err = fails(
        fed.as_agency(SHELTER, &["subject", "age", &child, "--age", "grown-up"]),
        2,
    );
    assert!(err.contains("presumed_child"), "{err}");
    let err = fails(
        fed.as_agency(
            SHELTER,
            &[
                "subject",
                "age",
                "00000000000000000000000000000000",
                "--age",
                "adult",
            ],
        ),
        2,
    );
    assert!(err.contains("not registered"), "{err}");
}

/// Every operation of the client library that an officer or operator needs has a
/// command (issue 18 point 5): the list of `Client`'s network operations is read from its
/// source, so a new operation without a command (or a stated reason for having none) fails
/// this test.
#[test]
fn every_officer_operation_of_the_client_library_has_a_command() {
    // Operation → the command that performs it.
    let commands: &[(&str, &[&str])] = &[
        ("register_subject", &["subject", "register"]),
        ("record_age_status", &["subject", "age"]),
        ("add_representative", &["subject", "add-representative"]),
        ("rekey_subject", &["subject", "rekey"]),
        ("grant_consent", &["consent", "grant"]),
        ("revoke_consent", &["consent", "revoke"]),
        ("consents", &["consent", "list"]),
        ("consents_page", &["consent", "list"]),
        ("submit", &["send"]),
        ("await_delivery", &["delivery", "status"]),
        ("delivery_status", &["delivery", "status"]),
        ("held_deliveries", &["delivery", "held"]),
        ("all_held_deliveries", &["delivery", "held"]),
        ("witness_evidence", &["witness", "evidence"]),
        ("all_witness_evidence", &["witness", "evidence"]),
        ("inbox", &["inbox", "list"]),
        ("open", &["inbox", "open"]),
        ("checkpoint", &["audit", "checkpoint"]),
        ("published_checkpoint", &["audit", "checkpoint"]),
        ("prove_entry", &["audit", "prove"]),
        ("prove_published", &["audit", "prove"]),
        ("export_bundle", &["audit", "export"]),
        ("export_cosigned_bundle", &["audit", "export"]),
    ];
    // Operations without a command of their own, and why.
    let covered_otherwise: &[(&str, &str)] = &[
        ("connect", "every node command connects with --profile"),
        ("close", "every node command closes its connection"),
        (
            "refresh_roster",
            "every command fetches and verifies the roster when it connects",
        ),
        (
            "report_violation",
            "`inbox open` reports a record that breaks its declaration",
        ),
        (
            "prove_consistency",
            "the client checks each checkpoint's consistency itself; `audit export` and \
             `audit verify` check every checkpoint",
        ),
        (
            "prove_entry_in_epoch",
            "an earlier log epoch is the node's kept bundle `epochs/<n>.bundle`, which the \
             officer verifies offline with `audit verify`; `audit prove` proves in the \
             current epoch",
        ),
    ];
    let source = fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../streha-client/src/client.rs"),
    )
    .unwrap();
    let operations: Vec<&str> = source
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub async fn "))
        .map(|rest| rest.split(['(', '<']).next().unwrap())
        .collect();
    assert!(operations.len() >= 20, "{operations:?}");
    for op in &operations {
        let known =
            commands.iter().any(|(o, _)| o == op) || covered_otherwise.iter().any(|(o, _)| o == op);
        assert!(
            known,
            "Client::{op} has no `streha` command and no stated reason; add one to the CLI \
             and to this list"
        );
    }
    let ws = Workspace::new();
    for (op, command) in commands {
        assert!(operations.contains(op), "{op} is not a Client operation");
        let mut args = command.to_vec();
        args.push("--help");
        let help = ok(ws.run(&args));
        assert!(help.contains("--profile"), "{command:?}: {help}");
    }
}

/// `--profile` appears only in the help of commands that talk to a node; the offline
/// audit commands take bundles the same way (issue 18 point 16).
#[test]
fn the_profile_flag_is_offered_only_where_a_node_is_asked() {
    let ws = Workspace::new();
    for command in [
        &["keygen"][..],
        &["key", "show"],
        &["roster", "init"],
        &["roster", "add"],
        &["roster", "sign"],
        &["roster", "verify"],
        &["roster", "show"],
        &["node", "init"],
        &["audit", "verify"],
        &["audit", "subject"],
        &["audit", "check-proof"],
        &["demo"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = ok(ws.run(&args));
        assert!(
            !help.contains("--profile"),
            "{command:?} offers --profile:\n{help}"
        );
    }
    let top = ok(ws.run(&["--help"]));
    assert!(!top.contains("--profile"), "{top}");
    for command in [
        &["subject", "register"][..],
        &["consent", "list"],
        &["send"],
        &["inbox", "open"],
        &["audit", "checkpoint"],
        &["delivery", "held"],
        &["witness", "evidence"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        assert!(ok(ws.run(&args)).contains("--profile"), "{command:?}");
    }
    // Offline audit commands: bundles are positional for `subject` as for `verify`.
    let subject = ok(ws.run(&["audit", "subject", "--help"]));
    let verify = ok(ws.run(&["audit", "verify", "--help"]));
    assert!(subject.contains("<BUNDLE>..."), "{subject}");
    assert!(verify.contains("<BUNDLE>..."), "{verify}");
    assert!(!subject.contains("--bundle"), "{subject}");
    let check = ok(ws.run(&["audit", "check-proof", "--help"]));
    assert!(check.contains("[default: PROOF.entry"), "{check}");
}

/// `inbox open --out DIR` writes each field to its own 0600 file and prints no content;
/// `--json` gives bytes in base64; the text form never prints binary (issue 18 point 15).
#[test]
fn inbox_open_writes_each_field_to_its_own_file_and_json_uses_base64() {
    let fed = Running::start();
    let subject = fed.register(SHELTER, "adult", &[]);
    let consent = fed.grant(&subject, "subject", &["--days", "30"]);
    let scan: Vec<u8> = (0..=255u8).rev().collect(); // not UTF-8: a bytes field
    fs::write(fed.ws.path("scan.bin"), &scan).unwrap();
    fs::write(fed.ws.path("treatment.txt"), "rest and fluids").unwrap();
    let sent = json(&ok(fed.as_agency(
        SHELTER,
        &[
            "send",
            "--subject",
            &subject,
            "--to",
            POLICE,
            "--purpose",
            "assistance",
            "--consent",
            &consent,
            "--field",
            "medical:treatment=@treatment.txt",
            "--field",
            "medical:scan=@scan.bin",
            "--wait",
            "20",
            "--json",
        ],
    )));
    let envelope = sent["envelope"].as_str().unwrap().to_owned();

    // JSON: text as text, bytes in base64.
    let v = json(&ok(
        fed.as_agency(POLICE, &["inbox", "open", &envelope, "--json"])
    ));
    let fields = v["fields"].as_array().unwrap();
    let field = |name: &str| fields.iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(field("treatment")["text"], "rest and fluids");
    let b64 = field("scan")["bytes_base64"].as_str().unwrap().to_owned();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        scan
    );
    assert!(field("scan").get("bytes_hex").is_none());

    // Text: binary is never printed.
    let text = ok(fed.as_agency(POLICE, &["inbox", "open", &envelope]));
    assert!(text.contains("medical:treatment=rest and fluids"), "{text}");
    assert!(
        text.contains("256 bytes of binary data, not shown"),
        "{text}"
    );
    assert!(!text.contains(&hex::encode(&scan[..8])), "{text}");

    // --out: one 0600 file per field in a 0700 directory; stdout names them, no content.
    let out = ok(fed.as_agency(POLICE, &["inbox", "open", &envelope, "--out", "opened"]));
    assert!(!out.contains("rest and fluids"), "{out}");
    assert!(out.contains("opened/medical.scan"), "{out}");
    let dir = fed.ws.path("opened");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(fs::read(dir.join("medical.scan")).unwrap(), scan);
    assert_eq!(
        fs::read_to_string(dir.join("medical.treatment")).unwrap(),
        "rest and fluids"
    );
    assert_eq!(mode(&dir.join("medical.scan")), 0o600);
    assert_eq!(mode(&dir.join("medical.treatment")), 0o600);
    let v = json(&ok(fed.as_agency(
        POLICE,
        &["inbox", "open", &envelope, "--out", "opened-json", "--json"],
    )));
    assert!(!v.to_string().contains("rest and fluids"), "{v}");
    assert_eq!(
        v["fields"][0]["file"]
            .as_str()
            .map(|f| f.starts_with("opened-json/")),
        Some(true)
    );
    // Again into the same directory: refused without --force, nothing replaced.
    fs::write(dir.join("medical.treatment"), "edited").unwrap();
    let err = fails(
        fed.as_agency(POLICE, &["inbox", "open", &envelope, "--out", "opened"]),
        2,
    );
    assert!(err.contains("pass --force"), "{err}");
    assert_eq!(
        fs::read_to_string(dir.join("medical.treatment")).unwrap(),
        "edited"
    );
    ok(fed.as_agency(
        POLICE,
        &["inbox", "open", &envelope, "--out", "opened", "--force"],
    ));
    assert_eq!(
        fs::read_to_string(dir.join("medical.treatment")).unwrap(),
        "rest and fluids"
    );
    // A file where the directory should be: refused before the node is asked.
    fs::write(fed.ws.path("a-file"), "x").unwrap();
    let err = fails(
        fed.as_agency(POLICE, &["inbox", "open", &envelope, "--out", "a-file"]),
        2,
    );
    assert!(err.contains("is not a directory"), "{err}");
}

/// `strehad`'s logs (issue 18 point 13): no colour codes when standard error is not a
/// terminal; `--log-format json` writes one JSON object per line; a refusal is logged by its
/// documented name and article, not in Rust's debug form.
#[test]
fn node_logs_are_plain_or_json_and_name_refusals_as_documented() {
    let ws = Workspace::new();
    ws.roster(free_port(), free_port());
    ok(ws.node_init(SHELTER, free_port()));
    let config = ws.path(&format!("{SHELTER}.toml"));
    let start = |extra: &[&str], log: &str| {
        let log = fs::File::create(ws.path(log)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_streha"))
            .arg0("strehad")
            .arg("--config")
            .arg(&config)
            .args(extra)
            .env("STREHA_LOG", "info")
            .env_remove("NO_COLOR")
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert!(line.starts_with("strehad ready"), "{line}");
        Daemon(child)
    };
    // A disclosure of assistance data without a consent: refused at the shelter's node.
    let profile = format!("{SHELTER}-client.toml");
    let refused = || {
        let subject = json(&ok(ws.run(&[
            "subject",
            "register",
            "--age",
            "adult",
            "--json",
            "--profile",
            &profile,
        ])));
        let subject = subject["subject"].as_str().unwrap();
        fails(
            ws.run(&[
                "send",
                "--subject",
                subject,
                "--to",
                POLICE,
                "--purpose",
                "assistance",
                "--field",
                "medical:note=x",
                "--profile",
                &profile,
            ]),
            3,
        )
    };

    let daemon = start(&[], "text.log");
    refused();
    drop(daemon);
    let text = fs::read_to_string(ws.path("text.log")).unwrap();
    assert!(
        !text.contains('\x1b'),
        "colour codes in a log file:\n{text}"
    );
    let line = text
        .lines()
        .find(|l| l.contains("disclosure refused by policy"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{text}"));
    assert!(line.contains("reason=\"NoConsentForAssistance\""), "{line}");
    assert!(line.contains("article=\"Art. 18.3\""), "{line}");
    assert!(!line.contains("NoConsentForAssistance {"), "{line}");

    let daemon = start(&["--log-format", "json"], "json.log");
    refused();
    drop(daemon);
    let text = fs::read_to_string(ws.path("json.log")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let refusal = events
        .iter()
        .find(|e| e["fields"]["message"] == "disclosure refused by policy")
        .unwrap_or_else(|| panic!("no refusal logged:\n{text}"));
    assert_eq!(refusal["fields"]["reason"], "NoConsentForAssistance");
    assert_eq!(refusal["fields"]["article"], "Art. 18.3");
    assert_eq!(refusal["level"], "INFO");
    let err = fails(
        Command::new(env!("CARGO_BIN_EXE_streha"))
            .arg0("strehad")
            .args(["--config", "x.toml", "--log-format", "xml"])
            .output()
            .unwrap(),
        2,
    );
    assert!(err.contains("json"), "{err}");
}

/// Roster authoring (issue 18 point 7): clauses are added and removed by command, sets are
/// sets (any order, written back canonically), a clause table can be appended to a fresh
/// body by hand, and every mistake names the file, the line, the field and the value, with
/// the valid values.
#[test]
fn roster_clauses_by_command_sets_in_any_order_and_errors_with_line_and_value() {
    let ws = Workspace::new();
    ok(ws.run(&[
        "roster",
        "init",
        "--federation",
        "cli-test.example",
        "--out",
        "roster.toml",
    ]));
    // A clause appended by hand to the fresh body, in any order: accepted, made canonical.
    let fresh = fs::read_to_string(ws.path("roster.toml")).unwrap();
    assert!(!fresh.contains("clauses = []"), "{fresh}");
    fs::write(
        ws.path("roster.toml"),
        format!(
            "{fresh}\n[[agreement.clauses]]\nid = \"police-identification\"\n\
             recipient = \"police\"\ncategories = [\"victim_status\", \"identity\"]\n\
             purposes = [\"identification_and_referral\"]\n"
        ),
    )
    .unwrap();
    let v = json(&ok(ws.run(&[
        "roster",
        "clause",
        "add",
        "roster.toml",
        "--id",
        "prosecution-investigation",
        "--recipient",
        "prosecution",
        "--category",
        "investigation",
        "--category",
        "identity",
        "--purpose",
        "urgent_danger",
        "--purpose",
        "criminal_investigation_and_prosecution",
        "--json",
    ])));
    assert_eq!(v["action"], "added");
    assert_eq!(v["agreement_clauses"], 2);
    assert_eq!(
        v["clause"]["categories"],
        serde_json::json!(["identity", "investigation"])
    );
    let body = fs::read_to_string(ws.path("roster.toml")).unwrap();
    assert!(
        body.contains("categories = [\"identity\", \"victim_status\"]"),
        "{body}"
    );
    assert!(
        body.find("police-identification").unwrap()
            < body.find("prosecution-investigation").unwrap()
    );
    // Replaced by id; a refused category cites the article; removed by id.
    let out = ok(ws.run(&[
        "roster",
        "clause",
        "add",
        "roster.toml",
        "--id",
        "prosecution-investigation",
        "--recipient",
        "prosecution",
        "--category",
        "case_summary",
        "--purpose",
        "criminal_investigation_and_prosecution",
    ]));
    assert!(
        out.starts_with("Replaced clause prosecution-investigation"),
        "{out}"
    );
    let err = fails(
        ws.run(&[
            "roster",
            "clause",
            "add",
            "roster.toml",
            "--id",
            "ngo-medical",
            "--recipient",
            "licensed_ngo",
            "--category",
            "medical",
            "--purpose",
            "assistance",
        ]),
        2,
    );
    assert!(err.contains("Art. 18.3"), "{err}");
    let err = fails(
        ws.run(&[
            "roster",
            "clause",
            "remove",
            "roster.toml",
            "--id",
            "no-such",
        ]),
        2,
    );
    assert!(
        err.contains("police-identification, prosecution-investigation"),
        "{err}"
    );
    ok(ws.run(&[
        "roster",
        "clause",
        "remove",
        "roster.toml",
        "--id",
        "prosecution-investigation",
    ]));
    let body = fs::read_to_string(ws.path("roster.toml")).unwrap();
    assert!(!body.contains("prosecution-investigation"), "{body}");

    // A typo in a hand-edited body: file, line, the line as written, the value, the names.
    let typo = body.replace("\"victim_status\"", "\"victim_stauts\"");
    fs::write(ws.path("typo.toml"), &typo).unwrap();
    let line = typo
        .lines()
        .position(|l| l.contains("victim_stauts"))
        .unwrap()
        + 1;
    let err = fails(ws.run(&["roster", "show", "typo.toml"]), 2);
    assert!(err.starts_with("error: typo.toml: "), "{err}");
    assert!(err.contains(&format!("line {line}, column")), "{err}");
    assert!(
        err.contains("unknown category `victim_stauts`; one of: identity"),
        "{err}"
    );
    // A bad address, found after parsing: its line, field and value.
    ok(ws.run(&[
        "roster",
        "add",
        "roster.toml",
        "--agency",
        POLICE,
        "--role",
        "police",
        "--address",
        "127.0.0.1:7401",
        "--keys",
        &format!("keys/{POLICE}"),
    ]));
    let body = fs::read_to_string(ws.path("roster.toml")).unwrap();
    let bad = body.replace("127.0.0.1:7401", "127.0.0.1");
    fs::write(ws.path("bad.toml"), &bad).unwrap();
    let line = bad.lines().position(|l| l.starts_with("address")).unwrap() + 1;
    let err = fails(ws.run(&["roster", "show", "bad.toml"]), 2);
    assert!(
        err.contains(&format!("bad.toml: line {line}: `address` of agency")),
        "{err}"
    );
    assert!(err.contains("\"127.0.0.1\""), "{err}");
}

/// A fingerprint is never taken for a key (issue 18 point 8): roster keys carry their kind
/// as a prefix, so a pasted fingerprint is refused (with the line and what to do), and
/// `roster add --expect-fingerprint` checks the keys against the fingerprints the agency
/// gave by another channel before anything is written.
#[test]
fn a_fingerprint_is_never_accepted_where_a_key_belongs() {
    let ws = Workspace::new();
    ok(ws.run(&[
        "roster",
        "init",
        "--federation",
        "cli-test.example",
        "--out",
        "roster.toml",
    ]));
    let node_pub = format!("keys/{POLICE}/{POLICE}.node-identity.pub");
    let shown = json(&ok(ws.run(&["key", "show", &node_pub, "--json"])));
    let fingerprint = shown["fingerprint"].as_str().unwrap().to_owned();
    let short = shown["fingerprint_short"].as_str().unwrap().to_owned();
    let public_key = shown["public_key"].as_str().unwrap().to_owned();
    let add = |expect: &[&str]| {
        let mut args = vec![
            "roster",
            "add",
            "roster.toml",
            "--agency",
            POLICE,
            "--role",
            "police",
            "--address",
            "127.0.0.1:7401",
            "--keys",
            "keys/police-prishtina",
        ];
        for e in expect {
            args.extend_from_slice(&["--expect-fingerprint", e]);
        }
        ws.run(&args)
    };
    // A fingerprint the keys do not have: exit 4, nothing written.
    let before = fs::read_to_string(ws.path("roster.toml")).unwrap();
    let wrong = "00".repeat(32);
    let err = fails(add(&[&short, &wrong]), 4);
    assert!(err.contains(&wrong), "{err}");
    assert!(err.contains(&format!("node-identity {short}")), "{err}");
    assert_eq!(fs::read_to_string(ws.path("roster.toml")).unwrap(), before);
    let err = fails(add(&["not-a-fingerprint"]), 2);
    assert!(err.contains("xxxx:xxxx:xxxx:xxxx"), "{err}");
    // The right ones, full and short: added, and said so.
    let out = ok(add(&[&fingerprint, &short]));
    assert!(
        out.contains("The 2 fingerprint(s) the agency gave you match"),
        "{out}"
    );

    // The body writes each key with its kind.
    let body = fs::read_to_string(ws.path("roster.toml")).unwrap();
    let key_line = format!("node_key = \"node-identity:{public_key}\"");
    assert!(body.contains(&key_line), "{body}");
    // A fingerprint pasted where the key belongs: refused with its line and the remedy.
    let pasted = body.replace(&key_line, &format!("node_key = \"{fingerprint}\""));
    fs::write(ws.path("pasted.toml"), &pasted).unwrap();
    let line = pasted
        .lines()
        .position(|l| l.starts_with("node_key"))
        .unwrap()
        + 1;
    let err = fails(ws.run(&["roster", "show", "pasted.toml"]), 2);
    assert!(err.contains(&format!("line {line}, column")), "{err}");
    assert!(err.contains("fingerprint only names a key"), "{err}");
    assert!(err.contains("streha roster add --keys DIR"), "{err}");
    // The bare key (no prefix) is refused the same way; a key of another kind too.
    let bare = body.replace(&key_line, &format!("node_key = \"{public_key}\""));
    fs::write(ws.path("bare.toml"), &bare).unwrap();
    fails(ws.run(&["roster", "show", "bare.toml"]), 2);
    let swapped = body.replace(
        "node_key = \"node-identity:",
        "node_key = \"agency-signing:",
    );
    fs::write(ws.path("swapped.toml"), &swapped).unwrap();
    let err = fails(ws.run(&["roster", "show", "swapped.toml"]), 2);
    assert!(err.contains("is of kind agency-signing"), "{err}");
}

#[test]
fn admin_backup_and_restore_refuse_clearly_and_write_nothing() {
    let ws = Workspace::new();
    // No such data directory.
    let err = fails(
        ws.run(&[
            "admin",
            "backup",
            "--data-dir",
            "nowhere",
            "--out",
            "b",
            "--vault-out",
            "v",
        ]),
        2,
    );
    assert!(
        err.contains("--data-dir nowhere: no such directory"),
        "{err}"
    );
    // A data directory with no node running on it.
    fs::create_dir(ws.path("data")).unwrap();
    let err = fails(
        ws.run(&[
            "admin",
            "backup",
            "--data-dir",
            "data",
            "--out",
            "b",
            "--vault-out",
            "v",
        ]),
        2,
    );
    assert!(err.contains("no node is running on data"), "{err}");
    assert!(!ws.path("b").exists() && !ws.path("v").exists());

    // Restore: missing files, then a file that is not a backup.
    let err = fails(
        ws.run(&[
            "admin",
            "restore",
            "--backup",
            "missing",
            "--vault-backup",
            "v",
            "--data-dir",
            "restored",
        ]),
        2,
    );
    assert!(err.contains("--backup missing: no such file"), "{err}");
    fs::write(ws.path("garbage"), b"not a backup at all, not even close").unwrap();
    fs::write(ws.path("vault"), b"streha-vault-v1\n").unwrap();
    let err = fails(
        ws.run(&[
            "admin",
            "restore",
            "--backup",
            "garbage",
            "--vault-backup",
            "vault",
            "--data-dir",
            "restored",
        ]),
        1,
    );
    assert!(err.contains("is not a usable backup"), "{err}");
    assert!(!ws.path("restored").exists(), "nothing written");
}

/// Issue 18.18: `streha admin recover` declares a loss for good, so it needs the operator's
/// `--accept-loss`. Without it the command is a usage error (exit 2, naming the flag) and
/// sends nothing to the node: a stand-in answering on the data directory's admin socket is
/// never sent a request. With it, the one request sent says `accept_loss: true`. (A CLI that
/// sent the request without the flag would get the stand-in's refusal, exit 1, and fail.)
#[test]
fn admin_recover_without_accept_loss_sends_nothing_to_the_node() {
    use std::io::{BufRead as _, Write as _};
    let ws = Workspace::new();
    fs::create_dir(ws.path("data")).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(ws.path("data/admin.sock")).unwrap();
    // The stand-in: every request line it is sent, each answered with a refusal at once.
    let (sent_tx, sent) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut line = String::new();
            let _ = std::io::BufReader::new(&stream).read_line(&mut line);
            let _ = (&stream)
                .write_all(b"{\"result\":\"error\",\"message\":\"the stand-in refuses\"}\n");
            if sent_tx.send(line).is_err() {
                return;
            }
        }
    });
    for extra in [&[][..], &["--json"][..]] {
        let mut args = vec!["admin", "recover", "--data-dir", "data"];
        args.extend_from_slice(extra);
        let err = fails(ws.run(&args), 2);
        assert!(err.contains("--accept-loss is required"), "{err}");
        assert!(
            sent.try_recv().is_err(),
            "nothing may reach the node without the operator's confirmation"
        );
    }
    assert_eq!(
        fs::read_dir(ws.path("data")).unwrap().count(),
        1,
        "nothing written beside the socket"
    );

    // With the confirmation: one request, `accept_loss: true`; the stand-in refuses it and
    // the CLI reports the node's refusal (exit 1).
    let err = fails(
        ws.run(&["admin", "recover", "--data-dir", "data", "--accept-loss"]),
        1,
    );
    assert!(err.contains("the stand-in refuses"), "{err}");
    let request: Value = serde_json::from_str(
        &sent
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        request,
        serde_json::json!({"command": "recover", "accept_loss": true})
    );
    assert!(sent.try_recv().is_err(), "one request");
}

/// Issue 18.18: `streha audit check-proof` takes a proof of an entry of a later epoch of an
/// agency's log (`<base>/epoch/2`, after a restore with a declared loss): checked under the
/// roster's node key for that agency under the epoch's origin. The same proof signed by
/// another node's key under that origin is refused (exit 4).
#[test]
fn audit_check_proof_takes_a_proof_of_a_later_log_epoch() {
    use streha_audit::{Checkpoint, MemoryTree, NoteSigner, prove_entry, sign_checkpoint};
    let ws = Workspace::new();
    ws.roster(free_port(), free_port());
    let node_key = |holder: &str| {
        streha_crypto::NodeIdentitySecretKey::from_key_file(
            &fs::read_to_string(ws.path(&Workspace::key(holder, holder, "node-identity", "key")))
                .unwrap(),
        )
        .unwrap()
    };
    let origin = format!("cli-test.example/streha/{POLICE}/epoch/2");
    let entries = vec![b"entry zero".to_vec(), b"entry one".to_vec()];
    let tree = MemoryTree::from_entries(&entries);
    for (name, holder) in [("epoch2.proof", POLICE), ("forged.proof", SHELTER)] {
        let note = sign_checkpoint(
            &Checkpoint::new(origin.as_str(), tree.size(), tree.root()).unwrap(),
            &NoteSigner::new(&origin, node_key(holder).as_dalek().clone()).unwrap(),
        )
        .to_text();
        let proof = prove_entry(1, &note, &tree).unwrap();
        fs::write(ws.path(name), proof.to_text()).unwrap();
        fs::write(ws.path(&format!("{name}.entry")), &entries[1]).unwrap();
    }
    let roster_pub = Workspace::key(AUTHORITY, AUTHORITY, "roster", "pub");
    let check = |proof: &str| {
        ws.run(&[
            "audit",
            "check-proof",
            proof,
            "--roster",
            "roster.note",
            "--roster-key",
            roster_pub.as_str(),
            "--min-witnesses",
            "0",
            "--json",
        ])
    };
    let v = json(&ok(check("epoch2.proof")));
    assert_eq!(v["agency"].as_str(), Some(POLICE), "{v}");
    assert_eq!(v["origin"].as_str(), Some(origin.as_str()), "{v}");
    assert_eq!(v["index"].as_u64(), Some(1));
    let text = ok(ws.run(&[
        "audit",
        "check-proof",
        "epoch2.proof",
        "--roster",
        "roster.note",
        "--roster-key",
        roster_pub.as_str(),
        "--min-witnesses",
        "0",
    ]));
    assert!(
        text.contains(&format!("log of `{POLICE}` (epoch 2, `{origin}`)")),
        "{text}"
    );
    fails(check("forged.proof"), 4);
}
