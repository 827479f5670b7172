//! `[routing]`: how orders are allocated to warehouses (the rules are
//! [`crate::rules::routing::Route`]s, tried in order), who owns a stock shortage, and how often
//! backordered orders are looked at again.
//!
//! ```toml
//! [routing]
//! allow_split = false
//! recheck_interval_secs = 900
//! shortage_department = "procurement"
//! shortage_due_hours = 48
//!
//! [[routing.rules]]
//! name = "furniture-from-the-factory"
//! categories = ["furniture"]
//! warehouses = ["factory-wms"]
//!
//! [[routing.rules]]
//! name = "everything-else"
//! warehouses = ["east-3pl", "factory-wms"]
//!
//! [routing.categories.furniture]
//! department = "production"
//! due_hours = 72
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::rules::routing::Route;

/// `[routing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The routing rules, tried in order; the first whose conditions hold routes a line. An
    /// order with a line no rule routes is parked with a `no_route` exception. No rules:
    /// allocation is off, approved orders stay `approved`.
    #[serde(default)]
    pub rules: Vec<Route>,
    /// Whether an order's lines may be split across a rule's candidates when no one candidate
    /// can ship them all (each warehouse then gets its own fulfilment order).
    #[serde(default)]
    pub allow_split: bool,
    /// Seconds between looks at backordered orders (a warehouse stock callback also triggers
    /// one at once); 0 turns the periodic look off.
    #[serde(default = "RoutingConfig::default_recheck_interval_secs")]
    pub recheck_interval_secs: u64,
    /// Who owns a stock shortage of a product whose category `categories` does not name.
    #[serde(default = "RoutingConfig::default_shortage_department")]
    pub shortage_department: String,
    /// Hours until a shortage exception is due, unless its category says otherwise.
    #[serde(default = "RoutingConfig::default_shortage_due_hours")]
    pub shortage_due_hours: u32,
    /// Per product category: who owns its shortages (production makes it, procurement buys
    /// it) and by when.
    #[serde(default)]
    pub categories: BTreeMap<String, CategoryOwner>,
    /// Who owns a change or cancel the warehouse refused (the customer-facing outcome).
    #[serde(default = "RoutingConfig::default_change_department")]
    pub change_department: String,
}

/// The owner of a category's shortages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryOwner {
    /// The department (`production`, `procurement`).
    pub department: String,
    /// Hours until due (default `shortage_due_hours`).
    #[serde(default)]
    pub due_hours: Option<u32>,
}

impl RoutingConfig {
    fn default_recheck_interval_secs() -> u64 {
        900
    }
    fn default_shortage_department() -> String {
        "procurement".into()
    }
    fn default_shortage_due_hours() -> u32 {
        48
    }
    fn default_change_department() -> String {
        "sales".into()
    }

    /// Who owns a shortage of a product in `category`, and in how many hours it is due.
    pub fn shortage_owner(&self, category: Option<&str>) -> (&str, u32) {
        let owner = category.and_then(|c| {
            self.categories
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(c))
                .map(|(_, o)| o)
        });
        match owner {
            Some(o) => (
                o.department.as_str(),
                o.due_hours.unwrap_or(self.shortage_due_hours),
            ),
            None => (self.shortage_department.as_str(), self.shortage_due_hours),
        }
    }

    /// Rules naming no warehouse or one not configured, unnamed or twice-named rules, empty
    /// departments, as messages naming the rule and key. `warehouses`: the configured names.
    pub fn validate(&self, warehouses: &[&str]) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("routing.rules[{i}]");
            if r.name.trim().is_empty() {
                return Err(format!("{at}: name must not be empty"));
            }
            if !names.insert(r.name.as_str()) {
                return Err(format!("{at}: rule name {:?} is used twice", r.name));
            }
            let at = format!("{at} ({})", r.name);
            if r.warehouses.is_empty() {
                return Err(format!("{at}: warehouses must name at least one candidate"));
            }
            if let Some(bad) = r
                .warehouses
                .iter()
                .find(|w| !warehouses.contains(&w.as_str()))
            {
                return Err(format!(
                    "{at}: unknown warehouse {bad:?} (configured: {})",
                    if warehouses.is_empty() {
                        "none".to_string()
                    } else {
                        warehouses.join(", ")
                    }
                ));
            }
            if let (Some(min), Some(max)) = (r.min_value, r.max_value) {
                if min >= max {
                    return Err(format!("{at}: min_value must be below max_value"));
                }
            }
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
            if let Some(bad) = r.channels.iter().find(|c| !CHANNELS.contains(&c.as_str())) {
                return Err(format!(
                    "{at}: unknown channel {bad:?} (known: {})",
                    CHANNELS.join(", ")
                ));
            }
        }
        for (key, dept) in [
            ("routing.shortage_department", &self.shortage_department),
            ("routing.change_department", &self.change_department),
        ]
        .into_iter()
        .chain(self.categories.iter().map(|(c, o)| {
            (c.as_str(), &o.department) // named below
        })) {
            if dept.trim().is_empty() {
                let key = if key.starts_with("routing.") {
                    key.to_string()
                } else {
                    format!("routing.categories.{key}.department")
                };
                return Err(format!("{key} must not be empty"));
            }
        }
        Ok(())
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            allow_split: false,
            recheck_interval_secs: Self::default_recheck_interval_secs(),
            shortage_department: Self::default_shortage_department(),
            shortage_due_hours: Self::default_shortage_due_hours(),
            categories: BTreeMap::new(),
            change_department: Self::default_change_department(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RoutingConfig {
        #[derive(Deserialize)]
        struct W {
            routing: RoutingConfig,
        }
        toml::from_str::<W>(text).unwrap().routing
    }

    #[test]
    fn the_example_parses_and_validates() {
        let doc = include_str!("routing.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let cfg = parse(&example);
        assert_eq!(cfg.rules.len(), 2);
        cfg.validate(&["factory-wms", "east-3pl"]).unwrap();
        assert_eq!(cfg.shortage_owner(Some("Furniture")), ("production", 72));
        assert_eq!(cfg.shortage_owner(Some("kitchen")), ("procurement", 48));
        assert_eq!(cfg.shortage_owner(None), ("procurement", 48));
    }

    #[test]
    fn clear_errors() {
        let cases = [
            (
                "[routing]\n[[routing.rules]]\nname = \"a\"\nwarehouses = []\n",
                "routing.rules[0] (a): warehouses must name at least one candidate",
            ),
            (
                "[routing]\n[[routing.rules]]\nname = \"a\"\nwarehouses = [\"west\"]\n",
                "routing.rules[0] (a): unknown warehouse \"west\" (configured: east)",
            ),
            (
                "[routing]\n[[routing.rules]]\nname = \"a\"\nwarehouses = [\"east\"]\n[[routing.rules]]\nname = \"a\"\nwarehouses = [\"east\"]\n",
                "routing.rules[1]: rule name \"a\" is used twice",
            ),
            (
                "[routing]\n[[routing.rules]]\nname = \"a\"\nchannels = [\"telex\"]\nwarehouses = [\"east\"]\n",
                "routing.rules[0] (a): unknown channel \"telex\"",
            ),
            (
                "[routing]\n[[routing.rules]]\nname = \"a\"\nmin_value = \"50\"\nmax_value = \"10\"\nwarehouses = [\"east\"]\n",
                "routing.rules[0] (a): min_value must be below max_value",
            ),
            (
                "[routing]\n[routing.categories.desk]\ndepartment = \" \"\n",
                "routing.categories.desk.department must not be empty",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).validate(&["east"]).unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
        let unknown = "[routing]\n[[routing.rules]]\nname = \"a\"\ncountry = [\"US\"]\nwarehouses = [\"east\"]\n";
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct W {
            routing: RoutingConfig,
        }
        assert!(
            toml::from_str::<W>(unknown).is_err(),
            "unknown keys refused"
        );
    }
}
