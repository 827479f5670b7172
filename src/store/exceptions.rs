//! Exception records: something went wrong and a named department owns it until resolved.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{ms_to_time, now_ms, Store, StoreError};

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look; the order keeps moving.
    Warning,
    /// Something is stuck until a person acts.
    Error,
    /// Past its deadline after an escalation: management looks.
    Critical,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    /// The severity of a stored name (an unknown one reads as `error`).
    pub fn parse(s: &str) -> Self {
        match s {
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            _ => Severity::Error,
        }
    }

    /// One step up (an overdue exception escalates); critical stays critical.
    pub fn raised(self) -> Self {
        match self {
            Severity::Warning => Severity::Error,
            Severity::Error | Severity::Critical => Severity::Critical,
        }
    }
}

/// Where an exception is in its workflow: `open → acknowledged → resolved | wont_fix`, and
/// back to `open` when reopened.
pub const STATUSES: [&str; 4] = ["open", "acknowledged", "resolved", "wont_fix"];

/// Statuses in which someone still has to act.
pub const ACTIVE: [&str; 2] = ["open", "acknowledged"];

/// Which exceptions to list.
#[derive(Debug, Clone, Default)]
pub struct ExceptionFilter {
    /// One status; `None`: the active ones (open, acknowledged); `Some("all")`: every one.
    pub status: Option<String>,
    pub kind: Option<String>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub order_id: Option<String>,
    /// Only those past their due time and still active.
    pub overdue: bool,
    pub limit: i64,
    pub offset: i64,
}

/// One entry of an exception's history.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionEvent {
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who (`api:<name>`, `stage:<name>`, `system`).
    pub actor: String,
    /// What (`opened`, `assigned`, `acknowledged`, `root_cause`, `resolved`, `wont_fix`,
    /// `reopened`, `due_changed`, `escalated`).
    pub action: String,
    pub data: Option<serde_json::Value>,
}

/// A new exception.
#[derive(Debug, Clone)]
pub struct NewException<'a> {
    /// What went wrong, as a stable code (`bad_input`, `mapping_failed`, `totals_mismatch`).
    pub kind: &'a str,
    pub severity: Severity,
    pub order_id: Option<&'a str>,
    pub raw_id: Option<&'a str>,
    /// The bus message it concerns.
    pub message_id: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub connector: Option<&'a str>,
    /// Who owns it.
    pub department: &'a str,
    /// When it must be resolved by (Unix ms).
    pub due_at: Option<i64>,
    /// What happened, for people: names the input and the reason.
    pub reason: &'a str,
}

/// A stored exception.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionRecord {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub order_id: Option<String>,
    pub raw_id: Option<String>,
    pub message_id: Option<String>,
    pub stage: Option<String>,
    pub connector: Option<String>,
    pub department: String,
    pub owner: Option<String>,
    pub due_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: String,
    /// The root-cause category (for the prevention review), and the text.
    pub root_cause_category: Option<String>,
    pub root_cause: Option<String>,
    pub resolution: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn record(r: sqlx::any::AnyRow) -> Result<ExceptionRecord, StoreError> {
    let due: Option<i64> = r.try_get("due_at")?;
    Ok(ExceptionRecord {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        severity: r.try_get("severity")?,
        status: r.try_get("status")?,
        order_id: r.try_get("order_id")?,
        raw_id: r.try_get("raw_id")?,
        message_id: r.try_get("message_id")?,
        stage: r.try_get("stage")?,
        connector: r.try_get("connector")?,
        department: r.try_get("department")?,
        owner: r.try_get("owner")?,
        due_at: due.map(ms_to_time),
        reason: r.try_get("reason")?,
        root_cause_category: r.try_get("root_cause_category")?,
        root_cause: r.try_get("root_cause")?,
        resolution: r.try_get("resolution")?,
        created_at: ms_to_time(r.try_get("created_at")?),
        updated_at: ms_to_time(r.try_get("updated_at")?),
    })
}

impl Store {
    /// Records an exception; returns its id.
    pub async fn insert_exception(
        conn: &mut AnyConnection,
        e: &NewException<'_>,
    ) -> Result<String, StoreError> {
        let id = format!("exc_{}", uuid::Uuid::now_v7().simple());
        let now = now_ms();
        // The configured SLA of the kind, if any, sets the due time; else the caller's.
        sqlx::query(
            "INSERT INTO exceptions (id, kind, severity, status, order_id, raw_id, message_id, \
             stage, connector, department, due_at, reason, created_at, updated_at) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, \
             COALESCE((SELECT $12 + due_ms FROM exception_sla WHERE kind = $2), $10), $11, $12, $12)",
        )
        .bind(&id)
        .bind(e.kind)
        .bind(e.severity.as_str())
        .bind(e.order_id)
        .bind(e.raw_id)
        .bind(e.message_id)
        .bind(e.stage)
        .bind(e.connector)
        .bind(e.department)
        .bind(e.due_at)
        .bind(e.reason)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let actor = e
            .stage
            .map(|s| format!("stage:{s}"))
            .or_else(|| e.connector.map(|c| format!("connector:{c}")))
            .unwrap_or_else(|| "system".to_string());
        Self::exception_event(conn, &id, &actor, "opened", None).await?;
        Ok(id)
    }

    /// Appends to an exception's history.
    pub async fn exception_event(
        conn: &mut AnyConnection,
        id: &str,
        actor: &str,
        action: &str,
        data: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO exception_events (exception_id, at, actor, action, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(data.map(|d| d.to_string()))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// An exception's history, oldest first.
    pub async fn exception_history(&self, id: &str) -> Result<Vec<ExceptionEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, data FROM exception_events WHERE exception_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let data: Option<String> = r.try_get("data")?;
                Ok(ExceptionEvent {
                    at: ms_to_time(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    data: data.and_then(|d| serde_json::from_str(&d).ok()),
                })
            })
            .collect()
    }

    /// One exception.
    pub async fn exception(&self, id: &str) -> Result<Option<ExceptionRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM exceptions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(record).transpose()
    }

    /// Exceptions matching `f`, newest first.
    pub async fn exceptions_matching(
        &self,
        f: &ExceptionFilter,
    ) -> Result<Vec<ExceptionRecord>, StoreError> {
        let (active, all) = match f.status.as_deref() {
            None => (true, false),
            Some("all") => (false, true),
            Some(_) => (false, false),
        };
        let rows = sqlx::query(
            "SELECT * FROM exceptions WHERE \
             ($1 = 1 OR ($2 = 1 AND status IN ('open', 'acknowledged')) OR status = $3) \
             AND ($4 IS NULL OR kind = $4) AND ($5 IS NULL OR department = $5) \
             AND ($6 IS NULL OR owner = $6) AND ($7 IS NULL OR order_id = $7) \
             AND ($8 = 0 OR (status IN ('open', 'acknowledged') AND due_at < $9)) \
             ORDER BY created_at DESC, id DESC LIMIT $10 OFFSET $11",
        )
        .bind(i32::from(all))
        .bind(i32::from(active))
        .bind(f.status.as_deref().unwrap_or(""))
        .bind(f.kind.as_deref())
        .bind(f.department.as_deref())
        .bind(f.owner.as_deref())
        .bind(f.order_id.as_deref())
        .bind(i32::from(f.overdue))
        .bind(now_ms())
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(record).collect()
    }

    /// Replaces the per-kind SLA table (due time after creation, ms) with `sla`.
    pub async fn set_exception_sla(
        &self,
        sla: &std::collections::BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM exception_sla")
            .execute(&mut *tx)
            .await?;
        for (kind, due_ms) in sla {
            sqlx::query("INSERT INTO exception_sla (kind, due_ms) VALUES ($1, $2)")
                .bind(kind)
                .bind(*due_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Active exceptions past their due time that were not escalated for that due time yet.
    pub async fn overdue_unescalated(
        &self,
        limit: i64,
    ) -> Result<Vec<ExceptionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM exceptions WHERE status IN ('open', 'acknowledged') AND due_at < $1 \
             AND (escalated_due_at IS NULL OR escalated_due_at <> due_at) \
             ORDER BY due_at LIMIT $2",
        )
        .bind(now_ms())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(record).collect()
    }

    /// Sets the fields a workflow step changed (`None` keeps a field) and the status; returns
    /// whether the row was in `from` (one of these statuses) and was changed.
    pub async fn update_exception(
        conn: &mut AnyConnection,
        id: &str,
        from: &[&str],
        u: &ExceptionUpdate<'_>,
    ) -> Result<bool, StoreError> {
        let from: Vec<&str> = (0..STATUSES.len())
            .map(|i| from.get(i).copied().unwrap_or(""))
            .collect();
        let done = sqlx::query(
            "UPDATE exceptions SET status = COALESCE($1, status), owner = COALESCE($2, owner), \
             root_cause_category = COALESCE($3, root_cause_category), \
             root_cause = COALESCE($4, root_cause), resolution = COALESCE($5, resolution), \
             due_at = COALESCE($6, due_at), severity = COALESCE($7, severity), \
             escalated_due_at = COALESCE($8, escalated_due_at), updated_at = $9 \
             WHERE id = $10 AND status IN ($11, $12, $13, $14)",
        )
        .bind(u.status)
        .bind(u.owner)
        .bind(u.root_cause_category)
        .bind(u.root_cause)
        .bind(u.resolution)
        .bind(u.due_at)
        .bind(u.severity.map(Severity::as_str))
        .bind(u.escalated_due_at)
        .bind(now_ms())
        .bind(id)
        .bind(from[0])
        .bind(from[1])
        .bind(from[2])
        .bind(from[3])
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether an open exception of `kind` stands for `connector`.
    pub async fn open_exception_exists(
        &self,
        kind: &str,
        connector: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM exceptions WHERE kind = $1 AND connector = $2 AND status = 'open' LIMIT 1",
        )
        .bind(kind)
        .bind(connector)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// The active (open or acknowledged) exceptions of `kind` about order `order_id`, as
    /// (id, connector), oldest first.
    pub async fn active_exceptions_of(
        conn: &mut AnyConnection,
        order_id: &str,
        kind: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, connector FROM exceptions WHERE order_id = $1 AND kind = $2 \
             AND status IN ('open', 'acknowledged') ORDER BY created_at, id",
        )
        .bind(order_id)
        .bind(kind)
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("connector")?)))
            .collect()
    }

    /// Exceptions, newest first; only open ones unless `all`.
    pub async fn exceptions(
        &self,
        all: bool,
        limit: i64,
    ) -> Result<Vec<ExceptionRecord>, StoreError> {
        let sql = if all {
            "SELECT * FROM exceptions ORDER BY created_at DESC, id DESC LIMIT $1"
        } else {
            "SELECT * FROM exceptions WHERE status = 'open' ORDER BY created_at DESC, id DESC LIMIT $1"
        };
        let rows = sqlx::query(sql).bind(limit).fetch_all(self.pool()).await?;
        rows.into_iter().map(record).collect()
    }

    /// Closes an active exception the system itself resolved (stock arrived, a parcel moved
    /// on, a parked message was replayed) with what happened; recorded in its history as done
    /// by `system`. An exception already closed stays as it is.
    pub async fn resolve_exception(
        conn: &mut AnyConnection,
        id: &str,
        resolution: &str,
    ) -> Result<(), StoreError> {
        let closed = Self::update_exception(
            conn,
            id,
            &ACTIVE,
            &ExceptionUpdate {
                status: Some("resolved"),
                resolution: Some(resolution),
                ..ExceptionUpdate::default()
            },
        )
        .await?;
        if closed {
            let data = serde_json::json!({ "resolution": resolution });
            Self::exception_event(conn, id, "system", "resolved", Some(&data)).await?;
        }
        Ok(())
    }
}

/// The fields one workflow step sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ExceptionUpdate<'a> {
    pub status: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub root_cause_category: Option<&'a str>,
    pub root_cause: Option<&'a str>,
    pub resolution: Option<&'a str>,
    pub due_at: Option<i64>,
    pub severity: Option<Severity>,
    pub escalated_due_at: Option<i64>,
}
