//! `POST /hooks/orders/{connector}`: see [`crate::intake::webhook`] for the schemes. Order of
//! work: size limit → authentication over the raw bytes → durable store + queued event → answer
//! → publish in the background.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::b2b::cxml;
use crate::intake::refusal::{Reason, Refusal};
use crate::intake::webhook::Endpoint;
use crate::tracking::ack;

/// Headers that name a delivery, kept as the raw document's source name.
const DELIVERY_ID_HEADERS: [&str; 3] = [
    "x-shopify-webhook-id",
    "x-wc-webhook-delivery-id",
    "x-request-id",
];

pub(super) async fn order_hook(
    State(s): State<AppState>,
    Path(connector): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ep) = s.hooks.get(&connector) else {
        return not_found("no such webhook connector");
    };
    let bytes = match read_body(
        &s,
        &ep.name,
        &ep.department,
        &headers,
        body,
        ep.max_body_bytes,
    )
    .await
    {
        Ok(b) => b,
        Err((status, message)) => return refuse(ep, status, message),
    };
    let header_of = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Err(reason) = ep.verify(header_of, &bytes, chrono::Utc::now().timestamp()) {
        tracing::warn!(connector = %ep.name, reason = %reason, "Webhook request refused.");
        let detail = format!("webhook request refused: authentication failed ({reason})");
        record_for(
            &s,
            &ep.name,
            &ep.department,
            Reason::Unauthenticated,
            &detail,
        )
        .await;
        return refuse(ep, StatusCode::UNAUTHORIZED, "authentication failed");
    }
    let source_name = DELIVERY_ID_HEADERS
        .iter()
        .find_map(|h| header_of(h))
        .map(|id| format!("webhook:{id}"));
    let doc = crate::intake::NewDoc {
        connector: ep.name.clone(),
        format: ep.format.clone(),
        kind: crate::model::DocumentKind::Order,
        source_name,
        content: bytes.to_vec(),
    };
    let stored = match store_and_announce(&s, doc).await {
        Ok(stored) => stored,
        Err(reason) => return refuse(ep, StatusCode::SERVICE_UNAVAILABLE, reason),
    };
    if ep.answers_cxml() {
        cxml_reply(cxml::Status::Ok, None)
    } else {
        (
            StatusCode::ACCEPTED,
            Json(json!({"accepted": true, "raw_id": stored.raw_id, "duplicate": !stored.inserted})),
        )
            .into_response()
    }
}

/// Records a refused request of `connector` (metric and exception), owned by `department`. A
/// store that fails here does not change the answer: the caller is refused either way.
async fn record_for(s: &AppState, connector: &str, department: &str, reason: Reason, detail: &str) {
    let refusal = Refusal {
        connector,
        reason,
        detail,
        raw_id: None,
        department,
        // Every refusal here happens before the sender is known (size, then signature).
        anonymous: true,
    };
    if let Err(error) = crate::intake::refusal::record(&s.store, &refusal).await {
        tracing::warn!(connector = %connector, error = %error, "Cannot record a refused request.");
    }
}

/// Stores a verified document durably with its event queued (one transaction, grouped with
/// other requests), then publishes the event in the background (the outbox relay covers a
/// failure; on the embedded bus the event is in its queue already). `Err` with the reason to answer when it could not be stored (nothing was
/// written): the caller answers "retry".
async fn store_and_announce(
    s: &AppState,
    doc: crate::intake::NewDoc,
) -> Result<crate::intake::Stored, &'static str> {
    let connector = doc.connector.clone();
    let stored = match s.documents.store(doc).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::error!(connector = %connector, error = %error, "Cannot store a received document.");
            return Err(if error.is_disk_full() {
                "the order store's disk is full; nothing was stored, retry later"
            } else {
                "temporarily unavailable, retry"
            });
        }
    };
    tracing::info!(connector = %connector, raw_id = %stored.raw_id, duplicate = !stored.inserted, "Received document stored.");
    // On the embedded bus the event went into its queue with the document: nothing to publish.
    if stored.pending {
        let (store, bus, announce) = (s.store.clone(), s.bus.clone(), stored.clone());
        tokio::spawn(async move {
            crate::intake::announce(&store, bus.as_ref(), std::slice::from_ref(&announce)).await;
        });
    }
    Ok(stored)
}

/// 404 for a connector name nobody configured.
fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": message}))).into_response()
}

/// Reads a request body of at most `limit` bytes. A body declared or found larger, or one that
/// cannot be read, is recorded as a refusal of `connector` (metric and exception) and comes
/// back as the status and message to answer with, in the caller's partner's shape.
async fn read_body(
    s: &AppState,
    connector: &str,
    department: &str,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, (StatusCode, &'static str)> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > limit) {
        let detail =
            format!("request declared {n} bytes, over the connector's max_body_bytes of {limit}");
        record_for(s, connector, department, Reason::TooLarge, &detail).await;
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            if super::limits::over_limit(&e) {
                let detail = format!("request body over the connector's max_body_bytes of {limit}");
                record_for(s, connector, department, Reason::TooLarge, &detail).await;
                Err((StatusCode::PAYLOAD_TOO_LARGE, "body too large"))
            } else {
                let detail = "request body could not be read";
                record_for(s, connector, department, Reason::Unreadable, detail).await;
                Err((StatusCode::BAD_REQUEST, "body could not be read"))
            }
        }
    }
}

fn refuse(ep: &Endpoint, status: StatusCode, message: &str) -> Response {
    if ep.answers_cxml() {
        let cx = match status {
            StatusCode::UNAUTHORIZED => cxml::Status::Unauthorized,
            StatusCode::SERVICE_UNAVAILABLE => cxml::Status::Temporary,
            _ => cxml::Status::BadRequest,
        };
        let mut resp = cxml_reply(cx, Some(message));
        *resp.status_mut() = status;
        resp
    } else {
        (status, Json(json!({"error": message}))).into_response()
    }
}

fn cxml_reply(status: cxml::Status, message: Option<&str>) -> Response {
    let now = chrono::Utc::now();
    let doc = cxml::response_document(
        &cxml::new_payload_id("ordergate", now),
        now,
        status,
        message,
    );
    let code = StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::OK);
    (
        code,
        [(header::CONTENT_TYPE, "text/xml; charset=UTF-8")],
        doc,
    )
        .into_response()
}

/// `POST /hooks/tracking/{connector}`: size limit → the partner's signature over the raw bytes
/// → durable store + queued `tracking.<connector>` event → the partner's own acknowledgement
/// → publish in the background. A refused callback gets the partner's failure shape, is counted
/// and recorded (one open exception per connector for failed signatures), and nothing is
/// stored.
pub(super) async fn tracking_hook(
    State(s): State<AppState>,
    Path(connector): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ep) = s.tracking.get(&connector) else {
        return not_found("no such tracking connector");
    };
    let scheme = ep.scheme();
    let reply = |ack: ack::Ack| answer(ack.status, ack.content_type, ack.body);
    let bytes = match read_body(
        &s,
        &ep.name,
        &ep.department,
        &headers,
        body,
        ep.max_body_bytes,
    )
    .await
    {
        Ok(b) => b,
        Err((status, message)) => return reply(ack::refused(scheme, status.as_u16(), message)),
    };
    let callback = crate::tracking::Callback {
        method: "POST",
        query: uri.query(),
        headers: &headers,
        body: &bytes,
    };
    if let Err(reason) = ep
        .verifier
        .verify(&callback, chrono::Utc::now().timestamp())
    {
        tracing::warn!(connector = %ep.name, reason = %reason, "Tracking callback refused.");
        let detail = format!("tracking callback refused: {reason}");
        record_for(
            &s,
            &ep.name,
            &ep.department,
            Reason::Unauthenticated,
            &detail,
        )
        .await;
        return reply(ack::refused(scheme, 401, "authentication failed"));
    }
    let doc = crate::intake::NewDoc {
        connector: ep.name.clone(),
        format: scheme.name().to_string(),
        kind: crate::model::DocumentKind::Tracking,
        source_name: DELIVERY_ID_HEADERS
            .iter()
            .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
            .map(|id| format!("callback:{id}")),
        content: bytes.to_vec(),
    };
    if store_and_announce(&s, doc).await.is_err() {
        return reply(ack::refused(scheme, 503, "temporarily unavailable, retry"));
    }
    reply(ack::accepted(scheme))
}

/// `POST /hooks/warehouse/{connector}`: size limit → the warehouse kind's signature over the
/// raw bytes (Standard Webhooks, Qimen sign) → durable store + queued `warehouse.<connector>`
/// event → the partner's acknowledgement → publish in the background. A refused callback gets
/// the partner's failure shape, is counted and recorded, and nothing is stored. The same bytes
/// sent again are the same document (one event).
pub(super) async fn warehouse_hook(
    State(s): State<AppState>,
    Path(connector): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ep) = s.warehouses.get(&connector) else {
        return not_found("no such warehouse");
    };
    let reply =
        |a: crate::outbound::warehouse::callback::Answer| answer(a.status, a.content_type, a.body);
    let bytes = match read_body(
        &s,
        &ep.name,
        &ep.department,
        &headers,
        body,
        ep.max_body_bytes,
    )
    .await
    {
        Ok(b) => b,
        Err((status, message)) => return reply(ep.refused(status.as_u16(), message)),
    };
    if let Err(reason) = ep.verify(
        uri.query(),
        &headers,
        &bytes,
        chrono::Utc::now().timestamp(),
    ) {
        tracing::warn!(connector = %ep.name, reason = %reason, "Warehouse callback refused.");
        let detail = format!("warehouse callback refused: {reason}");
        record_for(
            &s,
            &ep.name,
            &ep.department,
            Reason::Unauthenticated,
            &detail,
        )
        .await;
        return reply(ep.refused(401, "authentication failed"));
    }
    let doc = crate::intake::NewDoc {
        connector: ep.name.clone(),
        format: ep.kind.as_str().to_string(),
        kind: crate::model::DocumentKind::Warehouse,
        source_name: ep.delivery_id(&headers).map(|id| format!("callback:{id}")),
        content: bytes.to_vec(),
    };
    if store_and_announce(&s, doc).await.is_err() {
        return reply(ep.refused(503, "temporarily unavailable, retry"));
    }
    reply(ep.accepted())
}

/// A partner's acknowledgement as a response.
fn answer(status: u16, content_type: &'static str, body: impl IntoResponse) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}
