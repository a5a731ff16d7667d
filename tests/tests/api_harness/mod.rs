//! Harness for the application service: `streha api serve` (the `streha-api-test` binary,
//! which is `streha_api::command::main_entry`) as a child process in front of a member of a
//! [`Federation`](crate::common::Federation), and an HTTP/1.1 client (hyper's client
//! connection) to call it.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::common::{Federation, Member};

/// The binary under test.
pub const API_BIN: &str = env!("CARGO_BIN_EXE_streha-api-test");

fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create secret key file");
    file.write_all(text.as_bytes())
        .expect("write secret key file");
}

/// The files of one service: the agency's key files, `client.toml`, `api.toml`, the state.
pub struct ApiSetup {
    /// Its directory.
    pub dir: PathBuf,
    /// `api.toml`.
    pub config: PathBuf,
}

impl ApiSetup {
    /// Writes the key files of `agency`'s application and its client profile (with
    /// `request_timeout_ms`), and an `api.toml` listening on 127.0.0.1 port 0 (or on a Unix
    /// socket), with no callers.
    pub fn new(federation: &Federation, agency: &str, request_timeout_ms: u64, unix: bool) -> Self {
        let member: &Member = federation.member(agency);
        let dir = member.dir.join(if unix { "api-unix" } else { "api" });
        std::fs::create_dir_all(&dir).expect("api dir");
        write_secret(&dir.join("app.key"), &member.app_key.to_key_file());
        write_secret(&dir.join("signing.key"), &member.signing_key.to_key_file());
        write_secret(
            &dir.join("encryption.key"),
            &member.encryption_key.to_key_file(),
        );
        std::fs::write(
            dir.join("node.pub"),
            member.node_key.public_key().to_key_file(),
        )
        .expect("node.pub");
        std::fs::write(
            dir.join("client.toml"),
            format!(
                "agency = \"{}\"\nnode_address = \"{}\"\nnode_key = \"node.pub\"\n\
                 roster_key = \"../../roster.pub\"\napplication_key = \"app.key\"\n\
                 signing_key = \"signing.key\"\nencryption_key = \"encryption.key\"\n\
                 request_timeout_ms = {request_timeout_ms}\n",
                member.id, member.app_addr
            ),
        )
        .expect("client.toml");
        let config = dir.join("api.toml");
        let mut init = Command::new(API_BIN);
        init.arg("init")
            .arg("--profile")
            .arg("client.toml")
            .arg("--state-dir")
            .arg("state")
            .arg("--out")
            .arg(&config)
            .arg("--force");
        if unix {
            init.arg("--socket").arg("api.sock");
        } else {
            init.arg("--listen").arg("127.0.0.1:0");
        }
        let out = init.output().expect("run streha api init");
        assert!(
            out.status.success(),
            "streha api init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, config }
    }

    /// Adds a caller with `scopes` through `streha api token add --json`; returns its token.
    pub fn add_caller(&self, name: &str, scopes: &[&str]) -> String {
        let mut command = Command::new(API_BIN);
        command
            .args(["token", "add", "--json", "--name", name, "--config"])
            .arg(&self.config);
        for scope in scopes {
            command.args(["--scope", scope]);
        }
        let out = command.output().expect("run streha api token add");
        assert!(
            out.status.success(),
            "token add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON line");
        line["token"].as_str().expect("a token").to_owned()
    }

    /// Starts the service and waits for its ready line.
    pub fn start(&self) -> ApiProcess {
        self.spawn(
            &std::env::var("STREHA_LOG").unwrap_or_else(|_| "warn".into()),
            Stdio::inherit(),
        )
    }

    /// Starts the service logging at `level` into the file `log`.
    pub fn start_logging(&self, level: &str, log: &Path) -> ApiProcess {
        let file = std::fs::File::create(log).expect("create the log file");
        self.spawn(level, Stdio::from(file))
    }

    fn spawn(&self, level: &str, stderr: Stdio) -> ApiProcess {
        let mut child = Command::new(API_BIN)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("STREHA_LOG", level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn streha api serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(rest) = line.strip_prefix("streha-api ready ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let ready = loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                break line;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("streha api serve exited during start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "streha api serve did not become ready"
            );
        };
        let at = if let Some(address) = ready.strip_prefix("listen=http://") {
            Listening::Tcp(address.parse().expect("ready address"))
        } else if let Some(path) = ready.strip_prefix("socket=") {
            Listening::Unix(PathBuf::from(path))
        } else {
            panic!("unexpected ready line {ready}");
        };
        ApiProcess {
            child: Some(child),
            at,
        }
    }
}

/// Where a running service listens.
#[derive(Debug, Clone)]
pub enum Listening {
    /// TCP.
    Tcp(SocketAddr),
    /// A Unix socket.
    Unix(PathBuf),
}

/// A running service (child process). Killed on drop.
pub struct ApiProcess {
    child: Option<Child>,
    /// Where it listens.
    pub at: Listening,
}

impl ApiProcess {
    /// Its TCP address.
    pub fn addr(&self) -> SocketAddr {
        match &self.at {
            Listening::Tcp(a) => *a,
            Listening::Unix(_) => panic!("a Unix socket service"),
        }
    }

    /// SIGKILL.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: hyper::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The error code of an error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// One request to the service: `token` as a bearer token, `body` as JSON.
pub async fn call(
    at: &Listening,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Reply {
    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(token) = token {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON"));
    if bytes.is_some() {
        headers.push(("content-type", "application/json".into()));
    }
    raw_call(at, method, path, &headers, bytes).await
}

/// One request with exactly these headers and body bytes.
pub async fn raw_call(
    at: &Listening,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Reply {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let work = async {
        let mut sender = match at {
            Listening::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address)
                    .await
                    .expect("connect");
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(connection);
                sender
            }
            Listening::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .expect("connect");
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(connection);
                sender
            }
        };
        let response = sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(120), work)
        .await
        .expect("the service answered within 120 s")
}

/// Writes `head` (a request line and headers, no blank line) and then `body` bytes on a
/// plain TCP connection, without ever sending more, and reads the response head; returns
/// the status line and the headers and whatever of the body arrived.
pub fn raw_tcp(address: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .expect("write head");
    // The rest of the body may be refused unread: a failed write is not an error here.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                    break;
                }
            }
            Err(e) => {
                assert!(
                    !response.is_empty(),
                    "no response within 30 s (the service waited for the body?): {e}"
                );
                break;
            }
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}
