//! Reconciliation: compares "shipped here" (the push-backs with proof in `pushbacks`) with
//! "shipped there" (the platform's fulfilment look-up) per connector. A push-back the platform
//! lost (an admin deleted it, the platform dropped it) is pushed again and recorded as
//! `pushback_repaired`; one that cannot be (refused) raises an exception for the connector's
//! department. Intents left without proof by a worker that died mid-call are finished the same
//! way (looked up first). Runs every `[pushback] reconcile_interval_secs` and on
//! `ordergate reconcile pushback`.

use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{facts, metric, push_unit, record_pushed, record_refused, units, Pushers, UnitOutcome};
use crate::config::PushbackSettings;
use crate::store::{now_ms, Pushback, Store, StoreError};

/// What one run found for one connector.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorReport {
    pub connector: String,
    /// Push-backs compared.
    pub checked: usize,
    /// Found at the platform.
    pub present: usize,
    /// Missing at the platform (or left without proof).
    pub lost: usize,
    /// Pushed again with proof.
    pub repaired: usize,
    /// Could not be checked or repaired now (retried next run) or refused (exception raised).
    pub failed: usize,
}

/// One reconciliation run over every pushing connector.
pub async fn run_once(
    store: &Store,
    pushers: &Pushers,
    settings: &PushbackSettings,
    due_hours: u32,
) -> Result<Vec<ConnectorReport>, StoreError> {
    run_once_with(store, pushers, settings, due_hours, false).await
}

/// [`run_once`]; with `retry_failed` the refused push-backs are tried again too (after an
/// operator fixed the cause: a carrier added to the table, an order corrected at the
/// platform), looked up first.
pub async fn run_once_with(
    store: &Store,
    pushers: &Pushers,
    settings: &PushbackSettings,
    due_hours: u32,
    retry_failed: bool,
) -> Result<Vec<ConnectorReport>, StoreError> {
    let since = now_ms() - i64::from(settings.reconcile_window_days) * 86_400_000;
    let mut out = Vec::new();
    for (connector, pusher) in pushers.iter() {
        let mut report = ConnectorReport {
            connector: connector.to_string(),
            ..ConnectorReport::default()
        };
        let Some(pusher) = pusher else {
            out.push(report);
            continue;
        };
        let rows = store
            .pushbacks_to_reconcile(
                connector,
                since,
                i64::from(settings.reconcile_batch),
                retry_failed,
            )
            .await?;
        for row in rows {
            report.checked += 1;
            let result = check(store, pusher, settings, due_hours, &row).await?;
            let label = match result {
                Check::Present => {
                    report.present += 1;
                    "present"
                }
                Check::Repaired => {
                    report.lost += 1;
                    report.repaired += 1;
                    "repaired"
                }
                Check::Failed { lost } => {
                    report.lost += usize::from(lost);
                    report.failed += 1;
                    "failed"
                }
            };
            metrics::counter!(metric::RECONCILED, "connector" => connector.to_string(), "result" => label).increment(1);
        }
        if report.checked > 0 {
            tracing::info!(
                connector,
                checked = report.checked,
                present = report.present,
                lost = report.lost,
                repaired = report.repaired,
                failed = report.failed,
                "Push-backs reconciled."
            );
        }
        out.push(report);
    }
    Ok(out)
}

enum Check {
    Present,
    Repaired,
    Failed { lost: bool },
}

async fn check(
    store: &Store,
    pusher: &super::Pusher,
    settings: &PushbackSettings,
    due_hours: u32,
    row: &Pushback,
) -> Result<Check, StoreError> {
    let Some(stored) = store.order(&row.order_id).await? else {
        return Ok(Check::Failed { lost: false });
    };
    let shipments = store.order_shipments(&row.order_id).await?;
    let Some((key, parcels)) = units(pusher.unit(), &shipments)
        .into_iter()
        .find(|(k, _)| *k == row.unit_key)
    else {
        return Ok(Check::Failed { lost: false });
    };
    let f = facts(pusher, &row.order_id, &stored.order, &parcels, &shipments);
    let stale_intent = row.status != "pushed";
    if !stale_intent {
        match pusher.find(&f).await {
            Ok(Some(_)) => {
                store.pushback_checked(&row.order_id, &key).await?;
                return Ok(Check::Present);
            }
            Ok(None) => {
                tracing::warn!(order_id = %row.order_id, connector = %pusher.connector, unit = %key, proof = row.proof.as_deref().unwrap_or(""), "The marketplace lost a push-back; pushing it again.");
            }
            Err(error) => {
                tracing::warn!(order_id = %row.order_id, connector = %pusher.connector, error = %error, "Push-back could not be checked; next run.");
                return Ok(Check::Failed { lost: false });
            }
        }
    }
    let due_at = now_ms() + i64::from(due_hours) * 3_600_000;
    let cause = "reconcile:pushback";
    match push_unit(store, pusher, &f, &key, settings.claim_ms, !stale_intent).await? {
        UnitOutcome::Pushed(p) => {
            let event = if stale_intent {
                "pushed_back"
            } else {
                "pushback_repaired"
            };
            let mut tx = store.begin().await?;
            record_pushed(&mut tx, &pusher.connector, &f, &key, &p, event, cause).await?;
            tx.commit().await?;
            Ok(Check::Repaired)
        }
        UnitOutcome::Already(_) => Ok(Check::Present),
        UnitOutcome::Busy => Ok(Check::Failed { lost: true }),
        UnitOutcome::Failed(e) if e.is_retriable() => Ok(Check::Failed { lost: true }),
        UnitOutcome::Failed(e) => {
            let mut tx = store.begin().await?;
            record_refused(
                &mut tx,
                pusher,
                &row.order_id,
                &key,
                &e,
                "reconcile",
                cause,
                due_at,
            )
            .await?;
            tx.commit().await?;
            Ok(Check::Failed { lost: true })
        }
    }
}

/// Runs reconciliation every `interval` until `shutdown` (not at all when zero).
pub async fn run(
    store: Store,
    pushers: Pushers,
    settings: PushbackSettings,
    due_hours: u32,
    shutdown: CancellationToken,
) {
    if settings.reconcile_interval_secs == 0 {
        return;
    }
    let interval = Duration::from_secs(settings.reconcile_interval_secs);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(error) = run_once(&store, &pushers, &settings, due_hours).await {
            tracing::warn!(error = %error, "Push-back reconciliation failed; next run.");
        }
    }
}
