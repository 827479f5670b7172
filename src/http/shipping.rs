//! `/api/orders/{id}/delivery-note` (viewer: a copy of the delivery note, HTML or PDF) and
//! `POST /api/orders/{id}/shipments` (operator: the tracking of a parcel shipped without a
//! carrier API — own vehicle, freight — entered by hand; the order is then `shipped`).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::api::authorize;
use super::{ApiError, AppState};
use crate::config::ApiRole;
use crate::outbound::delivery_note::Copy;
use crate::store::{NewShipment, Store, StoreError, TransitionError};

/// `?copy=customer&format=pdf`
#[derive(Debug, Deserialize)]
pub(super) struct NoteQuery {
    /// `warehouse`, `finance` or `customer` (default).
    copy: Option<String>,
    /// `pdf` (default) or `html`.
    format: Option<String>,
}

pub(super) async fn delivery_note(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<NoteQuery>,
) -> Result<Response, ApiError> {
    authorize(&s, &headers, ApiRole::Viewer)?;
    let copy_name = q.copy.as_deref().unwrap_or("customer");
    let copy = Copy::parse(copy_name)
        .ok_or_else(|| ApiError::Invalid("copy must be warehouse, finance or customer".into()))?;
    let format = match q.format.as_deref().unwrap_or("pdf") {
        f @ ("pdf" | "html") => f,
        _ => return Err(ApiError::Invalid("format must be pdf or html".into())),
    };
    let doc = s
        .store
        .order_document(&id, "delivery_note", &format!("{}.{format}", copy.as_str()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("delivery note of order {id}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, doc.content_type),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"delivery-note-{}.{format}\"",
                    copy.as_str()
                ),
            ),
        ],
        doc.content,
    )
        .into_response())
}

/// The tracking of one parcel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackingEntry {
    /// The carrier (`DHL`, `顺丰`, the company's own fleet name).
    carrier: String,
    tracking_number: String,
    #[serde(default)]
    service: Option<String>,
    /// When the carrier expects to deliver (RFC 3339).
    #[serde(default)]
    eta: Option<chrono::DateTime<chrono::Utc>>,
}

pub(super) async fn enter_shipment(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(entry): Json<TrackingEntry>,
) -> Result<Response, ApiError> {
    let who = authorize(&s, &headers, ApiRole::Operator)?.name.clone();
    let bad = |f: &str| f.trim().is_empty() || f.len() > 100;
    if bad(&entry.carrier) || bad(&entry.tracking_number) {
        return Err(ApiError::InvalidFields(vec![
            "carrier".into(),
            "tracking_number".into(),
        ]));
    }
    let shipment = NewShipment {
        order_id: &id,
        warehouse: None,
        carrier: entry.carrier.trim(),
        carrier_name: Some(entry.carrier.trim()),
        tracking_number: entry.tracking_number.trim(),
        service: entry.service.as_deref(),
        promised_at: None,
        eta: entry.eta.map(|t| t.timestamp_millis()),
        items: serde_json::Value::Null,
    };
    let cause = format!("api:{who}");
    let mut tx = s.store.begin().await?;
    let events = match crate::stage::ship::write_shipped(
        &mut tx,
        &cause,
        "api",
        std::slice::from_ref(&shipment),
        json!({"entered_by": who}),
        false,
    )
    .await
    {
        Ok(events) => events,
        Err(TransitionError::Illegal(e)) => {
            return Err(ApiError::Conflict(format!(
                "order {id} is {}; tracking is entered for a packed order",
                e.state
            )))
        }
        Err(TransitionError::NotFound(_)) => return Err(ApiError::NotFound(format!("order {id}"))),
        Err(e @ TransitionError::ParcelTaken { .. }) => {
            return Err(ApiError::Conflict(e.to_string()))
        }
        Err(TransitionError::Busy(_)) => {
            return Err(ApiError::Conflict(format!(
                "order {id} is changing; try again"
            )))
        }
        Err(TransitionError::Store(e)) => return Err(e.into()),
    };
    Store::outbox_insert(&mut tx, &events).await?;
    tx.commit().await.map_err(StoreError::from)?;
    crate::outbox::publish_committed(&s.store, s.bus.as_ref(), &events).await;
    tracing::info!(order_id = %id, by = %who, "Tracking entered; order shipped.");
    let shipment_id = events
        .iter()
        .find(|e| e.kind == crate::model::EventType::ORDER_SHIPPED)
        .and_then(|e| e.payload["shipment_id"].as_str().map(str::to_string));
    Ok((
        StatusCode::CREATED,
        Json(json!({"order_id": id, "state": "shipped", "shipment_id": shipment_id})),
    )
        .into_response())
}
