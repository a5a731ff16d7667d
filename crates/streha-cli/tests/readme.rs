//! The README's guides run as written (issue 18 point 9): every `sh` block between
//! `## Guides` and `### Security reviewer`, in order, in one `bash` started in an empty
//! directory, with this build's `streha` (and `strehad`, the same binary under that name)
//! on `PATH`. Only what a test must do differently is changed: the two blocks that need the
//! checkout and cargo (info strings `sh setup` and `sh cargo`) are skipped, each
//! `127.0.0.1:PORT` becomes a free port, and `strehad … &` waits for the node's ready line
//! before the next command (a person sees it; a script must wait for it).

use std::collections::BTreeMap;
use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

/// The walkthrough: the `sh` blocks of the guides, in order.
fn walkthrough(readme: &str) -> Vec<String> {
    let start = readme.find("\n## Guides\n").expect("a Guides section");
    let end = readme[start..]
        .find("\n### Security reviewer")
        .map_or(readme.len(), |i| start + i);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme[start..end].lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some("sh")) => current = Some(String::new()),
            (Some(block), Some("")) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed code block in the guides");
    blocks
}

/// A port free for both UDP (QUIC) and TCP (metrics) on 127.0.0.1.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Each `127.0.0.1:PORT` of `script` moved to a free port (the same port for the same one).
fn free_ports(script: &str) -> String {
    let mut map: BTreeMap<String, u16> = BTreeMap::new();
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (before, after) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(before);
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            rest = after;
            continue;
        }
        let port = *map.entry(digits.clone()).or_insert_with(free_port);
        out.push_str(&port.to_string());
        rest = &after[digits.len()..];
    }
    out.push_str(rest);
    out
}

/// `strehad ARGS &` (a comment may follow): started the same way, then waited for.
fn wait_for_nodes(script: &str) -> String {
    let mut out = String::new();
    for (n, line) in script.lines().enumerate() {
        let command = line.split(" #").next().unwrap_or(line).trim_end();
        match command.strip_suffix('&') {
            Some(start) if command.starts_with("strehad ") => {
                let log = format!(".strehad-{n}.log");
                out.push_str(&format!(
                    "{} > {log} 2>&1 &\nwait_ready {log}\n",
                    start.trim_end()
                ));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

const PRELUDE: &str = r#"set -euo pipefail
wait_ready() {
    for _ in $(seq 1 600); do
        grep -q '^strehad ready' "$1" && return 0
        sleep 0.1
    done
    echo "the node of $1 did not become ready:" >&2
    cat "$1" >&2
    return 1
}
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
"#;

#[test]
fn the_readme_guides_run_as_written_from_an_empty_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = walkthrough(&readme);
    assert!(
        blocks.len() >= 8,
        "{} sh blocks in the guides",
        blocks.len()
    );
    let script = format!("{PRELUDE}{}", wait_for_nodes(&free_ports(&blocks.concat())));

    let bin = tempfile::tempdir().unwrap();
    symlink(env!("CARGO_BIN_EXE_streha"), bin.path().join("streha")).unwrap();
    symlink(env!("CARGO_BIN_EXE_streha"), bin.path().join("strehad")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        .env("STREHA_LOG", "warn")
        .env_remove("STREHA_PROFILE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the README walkthrough failed ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- script\n{script}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // It did what the guide says it does.
    assert!(
        stdout.contains("Delivered: the recipient logged it"),
        "{stdout}"
    );
    assert!(
        stdout.contains("valid roster of federation `trafficking.example.org`"),
        "{stdout}"
    );
    assert!(
        work.path()
            .join("case-files/psychological.assessment")
            .exists()
    );
    assert!(work.path().join("police.bundle").exists());
}
