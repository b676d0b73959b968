//! One connection: read each request, apply the fault the plan gives it, answer or misbehave.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::fault::Fault;
use super::http::{Framing, Head, Reject, Request, Response, body_to_send, encode_head, parse_head};
use super::server::Shared;
use crate::loopback::http::find_head_end;
use crate::loopback::stop_signal;

/// How long a connection that was refused (a malformed or oversized request) keeps reading after the
/// answer, so that unread request bytes do not turn the close into a reset that loses the answer.
const LINGER: Duration = Duration::from_secs(1);
/// How much a lingering connection reads before giving up.
const LINGER_BYTES: usize = 1024 * 1024;
/// How much to ask the socket for at a time.
const READ_CHUNK: usize = 8 * 1024;

/// Serves one connection until the client closes it, a fault or `Connection: close` ends it, or the server
/// stops.
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let mut conn = Conn { stream, buf: Vec::new(), shared, stopped };
    conn.run().await;
    let _ = conn.stream.shutdown().await;
}

struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed: the start of the next request.
    buf: Vec<u8>,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
}

/// How a wait inside a request ended.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    Elapsed,
    /// The server is stopping, or (when the wait watches for it) the client closed its side.
    Cut,
}

impl Conn {
    async fn run(&mut self) {
        loop {
            let (head, head_len) = match self.read_head().await {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(reject) => return self.reject(reject).await,
            };
            let Some(body) = self.read_body(&head, head_len).await else {
                return;
            };
            if !self.answer(head, body).await {
                return;
            }
        }
    }

    /// Reads until a whole request head is buffered; `None` when the client or the server ends the
    /// connection first.
    async fn read_head(&mut self) -> Result<Option<(Head, usize)>, Reject> {
        let config = &self.shared.config;
        let (max_head, max_body) = (config.max_head, config.max_body);
        let mut scanned = 0;
        loop {
            // RFC 9112: a server should ignore empty lines before the request line.
            let blank = self.buf.chunks(2).take_while(|pair| *pair == b"\r\n").count() * 2;
            if blank > 0 {
                self.buf.drain(..blank);
                scanned = 0;
            }
            if let Some(end) = find_head_end(&self.buf, scanned) {
                if end > max_head {
                    return Err(Reject::HeadTooLarge);
                }
                return parse_head(&self.buf[..end], max_body).map(|head| Some((head, end)));
            }
            if !self.buf.is_empty() && self.buf.len() >= max_head {
                return Err(Reject::HeadTooLarge);
            }
            scanned = self.buf.len().saturating_sub(3);
            if !self.read_more().await {
                return Ok(None);
            }
        }
    }

    /// Reads the body that `head` announces; `None` when the connection ends first.
    async fn read_body(&mut self, head: &Head, head_len: usize) -> Option<Vec<u8>> {
        let end = head_len.saturating_add(head.content_length);
        if head.expect_continue
            && self.buf.len() < end
            && self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
        {
            return None;
        }
        while self.buf.len() < end {
            if !self.read_more().await {
                return None;
            }
        }
        let body = self.buf[head_len..end].to_vec();
        self.buf.drain(..end);
        Some(body)
    }

    /// Reads more bytes into the buffer; false at end of stream, on an error, or when the server stops.
    async fn read_more(&mut self) -> bool {
        self.buf.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            _ = stop_signal(&mut self.stopped) => false,
            read = self.stream.read_buf(&mut self.buf) => matches!(read, Ok(n) if n > 0),
        }
    }

    /// Applies the plan's fault to a complete request; true if the connection serves another one.
    async fn answer(&mut self, head: Head, body: Vec<u8>) -> bool {
        let framing =
            Framing { close: !head.keep_alive, head_only: head.is_head_method(), announce_length: None };
        let request = head.into_request(body);
        let (index, fault) = self.shared.begin_request(&request.method, &request.path);
        let _in_flight = self.shared.in_flight.enter();
        let sent = match fault {
            Fault::Success => {
                let response = self.handle(&request);
                self.send(&response, framing).await
            }
            Fault::Slow(delay) => {
                if self.wait(delay, false).await == Wait::Cut {
                    return false;
                }
                let response = self.handle(&request);
                self.send(&response, framing).await
            }
            Fault::Drop => return false,
            Fault::Hang => {
                let hang_for = self.shared.config.hang_for;
                self.wait(hang_for, true).await;
                return false;
            }
            Fault::RateLimited { retry_after } => {
                // HTTP allows whole seconds only: round up, so the client never comes back too early.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let response =
                    error_response(429, "rate limited").with_header("retry-after", secs.to_string());
                self.send(&response, framing).await
            }
            Fault::Unavailable => self.send(&error_response(503, "unavailable"), framing).await,
            Fault::Internal => self.send(&error_response(500, "internal error"), framing).await,
            Fault::BadRequest => self.send(&error_response(400, "bad request"), framing).await,
            Fault::Garbage => {
                let _ = self.stream.write_all(&garbage(index)).await;
                return false;
            }
            Fault::Truncated => {
                let mut response = self.handle(&request);
                response.status = 200;
                let keep = response.body.len() / 2;
                let framing = Framing {
                    close: true,
                    announce_length: Some(response.body.len() as u64 + 1024),
                    ..framing
                };
                response.body.truncate(keep);
                let _ = self.send(&response, framing).await;
                return false;
            }
            Fault::WrongContentType => {
                let response = Response::new(200)
                    .with_header("content-type", "text/html; charset=utf-8")
                    .with_body("<!doctype html><html><body><h1>It works!</h1></body></html>");
                self.send(&response, framing).await
            }
            Fault::InvalidJson => {
                let response = Response::new(200)
                    .with_header("content-type", "application/json")
                    .with_body(r#"{"ok": tru"#);
                self.send(&response, framing).await
            }
            Fault::Huge => self.send_huge(framing).await,
        };
        sent.is_ok() && !framing.close
    }

    /// Calls the user's handler; a panic becomes a 500.
    fn handle(&self, request: &Request) -> Response {
        match catch_unwind(AssertUnwindSafe(|| (self.shared.handler)(request))) {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(path = %request.path, "testkit: the fault server's handler panicked");
                error_response(500, "handler panicked")
            }
        }
    }

    async fn send(&mut self, response: &Response, framing: Framing) -> io::Result<()> {
        let mut bytes = encode_head(response, framing);
        let body = body_to_send(response, framing);
        if body.len() <= 64 * 1024 {
            // One write, so a small response leaves in one segment.
            bytes.extend_from_slice(body);
            self.stream.write_all(&bytes).await
        } else {
            self.stream.write_all(&bytes).await?;
            self.stream.write_all(body).await
        }
    }

    /// Sends `200` with a JSON body of the configured huge size, written in pieces.
    async fn send_huge(&mut self, framing: Framing) -> io::Result<()> {
        const PREFIX: &[u8] = br#"{"data":""#;
        const SUFFIX: &[u8] = br#""}"#;
        static FILLER: [u8; 16 * 1024] = [b'x'; 16 * 1024];
        let mut filler = self.shared.config.huge_body.saturating_sub(PREFIX.len() + SUFFIX.len());
        let total = PREFIX.len() + filler + SUFFIX.len();
        let response = Response::new(200).with_header("content-type", "application/json");
        let framing = Framing { announce_length: Some(total as u64), ..framing };
        self.stream.write_all(&encode_head(&response, framing)).await?;
        if framing.head_only {
            return Ok(());
        }
        self.stream.write_all(PREFIX).await?;
        while filler > 0 {
            let n = filler.min(FILLER.len());
            self.stream.write_all(&FILLER[..n]).await?;
            filler -= n;
        }
        self.stream.write_all(SUFFIX).await
    }

    /// Waits `duration`, or until the server stops, or (if `until_eof`) until the client closes its side.
    ///
    /// Bytes the client sends meanwhile (a pipelined request) are kept, up to one request's worth.
    async fn wait(&mut self, duration: Duration, until_eof: bool) -> Wait {
        let sleep = tokio::time::sleep(duration);
        tokio::pin!(sleep);
        let room = self.shared.config.max_head.saturating_add(self.shared.config.max_body);
        let mut open = true;
        loop {
            let read = open && self.buf.len() < room;
            if read {
                self.buf.reserve(READ_CHUNK);
            }
            tokio::select! {
                biased;
                _ = stop_signal(&mut self.stopped) => return Wait::Cut,
                _ = &mut sleep => return Wait::Elapsed,
                result = self.stream.read_buf(&mut self.buf), if read => {
                    if matches!(result, Ok(0) | Err(_)) {
                        if until_eof {
                            return Wait::Cut;
                        }
                        // Perhaps only a half-close: the client may still read the answer.
                        open = false;
                    }
                }
            }
        }
    }

    /// Answers a request refused before it reached the plan, then closes gracefully.
    async fn reject(&mut self, reject: Reject) {
        self.shared.count_rejected();
        let framing = Framing { close: true, head_only: false, announce_length: None };
        if self.send(&reject.response(), framing).await.is_err() {
            return;
        }
        // Read what the client still sends, so that closing does not reset the connection before the client
        // has read the answer.
        let _ = self.stream.shutdown().await;
        let sleep = tokio::time::sleep(LINGER);
        tokio::pin!(sleep);
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            self.buf.clear();
            self.buf.reserve(READ_CHUNK);
            tokio::select! {
                biased;
                _ = stop_signal(&mut self.stopped) => return,
                _ = &mut sleep => return,
                read = self.stream.read_buf(&mut self.buf) => match read {
                    Ok(n) if n > 0 => discarded += n,
                    _ => return,
                },
            }
        }
    }
}

/// A JSON error answer: `{"error": message}`.
fn error_response(status: u16, message: &str) -> Response {
    Response::json(status, serde_json::json!({ "error": message }))
}

/// Random bytes that no HTTP client takes for a response, the same for the same request number.
fn garbage(index: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(index ^ 0x9e37_79b9_7f4a_7c15);
    let mut bytes = vec![0u8; rng.random_range(64..=512)];
    rng.fill(&mut bytes[..]);
    // Not `H`, so nothing mistakes it for the start of a status line.
    bytes[0] = 0xff;
    bytes
}
