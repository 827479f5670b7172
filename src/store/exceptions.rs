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
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
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
    pub root_cause: Option<String>,
    pub resolution: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// Records an exception; returns its id.
    pub async fn insert_exception(
        conn: &mut AnyConnection,
        e: &NewException<'_>,
    ) -> Result<String, StoreError> {
        let id = format!("exc_{}", uuid::Uuid::now_v7().simple());
        let now = now_ms();
        sqlx::query(
            "INSERT INTO exceptions (id, kind, severity, status, order_id, raw_id, message_id, \
             stage, connector, department, due_at, reason, created_at, updated_at) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
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
        Ok(id)
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
        rows.into_iter()
            .map(|r| {
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
                    root_cause: r.try_get("root_cause")?,
                    resolution: r.try_get("resolution")?,
                    created_at: ms_to_time(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Marks an exception resolved with what was done.
    pub async fn resolve_exception(
        conn: &mut AnyConnection,
        id: &str,
        resolution: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE exceptions SET status = 'resolved', resolution = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(resolution)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
