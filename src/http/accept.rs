//! The accept loop of one core: each accepted connection gets its own task, up to this core's
//! share of `max-connection-limit`; one over it is told why and closed. When the core drains,
//! it takes what the kernel already queued and stops.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::FutureExt;

use super::{serve_connection, Drain, Handler, HttpLimits};

/// Once the drain began, the listener is still asked this long for connections the kernel
/// completed before it: closing the listener would reset them.
const DRAIN_ACCEPT_WINDOW: Duration = Duration::from_millis(20);

/// Accepts connections on `listener` and serves each with `handler`, at most `open_max` open at
/// a time; returns when `drain` begins (the connections go on until they close).
pub async fn accept_loop<H: Handler + 'static>(
    listener: glommio::net::TcpListener,
    handler: Rc<H>,
    limits: Rc<HttpLimits>,
    open_max: usize,
    drain: Rc<Drain>,
) {
    let mut until = None;
    loop {
        let accepted = if drain.is_draining() {
            let until =
                *until.get_or_insert_with(|| std::time::Instant::now() + DRAIN_ACCEPT_WINDOW);
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match glommio::timer::timeout(left, async { Ok(listener.accept().await) }).await {
                Ok(a) => a,
                Err(_) => return,
            }
        } else {
            match async { Some(listener.accept().await) }
                .or(async {
                    drain.started().await;
                    None
                })
                .await
            {
                Some(a) => a,
                None => continue,
            }
        };
        match accepted {
            Ok(stream) if drain.open() >= open_max => {
                // Over max-connection-limit: answer 503 and close (1.x closes silently).
                glommio::spawn_local(refuse_connection(stream, open_max)).detach();
            }
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                let (handler, limits, drain) = (handler.clone(), limits.clone(), drain.clone());
                drain.opened();
                glommio::spawn_local(async move {
                    serve_connection(stream, handler, limits, drain.clone()).await;
                    drain.closed();
                })
                .detach();
            }
            Err(e) => {
                // Out of file descriptors or similar: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Tells a connection over the limit why it is closed, without reading from it.
async fn refuse_connection(mut stream: glommio::net::TcpStream, open_max: usize) {
    use futures_lite::AsyncWriteExt;
    let body = format!(
        "{{\"error\":\"too many open connections: max-connection-limit reached ({open_max} per core)\"}}\n"
    );
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.close().await;
    };
    let _ = glommio::timer::timeout(std::time::Duration::from_secs(1), async {
        write.await;
        Ok(())
    })
    .await;
}
