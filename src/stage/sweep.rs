//! The delay sweep, a periodic task beside the stages: every `tracking.sweep_interval_ms` it
//! compares each open parcel with its dates (`[tracking]` thresholds per carrier and service):
//!
//! * **late** — past the carrier's ETA, else the promised date, by more than the grace:
//!   `shipment.delayed` + one exception for the transport owner, due in `due_hours`;
//! * **suspected lost** — no carrier scan (before the first scan: since it was shipped) for
//!   `lost_after_days`: the same, kind `shipment_lost`; it supersedes a late finding.
//!
//! A finding is claimed on the parcel's row in the transaction that raises its exception, so a
//! parcel gets one exception per finding however many sweeps (or daemons) see it; the track
//! stage closes it when the parcel is delivered (or, lost, scanned again), and the order's audit
//! trail says so. The sweep also attaches kept tracking updates to parcels whose
//! `shipment.created` it never saw.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::track;
use super::warehouse::WarehouseOwners;
use crate::bus::Bus;
use crate::config::TrackingSettings;
use crate::model::{Envelope, EventType};
use crate::store::{ms_to_time, now_ms, NewException, Severity, Shipment, Store, StoreError};

/// Most parcels one sweep looks at.
const BATCH: i64 = 5_000;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Parcels found late now.
    pub late: usize,
    /// Parcels suspected lost now.
    pub lost: usize,
    /// Parcels whose kept updates were attached.
    pub attached: usize,
}

/// Runs the sweep until shutdown (not at all when the interval is 0).
pub async fn run(
    store: Store,
    bus: Arc<dyn Bus>,
    settings: TrackingSettings,
    owners: WarehouseOwners,
    shutdown: CancellationToken,
) {
    if settings.sweep_interval_ms == 0 {
        return;
    }
    let interval = Duration::from_millis(settings.sweep_interval_ms);
    loop {
        match sweep(&store, bus.as_ref(), (&settings, &owners), now_ms()).await {
            Ok(r) if r == SweepReport::default() => {}
            Ok(r) => tracing::info!(
                late = r.late,
                lost = r.lost,
                attached = r.attached,
                "Delay sweep raised findings."
            ),
            Err(error) => tracing::warn!(error = %error, "Delay sweep failed."),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One sweep at `now` (Unix ms).
pub async fn sweep(
    store: &Store,
    bus: &dyn Bus,
    owners: track::Owners<'_>,
    now: i64,
) -> Result<SweepReport, StoreError> {
    let settings = owners.0;
    let mut report = SweepReport::default();
    for shipment_id in store.shipments_with_pending_updates(100).await? {
        let mut tx = store.begin().await?;
        let mut events = Vec::new();
        let attached =
            track::attach_pending(&mut tx, "sweep:tracking", owners, &shipment_id, &mut events)
                .await
                .map_err(|e| StoreError::Grouped(e.to_string().into()))?;
        report.attached += usize::from(attached > 0);
        commit(store, bus, tx, events).await?;
    }
    for s in store.open_shipments(BATCH).await? {
        let Some(finding) = finding(settings, &s, now) else {
            continue;
        };
        if raise(store, bus, settings, &s, finding, now).await? {
            match finding {
                Finding::Late => report.late += 1,
                Finding::Lost => report.lost += 1,
            }
        }
    }
    Ok(report)
}

/// What the sweep found about a parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    Late,
    Lost,
}

impl Finding {
    fn name(self) -> &'static str {
        match self {
            Finding::Late => "late",
            Finding::Lost => "lost",
        }
    }
}

/// The finding a parcel deserves now that it does not have yet.
fn finding(settings: &TrackingSettings, s: &Shipment, now: i64) -> Option<Finding> {
    let t = settings.thresholds(&s.carrier, s.service.as_deref());
    let quiet_since = s.last_scan_at.unwrap_or(s.created_at);
    if now - quiet_since > t.lost_after_ms && s.delay.as_deref() != Some("lost") {
        return Some(Finding::Lost);
    }
    let deadline = s.eta.or(s.promised_at)?;
    (now > deadline + t.late_grace_ms && s.delay.is_none()).then_some(Finding::Late)
}

/// Raises a finding's exception and event, claiming the finding on the parcel in the same
/// transaction; false when another sweep claimed it first.
async fn raise(
    store: &Store,
    bus: &dyn Bus,
    settings: &TrackingSettings,
    s: &Shipment,
    finding: Finding,
    now: i64,
) -> Result<bool, StoreError> {
    let when =
        |ms: Option<i64>| ms.map_or_else(|| "never".to_string(), |t| ms_to_time(t).to_rfc3339());
    let reason = match finding {
        Finding::Late => format!(
            "parcel {} {} of order {} is late: {} was {}, last scan {} ({})",
            s.carrier,
            s.tracking_number,
            s.order_id,
            if s.eta.is_some() {
                "the carrier's ETA"
            } else {
                "the promised date"
            },
            when(s.eta.or(s.promised_at)),
            when(s.last_scan_at),
            s.status,
        ),
        Finding::Lost => format!(
            "parcel {} {} of order {} is suspected lost: no carrier scan since {} ({})",
            s.carrier,
            s.tracking_number,
            s.order_id,
            when(Some(s.last_scan_at.unwrap_or(s.created_at))),
            s.status,
        ),
    };
    let cause = "sweep:tracking";
    let mut tx = store.begin().await?;
    let exception_id = Store::insert_exception(
        &mut tx,
        &NewException {
            kind: match finding {
                Finding::Late => "shipment_late",
                Finding::Lost => "shipment_lost",
            },
            severity: Severity::Error,
            order_id: Some(&s.order_id),
            raw_id: None,
            message_id: None,
            stage: Some("sweep"),
            connector: Some(&s.carrier),
            department: &settings.department,
            due_at: Some(track::due(settings)),
            reason: &reason,
        },
    )
    .await?;
    let claimed = Store::claim_shipment_delay(
        &mut tx,
        &s.id,
        s.delay.as_deref(),
        finding.name(),
        &exception_id,
    )
    .await?;
    if !claimed {
        tx.rollback().await?;
        return Ok(false);
    }
    if let Some(previous) = &s.delay_exception_id {
        track::close_exception(
            &mut tx,
            &s.order_id,
            previous,
            "closed by itself: superseded by a suspected loss",
            cause,
        )
        .await?;
    }
    Store::append_event(
        &mut tx,
        &s.order_id,
        "shipment_delayed",
        None,
        cause,
        Some(&serde_json::json!({
            "shipment_id": s.id, "finding": finding.name(), "exception_id": exception_id,
        })),
    )
    .await?;
    let detail = serde_json::json!({
        "finding": finding.name(),
        "eta": s.eta.map(ms_to_time),
        "promised_at": s.promised_at.map(ms_to_time),
        "last_scan_at": s.last_scan_at.map(ms_to_time),
        "exception_id": exception_id,
        "swept_at": ms_to_time(now),
    });
    let r = s.event_ref(Some(&s.status), detail);
    let event = track::keyed_event(
        EventType::SHIPMENT_DELAYED,
        &format!("{}:{exception_id}", s.id),
        &r,
    );
    commit(store, bus, tx, vec![event]).await?;
    tracing::info!(shipment_id = %s.id, order_id = %s.order_id, finding = finding.name(), "Parcel delayed.");
    Ok(true)
}

/// Queues the events in the outbox, commits, publishes.
async fn commit(
    store: &Store,
    bus: &dyn Bus,
    mut tx: crate::store::Tx,
    events: Vec<Envelope>,
) -> Result<(), StoreError> {
    Store::outbox_insert(&mut tx, &events).await?;
    tx.commit().await?;
    crate::outbox::publish_committed(store, bus, &events).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parcel() -> Shipment {
        Shipment {
            id: "shp_1".into(),
            order_id: "og_1".into(),
            warehouse: None,
            carrier: "ups".into(),
            carrier_name: None,
            tracking_number: "1Z1".into(),
            service: None,
            items: serde_json::Value::Null,
            status: "in_transit".into(),
            side_status: None,
            raw_code: None,
            location: None,
            description: None,
            first_scan_at: Some(1_000),
            last_scan_at: Some(1_000),
            eta: None,
            promised_at: None,
            delivered_at: None,
            delay: None,
            delay_exception_id: None,
            alert_exception_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn late_after_the_eta_else_the_promise_lost_after_quiet_days() {
        let settings = TrackingSettings {
            late_grace_hours: 1,
            lost_after_days: 2,
            ..TrackingSettings::default()
        };
        let h = 3_600_000;
        let mut s = parcel();
        assert_eq!(finding(&settings, &s, 10 * h), None);
        s.promised_at = Some(5 * h);
        assert_eq!(finding(&settings, &s, 6 * h), None);
        assert_eq!(finding(&settings, &s, 6 * h + 1), Some(Finding::Late));
        s.eta = Some(20 * h);
        assert_eq!(finding(&settings, &s, 10 * h), None);
        assert_eq!(finding(&settings, &s, 21 * h), None);
        assert_eq!(finding(&settings, &s, 22 * h), Some(Finding::Late));
        s.delay = Some("late".into());
        assert_eq!(finding(&settings, &s, 30 * h), None);
        assert_eq!(finding(&settings, &s, 48 * h + 1_001), Some(Finding::Lost));
        s.delay = Some("lost".into());
        assert_eq!(finding(&settings, &s, 100 * h), None);
    }
}
