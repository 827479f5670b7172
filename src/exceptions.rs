//! The exception workflow (rulebook §5: record → root cause → solution with a responsible
//! department, owner and deadline → follow-up → closure), as domain functions the API and the
//! dashboard both call.
//!
//! Status: `open → acknowledged → resolved | wont_fix`; a closed one can be reopened. Every
//! change is one transaction with its history entry (who, what). Due times come from the
//! per-kind SLA in `[exceptions] sla_hours` (else the stage's default). When the due time
//! passes, [`escalate_overdue`] raises the severity one step and publishes one
//! `exception.overdue` event — once per deadline: a new due time can escalate again.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::actions::ActionError;
use crate::bus::Bus;
use crate::model::Envelope;
use crate::store::exceptions::ACTIVE;
use crate::store::{ExceptionRecord, ExceptionUpdate, Severity, Store};

/// The event published when an exception passes its due time.
pub const EXCEPTION_OVERDUE: &str = "exception.overdue";

/// One workflow step asked for by a person (`PATCH /api/exceptions/{id}`). Fields left out
/// are not changed; `resolve`, `wont_fix` and `reopen` exclude each other.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionChange {
    /// Assign to this person.
    #[serde(default)]
    pub owner: Option<String>,
    /// Someone is on it (`open → acknowledged`).
    #[serde(default)]
    pub acknowledge: bool,
    /// The root-cause category (one of `[exceptions] root_causes`) and the text.
    #[serde(default)]
    pub root_cause_category: Option<String>,
    #[serde(default)]
    pub root_cause: Option<String>,
    /// Resolved, with what was done.
    #[serde(default)]
    pub resolve: Option<String>,
    /// Closed without a fix, with why.
    #[serde(default)]
    pub wont_fix: Option<String>,
    /// Open again (after `resolved` or `wont_fix`).
    #[serde(default)]
    pub reopen: bool,
    /// A new deadline.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// A note for the history.
    #[serde(default)]
    pub note: Option<String>,
}

/// Applies `change` to exception `id` as `actor` (`api:<name>`); `root_causes` are the
/// categories the configuration allows.
pub async fn change_exception(
    store: &Store,
    id: &str,
    change: &ExceptionChange,
    actor: &str,
    root_causes: &[String],
) -> Result<ExceptionRecord, ActionError> {
    let current = store
        .exception(id)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("exception {id}")))?;
    let closing = [
        change.resolve.is_some(),
        change.wont_fix.is_some(),
        change.reopen,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if closing > 1 {
        return Err(ActionError::Invalid(
            "resolve, wont_fix and reopen exclude each other".into(),
        ));
    }
    let blank = |s: &Option<String>| s.as_deref().is_some_and(|t| t.trim().is_empty());
    for (name, v) in [
        ("owner", &change.owner),
        ("root_cause", &change.root_cause),
        ("resolve", &change.resolve),
        ("wont_fix", &change.wont_fix),
    ] {
        if blank(v) {
            return Err(ActionError::Invalid(format!("{name} must not be empty")));
        }
    }
    if let Some(c) = &change.root_cause_category {
        if !root_causes.iter().any(|k| k == c) {
            return Err(ActionError::Invalid(format!(
                "root_cause_category must be one of: {}",
                root_causes.join(", ")
            )));
        }
    }
    let nothing = change.owner.is_none()
        && !change.acknowledge
        && change.root_cause_category.is_none()
        && change.root_cause.is_none()
        && closing == 0
        && change.due_at.is_none()
        && change.note.is_none();
    if nothing {
        return Err(ActionError::Invalid("the change asks for nothing".into()));
    }
    // Which statuses the step may start from, and where it leads.
    let (from, to): (&[&str], Option<&str>) = if change.reopen {
        (&["resolved", "wont_fix"], Some("open"))
    } else if change.resolve.is_some() {
        (&ACTIVE, Some("resolved"))
    } else if change.wont_fix.is_some() {
        (&ACTIVE, Some("wont_fix"))
    } else if change.acknowledge {
        (&["open"], Some("acknowledged"))
    } else if change.owner.is_some() || change.due_at.is_some() {
        (&ACTIVE, None)
    } else {
        // Root cause and notes: also after closure, for the prevention review.
        (&crate::store::exceptions::STATUSES, None)
    };
    if !from.contains(&current.status.as_str()) {
        return Err(ActionError::Conflict(format!(
            "exception {id} is {}: this change needs it {}",
            current.status,
            from.join(" or ")
        )));
    }
    let update = ExceptionUpdate {
        status: to,
        owner: change.owner.as_deref(),
        root_cause_category: change.root_cause_category.as_deref(),
        root_cause: change.root_cause.as_deref(),
        resolution: change.resolve.as_deref().or(change.wont_fix.as_deref()),
        due_at: change.due_at.map(|t| t.timestamp_millis()),
        ..ExceptionUpdate::default()
    };
    let mut tx = store.begin().await?;
    if !Store::update_exception(&mut tx, id, from, &update).await? {
        return Err(ActionError::Conflict(format!(
            "exception {id} changed meanwhile; read it again"
        )));
    }
    let mut entries = Vec::new();
    if let Some(owner) = &change.owner {
        entries.push(("assigned", json!({ "owner": owner })));
    }
    if change.acknowledge {
        entries.push(("acknowledged", json!({})));
    }
    if change.root_cause_category.is_some() || change.root_cause.is_some() {
        entries.push((
            "root_cause",
            json!({ "category": change.root_cause_category, "text": change.root_cause }),
        ));
    }
    if let Some(due) = change.due_at {
        entries.push(("due_changed", json!({ "due_at": due })));
    }
    if let Some(r) = &change.resolve {
        entries.push(("resolved", json!({ "resolution": r })));
    }
    if let Some(r) = &change.wont_fix {
        entries.push(("wont_fix", json!({ "reason": r })));
    }
    if change.reopen {
        entries.push(("reopened", json!({})));
    }
    if let Some(note) = &change.note {
        entries.push(("note", json!({ "note": note })));
    }
    for (action, data) in entries {
        Store::exception_event(&mut tx, id, actor, action, Some(&data)).await?;
    }
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    store
        .exception(id)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("exception {id}")))
}

/// Escalates every active exception past its due time that was not escalated for that due
/// time: severity one step up, a history entry, and an `exception.overdue` event through the
/// outbox (for the department's notification). Returns how many were escalated.
pub async fn escalate_overdue(store: &Store, bus: &dyn Bus) -> Result<usize, ActionError> {
    let mut n = 0;
    for e in store.overdue_unescalated(200).await? {
        let Some(due) = e.due_at.map(|t| t.timestamp_millis()) else {
            continue;
        };
        let severity = Severity::parse(&e.severity).raised();
        let mut event = Envelope::new(
            EXCEPTION_OVERDUE,
            e.connector.as_deref().unwrap_or(""),
            json!({
                "exception_id": e.id, "kind": e.kind, "department": e.department,
                "owner": e.owner, "order_id": e.order_id, "due_at": e.due_at,
                "severity": severity.as_str(), "reason": e.reason,
            }),
        );
        // One event per exception and deadline, whatever daemon or sweep sends it.
        event.id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("overdue:{}:{due}", e.id).as_bytes(),
        );
        event.order_id = e.order_id.clone();
        let mut tx = store.begin().await?;
        // Only if still active, still due then, and not escalated for it by another daemon.
        let changed = sqlx::query(
            "UPDATE exceptions SET severity = $1, escalated_due_at = due_at, updated_at = $2 \
             WHERE id = $3 AND status IN ('open', 'acknowledged') AND due_at = $4 \
             AND (escalated_due_at IS NULL OR escalated_due_at <> due_at)",
        )
        .bind(severity.as_str())
        .bind(crate::store::now_ms())
        .bind(&e.id)
        .bind(due)
        .execute(&mut *tx)
        .await
        .map_err(crate::store::StoreError::from)?
        .rows_affected()
            == 1;
        if !changed {
            continue;
        }
        let data = json!({ "severity": severity.as_str(), "due_at": e.due_at });
        Store::exception_event(&mut tx, &e.id, "system", "escalated", Some(&data)).await?;
        Store::outbox_insert(&mut tx, &[&event]).await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        crate::outbox::publish_committed(store, bus, std::slice::from_ref(&event)).await;
        tracing::warn!(exception_id = %e.id, kind = %e.kind, department = %e.department, "Exception overdue: escalated.");
        n += 1;
    }
    Ok(n)
}

/// Runs [`escalate_overdue`] every `every` until `shutdown`.
pub async fn run_escalation(
    store: Store,
    bus: std::sync::Arc<dyn Bus>,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(error) = escalate_overdue(&store, bus.as_ref()).await {
            tracing::warn!(error = %error, "Escalation sweep failed; the next one tries again.");
        }
    }
}
