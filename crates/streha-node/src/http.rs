//! A minimal HTTP/1.1 responder on a loopback address for `GET /metrics` (Prometheus text
//! format) and `GET /health`. It reads one request of at most 8 KiB per connection, answers,
//! and closes; anything else gets 404 or 400. It never serves anything but counters.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::shared::Shared;

const MAX_REQUEST: usize = 8 * 1024;
const MAX_CONNECTIONS: usize = 16;

/// Serves until `shutdown`.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let mut buf = vec![0u8; MAX_REQUEST];
                let mut len = 0;
                while len < buf.len() {
                    let n = stream.read(&mut buf[len..]).await.ok()?;
                    if n == 0 {
                        break;
                    }
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let request = String::from_utf8_lossy(&buf[..len]);
                let line = request.lines().next().unwrap_or("");
                let (status, content_type, body) = respond(&shared, line);
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await.ok()?;
                stream.write_all(body.as_bytes()).await.ok()?;
                stream.shutdown().await.ok()
            })
            .await;
        });
    }
}

fn respond(shared: &Shared, request_line: &str) -> (&'static str, &'static str, String) {
    let mut parts = request_line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            shared.render_metrics(),
        ),
        (Some("GET"), Some("/health")) => (
            "200 OK",
            "application/json",
            format!(
                "{{\"status\":\"ok\",\"agency\":\"{}\",\"log_size\":{},\"roster_version\":{},\"roster_expired\":{},\"roster_expires_at\":{}}}\n",
                shared.agency,
                shared.store.tree_size(),
                shared.roster().version(),
                shared.roster_expired(),
                shared
                    .roster_expires_at()
                    .map_or("null".to_owned(), |t| format!("\"{t}\""))
            ),
        ),
        (Some(_), Some(_)) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("400 Bad Request", "text/plain", "bad request\n".into()),
    }
}
