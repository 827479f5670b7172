//! The accept loop: each connection served by hyper's HTTP/1 server with a header read
//! timeout (`http.header_timeout_secs`), which `axum::serve` does not offer. A client that
//! sends its request head slowly (one byte a second, to hold a connection) has its connection
//! closed when the time is up; the time also runs while a kept-alive connection waits for its
//! next request. Bodies have their own deadline ([`super::limits`]). On shutdown the loop
//! stops accepting, every connection finishes the request it is serving and closes, and the
//! loop returns when the last one has.

use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Serves `router` on `listener` until `shutdown`, then waits for the open connections to
/// finish. Handlers see the peer as `ConnectInfo<std::net::SocketAddr>` (the rate limits' key).
pub(super) async fn run(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req.map(Body::new))
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = shutdown.cancelled() => {
                    // Finish the request in hand (if any), then close.
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            };
            if let Err(error) = result {
                if error.is_timeout() {
                    tracing::warn!(
                        timeout_s = header_timeout.as_secs_f64(),
                        "A request head did not arrive in time: connection closed."
                    );
                    metrics::counter!("ordergate_http_header_timeouts_total").increment(1);
                } else {
                    tracing::debug!(error = %error, "HTTP connection ended with an error.");
                }
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// A failed accept: a connection that went away before it was accepted is nothing; anything
/// else (out of file descriptors) is logged and the loop pauses a second so it does not spin.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind as K;
    if matches!(
        error.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "HTTP server: accepting a connection failed; retrying in 1 s.");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
