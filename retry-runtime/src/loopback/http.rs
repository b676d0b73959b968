//! The HTTP/1.1 basics both servers use: the end of a request head, token bytes, reason phrases.

/// The index just past the `\r\n\r\n` that ends a request head, searching from `from`.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.min(buf.len());
    buf[from..].windows(4).position(|w| w == b"\r\n\r\n").map(|at| from + at + 4)
}

/// `tchar` of RFC 9110: the bytes of a token, such as a method or a header name.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The reason phrase of a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_the_head() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest", 14), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest", 15), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n", 0), None);
        assert_eq!(find_head_end(b"\r\n\r\n", 99), None);
    }

    #[test]
    fn tokens_are_rfc_9110_tchars() {
        assert!(b"X-Request-Id".iter().copied().all(is_tchar));
        assert!(!is_tchar(b' ') && !is_tchar(b':') && !is_tchar(b'(') && !is_tchar(0xff));
    }
}
