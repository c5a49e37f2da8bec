//! A tiny blocking HTTP/1.0 GET client over `TcpStream`: plain http only, for `flotilla demo
//! check` (the image's health probe) and for reading the task metadata endpoint. HTTP/1.0 keeps
//! the answer free of chunked encoding and ends it with the connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Answers larger than this are cut off; a probe needs the status, the metadata is small.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, PartialEq)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The parts of an `http://` URL a GET needs.
#[derive(Debug, PartialEq)]
pub(crate) struct Url {
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

pub(crate) fn parse_url(url: &str) -> anyhow::Result<Url> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.strip_prefix('[') {
        // IPv6 literal: `[::1]:8080`.
        Some(v6) => {
            let (host, after) =
                v6.split_once(']').with_context(|| format!("{url:?}: unclosed '['"))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    anyhow::ensure!(!host.is_empty(), "{url:?}: no host");
    let port = match port {
        Some(port) => port.parse().with_context(|| format!("{url:?}: bad port {port:?}"))?,
        None => 80,
    };
    Ok(Url { authority: authority.to_string(), host: host.to_string(), port, path })
}

/// The status code of a response head (`HTTP/1.1 200 OK ...`).
pub(crate) fn parse_status(response: &[u8]) -> anyhow::Result<u16> {
    let line_end = response.iter().position(|&b| b == b'\n').unwrap_or(response.len());
    let line = String::from_utf8_lossy(&response[..line_end]);
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    anyhow::ensure!(version.starts_with("HTTP/"), "not an HTTP response: {:?}", line.trim());
    let code = parts.next().unwrap_or_default();
    match code.parse::<u16>() {
        Ok(status) if code.len() == 3 && (100..=599).contains(&status) => Ok(status),
        _ => anyhow::bail!("bad HTTP status line: {:?}", line.trim()),
    }
}

pub(crate) fn get(url: &str, timeout: Duration) -> anyhow::Result<Response> {
    let url = parse_url(url)?;
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .context("timed out")
    };
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {}", url.host))?;
    let mut last_error = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(anyhow::Error::from(e).context(format!("connect {addr}"))),
        }
    }
    let mut stream = match (stream, last_error) {
        (Some(stream), _) => stream,
        (None, Some(error)) => return Err(error),
        (None, None) => anyhow::bail!("{} resolves to no address", url.host),
    };
    stream.set_write_timeout(Some(remaining()?))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: flotilla-demo-check\r\nAccept: */*\r\n\r\n",
        url.path, url.authority
    );
    stream.write_all(request.as_bytes()).context("send request")?;
    let mut response = Vec::new();
    let mut buffer = [0; 8192];
    while response.len() < MAX_RESPONSE_BYTES {
        stream.set_read_timeout(Some(remaining()?)).context("set read timeout")?;
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                anyhow::bail!("timed out waiting for the response")
            }
            Err(e) => return Err(anyhow::Error::from(e).context("read response")),
        }
    }
    anyhow::ensure!(!response.is_empty(), "connection closed without a response");
    let status = parse_status(&response)?;
    let body_start =
        response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    Ok(Response { status, body: response.split_off(body_start) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n\r\n").ok(), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 Service Unavailable\r\nx: y\r\n").ok(), Some(503));
        assert_eq!(parse_status(b"HTTP/1.1 204\r\n").ok(), Some(204));
        assert_eq!(parse_status(b"HTTP/1.1 301 Moved").ok(), Some(301));
        for bad in [
            &b""[..],
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"HTTP/1.1 OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
            b"HTTP/1.1 099 x\r\n",
            b"HTTP/1.1 +20 x\r\n",
        ] {
            assert!(parse_status(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn urls() {
        let url = parse_url("http://127.0.0.1:8080/healthz").expect("url");
        assert_eq!(
            url,
            Url {
                authority: "127.0.0.1:8080".into(),
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/healthz".into()
            }
        );
        let url = parse_url("http://localhost").expect("url");
        assert_eq!((url.host.as_str(), url.port, url.path.as_str()), ("localhost", 80, "/"));
        let url = parse_url("http://[::1]:9/v4/task?x=1").expect("url");
        assert_eq!((url.host.as_str(), url.port, url.path.as_str()), ("::1", 9, "/v4/task?x=1"));
        let url = parse_url("http://h:1?q").expect("url");
        assert_eq!(url.path, "/?q");
        for bad in ["https://x/", "x:80", "http://", "http://h:port/", "http://[::1/"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn closed_port_is_an_error_and_a_live_one_is_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut head = [0; 1024];
            let _ = conn.read(&mut head);
            conn.write_all(b"HTTP/1.0 503 Service Unavailable\r\n\r\nnot yet").expect("write");
        });
        let response =
            get(&format!("http://127.0.0.1:{port}/healthz"), Duration::from_secs(5)).expect("get");
        assert_eq!(response, Response { status: 503, body: b"not yet".to_vec() });
        server.join().expect("server thread");
        // The listener is gone now, so the port is closed.
        assert!(get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).is_err());
    }
}
