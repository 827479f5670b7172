//! `[tracking]`: who owns transport exceptions and when a parcel counts as late or lost.
//!
//! ```toml
//! [tracking]
//! department = "transport"      # owns delays, losses, damage, failed deliveries, unknown numbers
//! due_hours = 24                # an exception raised here is due this long after it is raised
//! sweep_interval_ms = 300000    # how often open parcels are compared with their dates; 0 = never
//! late_grace_hours = 0          # late = this long past the carrier's ETA, else the promised date
//! lost_after_days = 5           # suspected lost = no carrier scan for this many days
//!
//! [[tracking.thresholds]]       # per carrier, optionally per service; the most specific wins
//! carrier = "ups"               # the stable code (`ups`, `sf-express`) or any name for it
//! service = "ground"
//! late_grace_hours = 24
//! lost_after_days = 7
//! ```

use serde::Deserialize;

/// The tracking stage's and the delay sweep's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingSettings {
    /// The department that owns transport exceptions (the transport owner).
    #[serde(default = "TrackingSettings::default_department")]
    pub department: String,
    /// Hours from raising a transport exception to its due time.
    #[serde(default = "TrackingSettings::default_due_hours")]
    pub due_hours: u32,
    /// Milliseconds between two runs of the delay sweep; 0 turns the sweep off.
    #[serde(default = "TrackingSettings::default_sweep_interval_ms")]
    pub sweep_interval_ms: u64,
    /// Hours past the carrier's ETA (else the promised date) before a parcel counts as late.
    #[serde(default)]
    pub late_grace_hours: u32,
    /// Days without a carrier scan (or since it was shipped, before the first scan) before a
    /// parcel is suspected lost.
    #[serde(default = "TrackingSettings::default_lost_after_days")]
    pub lost_after_days: u32,
    /// Overrides per carrier and service.
    #[serde(default)]
    pub thresholds: Vec<TrackingThreshold>,
}

/// Late and lost thresholds of one carrier (and service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingThreshold {
    /// The carrier, by stable code or any name the carrier table knows (`UPS`, `顺丰`).
    pub carrier: String,
    /// The service (`ground`, `express`) as the warehouse names it; none = every service.
    #[serde(default)]
    pub service: Option<String>,
    /// Overrides `late_grace_hours`.
    #[serde(default)]
    pub late_grace_hours: Option<u32>,
    /// Overrides `lost_after_days`.
    #[serde(default)]
    pub lost_after_days: Option<u32>,
}

/// The thresholds that apply to one parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Milliseconds past the deadline before late.
    pub late_grace_ms: i64,
    /// Milliseconds without a scan before suspected lost.
    pub lost_after_ms: i64,
}

impl TrackingSettings {
    fn default_department() -> String {
        "transport".into()
    }
    fn default_due_hours() -> u32 {
        24
    }
    fn default_sweep_interval_ms() -> u64 {
        300_000
    }
    fn default_lost_after_days() -> u32 {
        5
    }

    /// The thresholds for a parcel of `carrier` (a stable code) sent with `service`: the
    /// carrier + service row, else the carrier's row without a service, else the defaults.
    pub fn thresholds(&self, carrier: &str, service: Option<&str>) -> Thresholds {
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let rows = || {
            self.thresholds
                .iter()
                .filter(|t| crate::tracking::carrier::code(&t.carrier) == carrier)
        };
        let with_service = rows().find(|t| match (&t.service, service) {
            (Some(a), Some(b)) => same(a, b),
            _ => false,
        });
        let row = with_service.or_else(|| rows().find(|t| t.service.is_none()));
        let grace = row
            .and_then(|t| t.late_grace_hours)
            .unwrap_or(self.late_grace_hours);
        let lost = row
            .and_then(|t| t.lost_after_days)
            .unwrap_or(self.lost_after_days);
        Thresholds {
            late_grace_ms: i64::from(grace) * 3_600_000,
            lost_after_ms: i64::from(lost) * 86_400_000,
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.department.trim().is_empty() {
            return Err("tracking.department must name a department".into());
        }
        if self.lost_after_days == 0 {
            return Err("tracking.lost_after_days must be > 0".into());
        }
        for t in &self.thresholds {
            if crate::tracking::carrier::code(&t.carrier).is_empty() {
                return Err("tracking.thresholds: carrier must not be blank".into());
            }
            if t.lost_after_days == Some(0) {
                return Err(format!(
                    "tracking.thresholds for {:?}: lost_after_days must be > 0",
                    t.carrier
                ));
            }
        }
        Ok(())
    }
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            department: Self::default_department(),
            due_hours: Self::default_due_hours(),
            sweep_interval_ms: Self::default_sweep_interval_ms(),
            late_grace_hours: 0,
            lost_after_days: Self::default_lost_after_days(),
            thresholds: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_threshold_wins() {
        let s: TrackingSettings = toml::from_str(
            r#"
late_grace_hours = 2
lost_after_days = 5
[[thresholds]]
carrier = "UPS"
late_grace_hours = 24
[[thresholds]]
carrier = "ups"
service = "Ground"
lost_after_days = 9
[[thresholds]]
carrier = "顺丰"
lost_after_days = 3
"#,
        )
        .unwrap();
        s.validate().unwrap();
        let h = 3_600_000;
        let d = 24 * h;
        assert_eq!(
            s.thresholds("ups", Some("ground")),
            Thresholds {
                late_grace_ms: 2 * h,
                lost_after_ms: 9 * d
            }
        );
        assert_eq!(
            s.thresholds("ups", Some("express")),
            Thresholds {
                late_grace_ms: 24 * h,
                lost_after_ms: 5 * d
            }
        );
        assert_eq!(s.thresholds("sf-express", None).lost_after_ms, 3 * d);
        assert_eq!(s.thresholds("dhl", None).late_grace_ms, 2 * h);
        let bad: TrackingSettings = toml::from_str("lost_after_days = 0").unwrap();
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<TrackingSettings>("lost_days = 1").is_err());
    }
}
