//! Push-back of shipments to marketplaces: the per-connector policy (`pushback = "on_label"`
//! on a `[[connectors]]` marketplace) and the `[pushback]` section (claims and
//! reconciliation).

use serde::Deserialize;

/// When a marketplace connector's orders are pushed back to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushbackPolicy {
    /// When the order ships (`order.shipped`: the label exists or the warehouse handed it
    /// over).
    OnLabel,
    /// At the carrier's first scan (`shipment.in_transit`): the marketplace sees a tracking
    /// number that already moves.
    OnFirstScan,
    /// Never (the default: an existing configuration pushes nothing until it says so).
    #[default]
    Never,
}

/// `[pushback]`: how push-backs are claimed and reconciled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushbackSettings {
    /// How long one worker holds a push-back it is calling the platform for; another worker
    /// (or a restarted daemon) waits that long before it looks the platform up and tries.
    #[serde(default = "PushbackSettings::default_claim_ms")]
    pub claim_ms: u64,
    /// How often the reconciliation job compares "shipped here" with "shipped there" per
    /// connector; 0 turns it off (`ordergate reconcile pushback` still runs it once).
    #[serde(default = "PushbackSettings::default_reconcile_interval_secs")]
    pub reconcile_interval_secs: u64,
    /// How far back reconciliation looks (push-backs changed within this many days).
    #[serde(default = "PushbackSettings::default_reconcile_window_days")]
    pub reconcile_window_days: u32,
    /// Push-backs checked per connector and run, least recently checked first.
    #[serde(default = "PushbackSettings::default_reconcile_batch")]
    pub reconcile_batch: u32,
}

impl Default for PushbackSettings {
    fn default() -> Self {
        Self {
            claim_ms: Self::default_claim_ms(),
            reconcile_interval_secs: Self::default_reconcile_interval_secs(),
            reconcile_window_days: Self::default_reconcile_window_days(),
            reconcile_batch: Self::default_reconcile_batch(),
        }
    }
}

impl PushbackSettings {
    fn default_claim_ms() -> u64 {
        120_000
    }
    fn default_reconcile_interval_secs() -> u64 {
        3_600
    }
    fn default_reconcile_window_days() -> u32 {
        14
    }
    fn default_reconcile_batch() -> u32 {
        500
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.claim_ms == 0 || self.reconcile_batch == 0 || self.reconcile_window_days == 0 {
            return Err(
                "pushback.claim_ms, reconcile_batch and reconcile_window_days must be > 0".into(),
            );
        }
        Ok(())
    }
}
