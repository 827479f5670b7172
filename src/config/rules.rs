//! The rulebook's settings: the review checks (which run, per channel, and their thresholds)
//! and the catalog they read. `ordergate check` validates them; the rules themselves are pure
//! functions in `crate::rules`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[review]`: when an order waits for a person, and which review checks run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// An extracted order (e-mail, fax) below this confidence (0 to 1) waits in `needs_review`.
    #[serde(default = "ReviewConfig::default_threshold")]
    pub confidence_threshold: f64,
    /// The review checks that run for every channel not named in `channels` (default: all of
    /// `source_status`, `contact`, `spec`, `quantity`, `price`, `address`, `duplicates`).
    #[serde(default = "ReviewConfig::default_rules")]
    pub rules: Vec<String>,
    /// Per sales channel (`marketplace`, `web`, `email`, `fax`, `phone`, `walk_in`, `edi`,
    /// `file`): the checks that run instead of `rules`.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelRules>,
    /// How far a unit price may be from the catalog's price list, in percent.
    #[serde(default = "ReviewConfig::default_price_tolerance_pct")]
    pub price_tolerance_pct: f64,
    /// Orders of the same customer (e-mail, else phone) with the same lines (SKU or name, and
    /// quantity) received within this many hours before are asked about as possible duplicates.
    #[serde(default = "ReviewConfig::default_duplicate_window_hours")]
    pub duplicate_window_hours: u32,
}

/// The checks of one channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRules {
    /// The review checks that run for orders of this channel.
    pub rules: Vec<String>,
}

impl ReviewConfig {
    fn default_threshold() -> f64 {
        // Clean order e-mails score about 0.75–0.85 with the built-in extractor (a country
        // implied by the address, a currency from a symbol); doubtful ones far lower.
        0.7
    }
    fn default_rules() -> Vec<String> {
        crate::rules::review::RULES
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    }
    fn default_price_tolerance_pct() -> f64 {
        1.0
    }
    fn default_duplicate_window_hours() -> u32 {
        24
    }

    /// The checks that run for orders of `channel` (its serde name, `marketplace`).
    pub fn rules_for(&self, channel: &str) -> &[String] {
        self.channels.get(channel).map_or(&self.rules, |c| &c.rules)
    }

    /// Unknown rule or channel names and thresholds out of range, as messages naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let known = |r: &String| crate::rules::review::RULES.iter().any(|(n, _)| n == r);
        const CHANNELS: [&str; 8] = [
            "marketplace",
            "web",
            "email",
            "fax",
            "phone",
            "walk_in",
            "edi",
            "file",
        ];
        for (key, rules) in std::iter::once(("review.rules".to_string(), &self.rules)).chain(
            self.channels
                .iter()
                .map(|(ch, c)| (format!("review.channels.{ch}.rules"), &c.rules)),
        ) {
            if let Some(bad) = rules.iter().find(|r| !known(r)) {
                return Err(format!(
                    "{key}: unknown review rule {bad:?} (known: {})",
                    crate::rules::review::RULES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if let Some(bad) = self
            .channels
            .keys()
            .find(|c| !CHANNELS.contains(&c.as_str()))
        {
            return Err(format!(
                "review.channels: unknown channel {bad:?} (known: {})",
                CHANNELS.join(", ")
            ));
        }
        if !(0.0..=100.0).contains(&self.price_tolerance_pct) {
            return Err("review.price_tolerance_pct must be between 0 and 100".into());
        }
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err("review.confidence_threshold must be between 0 and 1".into());
        }
        Ok(())
    }
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            confidence_threshold: Self::default_threshold(),
            rules: Self::default_rules(),
            channels: BTreeMap::new(),
            price_tolerance_pct: Self::default_price_tolerance_pct(),
            duplicate_window_hours: Self::default_duplicate_window_hours(),
        }
    }
}

/// `[catalog]`: the products the company sells.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// A `.csv` or `.toml` catalog file (see `crate::catalog` for the columns). Relative paths
    /// are taken from the config file's directory. Without one the catalog is empty, and the
    /// spec, quantity and price checks find every SKU unknown.
    #[serde(default)]
    pub path: Option<PathBuf>,
}
