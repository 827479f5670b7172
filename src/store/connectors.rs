//! Per-connector state: cursor and health.

use serde::Serialize;
use sqlx::Row;

use super::{ms_to_time, now_ms, Store, StoreError};

/// A connector's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorHealth {
    /// Its last attempt worked.
    Up,
    /// It failed recently but not often enough to be down.
    Degraded,
    /// It has failed `down_after` times in a row.
    Down,
}

impl ConnectorHealth {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorHealth::Up => "up",
            ConnectorHealth::Degraded => "degraded",
            ConnectorHealth::Down => "down",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "degraded" => ConnectorHealth::Degraded,
            "down" => ConnectorHealth::Down,
            _ => ConnectorHealth::Up,
        }
    }
}

/// What the store keeps about a connector.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorState {
    pub connector: String,
    pub cursor: Option<String>,
    pub health: ConnectorHealth,
    pub last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<chrono::DateTime<chrono::Utc>>,
    pub consecutive_failures: i64,
}

impl Store {
    /// A connector's state, if it ever ran.
    pub async fn connector_state(
        &self,
        connector: &str,
    ) -> Result<Option<ConnectorState>, StoreError> {
        let row = sqlx::query(
            "SELECT connector, cursor, health, last_success_at, last_error, last_error_at, \
             consecutive_failures FROM connector_state WHERE connector = $1",
        )
        .bind(connector)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let health: String = r.try_get("health")?;
            let ok: Option<i64> = r.try_get("last_success_at")?;
            let err: Option<i64> = r.try_get("last_error_at")?;
            Ok(ConnectorState {
                connector: r.try_get("connector")?,
                cursor: r.try_get("cursor")?,
                health: ConnectorHealth::parse(&health),
                last_success_at: ok.map(ms_to_time),
                last_error: r.try_get("last_error")?,
                last_error_at: err.map(ms_to_time),
                consecutive_failures: r.try_get("consecutive_failures")?,
            })
        })
        .transpose()
    }

    /// Writes a connector's health after an attempt.
    pub async fn save_connector_health(&self, s: &ConnectorState) -> Result<(), StoreError> {
        let now = now_ms();
        let ok = s.last_success_at.map(|t| t.timestamp_millis());
        let err = s.last_error_at.map(|t| t.timestamp_millis());
        sqlx::query(
            "INSERT INTO connector_state (connector, health, last_success_at, last_error, \
             last_error_at, consecutive_failures, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (connector) DO UPDATE SET health = excluded.health, \
             last_success_at = excluded.last_success_at, last_error = excluded.last_error, \
             last_error_at = excluded.last_error_at, \
             consecutive_failures = excluded.consecutive_failures, updated_at = excluded.updated_at",
        )
        .bind(&s.connector)
        .bind(s.health.as_str())
        .bind(ok)
        .bind(s.last_error.as_deref())
        .bind(err)
        .bind(s.consecutive_failures)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
