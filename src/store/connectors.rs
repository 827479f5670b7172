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

/// Cursor and polling lease of pull connectors. The lease makes one daemon at a time poll a
/// connector; only the lease holder may move the cursor.
impl Store {
    /// Creates the connector's row if it has none yet.
    async fn ensure_connector_row(&self, connector: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connector_state (connector, health, consecutive_failures, updated_at) \
             VALUES ($1, 'up', 0, $2) ON CONFLICT (connector) DO NOTHING",
        )
        .bind(connector)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes or renews the polling lease of `connector` for `owner` until `ttl` from now; true
    /// when `owner` holds it afterwards (free, expired, or already its own).
    pub async fn acquire_connector_lease(
        &self,
        connector: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.ensure_connector_row(connector).await?;
        let now = now_ms();
        let until = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let done = sqlx::query(
            "UPDATE connector_state SET lease_owner = $1, lease_until = $2 WHERE connector = $3 \
             AND (lease_owner IS NULL OR lease_owner = $4 OR lease_until IS NULL OR lease_until < $5)",
        )
        .bind(owner)
        .bind(until)
        .bind(connector)
        .bind(owner)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up (shutdown), if `owner` holds it.
    pub async fn release_connector_lease(
        &self,
        connector: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE connector_state SET lease_owner = NULL, lease_until = NULL \
             WHERE connector = $1 AND lease_owner = $2",
        )
        .bind(connector)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The connector's stored cursor.
    pub async fn connector_cursor(&self, connector: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT cursor FROM connector_state WHERE connector = $1")
            .bind(connector)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("cursor")?,
            None => None,
        })
    }

    /// Moves the cursor, if `owner` still holds the lease; false when it does not (another
    /// daemon took over, and this one must stop).
    pub async fn set_connector_cursor(
        &self,
        connector: &str,
        owner: &str,
        cursor: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connector_state SET cursor = $1, updated_at = $2 \
             WHERE connector = $3 AND lease_owner = $4",
        )
        .bind(cursor)
        .bind(now_ms())
        .bind(connector)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
