//! The harness the `streha` command tests share: a workspace of keys, roster and
//! configurations made with the CLI itself, and daemons (this binary started as
//! `strehad`) on OS-assigned loopback ports.

#![allow(dead_code)] // each test file uses its own part

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const POLICE: &str = "police-prishtina";
pub(crate) const SHELTER: &str = "shelter-prishtina";
pub(crate) const AUTHORITY: &str = "national-authority";

pub(crate) fn streha_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_streha"))
        .current_dir(dir)
        .env_remove("STREHA_PROFILE")
        .args(args)
        .output()
        .expect("run the streha binary")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts success and returns stdout.
#[track_caller]
pub(crate) fn ok(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Asserts the exit code and returns stderr (one `error:` line).
#[track_caller]
pub(crate) fn fails(output: Output, code: i32) -> String {
    let err = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(&output)
    );
    assert!(err.starts_with("error:"), "{err}");
    err
}

pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub(crate) fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A working directory with the demo keys copied in (secrets 0600).
pub(crate) struct Workspace {
    pub(crate) tmp: tempfile::TempDir,
}

impl Workspace {
    pub(crate) fn new() -> Self {
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

    pub(crate) fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        streha_in(self.dir(), args)
    }

    pub(crate) fn key(holder: &str, name: &str, kind: &str, ext: &str) -> String {
        format!("keys/{holder}/{name}.{kind}.{ext}")
    }

    /// roster.toml with police (two officers) and the shelter, two agreement clauses (the
    /// police may receive identification data; the shelter, a licensed NGO, the victim's
    /// status in urgent danger), signed as roster.note.
    pub(crate) fn roster(&self, police_port: u16, shelter_port: u16) {
        ok(self.run(&[
            "roster",
            "init",
            "--federation",
            "cli-test.example",
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
                 purposes = [\"identification_and_referral\"]\n\n\
                 [[agreement.clauses]]\nid = \"shelter-urgent-danger\"\n\
                 recipient = \"licensed_ngo\"\ncategories = [\"victim_status\"]\n\
                 purposes = [\"urgent_danger\"]\n"
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

    pub(crate) fn node_init(&self, agency: &str, app_port: u16) -> Output {
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

pub(crate) fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `strehad` as a child process: this binary under the name `strehad`. Killed on drop.
pub(crate) struct Daemon(pub(crate) Child);

impl Daemon {
    pub(crate) fn start(config: &Path) -> Self {
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
