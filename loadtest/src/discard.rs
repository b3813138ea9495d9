//! `lineshard-load discard-server`: reads requests, throws the bodies away, answers 204.
//!
//! It exists to show that the loader is not the bottleneck: whatever rate it reaches against this
//! server is the loader's own ceiling. Keep-alive; one thread per connection, optionally pinned.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const HEAD_BYTES_MAX: usize = 64 << 10;
const READ_CHUNK_BYTES: usize = 1 << 20;

pub fn serve(bind: &str, core: Option<usize>, lifetime: Duration) -> Result<(), String> {
    let l = TcpListener::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    println!("discard-server listening on {addr}");
    let end = Instant::now() + lifetime;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    while Instant::now() < end {
        match l.accept() {
            Ok((s, _)) => {
                std::thread::spawn(move || {
                    if let Some(id) = core.and_then(|c| {
                        core_affinity::get_core_ids()?
                            .into_iter()
                            .find(|x| x.id == c)
                    }) {
                        core_affinity::set_for_current(id);
                    }
                    let _ = s.set_nonblocking(false);
                    let _ = conn(s, end);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Serves one keep-alive connection until the peer closes it or `end` passes.
fn conn(mut s: TcpStream, end: Instant) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let mut filled = 0usize;
    while Instant::now() < end {
        let (head_len, body_len, is_query) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[..filled]) {
                Ok(httparse::Status::Complete(n)) => {
                    let len = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| {
                            std::str::from_utf8(h.value)
                                .ok()?
                                .trim()
                                .parse::<usize>()
                                .ok()
                        })
                        .unwrap_or(0);
                    break (n, len, req.path.is_some_and(|p| p.starts_with("/query")));
                }
                Ok(httparse::Status::Partial) if filled < HEAD_BYTES_MAX => {
                    let n = s.read(&mut buf[filled..])?;
                    if n == 0 {
                        return Ok(());
                    }
                    filled += n;
                }
                _ => {
                    s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                    return Ok(());
                }
            }
        };
        // Skip the body: what is buffered first, then straight from the socket.
        let mut left = body_len;
        let buffered = (filled - head_len).min(left);
        left -= buffered;
        let rest = head_len + buffered;
        buf.copy_within(rest..filled, 0);
        filled -= rest;
        while left > 0 {
            let n = s.read(&mut buf[..left.min(READ_CHUNK_BYTES)])?;
            if n == 0 {
                return Ok(());
            }
            left -= n;
        }
        if is_query {
            let body = br#"{"results":[{"statement_id":0}]}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(&[head.as_bytes(), body].concat())?;
        } else {
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")?;
        }
    }
    Ok(())
}
