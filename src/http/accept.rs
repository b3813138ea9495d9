//! The accept loop of one core: each accepted connection gets its own task, up to this core's
//! share of `max-connection-limit`; one over it is told why and closed.

use std::rc::Rc;

use super::{serve_connection, Handler, HttpLimits};

/// Accepts connections on `listener` and serves each with `handler`, at most `open_max` open at
/// a time; returns only if the listener does (it does not in practice).
pub async fn accept_loop<H: Handler + 'static>(
    listener: glommio::net::TcpListener,
    handler: Rc<H>,
    limits: Rc<HttpLimits>,
    open_max: usize,
) {
    let open = handler.open_connections();
    loop {
        match listener.accept().await {
            Ok(stream) if open.get() >= open_max => {
                // Over max-connection-limit: answer 503 and close (1.x closes silently).
                glommio::spawn_local(refuse_connection(stream, open_max)).detach();
            }
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                let (handler, limits, open) = (handler.clone(), limits.clone(), open.clone());
                open.set(open.get() + 1);
                glommio::spawn_local(async move {
                    serve_connection(stream, handler, limits).await;
                    open.set(open.get().saturating_sub(1));
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
