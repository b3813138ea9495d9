//! A request whose handler stops on hang-up (a `/query`) is dropped when its client closes the
//! connection before the answer; others run to their end. The connection loop on a real glommio
//! executor and a real socket, with handlers that never answer unless told.

use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use lineshard::http::{serve_connection, Handler, HttpLimits, Request, RequestHead, Response};

/// `/slow` and `/stay` never answer; `/fast` answers at once. A handler future that is dropped
/// says so on `dropped`.
struct Probe {
    dropped: mpsc::Sender<String>,
}

struct Guard {
    path: String,
    dropped: mpsc::Sender<String>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.dropped.send(self.path.clone());
    }
}

impl Handler for Probe {
    type Checked = ();

    fn check_head(&self, _head: &RequestHead) -> Result<(), Response> {
        Ok(())
    }

    async fn handle(&self, req: &mut Request, _checked: ()) -> Response {
        if req.head.path == "/fast" {
            return Response::no_content();
        }
        let _guard = Guard {
            path: req.head.path.clone(),
            dropped: self.dropped.clone(),
        };
        std::future::pending::<()>().await;
        Response::no_content()
    }

    fn stops_on_hangup(&self, head: &RequestHead) -> bool {
        head.path != "/stay"
    }
}

/// Serves every connection of a loopback listener on one glommio executor; returns its port.
fn serve(dropped: mpsc::Sender<String>) -> u16 {
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        glommio::LocalExecutorBuilder::default()
            .make()
            .expect("executor")
            .run(async move {
                let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                port_tx
                    .send(listener.local_addr().expect("addr").port())
                    .expect("port");
                let handler = Rc::new(Probe { dropped });
                let limits = Rc::new(HttpLimits::default());
                let drain = Rc::new(lineshard::http::Drain::default());
                loop {
                    let Ok(stream) = listener.accept().await else {
                        return;
                    };
                    glommio::spawn_local(serve_connection(
                        stream,
                        handler.clone(),
                        limits.clone(),
                        drain.clone(),
                    ))
                    .detach();
                }
            });
    });
    port_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server port")
}

fn send(port: u16, path: &str) -> std::net::TcpStream {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    c
}

#[test]
fn a_request_stops_when_its_client_hangs_up() {
    let (tx, rx) = mpsc::channel();
    let port = serve(tx);

    // An answer that is ready is still given on a watched connection (and keep-alive goes on).
    let mut c = send(port, "/fast");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 12];
    c.read_exact(&mut buf).expect("answer");
    assert_eq!(&buf, b"HTTP/1.1 204");

    // A request left unanswered stays while its client is there...
    let stay = send(port, "/stay");
    let slow = send(port, "/slow");
    // ... and is dropped once it hangs up (a handler that does not stop on hang-up is not).
    drop(slow);
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the handler of a request whose client left was never dropped");
    assert_eq!(first, "/slow");
    drop(stay);
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "a request that does not stop on hang-up was dropped"
    );
}
