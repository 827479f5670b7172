//! `[kpi]`: how the rulebook's KPIs are judged (`crate::kpi`), and the dashboard's session
//! lifetime (`/ui`).

use serde::Deserialize;

/// The KPI rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiConfig {
    /// Hours from an order's receipt to its fulfilment request within which its processing is
    /// on time (on-time processing rate).
    #[serde(default = "KpiConfig::default_processing_sla_hours")]
    pub processing_sla_hours: f64,
    /// Exception kinds that are a customer's complaint: an order with one is not accurate.
    #[serde(default = "KpiConfig::default_complaint_kinds")]
    pub complaint_kinds: Vec<String>,
    /// Seconds between two background refreshes of the KPI rollup from the event log (a
    /// report refreshes it too; this keeps that cheap).
    #[serde(default = "KpiConfig::default_refresh_every_secs")]
    pub refresh_every_secs: f64,
    /// Hours a dashboard sign-in lasts.
    #[serde(default = "KpiConfig::default_session_hours")]
    pub session_hours: f64,
}

impl KpiConfig {
    fn default_processing_sla_hours() -> f64 {
        24.0
    }
    fn default_complaint_kinds() -> Vec<String> {
        vec!["complaint".into()]
    }
    fn default_refresh_every_secs() -> f64 {
        60.0
    }
    fn default_session_hours() -> f64 {
        8.0
    }

    /// The processing SLA in milliseconds.
    pub fn processing_sla_ms(&self) -> i64 {
        (self.processing_sla_hours * 3_600_000.0) as i64
    }

    /// A session's lifetime in milliseconds.
    pub fn session_ms(&self) -> i64 {
        (self.session_hours * 3_600_000.0) as i64
    }

    /// Checks the numbers and names.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.processing_sla_hours.is_finite() && self.processing_sla_hours > 0.0) {
            return Err("kpi.processing_sla_hours must be hours > 0".into());
        }
        if self.complaint_kinds.iter().any(|k| k.trim().is_empty()) {
            return Err("kpi.complaint_kinds must not hold an empty kind".into());
        }
        if !(self.refresh_every_secs.is_finite() && self.refresh_every_secs > 0.0) {
            return Err("kpi.refresh_every_secs must be seconds > 0".into());
        }
        if !(self.session_hours.is_finite() && self.session_hours > 0.0) {
            return Err("kpi.session_hours must be hours > 0".into());
        }
        Ok(())
    }
}

impl Default for KpiConfig {
    fn default() -> Self {
        Self {
            processing_sla_hours: Self::default_processing_sla_hours(),
            complaint_kinds: Self::default_complaint_kinds(),
            refresh_every_secs: Self::default_refresh_every_secs(),
            session_hours: Self::default_session_hours(),
        }
    }
}
