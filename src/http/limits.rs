//! Slow requests: a request's body must arrive in full within `http.body_timeout_secs` of the
//! request's start. A client that trickles its body (one byte a second, to hold a connection
//! and a task) is answered 408 and its connection closed when the time is up, whatever the
//! handler was doing with the body; other clients are served meanwhile. Sizes are limited per
//! route (the connectors' `max_body_bytes`, axum's 2 MB default for JSON and forms: 413).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Whether reading a body failed because it is over the limit it was read with (413).
pub(super) fn over_limit(error: &axum::Error) -> bool {
    std::error::Error::source(error).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
}

/// The error a body gives when its time is up.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body not received in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// A body that fails with [`BodyTimeout`] once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::SeqCst);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: the request's body gets `timeout` to arrive; past it the answer is 408 and the
/// connection is closed.
pub(super) async fn body_deadline(timeout: Duration, req: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        expired: expired.clone(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    if !expired.load(Ordering::SeqCst) {
        return response;
    }
    tracing::warn!(
        timeout_s = timeout.as_secs_f64(),
        "A request body did not arrive in time: answered 408 and closed."
    );
    metrics::counter!("ordergate_http_body_timeouts_total").increment(1);
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        Json(json!({"error": "request body not received in time"})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
