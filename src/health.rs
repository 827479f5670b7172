//! Connector health: up → degraded → down and back, from consecutive failures. Every change is
//! a structured log event ops can alert on, a gauge, and a row in the store. One entry per
//! name: connectors, warehouses, carriers, subscribers and the SMTP relay (`smtp`) share the
//! names, and the configuration refuses a name used twice among them.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::HealthConfig;
use crate::store::{ConnectorHealth, ConnectorState, Store};
use crate::telemetry::metric;

/// Tracks every connector's health in this process and persists it.
pub struct HealthTracker {
    store: Store,
    cfg: HealthConfig,
    states: Mutex<HashMap<String, ConnectorState>>,
    /// The rate-limit budget each connector's partner announced last (this process only).
    headroom: Mutex<HashMap<String, crate::partner::client::Headroom>>,
}

impl HealthTracker {
    /// A tracker writing to `store`.
    pub fn new(store: Store, cfg: HealthConfig) -> Self {
        Self {
            store,
            cfg,
            states: Mutex::new(HashMap::new()),
            headroom: Mutex::new(HashMap::new()),
        }
    }

    /// Records the rate-limit budget `connector`'s partner announced on its latest answer.
    pub fn record_headroom(&self, connector: &str, headroom: crate::partner::client::Headroom) {
        self.headroom
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(connector.to_string(), headroom);
    }

    /// The rate-limit budget `connector`'s partner announced last, if any.
    pub fn headroom(&self, connector: &str) -> Option<crate::partner::client::Headroom> {
        self.headroom
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(connector)
            .cloned()
    }

    /// Loads what the store remembers of `connector` (its health survives a restart).
    pub async fn register(&self, connector: &str) {
        let state = match self.store.connector_state(connector).await {
            Ok(Some(s)) => s,
            _ => fresh(connector),
        };
        metrics::gauge!(metric::CONNECTOR_HEALTH, "connector" => connector.to_string())
            .set(gauge(state.health));
        self.lock().insert(connector.to_string(), state);
    }

    /// An attempt worked.
    pub async fn success(&self, connector: &str) {
        let now = chrono::Utc::now();
        self.update(connector, |s| {
            s.consecutive_failures = 0;
            s.last_success_at = Some(now);
        })
        .await;
    }

    /// An attempt failed with `error` (no personal data in it, please).
    pub async fn failure(&self, connector: &str, error: &str) {
        let now = chrono::Utc::now();
        let error = error.to_string();
        self.update(connector, move |s| {
            s.consecutive_failures += 1;
            s.last_error = Some(error);
            s.last_error_at = Some(now);
        })
        .await;
    }

    /// Every connector's state.
    pub fn snapshot(&self) -> Vec<ConnectorState> {
        let mut v: Vec<_> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.connector.cmp(&b.connector));
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConnectorState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn update(&self, connector: &str, f: impl FnOnce(&mut ConnectorState)) {
        let (before, after) = {
            let mut states = self.lock();
            let s = states
                .entry(connector.to_string())
                .or_insert_with(|| fresh(connector));
            let before = s.health;
            f(s);
            s.health = self.classify(s.consecutive_failures);
            (before, s.clone())
        };
        if before != after.health {
            let fields = (before.as_str(), after.health.as_str());
            match after.health {
                ConnectorHealth::Up => tracing::info!(
                    connector,
                    from = fields.0,
                    to = fields.1,
                    "Connector health changed."
                ),
                _ => tracing::warn!(
                    connector,
                    from = fields.0,
                    to = fields.1,
                    failures = after.consecutive_failures,
                    last_error = after.last_error.as_deref().unwrap_or(""),
                    "Connector health changed."
                ),
            }
            metrics::gauge!(metric::CONNECTOR_HEALTH, "connector" => connector.to_string())
                .set(gauge(after.health));
        }
        // Persist on every change of health, and on failures (last error); successes in a
        // steady up state need no write.
        if before != after.health || after.consecutive_failures > 0 {
            if let Err(error) = self.store.save_connector_health(&after).await {
                tracing::warn!(connector, error = %error, "Cannot save connector health.");
            }
        }
    }

    fn classify(&self, failures: i64) -> ConnectorHealth {
        if failures >= i64::from(self.cfg.down_after) {
            ConnectorHealth::Down
        } else if failures >= i64::from(self.cfg.degraded_after.max(1)) {
            ConnectorHealth::Degraded
        } else {
            ConnectorHealth::Up
        }
    }
}

fn fresh(connector: &str) -> ConnectorState {
    ConnectorState {
        connector: connector.to_string(),
        cursor: None,
        health: ConnectorHealth::Up,
        last_success_at: None,
        last_error: None,
        last_error_at: None,
        consecutive_failures: 0,
    }
}

fn gauge(h: ConnectorHealth) -> f64 {
    match h {
        ConnectorHealth::Up => 2.0,
        ConnectorHealth::Degraded => 1.0,
        ConnectorHealth::Down => 0.0,
    }
}
