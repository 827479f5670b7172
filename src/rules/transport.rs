//! Transport: which mode, service and carrier ship a packed order (transport rules as data).
//! Pure: the ship stage gathers the facts ([`Facts`]: destination, weight and value, fragile or
//! hazardous goods from the catalog, the promised date, the channel) and asks [`choose`].
//!
//! Rules are tried in order; the first whose every given condition holds decides. A rule
//! without conditions matches everything (a catch-all last). No rule matching is an exception
//! for the transport department: nothing is booked.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How goods travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Parcel carriers bought through an API (EasyPost, Shippo).
    Express,
    /// Pallets with a forwarder: a dispatch document, tracking entered later.
    Freight,
    /// The company's own vehicle: a dispatch document, tracking entered later.
    OwnVehicle,
}

impl Mode {
    /// The mode's name as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Express => "express",
            Mode::Freight => "freight",
            Mode::OwnVehicle => "own_vehicle",
        }
    }
}

/// One transport rule: conditions (all given ones must hold; empty lists and absent bounds
/// hold always) and what it decides.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransportRule {
    /// A name for logs, the audit trail and `ordergate check` messages (`heavy-by-freight`).
    pub name: String,
    /// Ship-to countries (ISO 3166-1 alpha-2); empty: any.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Ship-to regions (state, province); empty: any.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Sales channels (`marketplace`, `web`, `email`, …); empty: any.
    #[serde(default)]
    pub channels: Vec<String>,
    /// The parcel weighs at least this many kilograms.
    #[serde(default)]
    pub min_weight_kg: Option<Decimal>,
    /// The parcel weighs less than this many kilograms.
    #[serde(default)]
    pub max_weight_kg: Option<Decimal>,
    /// The order's total is at least this (in its currency).
    #[serde(default)]
    pub min_value: Option<Decimal>,
    /// The order's total is below this.
    #[serde(default)]
    pub max_value: Option<Decimal>,
    /// `true`: only orders with a fragile product; `false`: only orders without one.
    #[serde(default)]
    pub fragile: Option<bool>,
    /// `true`: only orders with dangerous goods; `false`: only orders without.
    #[serde(default)]
    pub hazardous: Option<bool>,
    /// Only orders whose promised (requested) delivery date is at most this many days away.
    #[serde(default)]
    pub due_within_days: Option<u32>,
    /// The mode it decides.
    pub mode: Mode,
    /// The carrier service asked for (`Express`, `Ground`, a Shippo servicelevel token); none:
    /// the cheapest rate the carrier offers.
    #[serde(default)]
    pub service: Option<String>,
    /// The `[[carriers]]` instance that books it.
    pub carrier: String,
}

/// The facts of a packed order transport rules look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub country: Option<String>,
    pub region: Option<String>,
    pub channel: Option<String>,
    /// The parcel's weight in kilograms.
    pub weight_kg: Decimal,
    /// The order's total, if stated.
    pub value: Option<Decimal>,
    pub fragile: bool,
    pub hazardous: bool,
    /// Days from today to the promised delivery date, if one was asked for.
    pub days_to_promise: Option<i64>,
}

/// What a rule decided, named after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub rule: String,
    pub mode: Mode,
    pub service: Option<String>,
    pub carrier: String,
}

fn any_of(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
}

impl TransportRule {
    /// Whether every given condition holds for `f`.
    pub fn matches(&self, f: &Facts) -> bool {
        any_of(&self.countries, f.country.as_deref())
            && any_of(&self.regions, f.region.as_deref())
            && any_of(&self.channels, f.channel.as_deref())
            && self.min_weight_kg.is_none_or(|m| f.weight_kg >= m)
            && self.max_weight_kg.is_none_or(|m| f.weight_kg < m)
            && self
                .min_value
                .is_none_or(|m| f.value.is_some_and(|v| v >= m))
            && self
                .max_value
                .is_none_or(|m| f.value.is_some_and(|v| v < m))
            && self.fragile.is_none_or(|x| x == f.fragile)
            && self.hazardous.is_none_or(|x| x == f.hazardous)
            && self
                .due_within_days
                .is_none_or(|d| f.days_to_promise.is_some_and(|p| p <= i64::from(d)))
    }
}

/// The first rule that matches `facts`, as a decision.
pub fn choose(rules: &[TransportRule], facts: &Facts) -> Option<Decision> {
    rules.iter().find(|r| r.matches(facts)).map(|r| Decision {
        rule: r.name.clone(),
        mode: r.mode,
        service: r.service.clone(),
        carrier: r.carrier.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<TransportRule> {
        let text = r#"
[[rules]]
name = "dangerous-by-freight"
hazardous = true
mode = "freight"
carrier = "forwarder"

[[rules]]
name = "local-heavy-own-van"
countries = ["CN"]
regions = ["Shanghai"]
min_weight_kg = "20"
mode = "own_vehicle"
carrier = "van"

[[rules]]
name = "urgent-express"
due_within_days = 2
mode = "express"
service = "Express"
carrier = "easypost"

[[rules]]
name = "valuable-fragile-shippo"
fragile = true
min_value = "200"
mode = "express"
carrier = "shippo"

[[rules]]
name = "rest-ground"
mode = "express"
service = "Ground"
carrier = "easypost"
"#;
        #[derive(Deserialize)]
        struct T {
            rules: Vec<TransportRule>,
        }
        toml::from_str::<T>(text).unwrap().rules
    }

    fn facts() -> Facts {
        Facts {
            country: Some("US".into()),
            weight_kg: Decimal::ONE,
            value: Some(Decimal::from(50)),
            ..Facts::default()
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let r = rules();
        let pick = |f: &Facts| choose(&r, f).unwrap().rule;
        assert_eq!(pick(&facts()), "rest-ground");
        assert_eq!(
            pick(&Facts {
                hazardous: true,
                ..facts()
            }),
            "dangerous-by-freight"
        );
        let van = Facts {
            country: Some("CN".into()),
            region: Some("shanghai".into()),
            weight_kg: Decimal::from(25),
            ..facts()
        };
        assert_eq!(pick(&van), "local-heavy-own-van");
        assert_eq!(choose(&r, &van).unwrap().mode, Mode::OwnVehicle);
        let light = Facts {
            weight_kg: Decimal::from(19),
            ..van
        };
        assert_eq!(pick(&light), "rest-ground");
        assert_eq!(
            pick(&Facts {
                days_to_promise: Some(1),
                ..facts()
            }),
            "urgent-express"
        );
        assert_eq!(
            pick(&Facts {
                days_to_promise: Some(5),
                ..facts()
            }),
            "rest-ground"
        );
        let fragile = Facts {
            fragile: true,
            value: Some(Decimal::from(300)),
            ..facts()
        };
        assert_eq!(pick(&fragile), "valuable-fragile-shippo");
        assert_eq!(
            pick(&Facts {
                value: None,
                ..fragile
            }),
            "rest-ground",
            "no stated value does not pass a value bound"
        );
        assert_eq!(choose(&r[..1], &facts()), None);
    }
}
