//! Minimal HTTP/1.1 framing: request writing, bounded response-head parsing and
//! response bodies (Content-Length, chunked transfer decoding on the fly, or until EOF).

use std::io::{self, BufRead, Read, Write};

/// Longest status or header line we accept.
pub(crate) const MAX_LINE: usize = 16 * 1024;
/// Most header lines we accept in one response head (or chunked trailer).
pub(crate) const MAX_HEADERS: usize = 256;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Read one line ending in `\n` (returned without `\r\n`), at most `max` bytes.
/// `Ok(None)` at a clean EOF before any byte.
pub(crate) fn read_line_bounded<R: BufRead>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if line.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a line",
            ));
        }
        let (take, done) = match memchr_nl(buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max + 2 {
            return Err(invalid(format!("line longer than {max} bytes")));
        }
        line.extend_from_slice(buf.get(..take).unwrap_or_default());
        r.consume(take);
        if done {
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > max {
                return Err(invalid(format!("line longer than {max} bytes")));
            }
            return Ok(Some(line));
        }
    }
}

fn memchr_nl(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
    UntilEof,
}

/// Status line and headers of a response.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn framing(&self) -> io::Result<Framing> {
        if let Some(te) = self.header("transfer-encoding") {
            if te
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("chunked"))
            {
                return Ok(Framing::Chunked);
            }
        }
        if let Some(cl) = self.header("content-length") {
            let n = cl
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid(format!("bad content-length {cl:?}")))?;
            return Ok(Framing::Length(n));
        }
        if self.status == 204 || self.status == 304 {
            return Ok(Framing::Length(0));
        }
        Ok(Framing::UntilEof)
    }
}

/// Parse the status line and headers of a response. Informational (1xx)
/// responses other than 101 are skipped.
pub(crate) fn read_head<R: BufRead>(r: &mut R) -> io::Result<Head> {
    loop {
        let line = read_line_bounded(r, MAX_LINE)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            )
        })?;
        let text = String::from_utf8_lossy(&line);
        let mut parts = text.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(format!(
                "bad status line {:?}",
                truncate(&text, 200)
            )));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| invalid(format!("bad status line {:?}", truncate(&text, 200))))?;
        let headers = read_fields(r)?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok(Head { status, headers });
    }
}

/// Header (or trailer) fields up to the empty line.
fn read_fields<R: BufRead>(r: &mut R) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line_bounded(r, MAX_LINE)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the response head",
            )
        })?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() >= MAX_HEADERS {
            return Err(invalid(format!("more than {MAX_HEADERS} header lines")));
        }
        let text = String::from_utf8_lossy(&line);
        let (k, v) = text
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {:?}", truncate(&text, 200))))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", s.get(..end).unwrap_or_default())
}

/// Write a request with `Connection: close`.
pub(crate) fn write_request<W: Write>(
    w: &mut W,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: confine\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// Decodes `Transfer-Encoding: chunked` as bytes arrive.
#[derive(Debug)]
pub struct ChunkedReader<R> {
    inner: R,
    remaining: u64,
    state: ChunkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data,
    DataEnd,
    Done,
}

impl<R: BufRead> ChunkedReader<R> {
    pub fn new(inner: R) -> Self {
        ChunkedReader {
            inner,
            remaining: 0,
            state: ChunkState::Size,
        }
    }

    fn read_size(&mut self) -> io::Result<u64> {
        let line = read_line_bounded(&mut self.inner, 1024)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the last chunk",
            )
        })?;
        let text =
            std::str::from_utf8(&line).map_err(|_| invalid("chunk size line is not text"))?;
        let digits = text.split(';').next().unwrap_or_default().trim();
        if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(invalid(format!("bad chunk size {:?}", truncate(text, 40))));
        }
        u64::from_str_radix(digits, 16)
            .map_err(|_| invalid(format!("bad chunk size {:?}", truncate(text, 40))))
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(0),
                ChunkState::Size => {
                    let size = self.read_size()?;
                    if size == 0 {
                        // Trailers up to the empty line; a peer that closes right
                        // after the last-chunk line is tolerated.
                        match read_fields(&mut self.inner) {
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
                            Err(e) => return Err(e),
                        }
                        self.state = ChunkState::Done;
                        return Ok(0);
                    }
                    self.remaining = size;
                    self.state = ChunkState::Data;
                }
                ChunkState::Data => {
                    if buf.is_empty() {
                        return Ok(0);
                    }
                    let want = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let got = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
                    if got == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed inside a chunk",
                        ));
                    }
                    self.remaining -= got as u64;
                    if self.remaining == 0 {
                        self.state = ChunkState::DataEnd;
                    }
                    return Ok(got);
                }
                ChunkState::DataEnd => {
                    let line = read_line_bounded(&mut self.inner, 0)?.ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed after a chunk",
                        )
                    })?;
                    if !line.is_empty() {
                        return Err(invalid("chunk data not followed by CRLF"));
                    }
                    self.state = ChunkState::Size;
                }
            }
        }
    }
}

/// A response body, read as it arrives.
#[derive(Debug)]
pub enum Body<R> {
    Length(io::Take<R>, u64),
    Chunked(ChunkedReader<R>),
    UntilEof(R),
}

impl<R: BufRead> Body<R> {
    pub(crate) fn new(inner: R, framing: Framing) -> Self {
        match framing {
            Framing::Length(n) => Body::Length(inner.take(n), n),
            Framing::Chunked => Body::Chunked(ChunkedReader::new(inner)),
            Framing::UntilEof => Body::UntilEof(inner),
        }
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Length(t, declared) => {
                let n = t.read(buf)?;
                if n == 0 && !buf.is_empty() && t.limit() > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed after {} of {declared} body bytes",
                            *declared - t.limit()
                        ),
                    ));
                }
                Ok(n)
            }
            Body::Chunked(c) => c.read(buf),
            Body::UntilEof(r) => r.read(buf),
        }
    }
}

/// Read a whole body, failing with `Ok(None)` if it is longer than `limit`.
pub(crate) fn read_bounded<R: Read>(r: R, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(out))
}

/// Percent-encode for a path segment or query value (unreserved characters
/// kept; `keep` lists extra characters left as they are).
pub(crate) fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        ChunkedReader::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn chunked_basic_and_extensions() {
        let raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: a\r\n\r\nGARBAGE";
        assert_eq!(decode(raw).unwrap(), b"hello world");
        // uppercase hex, large chunk split over small reads
        let mut raw = b"1A\r\n".to_vec();
        raw.extend_from_slice(&[b'x'; 26]);
        raw.extend_from_slice(b"\r\n0\r\n\r\n");
        let mut r = ChunkedReader::new(&raw[..]);
        let mut out = Vec::new();
        let mut small = [0u8; 3];
        loop {
            let n = r.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&small[..n]);
        }
        assert_eq!(out, vec![b'x'; 26]);
    }

    #[test]
    fn chunked_tolerates_missing_final_crlf() {
        assert_eq!(decode(b"3\r\nabc\r\n0\r\n").unwrap(), b"abc");
    }

    #[test]
    fn chunked_rejects_bad_input() {
        // truncated inside a chunk
        let e = decode(b"10\r\nabc").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        // no terminating chunk
        let e = decode(b"3\r\nabc\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        // not hex
        let e = decode(b"zz\r\nabc\r\n0\r\n\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // overflowing size
        let e = decode(b"fffffffffffffffff\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // data longer than declared
        let e = decode(b"2\r\nabc\r\n0\r\n\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // endless size line
        let mut raw = vec![b'1'; 5000];
        raw.extend_from_slice(b"\r\n");
        assert!(decode(&raw).is_err());
    }

    #[test]
    fn head_parsing() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n{\"message\":\"no such image\"}\n";
        let mut r = &raw[..];
        let head = read_head(&mut r).unwrap();
        assert_eq!(head.status, 404);
        assert_eq!(head.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(head.framing().unwrap(), Framing::Length(28));
        let body = read_bounded(Body::new(r, head.framing().unwrap()), 100)
            .unwrap()
            .unwrap();
        assert_eq!(body, b"{\"message\":\"no such image\"}\n");

        let mut r = &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"[..];
        assert_eq!(
            read_head(&mut r).unwrap().framing().unwrap(),
            Framing::Chunked
        );
        let mut r = &b"HTTP/1.1 200 OK\r\n\r\nrest"[..];
        assert_eq!(
            read_head(&mut r).unwrap().framing().unwrap(),
            Framing::UntilEof
        );
        let mut r = &b"HTTP/1.1 204 No Content\r\n\r\n"[..];
        assert_eq!(
            read_head(&mut r).unwrap().framing().unwrap(),
            Framing::Length(0)
        );

        for bad in [
            &b"SMTP 220 hi\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n",
            b"",
        ] {
            let mut r = bad;
            assert!(
                read_head(&mut r).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut r = &b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"[..];
        assert!(read_head(&mut r).unwrap().framing().is_err());
    }

    #[test]
    fn length_body_detects_truncation_and_limit() {
        let mut body = Body::new(&b"abc"[..], Framing::Length(10));
        let mut out = Vec::new();
        let e = body.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let body = Body::new(&b"abcdef"[..], Framing::UntilEof);
        assert_eq!(read_bounded(body, 5).unwrap(), None);
        let body = Body::new(&b"abcde"[..], Framing::UntilEof);
        assert_eq!(read_bounded(body, 5).unwrap().unwrap(), b"abcde");
    }

    #[test]
    fn request_and_encoding() {
        let mut out = Vec::new();
        write_request(
            &mut out,
            "POST",
            "/v1.41/x",
            Some("application/json"),
            b"{}",
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /v1.41/x HTTP/1.1\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
        assert_eq!(encode("a b/c:d\r\n", b"/:"), "a%20b/c:d%0D%0A");
    }
}
