//! `streha delivery held` and `streha witness evidence` against a real daemon (this binary
//! started under the name `strehad`): a disclosure held because its subject was re-keyed is
//! listed with its class; a node that witnessed no contradiction keeps no evidence.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const POLICE: &str = "police-prishtina";
const SHELTER: &str = "shelter-prishtina";
const AUTHORITY: &str = "national-authority";

fn streha_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_streha"))
        .current_dir(dir)
        .env_remove("STREHA_PROFILE")
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

/// Asserts success and returns stdout.
#[track_caller]
fn ok(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A working directory with the demo keys copied in (secrets 0600).
struct Workspace {
    tmp: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys-example");
        for holder in [AUTHORITY, POLICE, SHELTER] {
            let to = tmp.path().join("keys").join(holder);
            fs::create_dir_all(&to).unwrap();
            for entry in fs::read_dir(source.join(holder)).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                fs::copy(entry.path(), &target).unwrap();
                let secret = target.extension().is_some_and(|e| e == "key");
                fs::set_permissions(
                    &target,
                    fs::Permissions::from_mode(if secret { 0o600 } else { 0o644 }),
                )
                .unwrap();
            }
        }
        Self { tmp }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        streha_in(self.dir(), args)
    }

    fn key(holder: &str, name: &str, kind: &str, ext: &str) -> String {
        format!("keys/{holder}/{name}.{kind}.{ext}")
    }

    /// roster.toml with police (two officers) and the shelter, one agreement clause, signed
    /// as roster.note.
    fn roster(&self, police_port: u16, shelter_port: u16) {
        ok(self.run(&[
            "roster",
            "init",
            "--federation",
            "cli-test",
            "--out",
            "roster.toml",
        ]));
        ok(self.run(&[
            "roster",
            "add",
            "roster.toml",
            "--agency",
            POLICE,
            "--role",
            "police",
            "--address",
            &format!("127.0.0.1:{police_port}"),
            "--keys",
            &format!("keys/{POLICE}"),
            "--officer",
            &format!("police-officer-1=keys/{POLICE}/police-officer-1.officer.pub"),
            "--officer",
            &format!("police-officer-2=keys/{POLICE}/police-officer-2.officer.pub"),
        ]));
        ok(self.run(&[
            "roster",
            "add",
            "roster.toml",
            "--agency",
            SHELTER,
            "--role",
            "licensed_ngo",
            "--address",
            &format!("127.0.0.1:{shelter_port}"),
            "--keys",
            &format!("keys/{SHELTER}"),
        ]));
        // The agreement is written by hand in the body.
        let body = fs::read_to_string(self.path("roster.toml")).unwrap();
        let body = body.replace("[agreement]\nclauses = []\n", "");
        fs::write(
            self.path("roster.toml"),
            format!(
                "{body}\n[[agreement.clauses]]\nid = \"police-identification\"\n\
                 recipient = \"police\"\ncategories = [\"identity\", \"victim_status\"]\n\
                 purposes = [\"identification_and_referral\"]\n"
            ),
        )
        .unwrap();
        ok(self.run(&[
            "roster",
            "sign",
            "roster.toml",
            "--key",
            &Self::key(AUTHORITY, AUTHORITY, "roster", "key"),
            "--out",
            "roster.note",
        ]));
    }

    fn node_init(&self, agency: &str, app_port: u16) -> Output {
        self.run(&[
            "node",
            "init",
            "--agency",
            agency,
            "--keys",
            &format!("keys/{agency}"),
            "--roster",
            "roster.note",
            "--roster-key",
            &Self::key(AUTHORITY, AUTHORITY, "roster", "pub"),
            "--app-listen",
            &format!("127.0.0.1:{app_port}"),
            "--data-dir",
            &format!("{agency}-data"),
            "--out",
            &format!("{agency}.toml"),
            "--client",
            &format!("{agency}-client.toml"),
        ])
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `strehad` as a child process: this binary under the name `strehad`. Killed on drop.
struct Daemon(Child);

impl Daemon {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_streha"))
            .arg0("strehad")
            .arg("--config")
            .arg(config)
            .env("STREHA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start strehad");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("strehad ready") {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while rx.recv_timeout(Duration::from_millis(50)).is_err() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "strehad exited during start-up"
            );
            assert!(Instant::now() < deadline, "strehad did not become ready");
        }
        Self(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn held_deliveries_and_witness_evidence_from_the_command_line() {
    let ws = Workspace::new();
    ws.roster(free_port(), free_port());
    ok(ws.node_init(SHELTER, free_port()));
    // Only the shelter's node runs: a disclosure to the police waits in its queue.
    let _shelter = Daemon::start(&ws.path(&format!("{SHELTER}.toml")));
    let as_shelter = |args: &[&str]| {
        let profile = format!("{SHELTER}-client.toml");
        let mut all = vec!["--profile", profile.as_str()];
        all.extend_from_slice(args);
        ws.run(&all)
    };

    let none = json(&ok(as_shelter(&["delivery", "held", "--json"])));
    assert_eq!(none["held"], Value::Array(vec![]), "{none}");
    assert!(ok(as_shelter(&["delivery", "held"])).starts_with("0 held"));

    let v = json(&ok(as_shelter(&[
        "subject", "register", "--age", "adult", "--json",
    ])));
    let subject = v["subject"].as_str().unwrap().to_owned();
    fs::write(ws.path("name.txt"), "cli-test name token").unwrap();
    let sent = json(&ok(as_shelter(&[
        "send",
        "--subject",
        &subject,
        "--to",
        POLICE,
        "--purpose",
        "identification_and_referral",
        "--field",
        "identity:name=@name.txt",
        "--json",
    ])));
    let envelope = sent["envelope"].as_str().unwrap().to_owned();
    ok(as_shelter(&[
        "subject",
        "rekey",
        &subject,
        "--salt-out",
        "salt.txt",
    ]));

    let held = json(&ok(as_shelter(&["delivery", "held", "--json"])));
    let list = held["held"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{held}");
    assert_eq!(list[0]["envelope"], envelope.as_str());
    assert_eq!(list[0]["recipient"], POLICE);
    assert_eq!(list[0]["class"], "rekeyed");
    assert!(
        list[0]["reason"].as_str().unwrap().contains("re-keyed"),
        "{held}"
    );
    let text = ok(as_shelter(&["delivery", "held"]));
    assert!(
        text.contains(&envelope) && text.contains("rekeyed"),
        "{text}"
    );

    let evidence = json(&ok(as_shelter(&["witness", "evidence", "--json"])));
    assert_eq!(evidence["evidence"], Value::Array(vec![]), "{evidence}");
    assert!(ok(as_shelter(&["witness", "evidence"])).starts_with("0 evidence"));
}
