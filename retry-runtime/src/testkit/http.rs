//! Minimal, strict, bounded HTTP/1.1: requests, responses, the request-head parser and the response writer.
//!
//! The parser reads `Content-Length` framing only, rejects what RFC 9112 says a server must reject
//! (whitespace before a header's colon, folded header lines, conflicting lengths, a missing `Host` in
//! HTTP/1.1) and never panics: malformed input becomes a [`Reject`] with the status to answer.

use std::fmt;

use crate::loopback::http::{is_tchar, reason};

/// Most header lines a request may have.
pub(crate) const MAX_HEADERS: usize = 100;

/// An HTTP request as the fault server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The method, such as `"POST"`, as sent (methods are case-sensitive).
    pub method: String,
    /// The path of the request target, without the query: `"/query"`.
    pub path: String,
    /// The query of the request target, without the `?`, if it had one.
    pub query: Option<String>,
    /// The header lines in order, names as sent; values without surrounding whitespace.
    pub headers: Vec<(String, String)>,
    /// The body, as long as the request's `Content-Length` said.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with this method and target (a path, with a query after `?` if any), no headers and no
    /// body: for calling a handler directly in a unit test.
    pub fn new(method: impl Into<String>, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (target.to_owned(), None),
        };
        Request { method: method.into(), path, query, headers: Vec::new(), body: Vec::new() }
    }

    /// Adds a header line.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header called `name`, compared without regard to ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as UTF-8 text, if it is.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// An HTTP response for the fault server to send.
///
/// The server writes `Content-Length` and `Connection` itself and leaves out any such header given here,
/// as well as `Transfer-Encoding` and headers whose name or value could not be sent as they are (a name that
/// is not an HTTP token, a value with a control character). A status outside `200..=999` is sent as 500.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header lines in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A response with this status and `value` as an `application/json` body.
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Response::new(status).with_header("content-type", "application/json").with_body(value.to_string())
    }

    /// A response with this status and `text` as a `text/plain; charset=utf-8` body.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Response::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(text.into())
    }

    /// Adds a header line.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header called `name`, compared without regard to ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl Default for Response {
    /// `200 OK` with the JSON body `{"ok":true}`: the default handler's answer.
    fn default() -> Self {
        Response::json(200, serde_json::json!({ "ok": true }))
    }
}

/// The value of the first header called `name` in `headers`, compared without regard to ASCII case.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The parsed head of a request: everything but the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    /// The length of the body to read.
    pub(crate) content_length: usize,
    /// Whether the connection may serve another request after this one.
    pub(crate) keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub(crate) expect_continue: bool,
}

impl Head {
    pub(crate) fn into_request(self, body: Vec<u8>) -> Request {
        Request { method: self.method, path: self.path, query: self.query, headers: self.headers, body }
    }

    pub(crate) fn is_head_method(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Why a request is refused before it reaches the fault plan; the server answers and closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// 400: the request is not well-formed HTTP/1.1.
    Malformed(&'static str),
    /// 431: the request head is larger than the server's limit, or has too many header lines.
    HeadTooLarge,
    /// 413: the body is larger than the server's limit.
    BodyTooLarge,
    /// 501: `Transfer-Encoding` (chunked bodies) is not supported.
    TransferEncoding,
    /// 417: an `Expect` other than `100-continue`.
    Expectation,
    /// 505: an HTTP version other than 1.0 and 1.1.
    Version,
}

impl Reject {
    pub(crate) fn status(self) -> u16 {
        match self {
            Reject::Malformed(_) => 400,
            Reject::HeadTooLarge => 431,
            Reject::BodyTooLarge => 413,
            Reject::TransferEncoding => 501,
            Reject::Expectation => 417,
            Reject::Version => 505,
        }
    }

    pub(crate) fn response(self) -> Response {
        Response::json(self.status(), serde_json::json!({ "error": self.to_string() }))
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Malformed(why) => f.write_str(why),
            Reject::HeadTooLarge => f.write_str("request head too large"),
            Reject::BodyTooLarge => f.write_str("request body too large"),
            Reject::TransferEncoding => {
                f.write_str("transfer-encoding is not supported; send a content-length body")
            }
            Reject::Expectation => f.write_str("only `expect: 100-continue` is supported"),
            Reject::Version => f.write_str("http version not supported"),
        }
    }
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().copied().all(is_tchar)
}

/// Whether `b` may appear in a header value: visible ASCII, space, tab, or obs-text.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// Parses a request head: the request line and header lines up to and including the blank line.
///
/// `max_body` is the largest `Content-Length` accepted.
pub(crate) fn parse_head(head: &[u8], max_body: usize) -> Result<Head, Reject> {
    let head = head.strip_suffix(b"\r\n\r\n").ok_or(Reject::Malformed("incomplete request head"))?;
    let lines = split_lines(head)?;
    let (request_line, header_lines) = lines.split_first().ok_or(Reject::Malformed("empty request"))?;
    let (method, path, query, http11) = parse_request_line(request_line)?;
    if header_lines.len() > MAX_HEADERS {
        return Err(Reject::HeadTooLarge);
    }
    let headers = header_lines.iter().map(|line| parse_header_line(line)).collect::<Result<Vec<_>, _>>()?;

    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case("content-length") {
            for part in value.split(',').map(|p| p.trim_matches([' ', '\t'])) {
                let n = parse_length(part)?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(Reject::Malformed("conflicting content-length"));
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(|t| t.trim_matches([' ', '\t'])) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive_token |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(Reject::Expectation);
            }
        }
    }
    if transfer_encoding {
        return Err(if content_length.is_some() {
            Reject::Malformed("both transfer-encoding and content-length")
        } else {
            Reject::TransferEncoding
        });
    }
    if http11 && hosts != 1 {
        return Err(Reject::Malformed("an http/1.1 request needs exactly one host header"));
    }
    let content_length = match content_length {
        None => 0,
        Some(n) if n > max_body as u64 => return Err(Reject::BodyTooLarge),
        Some(n) => n as usize,
    };
    Ok(Head {
        method,
        path,
        query,
        headers,
        content_length,
        keep_alive: !close && (http11 || keep_alive_token),
        expect_continue: expect_continue && http11 && content_length > 0,
    })
}

/// Splits a head (without its final blank line) at each CRLF; a bare CR or LF is an error.
fn split_lines(head: &[u8]) -> Result<Vec<&[u8]>, Reject> {
    let mut lines = Vec::new();
    let mut rest = head;
    loop {
        let at = rest.iter().position(|&b| b == b'\r' || b == b'\n');
        match at {
            None => {
                lines.push(rest);
                return Ok(lines);
            }
            Some(at) if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') => {
                lines.push(&rest[..at]);
                rest = &rest[at + 2..];
            }
            Some(_) => return Err(Reject::Malformed("lines must end with CRLF")),
        }
    }
}

/// Parses `METHOD SP request-target SP HTTP-version`; returns the method, path, query and whether the version
/// is 1.1.
fn parse_request_line(line: &[u8]) -> Result<(String, String, Option<String>, bool), Reject> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::Malformed("malformed request line"));
    };
    if !is_token(method) {
        return Err(Reject::Malformed("malformed method"));
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Reject::Version);
        }
        _ => return Err(Reject::Malformed("malformed http version")),
    };
    if target.is_empty() || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(Reject::Malformed("malformed request target"));
    }
    // Only ASCII is left, so the conversions below cannot fail.
    let target = String::from_utf8_lossy(target).into_owned();
    let origin = if target.starts_with('/') || target == "*" {
        target
    } else if let Some(rest) =
        strip_prefix_ignore_case(&target, "http://").or_else(|| strip_prefix_ignore_case(&target, "https://"))
    {
        // Absolute form: drop the authority.
        match rest.find(['/', '?']) {
            Some(at) if rest.as_bytes()[at] == b'/' => rest[at..].to_owned(),
            Some(at) => format!("/{}", &rest[at..]),
            None => "/".to_owned(),
        }
    } else {
        return Err(Reject::Malformed("malformed request target"));
    };
    let (path, query) = match origin.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (origin, None),
    };
    let method = String::from_utf8_lossy(method).into_owned();
    Ok((method, path, query, http11))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

fn parse_header_line(line: &[u8]) -> Result<(String, String), Reject> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(Reject::Malformed("folded header lines are not allowed"));
    }
    let colon =
        line.iter().position(|&b| b == b':').ok_or(Reject::Malformed("header line without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if !is_token(name) {
        return Err(Reject::Malformed("malformed header name"));
    }
    if !value.iter().copied().all(is_value_byte) {
        return Err(Reject::Malformed("malformed header value"));
    }
    let value = value.trim_ascii_start();
    let value = value.trim_ascii_end();
    Ok((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()))
}

fn parse_length(s: &str) -> Result<u64, Reject> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reject::Malformed("malformed content-length"));
    }
    s.parse().map_err(|_| Reject::Malformed("malformed content-length"))
}

/// Whether a response with this status carries no body (and so no `Content-Length` either).
fn bodiless(status: u16) -> bool {
    status == 204 || status == 304
}

/// How to frame a response on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Framing {
    /// Send `Connection: close` (the server closes after this response).
    pub(crate) close: bool,
    /// The request was `HEAD`: send the head only.
    pub(crate) head_only: bool,
    /// The `Content-Length` to announce instead of the body's own length (a truncated response).
    pub(crate) announce_length: Option<u64>,
}

/// The status line and header block of `response`, through the blank line.
pub(crate) fn encode_head(response: &Response, framing: Framing) -> Vec<u8> {
    let status = if (200..=999).contains(&response.status) {
        response.status
    } else {
        tracing::warn!(status = response.status, "testkit: invalid response status, sending 500");
        500
    };
    let mut out = Vec::with_capacity(128 + 32 * response.headers.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (name, value) in &response.headers {
        let framing_header = ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
        if framing_header {
            continue;
        }
        let valid_value = value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
        if !is_token(name.as_bytes()) || !valid_value {
            tracing::warn!(header = %name, "testkit: header cannot be sent as it is, leaving it out");
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !bodiless(status) {
        let length = framing.announce_length.unwrap_or(response.body.len() as u64);
        out.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    if framing.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The body bytes to send after [`encode_head`].
pub(crate) fn body_to_send(response: &Response, framing: Framing) -> &[u8] {
    if framing.head_only || bodiless(response.status) || !(200..=999).contains(&response.status) {
        &[]
    } else {
        &response.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::http::find_head_end;
    use proptest::prelude::*;

    const MAX_BODY: usize = 1 << 20;

    fn parse(s: &str) -> Result<Head, Reject> {
        let end = find_head_end(s.as_bytes(), 0).expect("test input has a complete head");
        parse_head(&s.as_bytes()[..end], MAX_BODY)
    }

    #[test]
    fn parses_a_post_with_a_body_length() {
        let head =
            parse("POST /query?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nX-A:  b \r\n\r\n").unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/query");
        assert_eq!(head.query.as_deref(), Some("x=1"));
        assert_eq!(head.content_length, 12);
        assert!(head.keep_alive);
        assert_eq!(head.headers[2], ("X-A".to_owned(), "b".to_owned()));
    }

    #[test]
    fn connection_close_and_http10_end_keep_alive() {
        assert!(!parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").unwrap().keep_alive);
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().keep_alive);
    }

    #[test]
    fn absolute_form_targets_keep_their_path() {
        assert_eq!(parse("GET http://h:1/a/b?c HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().path, "/a/b");
        assert_eq!(parse("GET http://h:1?c HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().path, "/");
    }

    #[test]
    fn rejects_what_rfc_9112_says_to_reject() {
        let cases = [
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET nopath HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400),
        ];
        for (input, status) in cases {
            assert_eq!(parse(input).map_err(Reject::status), Err(status), "{input:?}");
        }
    }

    #[test]
    fn too_many_header_lines_are_431() {
        let mut req = "GET / HTTP/1.1\r\nHost: a\r\n".to_owned();
        for i in 0..MAX_HEADERS {
            req.push_str(&format!("X-{i}: v\r\n"));
        }
        req.push_str("\r\n");
        assert_eq!(parse(&req).map_err(Reject::status), Err(431));
    }

    #[test]
    fn the_writer_owns_framing_headers() {
        let response = Response::text(200, "hi")
            .with_header("Content-Length", "999")
            .with_header("X-Bad", "a\r\nInjected: yes");
        let head = encode_head(&response, Framing { close: true, head_only: false, announce_length: None });
        let head = String::from_utf8(head).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
        );
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = find_head_end(&bytes, 0);
            let _ = parse_head(&bytes, MAX_BODY);
        }

        #[test]
        fn the_parser_never_panics_on_near_http(
            method in "[A-Z]{0,8}",
            target in "[ -~]{0,20}",
            version in "HTTP/[0-9.]{0,4}",
            headers in proptest::collection::vec(("[ -~]{0,12}", "[\\x00-\\xff]{0,16}"), 0..8),
            sep in prop_oneof![Just("\r\n"), Just("\n"), Just("\r"), Just(" \r\n")],
        ) {
            let mut req = format!("{method} {target} {version}{sep}");
            for (name, value) in headers {
                req.push_str(&format!("{name}:{value}{sep}"));
            }
            req.push_str("\r\n\r\n");
            let _ = parse_head(req.as_bytes(), MAX_BODY);
        }

        #[test]
        fn well_formed_requests_parse_back(
            method in "[A-Z]{1,7}",
            path in "/[a-zA-Z0-9/._-]{0,20}",
            headers in proptest::collection::vec(("X-[a-zA-Z0-9-]{1,10}", "[!-~]([ -~]{0,20}[!-~])?"), 0..10),
            length in 0usize..100_000,
        ) {
            let mut req = format!("{method} {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {length}\r\n");
            for (name, value) in &headers {
                req.push_str(&format!("{name}: {value}\r\n"));
            }
            req.push_str("\r\n");
            let end = find_head_end(req.as_bytes(), 0).unwrap();
            prop_assert_eq!(end, req.len());
            let head = parse_head(req.as_bytes(), MAX_BODY).unwrap();
            prop_assert_eq!(head.method, method);
            prop_assert_eq!(head.path, path);
            prop_assert_eq!(head.content_length, length);
            prop_assert_eq!(&head.headers[2..], &headers[..]);
        }
    }
}
