//! The TCP listener the API is served on: axum's, with each connection wrapped so that one
//! refusal hyper makes by itself is problem+json like every other error.
//!
//! hyper refuses a request target longer than [`MAX_REQUEST_TARGET`] bytes while it parses the
//! request head, before any router or middleware sees the request, with a bare `414` and no
//! body. A [`Connection`] counts the bytes of the line it is reading (one pass over what each
//! read returns); once a line longer than that limit has been read, and only then, it looks at
//! what hyper writes, and replaces a `414` status line and everything after it (hyper closes
//! the connection after that answer) with `414 URI_TOO_LONG` as problem+json. The router never
//! answers `414` itself, so nothing else can be mistaken for it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::serve::{ListenerExt, TapIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::problem::{ApiError, Code};

/// The longest request target hyper parses (its `MAX_URI_LEN`); longer is `414`.
pub const MAX_REQUEST_TARGET: usize = 65_534;

/// The listener to give `axum::serve`: [`Listener`] as a [`TapIo`], the one listener type axum
/// derives `ConnectInfo<SocketAddr>` for whatever it wraps (the rate limits need the peer's
/// address). The tap does nothing.
pub type Served = TapIo<Listener, fn(&mut Connection)>;

/// Wraps `tcp` for `axum::serve`.
pub fn serve_on(tcp: TcpListener) -> Served {
    fn untouched(_: &mut Connection) {}
    Listener(tcp).tap_io(untouched as fn(&mut Connection))
}

/// A TCP listener whose connections are [`Connection`]s.
#[derive(Debug)]
pub struct Listener(TcpListener);

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let (stream, peer) = axum::serve::Listener::accept(&mut self.0).await;
        (Connection::new(stream), peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// An accepted connection (see the module documentation).
#[derive(Debug)]
pub struct Connection<S = TcpStream> {
    inner: S,
    /// Bytes read since the last line feed.
    line: usize,
    /// Whether a line longer than [`MAX_REQUEST_TARGET`] has been read.
    long_line: bool,
    /// The answer replacing hyper's bare `414`, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> Connection<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            line: 0,
            long_line: false,
            replacement: None,
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        let mut segments = bytes.split(|&b| b == b'\n');
        if let Some(first) = segments.next() {
            self.line += first.len();
        }
        for segment in segments {
            self.long_line |= self.line > MAX_REQUEST_TARGET;
            self.line = segment.len();
        }
        self.long_line |= self.line > MAX_REQUEST_TARGET;
    }

    /// Whether `bytes`, about to be written, are hyper's bare `414`.
    fn is_hypers_414(&self, bytes: &[u8]) -> bool {
        self.long_line
            && (bytes.starts_with(b"HTTP/1.1 414 ") || bytes.starts_with(b"HTTP/1.0 414 "))
    }
}

/// `414 URI_TOO_LONG` as a whole HTTP/1.1 response that closes the connection.
fn uri_too_long() -> Vec<u8> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = ApiError::new(
        Code::UriTooLong,
        format!("the request target may be at most {MAX_REQUEST_TARGET} bytes"),
    )
    .with_details(serde_json::json!({"max_bytes": MAX_REQUEST_TARGET}))
    .body("", &request_id);
    let mut response = format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\nconnection: close\r\nx-request-id: {request_id}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

impl<S: AsyncWrite + Unpin> Connection<S> {
    /// Writes what is left of the replacement.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((bytes, written)) = &mut self.replacement {
            while *written < bytes.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `len` bytes hyper writes after its `414` started: they are dropped, and the
    /// replacement goes out instead.
    fn replace(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<usize>> {
        if self.replacement.is_none() {
            tracing::debug!("request target too long: answering 414 URI_TOO_LONG");
            self.replacement = Some((uri_too_long(), 0));
        }
        // What is not written now is written by the flush or shutdown that follows.
        if let Poll::Ready(Err(error)) = self.drain(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(len))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Connection<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.saw(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Connection<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_some() || this.is_hypers_414(buf) {
            return this.replace(cx, buf.len());
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        if this.replacement.is_some() || this.is_hypers_414(first) {
            return this.replace(cx, bufs.iter().map(|b| b.len()).sum());
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_seen_across_reads_and_within_one() {
        let mut split = Connection::new(());
        split.saw(b"GET /");
        split.saw(&vec![b'a'; MAX_REQUEST_TARGET - 10]);
        assert!(!split.long_line, "{} bytes so far", split.line);
        split.saw(b"aaaaaaaaaa HTTP/1.1\r\nhost: x\r\n\r\n");
        assert!(split.long_line);
        assert!(split.is_hypers_414(b"HTTP/1.1 414 URI Too Long\r\n"));
        assert!(!split.is_hypers_414(b"HTTP/1.1 400 Bad Request\r\n"));

        let mut inside = Connection::new(());
        let mut bytes = b"GET / HTTP/1.1\r\nx: ".to_vec();
        bytes.extend(vec![b'a'; MAX_REQUEST_TARGET + 1]);
        bytes.extend_from_slice(b"\r\n\r\n");
        inside.saw(&bytes);
        assert!(inside.long_line);

        let mut short = Connection::new(());
        for _ in 0..1000 {
            short.saw(b"GET /v1/cart/me HTTP/1.1\r\nhost: x\r\n\r\n");
        }
        assert!(!short.long_line);
        assert!(!short.is_hypers_414(b"HTTP/1.1 414 URI Too Long\r\n"));
    }

    #[test]
    fn the_replacement_is_a_problem() {
        let response = String::from_utf8(uri_too_long()).expect("text");
        let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 414 "));
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(problem["code"], "URI_TOO_LONG");
        assert_eq!(problem["status"], 414);
    }
}
