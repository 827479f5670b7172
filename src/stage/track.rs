//! The track stage: a stored tracking callback (`tracking.<connector>`) → the scheme's tracking
//! mapping → one canonical update per parcel → matched to its shipment by carrier + tracking
//! number → merged into that parcel's history → the parcel's status from the whole history
//! ([`crate::tracking::lattice`]), so nothing a late or resent callback says moves it back →
//! the order moved on (`in_transit` at the first scan of any parcel, `delivered` when every
//! parcel is) with `shipment.in_transit`, `shipment.delivered` and `order.delivered` through the
//! outbox. An update for a number nobody shipped is kept with one exception and attached when
//! `shipment.created` announces the parcel (this stage is bound to it too).

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::{Committed, Effects, Handler, StageError, Unit, UnitTx};
use crate::config::TrackingSettings;
use crate::model::{
    Envelope, EventType, OrderState, RawRef, ShipmentRef, TrackingStatus, TrackingUpdate, Trigger,
};
use crate::normalize::Normalizer;
use crate::store::{
    now_ms, Fulfilment, FulfilmentState, NewException, NewShipmentEvent, Severity, Shipment,
    ShipmentProgress, Store, StoreError,
};
use crate::tracking::lattice::{self, ParcelState};
use crate::tracking::Scheme;

use super::warehouse::WarehouseOwners;

/// Who owns what tracking finds: the transport owner (`[tracking]`) the parcels' issues, each
/// warehouse's owner the goods it still owes.
pub type Owners<'a> = (&'a TrackingSettings, &'a WarehouseOwners);

/// The stage's name.
pub const NAME: &str = "track";

/// The stage.
pub struct TrackStage {
    normalizer: Arc<Normalizer>,
    settings: TrackingSettings,
    owners: WarehouseOwners,
}

impl TrackStage {
    /// A stage reading callbacks with `normalizer`'s tracking mappings; goods still owed when
    /// every parcel is delivered are `owners`' issue.
    pub fn new(
        normalizer: Arc<Normalizer>,
        settings: TrackingSettings,
        owners: WarehouseOwners,
    ) -> Self {
        Self {
            normalizer,
            settings,
            owners,
        }
    }

    async fn updates(&self, raw_ref: &RawRef, unit: &Unit<'_>) -> Result<Loaded, StageError> {
        let raw = unit.store().raw(&raw_ref.raw_id).await?.ok_or_else(|| {
            StageError::permanent(
                "raw_missing",
                format!("raw document {} is not in the store", raw_ref.raw_id),
            )
            .with_raw(&raw_ref.raw_id)
        })?;
        let scheme = Scheme::parse(&raw.format).ok_or_else(|| {
            StageError::permanent(
                "bad_message",
                format!(
                    "raw document {} has format {:?}, not a tracking scheme",
                    raw.id, raw.format
                ),
            )
            .with_raw(&raw.id)
        })?;
        let normalizer = self.normalizer.clone();
        let content = raw.content;
        let result = tokio::task::spawn_blocking(move || {
            crate::tracking::normalize(normalizer.mappings(), scheme, &content)
        })
        .await
        .map_err(|e| StageError::transient("mapping_failed", format!("mapping task: {e}")))?;
        let updates = result.map_err(|e| {
            StageError::permanent(
                "bad_input",
                format!("tracking callback {} ({scheme}): {e}", raw.id),
            )
            .with_raw(&raw.id)
        })?;
        Ok(Loaded {
            updates,
            raw_id: raw.id,
            connector: raw.connector,
        })
    }
}

struct Loaded {
    updates: Vec<TrackingUpdate>,
    raw_id: String,
    connector: String,
}

#[async_trait]
impl Handler for TrackStage {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn handle(&self, env: &Envelope, unit: Unit<'_>) -> Result<Committed, StageError> {
        if env.kind == EventType::SHIPMENT_CREATED {
            let shipment: ShipmentRef =
                serde_json::from_value(env.payload.clone()).map_err(|e| {
                    StageError::permanent(
                        "bad_message",
                        format!("message {} is not a shipment event: {e}", env.id),
                    )
                })?;
            return unit
                .commit(AttachEffects {
                    shipment_id: shipment.shipment_id,
                    settings: self.settings.clone(),
                    owners: self.owners.clone(),
                })
                .await;
        }
        let raw_ref: RawRef = serde_json::from_value(env.payload.clone()).map_err(|e| {
            StageError::permanent(
                "bad_message",
                format!("message {} is not a tracking-callback event: {e}", env.id),
            )
        })?;
        let loaded = self.updates(&raw_ref, &unit).await?;
        unit.commit(TrackEffects {
            loaded,
            settings: self.settings.clone(),
            owners: self.owners.clone(),
        })
        .await
    }

    /// Its only effects are the unit's writes: a duplicate is caught by the inbox at commit.
    fn check_inbox_first(&self, _: &Envelope) -> bool {
        false
    }
}

/// What a callback writes.
struct TrackEffects {
    loaded: Loaded,
    settings: TrackingSettings,
    owners: WarehouseOwners,
}

#[async_trait]
impl Effects for TrackEffects {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let cause = tx.cause().to_string();
        let mut out = Vec::new();
        let l = &self.loaded;
        for update in &l.updates {
            match find_shipment(tx.conn(), update).await? {
                Some(shipment) => {
                    apply(
                        tx.conn(),
                        &cause,
                        (&self.settings, &self.owners),
                        &shipment,
                        update,
                        Some(&l.raw_id),
                        &mut out,
                    )
                    .await?;
                }
                None => keep(tx.conn(), &self.settings, &l.connector, &l.raw_id, update).await?,
            }
        }
        for e in out {
            tx.emit(e);
        }
        Ok(())
    }
}

/// What `shipment.created` writes: the updates kept for the parcel, attached.
struct AttachEffects {
    shipment_id: String,
    settings: TrackingSettings,
    owners: WarehouseOwners,
}

#[async_trait]
impl Effects for AttachEffects {
    async fn write(&mut self, tx: &mut UnitTx<'_>) -> Result<(), StageError> {
        let cause = tx.cause().to_string();
        let mut out = Vec::new();
        attach_pending(
            tx.conn(),
            &cause,
            (&self.settings, &self.owners),
            &self.shipment_id,
            &mut out,
        )
        .await?;
        for e in out {
            tx.emit(e);
        }
        Ok(())
    }
}

/// The shipment an update is about: by carrier + number; an update whose carrier the
/// aggregator could not name (`unknown`) matches the one shipment of that number, if only one.
async fn find_shipment(
    conn: &mut AnyConnection,
    update: &TrackingUpdate,
) -> Result<Option<Shipment>, StoreError> {
    if let Some(s) =
        Store::shipment_by_number(conn, &update.carrier, &update.tracking_number).await?
    {
        return Ok(Some(s));
    }
    if update.carrier == "unknown" {
        let mut all = Store::shipments_by_number_any(conn, &update.tracking_number).await?;
        if all.len() == 1 {
            return Ok(all.pop());
        }
    }
    Ok(None)
}

/// Keeps an update nobody shipped, with one open exception per carrier + number.
async fn keep(
    conn: &mut AnyConnection,
    settings: &TrackingSettings,
    connector: &str,
    raw_id: &str,
    update: &TrackingUpdate,
) -> Result<(), StageError> {
    let existing =
        Store::unattached_exception(conn, &update.carrier, &update.tracking_number).await?;
    let exception_id = match existing {
        Some(id) => id,
        None => {
            let reason = format!(
                "tracking update from {connector} for {} number {} matches no shipment: kept, \
                 and attached when the parcel is reported (callback {raw_id})",
                update.carrier, update.tracking_number
            );
            Store::insert_exception(
                conn,
                &NewException {
                    kind: "tracking_unknown_number",
                    severity: Severity::Warning,
                    order_id: None,
                    raw_id: Some(raw_id),
                    message_id: None,
                    stage: Some(NAME),
                    connector: Some(connector),
                    department: &settings.department,
                    due_at: Some(due(settings)),
                    reason: &reason,
                },
            )
            .await?
        }
    };
    let kept = Store::keep_unattached(conn, connector, raw_id, update, Some(&exception_id)).await?;
    if kept {
        tracing::info!(
            carrier = %update.carrier,
            raw_id = %raw_id,
            "Tracking update for an unknown number kept."
        );
    }
    Ok(())
}

/// Attaches the updates kept for a shipment's number (oldest first) and closes their exception.
pub(crate) async fn attach_pending(
    conn: &mut AnyConnection,
    cause: &str,
    owners: Owners<'_>,
    shipment_id: &str,
    out: &mut Vec<Envelope>,
) -> Result<usize, StageError> {
    let Some(shipment) = Store::shipment_on(conn, shipment_id).await? else {
        tracing::warn!(shipment_id = %shipment_id, "Announced shipment is not in the store.");
        return Ok(0);
    };
    let pending =
        Store::pending_unattached(conn, &shipment.carrier, &shipment.tracking_number).await?;
    let mut closed: Vec<String> = Vec::new();
    for kept in &pending {
        apply(
            conn,
            cause,
            owners,
            &shipment,
            &kept.update,
            Some(&kept.raw_id),
            out,
        )
        .await?;
        Store::mark_attached(conn, &kept.id, &shipment.id).await?;
        if let Some(exc) = kept.exception_id.as_ref().filter(|e| !closed.contains(e)) {
            let resolution = format!(
                "closed by itself: the parcel was reported as shipment {} of order {}; its kept \
                 tracking updates are attached",
                shipment.id, shipment.order_id
            );
            close_exception(conn, &shipment.order_id, exc, &resolution, cause).await?;
            closed.push(exc.clone());
        }
    }
    Ok(pending.len())
}

/// Resolves an exception that closed by itself and says so in the order's audit trail.
pub(crate) async fn close_exception(
    conn: &mut AnyConnection,
    order_id: &str,
    exception_id: &str,
    resolution: &str,
    cause: &str,
) -> Result<(), StoreError> {
    Store::resolve_exception(conn, exception_id, resolution).await?;
    Store::append_event(
        conn,
        order_id,
        "exception_closed",
        None,
        cause,
        Some(&serde_json::json!({"exception_id": exception_id, "resolution": resolution})),
    )
    .await
}

/// When a transport exception raised now is due.
pub(crate) fn due(settings: &TrackingSettings) -> i64 {
    now_ms() + i64::from(settings.due_hours) * 3_600_000
}

/// An event whose id derives from what it announces, so announcing it again is one event.
pub(crate) fn keyed_event(kind: &str, key: &str, payload: &ShipmentRef) -> Envelope {
    let mut env = Envelope::new(
        kind,
        payload.carrier.clone(),
        serde_json::to_value(payload).unwrap_or_default(),
    )
    .with_order(&payload.order_id);
    env.id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{kind}:{key}").as_bytes(),
    );
    env
}

fn ms(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

/// Merges one update into one parcel and moves the parcel's order on. Nothing happens when
/// the update brings no event the parcel's history lacks (a resent or repeated callback).
async fn apply(
    conn: &mut AnyConnection,
    cause: &str,
    (settings, owners): Owners<'_>,
    found: &Shipment,
    update: &TrackingUpdate,
    raw_id: Option<&str>,
    out: &mut Vec<Envelope>,
) -> Result<(), StageError> {
    // Order first, then parcel: two parcels of one order are decided one after the other. (A
    // parcel's order never changes, so the one `found` names is the one to lock.)
    Store::lock_order(conn, &found.order_id).await?;
    let Some(old) = Store::lock_shipment(conn, &found.id).await? else {
        return Ok(());
    };
    let events = history_of(update);
    let added = Store::add_shipment_events(conn, &old.id, raw_id, &events).await?;
    let eta = fresh_eta(update, &old);
    if added == 0 {
        // A revised estimate may come without a new scan.
        if let Some(eta) = eta.filter(|e| old.eta != Some(*e)) {
            Store::set_shipment_eta(conn, &old.id, eta).await?;
            tracing::debug!(shipment_id = %old.id, "Tracking update revises the ETA only.");
        } else {
            tracing::debug!(shipment_id = %old.id, "Tracking update brings nothing new.");
        }
        return Ok(());
    }
    let history = Store::shipment_history_on(conn, &old.id).await?;
    let state = lattice::derive(&history);
    let newest = state.newest.clone();
    let status = state
        .status
        .map(lattice::name)
        .unwrap_or(old.status.as_str())
        .to_string();
    let side = state.side.map(lattice::name);
    Store::set_shipment_progress(
        conn,
        &old.id,
        &ShipmentProgress {
            status: &status,
            side_status: side,
            raw_code: newest.as_ref().and_then(|e| e.raw_code.as_deref()),
            location: newest.as_ref().and_then(|e| e.location.as_deref()),
            description: newest.as_ref().and_then(|e| e.description.as_deref()),
            first_scan_at: ms(state.first_scan_at),
            last_scan_at: ms(state.last_scan_at),
            delivered_at: ms(state.delivered_at),
            eta,
        },
    )
    .await?;
    Store::append_event(
        conn,
        &old.order_id,
        "shipment_tracking",
        None,
        cause,
        Some(&serde_json::json!({
            "shipment_id": old.id, "status": status, "side_status": side,
            "new_events": added, "raw_id": raw_id,
        })),
    )
    .await?;
    let detail = serde_json::json!({
        "location": newest.as_ref().and_then(|e| e.location.clone()),
        "occurred_at": newest.as_ref().and_then(|e| e.occurred_at),
        "description": newest.as_ref().and_then(|e| e.description.clone()),
    });
    let first_scan = old.first_scan_at.is_none() && state.first_scan_at.is_some();
    let delivered = old.delivered_at.is_none() && state.delivered_at.is_some();
    if first_scan {
        let r = old.event_ref(Some("in_transit"), detail.clone());
        out.push(keyed_event(EventType::SHIPMENT_IN_TRANSIT, &old.id, &r));
    }
    if delivered {
        let r = old.event_ref(Some("delivered"), detail);
        out.push(keyed_event(EventType::SHIPMENT_DELIVERED, &old.id, &r));
    }
    alert(conn, cause, settings, &old, &state).await?;
    close_delay(conn, cause, &old, &state).await?;
    let scanned = first_scan || state.first_scan_at.is_some();
    let data = move_order(conn, cause, &old, scanned, raw_id).await?;
    if delivered {
        deliver_if_done(conn, cause, owners, &old.order_id, SHIPPED_REST, &data, out).await?;
    }
    Ok(())
}

/// The carrier's ETA an update brings, unless the update is older than the newest scan the
/// parcel has (a late callback's estimate is stale).
fn fresh_eta(update: &TrackingUpdate, parcel: &Shipment) -> Option<i64> {
    let eta = ms(update.eta)?;
    let stale = matches!((ms(update.occurred_at), parcel.last_scan_at), (Some(at), Some(last)) if at < last);
    (!stale).then_some(eta)
}

/// The events of an update as the parcel's history keeps them; an update without events
/// stands for its newest event.
fn history_of(update: &TrackingUpdate) -> Vec<NewShipmentEvent<'_>> {
    if update.events.is_empty() {
        return vec![NewShipmentEvent {
            occurred_at: ms(update.occurred_at),
            status: Some(lattice::name(update.status)),
            raw_code: update.raw_code.as_deref(),
            location: update.location.as_deref(),
            description: update.description.as_deref(),
        }];
    }
    // Events come newest first; a newest event without a status of its own has the update's
    // (Kuaidi100 and 17TRACK state the status once, for the whole parcel).
    update
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| NewShipmentEvent {
            occurred_at: ms(e.occurred_at),
            status: e
                .status
                .or((i == 0).then_some(update.status))
                .map(lattice::name),
            raw_code: e.raw_code.as_deref(),
            location: e.location.as_deref(),
            description: e.description.as_deref(),
        })
        .collect()
}

/// The exception kind of a side status.
fn alert_kind(side: TrackingStatus) -> &'static str {
    match side {
        TrackingStatus::FailedAttempt => "delivery_failed",
        TrackingStatus::Returned => "shipment_returned",
        _ => "shipment_exception",
    }
}

/// Raises the exception of a new side status (with the carrier's words), and closes the one
/// standing when the parcel moved on.
async fn alert(
    conn: &mut AnyConnection,
    cause: &str,
    settings: &TrackingSettings,
    old: &Shipment,
    state: &ParcelState,
) -> Result<(), StageError> {
    let new_side = state.side.map(lattice::name);
    if new_side == old.side_status.as_deref() {
        return Ok(());
    }
    if let Some(exc) = &old.alert_exception_id {
        let why = match (state.status, state.newest.as_ref()) {
            (Some(TrackingStatus::Delivered), _) => "the parcel was delivered".to_string(),
            (Some(s), Some(e)) => format!(
                "the parcel moved on ({} at {})",
                lattice::name(s),
                e.occurred_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
            _ => "the carrier reports otherwise now".to_string(),
        };
        close_exception(
            conn,
            &old.order_id,
            exc,
            &format!("closed by itself: {why}"),
            cause,
        )
        .await?;
        Store::set_shipment_alert(conn, &old.id, None).await?;
    }
    let (Some(side), Some(event)) = (state.side, state.side_event.as_ref()) else {
        return Ok(());
    };
    let reason = format!(
        "parcel {} {} of order {}: the carrier reports {} at {}{}: \"{}\"{}",
        old.carrier,
        old.tracking_number,
        old.order_id,
        lattice::name(side),
        event
            .occurred_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "an unknown time".into()),
        event
            .location
            .as_deref()
            .map(|l| format!(" in {l}"))
            .unwrap_or_default(),
        event.description.as_deref().unwrap_or("(no text)"),
        event
            .raw_code
            .as_deref()
            .map(|c| format!(" (carrier code {c})"))
            .unwrap_or_default(),
    );
    let id = Store::insert_exception(
        conn,
        &NewException {
            kind: alert_kind(side),
            severity: Severity::Error,
            order_id: Some(&old.order_id),
            raw_id: None,
            message_id: None,
            stage: Some(NAME),
            connector: Some(&old.carrier),
            department: &settings.department,
            due_at: Some(due(settings)),
            reason: &reason,
        },
    )
    .await?;
    Store::set_shipment_alert(conn, &old.id, Some(&id)).await?;
    Ok(())
}

/// Closes the delay sweep's exception once the parcel is delivered, or, for a suspected loss,
/// scanned again.
async fn close_delay(
    conn: &mut AnyConnection,
    cause: &str,
    old: &Shipment,
    state: &ParcelState,
) -> Result<(), StageError> {
    let Some(exc) = &old.delay_exception_id else {
        return Ok(());
    };
    let scanned_again = state.last_scan_at.map(|t| t.timestamp_millis()) > old.last_scan_at;
    let (why, keep) = if let Some(at) = state.delivered_at {
        (
            format!("the parcel was delivered at {}", at.to_rfc3339()),
            true,
        )
    } else if old.delay.as_deref() == Some("lost") && scanned_again {
        let at = state
            .last_scan_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        (format!("the parcel moved on (scanned at {at})"), false)
    } else {
        return Ok(());
    };
    close_exception(
        conn,
        &old.order_id,
        exc,
        &format!("closed by itself: {why}"),
        cause,
    )
    .await?;
    Store::clear_shipment_delay(conn, &old.id, keep).await?;
    Ok(())
}

/// Moves the order `in_transit` once any parcel is scanned; returns what the parcel's
/// transitions record (a delivery completing the order is [`deliver_if_done`]'s). An order the
/// table does not let move (cancelled meanwhile, a return requested, not shipped yet) is left
/// where it is, and its audit trail says why.
async fn move_order(
    conn: &mut AnyConnection,
    cause: &str,
    parcel: &Shipment,
    scanned: bool,
    raw_id: Option<&str>,
) -> Result<serde_json::Value, StageError> {
    let data = serde_json::json!({
        "shipment_id": parcel.id, "carrier": parcel.carrier,
        "tracking_number": parcel.tracking_number, "raw_id": raw_id,
    });
    if scanned {
        step(conn, cause, &parcel.order_id, Trigger::Scan, &data).await?;
    }
    Ok(data)
}

/// The exception kind of goods a warehouse still owes when every parcel is delivered.
pub const GOODS_OWED: &str = "goods_owed";

/// How a warehouse that owed goods settled them when it shipped the rest.
pub(crate) const SHIPPED_REST: &str = "shipped the rest";

/// Delivers the order (with `order.delivered`) when every parcel it has is delivered and no
/// warehouse still owes goods for it (a partial shipment, a warehouse not yet shipped). When
/// every parcel is delivered but a warehouse still owes goods, the order stays `in_transit`
/// and that warehouse's owner gets one `goods_owed` exception (not one per callback), closed
/// by itself when the warehouse owes nothing more and every parcel is delivered; `settled`
/// says how the warehouse settled what it owed ("shipped the rest", "cancelled the rest").
pub(crate) async fn deliver_if_done(
    conn: &mut AnyConnection,
    cause: &str,
    owners: &WarehouseOwners,
    order_id: &str,
    settled: &str,
    data: &serde_json::Value,
    out: &mut Vec<Envelope>,
) -> Result<(), StageError> {
    let parcels = Store::order_shipments_on(conn, order_id).await?;
    if parcels.is_empty() || !parcels.iter().all(Shipment::is_delivered) {
        return Ok(());
    }
    let owed = Store::fulfilments_owed(conn, order_id).await?;
    let raised = Store::active_exceptions_of(conn, order_id, GOODS_OWED).await?;
    if !owed.is_empty() {
        tracing::info!(order_id = %order_id, "Every parcel so far is delivered; a warehouse still owes goods, so the order is not.");
        for f in owed.iter().filter(|f| {
            !raised
                .iter()
                .any(|(_, w)| w.as_deref() == Some(&f.warehouse))
        }) {
            raise_owed(conn, cause, owners, f, parcels.len()).await?;
        }
        return Ok(());
    }
    for (id, warehouse) in &raised {
        let resolution = format!(
            "closed by itself: {} {settled} and every parcel of the order is delivered",
            warehouse.as_deref().unwrap_or("the warehouse")
        );
        close_exception(conn, order_id, id, &resolution, cause).await?;
    }
    if step(conn, cause, order_id, Trigger::Deliver, data).await? {
        let r = ShipmentRef {
            order_id: order_id.to_string(),
            shipment_id: String::new(),
            carrier: String::new(),
            tracking_number: String::new(),
            warehouse: None,
            status: Some("delivered".into()),
            detail: serde_json::json!({
                "shipments": parcels.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            }),
        };
        let mut env = keyed_event(EventType::ORDER_DELIVERED, order_id, &r);
        env.connector = "ordergate".into();
        out.push(env);
    }
    Ok(())
}

/// Raises the exception of goods `f`'s warehouse still owes though every one of the order's
/// `parcels` is delivered, for the warehouse's owner.
async fn raise_owed(
    conn: &mut AnyConnection,
    cause: &str,
    owners: &WarehouseOwners,
    f: &Fulfilment,
    parcels: usize,
) -> Result<(), StageError> {
    let lines: Vec<String> = f.lines.iter().map(u32::to_string).collect();
    let what = match f.state {
        FulfilmentState::PartShipped => "shipped part of it",
        FulfilmentState::Packed => "packed it but did not ship it",
        _ => "has not shipped it",
    };
    let reason = format!(
        "Every parcel of order {} is delivered ({parcels}), but warehouse {} still owes goods: \
         its fulfilment order {} (order lines {}) {what}. The order stays in transit until the \
         rest is shipped and delivered; ask the warehouse, or cancel what it cannot ship.",
        f.order_id,
        f.warehouse,
        f.key,
        lines.join(", ")
    );
    let id = Store::insert_exception(
        conn,
        &NewException {
            kind: GOODS_OWED,
            severity: Severity::Error,
            order_id: Some(&f.order_id),
            raw_id: None,
            message_id: None,
            stage: Some(NAME),
            connector: Some(&f.warehouse),
            department: owners.department(&f.warehouse),
            due_at: Some(owners.due_at()),
            reason: &reason,
        },
    )
    .await?;
    Store::append_event(
        conn,
        &f.order_id,
        GOODS_OWED,
        None,
        cause,
        Some(&serde_json::json!({
            "exception_id": id, "warehouse": f.warehouse, "fulfilment": f.key,
            "state": f.state, "lines": f.lines,
        })),
    )
    .await?;
    tracing::warn!(order_id = %f.order_id, warehouse = %f.warehouse, "Every parcel is delivered but the warehouse still owes goods; exception raised.");
    Ok(())
}

/// Takes one step if the table allows it from where the order is; says whether it moved.
async fn step(
    conn: &mut AnyConnection,
    cause: &str,
    order_id: &str,
    trigger: Trigger,
    data: &serde_json::Value,
) -> Result<bool, StageError> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::from)?;
    let Some(state) = state.as_deref().and_then(OrderState::parse) else {
        tracing::warn!(order_id = %order_id, "Shipment's order is not in the store.");
        return Ok(false);
    };
    if crate::model::state::next(state, trigger).is_none() {
        let already = matches!(
            (state, trigger),
            (OrderState::InTransit | OrderState::Delivered, Trigger::Scan)
                | (OrderState::Delivered, Trigger::Deliver)
        );
        if !already {
            tracing::info!(order_id = %order_id, state = %state, trigger = %trigger, "Tracking does not move the order from its state.");
            Store::append_event(
                conn,
                order_id,
                "tracking_not_applied",
                None,
                cause,
                Some(&serde_json::json!({"state": state, "trigger": trigger, "detail": data})),
            )
            .await?;
        }
        return Ok(false);
    }
    Store::transition_from(conn, order_id, state, trigger, cause, Some(data)).await?;
    Ok(true)
}
