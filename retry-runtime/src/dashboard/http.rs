//! The little HTTP/1.1 the dashboard speaks: one bounded request per connection, then close.

use crate::loopback::http::{is_tchar, reason};

/// The largest request head accepted: request line and headers.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
/// The most header lines accepted.
pub(crate) const MAX_HEADERS: usize = 64;

/// A request the dashboard can answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    /// `HEAD` rather than `GET`: answer with the head alone.
    pub(crate) head_only: bool,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
}

impl Request<'_> {
    /// The value of `key` in the query string, if present.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Why a request was refused, with the status that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not HTTP, or not well formed.
    BadRequest,
    /// A method other than `GET` and `HEAD`.
    Method,
    /// A request with a body.
    Body,
    /// A head over [`MAX_HEAD`] or with more than [`MAX_HEADERS`] lines.
    HeadTooLarge,
    /// Another HTTP version.
    Version,
}

impl Reject {
    pub(crate) fn status(self) -> u16 {
        match self {
            Reject::BadRequest => 400,
            Reject::Method => 405,
            Reject::Body => 413,
            Reject::HeadTooLarge => 431,
            Reject::Version => 505,
        }
    }
}

/// Parses a complete request head (ending with its blank line).
pub(crate) fn parse(head: &[u8]) -> Result<Request<'_>, Reject> {
    if head.len() > MAX_HEAD {
        return Err(Reject::HeadTooLarge);
    }
    let text = std::str::from_utf8(head).map_err(|_| Reject::BadRequest)?;
    let text = text.strip_suffix("\r\n\r\n").ok_or(Reject::BadRequest)?;
    let mut lines = text.split("\r\n");
    let line = lines.next().ok_or(Reject::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::BadRequest);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Reject::BadRequest);
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Reject::BadRequest);
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => return Err(Reject::Version),
        _ => return Err(Reject::BadRequest),
    }
    let mut count = 0;
    for header in lines {
        count += 1;
        if count > MAX_HEADERS {
            return Err(Reject::HeadTooLarge);
        }
        let (name, value) = header.split_once(':').ok_or(Reject::BadRequest)?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(Reject::BadRequest);
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            return Err(Reject::Body);
        }
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(Reject::Method),
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request { head_only, path, query })
}

/// A response head; every response closes its connection.
pub(crate) fn head(status: u16, content_type: &str, length: Option<usize>, extra: &[(&str, &str)]) -> String {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n",
        reason(status)
    );
    if let Some(length) = length {
        out.push_str(&format!("Content-Length: {length}\r\n"));
    }
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get_and_head_with_a_query() {
        let req = parse(b"GET /events?frames=3&x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n").unwrap();
        assert_eq!(req, Request { head_only: false, path: "/events", query: "frames=3&x=1" });
        assert_eq!(req.param("frames"), Some("3"));
        assert_eq!(req.param("fr"), None);
        let req = parse(b"HEAD / HTTP/1.0\r\n\r\n").unwrap();
        assert!(req.head_only);
        assert_eq!(req.param("frames"), None);
    }

    #[test]
    fn refuses_what_it_does_not_speak() {
        assert_eq!(parse(b"POST / HTTP/1.1\r\n\r\n"), Err(Reject::Method));
        assert_eq!(parse(b"GET / HTTP/2\r\n\r\n"), Err(Reject::Version));
        assert_eq!(parse(b"GET / FTP/1.1\r\n\r\n"), Err(Reject::BadRequest));
        assert_eq!(parse(b"GET  / HTTP/1.1\r\n\r\n"), Err(Reject::BadRequest));
        assert_eq!(parse(b"GET http://x/ HTTP/1.1\r\n\r\n"), Err(Reject::BadRequest));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nNo colon\r\n\r\n"), Err(Reject::BadRequest));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nBad name: x\r\n\r\n"), Err(Reject::BadRequest));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), Err(Reject::Body));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), Err(Reject::Body));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\xff: x\r\n\r\n"), Err(Reject::BadRequest));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(parse(many.as_bytes()), Err(Reject::HeadTooLarge));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse(long.as_bytes()), Err(Reject::HeadTooLarge));
        assert!(parse(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_ok());
    }
}
