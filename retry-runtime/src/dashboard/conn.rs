//! One connection: read one request, answer it (or stream events), close.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

use super::PAGE;
use super::http::{self, MAX_HEAD, Reject, Request};
use super::server::Shared;
use crate::loopback::http::{find_head_end, reason};
use crate::loopback::stop_signal;
use crate::telemetry;

/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused connection keeps reading after its answer, and how much.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// How long EventSource waits before reconnecting, sent as the stream's `retry:` field.
const RECONNECT_MS: u32 = 2000;
/// The page's Content-Security-Policy: nothing outside the page itself, except the event stream.
const CSP: &str = "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; \
                   script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// Serves one connection.
pub(crate) async fn serve(mut stream: TcpStream, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::select! {
        biased;
        _ = stop_signal(&mut stopped) => return,
        read = timeout(HEAD_TIMEOUT, read_head(&mut stream, &mut buf)) => read,
    };
    match read {
        Ok(Ok(Some(end))) => match http::parse(&buf[..end]) {
            Ok(request) => answer(&mut stream, &request, &shared, stopped).await,
            Err(reject) => refuse(&mut stream, reject).await,
        },
        Ok(Ok(None)) => refuse(&mut stream, Reject::HeadTooLarge).await,
        // The client went away, or took too long.
        Ok(Err(_)) | Err(_) => {}
    }
    let _ = timeout(WRITE_TIMEOUT, stream.shutdown()).await;
}

/// Reads until `buf` holds a whole head; its end, or `None` when it would exceed [`MAX_HEAD`].
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(buf, 0) {
            return Ok(Some(end));
        }
        if buf.len() >= MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn answer(
    stream: &mut TcpStream,
    request: &Request<'_>,
    shared: &Shared,
    stopped: watch::Receiver<bool>,
) {
    match request.path {
        "/" | "/index.html" => {
            let extra = [("Content-Security-Policy", CSP)];
            send(stream, request, 200, "text/html; charset=utf-8", PAGE.as_bytes(), &extra).await;
        }
        "/metrics" => {
            let text = telemetry::prometheus();
            send(stream, request, 200, "text/plain; version=0.0.4; charset=utf-8", text.as_bytes(), &[])
                .await;
        }
        "/events" => {
            let limit = request.param("frames").and_then(|n| n.parse::<u64>().ok()).filter(|&n| n > 0);
            events(stream, request.head_only, limit, shared, stopped).await;
        }
        // Browsers ask for it; an empty answer keeps their consoles quiet.
        "/favicon.ico" => send(stream, request, 204, "image/x-icon", b"", &[]).await,
        _ => send(stream, request, 404, "text/plain; charset=utf-8", b"not found\n", &[]).await,
    }
}

async fn refuse(stream: &mut TcpStream, reject: Reject) {
    let status = reject.status();
    let body = format!("{}\n", reason(status).to_ascii_lowercase());
    let allow = [("Allow", "GET, HEAD")];
    let extra: &[(&str, &str)] = if reject == Reject::Method { &allow } else { &[] };
    let head = http::head(status, "text/plain; charset=utf-8", Some(body.len()), extra);
    if write(stream, format!("{head}{body}").as_bytes()).await.is_err() {
        return;
    }
    // Unread request bytes would turn the close into a reset that can lose the answer: read a
    // little of what is left first.
    let _ = stream.shutdown().await;
    let linger = async {
        let mut chunk = [0u8; 1024];
        let mut left = LINGER_BYTES;
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            left = left.saturating_sub(n);
            if left == 0 {
                break;
            }
        }
    };
    let _ = timeout(LINGER, linger).await;
}

async fn send(
    stream: &mut TcpStream,
    request: &Request<'_>,
    status: u16,
    content_type: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) {
    let head = http::head(status, content_type, Some(body.len()), extra);
    if write(stream, head.as_bytes()).await.is_ok() && !request.head_only {
        let _ = write(stream, body).await;
    }
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    match timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await {
        Ok(result) => result,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// Streams frames as Server-Sent Events: the latest at once, then each new one, until the client
/// goes away, `limit` frames are sent, or the dashboard stops (which sends a `shutdown` event).
async fn events(
    stream: &mut TcpStream,
    head_only: bool,
    limit: Option<u64>,
    shared: &Shared,
    mut stopped: watch::Receiver<bool>,
) {
    let head = http::head(200, "text/event-stream; charset=utf-8", None, &[("X-Accel-Buffering", "no")]);
    if write(stream, head.as_bytes()).await.is_err() || head_only {
        return;
    }
    if write(stream, format!("retry: {RECONNECT_MS}\n\n").as_bytes()).await.is_err() {
        return;
    }
    let mut frames = shared.frames.clone();
    let mut sent = 0;
    let mut scratch = [0u8; 512];
    loop {
        let frame = frames.borrow_and_update().clone();
        let event = format!("id: {}\ndata: {}\n\n", frame.seq, frame.json);
        if write(stream, event.as_bytes()).await.is_err() {
            return;
        }
        sent += 1;
        if limit.is_some_and(|limit| sent >= limit) {
            return;
        }
        loop {
            tokio::select! {
                biased;
                _ = stop_signal(&mut stopped) => {
                    let _ = write(stream, b"event: shutdown\ndata: {}\n\n").await;
                    return;
                }
                changed = frames.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                // Anything the client sends is ignored; its end of stream ends the stream.
                read = stream.read(&mut scratch) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        return;
                    }
                }
            }
        }
    }
}
