//! Allocation: which warehouses may ship an order's lines (routing rules as data) and, given
//! their stock, which ship what. Pure: the allocate stage gathers the facts, asks [`step`] what
//! it needs next (the stock of one more candidate, or nothing), and records the [`Plan`].
//!
//! **Routing.** Rules are tried in order; the first whose every given condition holds for a
//! line routes it. Conditions: the line's product category (from the catalog), the ship-to
//! country, region and postal-code prefix, the sales channel, the order's value (its total). A
//! rule without conditions matches everything (a catch-all last). A rule names an ordered list
//! of candidate warehouses.
//!
//! **Allocation.** Lines routed to the same candidates form a group. Of a group's candidates, in
//! order, the first that can ship every line of the group wins. When none can and splitting is
//! allowed, each line goes to the first candidate with stock for it; a line no candidate can
//! ship makes the order short. Groups routed differently (category rules sending furniture one
//! way and mugs another) are allocated each on its own: the rules said so.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One routing rule: conditions (all given ones must hold; empty lists and absent bounds hold
/// always) and the candidate warehouses, best first.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// A name for logs, the audit trail and `ordergate check` messages (`eu-by-region`).
    pub name: String,
    /// Product categories (catalog `category`) this rule routes; empty: any.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Ship-to countries (ISO 3166-1 alpha-2); empty: any.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Ship-to regions (state, province: `CA`, `ON`, `Bayern`); empty: any.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Ship-to postal-code prefixes (`10`, `SW1`); empty: any.
    #[serde(default)]
    pub postal_prefixes: Vec<String>,
    /// Sales channels (`marketplace`, `web`, `email`, `fax`, `phone`, `walk_in`, `edi`,
    /// `file`); empty: any.
    #[serde(default)]
    pub channels: Vec<String>,
    /// The order's total must be at least this (a decimal string, in the order's currency).
    #[serde(default)]
    pub min_value: Option<Decimal>,
    /// The order's total must be below this.
    #[serde(default)]
    pub max_value: Option<Decimal>,
    /// The candidate warehouses (`[[warehouses]]` names), best first.
    pub warehouses: Vec<String>,
}

/// The order-level facts routing looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub country: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// The channel's serde name (`marketplace`).
    pub channel: String,
    /// The order's total.
    pub value: Option<Decimal>,
}

/// One line to allocate.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// The order line's number (1-based).
    pub line_no: u32,
    pub sku: String,
    /// What is still to ship (ordered minus cancelled at the source).
    pub quantity: Decimal,
    /// The product's category from the catalog, if it has one.
    pub category: Option<String>,
}

fn eq_any(list: &[String], value: Option<&str>) -> bool {
    list.is_empty()
        || value.is_some_and(|v| list.iter().any(|x| x.trim().eq_ignore_ascii_case(v.trim())))
}

impl Route {
    /// Whether this rule routes a line of `category` of an order with `facts`.
    pub fn matches(&self, facts: &Facts, category: Option<&str>) -> bool {
        let postal = facts
            .postal_code
            .as_deref()
            .map(|p| p.replace(' ', "").to_ascii_uppercase());
        eq_any(&self.categories, category)
            && eq_any(&self.countries, facts.country.as_deref())
            && eq_any(&self.regions, facts.region.as_deref())
            && eq_any(&self.channels, Some(&facts.channel))
            && (self.postal_prefixes.is_empty()
                || postal.as_deref().is_some_and(|p| {
                    self.postal_prefixes
                        .iter()
                        .any(|x| p.starts_with(&x.replace(' ', "").to_ascii_uppercase()))
                }))
            && self
                .min_value
                .is_none_or(|min| facts.value.is_some_and(|v| v >= min))
            && self
                .max_value
                .is_none_or(|max| facts.value.is_some_and(|v| v < max))
    }
}

/// The first rule routing a line of `category`, if any.
pub fn route<'a>(rules: &'a [Route], facts: &Facts, category: Option<&str>) -> Option<&'a Route> {
    rules.iter().find(|r| r.matches(facts, category))
}

/// Lines routed to the same candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The rule that routed them.
    pub rule: String,
    /// Candidate warehouses, best first.
    pub candidates: Vec<String>,
    pub lines: Vec<Need>,
}

/// Groups `needs` by the rule routing each; `Err(line_no)` for the first line no rule routes.
pub fn groups(rules: &[Route], facts: &Facts, needs: &[Need]) -> Result<Vec<Group>, u32> {
    let mut out: Vec<Group> = Vec::new();
    for need in needs {
        let rule = route(rules, facts, need.category.as_deref()).ok_or(need.line_no)?;
        match out.iter_mut().find(|g| g.candidates == rule.warehouses) {
            Some(g) => g.lines.push(need.clone()),
            None => out.push(Group {
                rule: rule.name.clone(),
                candidates: rule.warehouses.clone(),
                lines: vec![need.clone()],
            }),
        }
    }
    Ok(out)
}

/// What each queried warehouse has, by SKU (absent: none).
pub type Stocks = BTreeMap<String, BTreeMap<String, Decimal>>;

/// Which lines a warehouse ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub warehouse: String,
    /// Order line numbers, ascending.
    pub lines: Vec<u32>,
}

/// A line no candidate can ship now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shortfall {
    pub line_no: u32,
    pub sku: String,
    pub category: Option<String>,
    pub needed: Decimal,
    /// The most any candidate has.
    pub available: Decimal,
}

/// The allocation decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Every line has a warehouse; `split` when a group was split across its candidates.
    Allocated {
        assignments: Vec<Assignment>,
        split: bool,
    },
    /// Some lines cannot ship now.
    Short { shortfalls: Vec<Shortfall> },
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Ask this warehouse for its stock of the order's SKUs, then call [`step`] again.
    Query(String),
    /// Decided.
    Done(Plan),
}

fn has(stocks: &Stocks, warehouse: &str, sku: &str) -> Decimal {
    stocks
        .get(warehouse)
        .and_then(|s| {
            s.get(sku).or_else(|| {
                s.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(sku))
                    .map(|(_, v)| v)
            })
        })
        .copied()
        .unwrap_or(Decimal::ZERO)
}

/// Takes `quantity` of `sku` from what `warehouse` has left.
fn take(stocks: &mut Stocks, warehouse: &str, sku: &str, quantity: Decimal) {
    if let Some(s) = stocks.get_mut(warehouse) {
        let key = s
            .keys()
            .find(|k| k.eq_ignore_ascii_case(sku))
            .cloned()
            .unwrap_or_else(|| sku.to_string());
        *s.entry(key).or_insert(Decimal::ZERO) -= quantity;
    }
}

/// Total quantity per SKU of `lines` (an SKU on two lines needs both at one warehouse).
fn per_sku<'a>(lines: impl Iterator<Item = &'a Need>) -> BTreeMap<&'a str, Decimal> {
    let mut m = BTreeMap::new();
    for n in lines {
        *m.entry(n.sku.as_str()).or_insert(Decimal::ZERO) += n.quantity;
    }
    m
}

fn can_ship_all(stocks: &Stocks, warehouse: &str, lines: &[Need]) -> bool {
    per_sku(lines.iter())
        .into_iter()
        .all(|(sku, q)| has(stocks, warehouse, sku) >= q)
}

/// One step of allocating `groups` with what is known of `stocks`: the next warehouse to ask,
/// or the plan. Asks only what it needs: candidates in order until one fits, all of them only
/// when splitting is tried.
pub fn step(groups: &[Group], stocks: &Stocks, allow_split: bool) -> Step {
    let mut assigned: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let mut shortfalls = Vec::new();
    let mut split = false;
    for g in groups {
        let mut whole = None;
        for c in &g.candidates {
            if !stocks.contains_key(c) {
                return Step::Query(c.clone());
            }
            if can_ship_all(stocks, c, &g.lines) {
                whole = Some(c);
                break;
            }
        }
        if let Some(c) = whole {
            assigned
                .entry(c.clone())
                .or_default()
                .extend(g.lines.iter().map(|l| l.line_no));
            continue;
        }
        // Every candidate was asked (the loop above ran through them all). Split: each line
        // takes from the first candidate that still has it. Not split: what the best candidate
        // cannot ship is what is short.
        let pool: &[String] = if allow_split {
            &g.candidates
        } else {
            &g.candidates[..1]
        };
        let mut left: Stocks = pool
            .iter()
            .map(|c| (c.clone(), stocks.get(c).cloned().unwrap_or_default()))
            .collect();
        let mut group_short = Vec::new();
        let mut group_assigned: Vec<(String, u32)> = Vec::new();
        for line in &g.lines {
            let found = pool
                .iter()
                .find(|c| has(&left, c, &line.sku) >= line.quantity);
            match found {
                Some(c) => {
                    take(&mut left, c, &line.sku, line.quantity);
                    group_assigned.push((c.clone(), line.line_no));
                }
                None => group_short.push(Shortfall {
                    line_no: line.line_no,
                    sku: line.sku.clone(),
                    category: line.category.clone(),
                    needed: line.quantity,
                    available: g
                        .candidates
                        .iter()
                        .map(|c| match left.contains_key(c) {
                            true => has(&left, c, &line.sku),
                            false => has(stocks, c, &line.sku),
                        })
                        .max()
                        .unwrap_or(Decimal::ZERO),
                }),
            }
        }
        if group_short.is_empty() {
            split |= group_assigned
                .iter()
                .map(|(w, _)| w)
                .collect::<BTreeSet<_>>()
                .len()
                > 1;
            for (w, l) in group_assigned {
                assigned.entry(w).or_default().insert(l);
            }
        } else {
            shortfalls.extend(group_short);
        }
    }
    if !shortfalls.is_empty() {
        shortfalls.sort_by_key(|s| s.line_no);
        return Step::Done(Plan::Short { shortfalls });
    }
    Step::Done(Plan::Allocated {
        assignments: assigned
            .into_iter()
            .map(|(warehouse, lines)| Assignment {
                warehouse,
                lines: lines.into_iter().collect(),
            })
            .collect(),
        split,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: i64) -> Decimal {
        Decimal::from(n)
    }

    fn rule(name: &str, f: impl FnOnce(&mut Route), warehouses: &[&str]) -> Route {
        let mut r = Route {
            name: name.into(),
            categories: vec![],
            countries: vec![],
            regions: vec![],
            postal_prefixes: vec![],
            channels: vec![],
            min_value: None,
            max_value: None,
            warehouses: warehouses.iter().map(|s| s.to_string()).collect(),
        };
        f(&mut r);
        r
    }

    fn facts(
        country: &str,
        region: Option<&str>,
        postal: &str,
        channel: &str,
        value: i64,
    ) -> Facts {
        Facts {
            country: Some(country.into()),
            region: region.map(Into::into),
            postal_code: Some(postal.into()),
            channel: channel.into(),
            value: Some(d(value)),
        }
    }

    fn need(line_no: u32, sku: &str, q: i64, category: Option<&str>) -> Need {
        Need {
            line_no,
            sku: sku.into(),
            quantity: d(q),
            category: category.map(Into::into),
        }
    }

    fn table() -> Vec<Route> {
        vec![
            rule(
                "furniture",
                |r| r.categories = vec!["furniture".into()],
                &["factory"],
            ),
            rule(
                "big-b2b",
                |r| {
                    r.channels = vec!["edi".into()];
                    r.min_value = Some(d(1000));
                },
                &["central"],
            ),
            rule(
                "west-coast",
                |r| {
                    r.countries = vec!["US".into()];
                    r.regions = vec!["CA".into(), "WA".into()];
                },
                &["west", "east"],
            ),
            rule(
                "london",
                |r| {
                    r.countries = vec!["GB".into()];
                    r.postal_prefixes = vec!["SW1".into(), "EC".into()];
                },
                &["uk-city"],
            ),
            rule("us", |r| r.countries = vec!["us".into()], &["east", "west"]),
            rule("cheap", |r| r.max_value = Some(d(20)), &["budget"]),
        ]
    }

    #[test]
    fn routing_table() {
        let rules = table();
        let cases: &[(Facts, Option<&str>, Option<&str>)] = &[
            (
                facts("US", Some("CA"), "94105", "web", 50),
                Some("furniture"),
                Some("furniture"),
            ),
            (
                facts("US", Some("CA"), "94105", "web", 50),
                Some("kitchen"),
                Some("west-coast"),
            ),
            (
                facts("US", Some("ca"), "94105", "web", 50),
                None,
                Some("west-coast"),
            ),
            (
                facts("US", Some("TX"), "78701", "web", 50),
                None,
                Some("us"),
            ),
            (
                facts("US", Some("TX"), "78701", "edi", 5000),
                None,
                Some("big-b2b"),
            ),
            (
                facts("US", Some("TX"), "78701", "edi", 999),
                None,
                Some("us"),
            ),
            (
                facts("GB", None, "sw1a 1aa", "web", 50),
                None,
                Some("london"),
            ),
            (facts("GB", None, "M1 1AE", "web", 50), None, None),
            (facts("GB", None, "M1 1AE", "web", 19), None, Some("cheap")),
            (facts("GB", None, "M1 1AE", "web", 20), None, None),
        ];
        for (f, cat, want) in cases {
            let got = route(&rules, f, *cat).map(|r| r.name.as_str());
            assert_eq!(got, *want, "{f:?} {cat:?}");
        }
        // No value known: value bounds do not hold.
        let mut f = facts("FR", None, "75001", "web", 0);
        f.value = None;
        assert_eq!(route(&rules, &f, None), None);
        // No postal code: a prefix rule does not hold.
        let mut f = facts("GB", None, "", "web", 50);
        f.postal_code = None;
        assert_eq!(route(&rules, &f, None), None);
    }

    #[test]
    fn lines_of_different_categories_form_groups() {
        let rules = table();
        let f = facts("US", Some("TX"), "78701", "web", 50);
        let g = groups(
            &rules,
            &f,
            &[
                need(1, "MUG", 1, Some("kitchen")),
                need(2, "DESK", 1, Some("furniture")),
                need(3, "CUP", 2, None),
            ],
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].candidates, vec!["east", "west"]);
        assert_eq!(
            g[0].lines.iter().map(|l| l.line_no).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(g[1].rule, "furniture");
        let f = facts("FR", None, "75001", "web", 50);
        assert_eq!(groups(&rules, &f, &[need(7, "MUG", 1, None)]), Err(7));
    }

    fn stock(entries: &[(&str, &[(&str, i64)])]) -> Stocks {
        entries
            .iter()
            .map(|(w, s)| {
                (
                    w.to_string(),
                    s.iter().map(|(k, v)| (k.to_string(), d(*v))).collect(),
                )
            })
            .collect()
    }

    fn group(candidates: &[&str], lines: Vec<Need>) -> Group {
        Group {
            rule: "r".into(),
            candidates: candidates.iter().map(|s| s.to_string()).collect(),
            lines,
        }
    }

    #[test]
    fn the_first_candidate_that_ships_every_line_wins_and_only_what_is_needed_is_asked() {
        let g = [group(
            &["east", "west"],
            vec![need(1, "A", 2, None), need(2, "B", 1, None)],
        )];
        assert_eq!(step(&g, &Stocks::new(), false), Step::Query("east".into()));
        let s = stock(&[("east", &[("A", 5), ("B", 1)])]);
        assert_eq!(
            step(&g, &s, false),
            Step::Done(Plan::Allocated {
                assignments: vec![Assignment {
                    warehouse: "east".into(),
                    lines: vec![1, 2]
                }],
                split: false
            })
        );
        // East lacks B: west is asked and wins.
        let s = stock(&[("east", &[("A", 5)])]);
        assert_eq!(step(&g, &s, false), Step::Query("west".into()));
        let s = stock(&[("east", &[("A", 5)]), ("west", &[("A", 2), ("b", 3)])]);
        assert_eq!(
            step(&g, &s, false),
            Step::Done(Plan::Allocated {
                assignments: vec![Assignment {
                    warehouse: "west".into(),
                    lines: vec![1, 2]
                }],
                split: false
            })
        );
    }

    #[test]
    fn the_same_sku_on_two_lines_needs_both_at_one_warehouse() {
        let g = [group(
            &["east"],
            vec![need(1, "A", 2, None), need(2, "A", 2, None)],
        )];
        let s = stock(&[("east", &[("A", 3)])]);
        let Step::Done(Plan::Short { shortfalls }) = step(&g, &s, false) else {
            panic!("short")
        };
        assert_eq!(shortfalls.len(), 1);
        assert_eq!((shortfalls[0].line_no, shortfalls[0].available), (2, d(1)));
    }

    #[test]
    fn splitting_only_when_allowed() {
        let g = [group(
            &["east", "west"],
            vec![need(1, "A", 2, None), need(2, "B", 1, None)],
        )];
        let s = stock(&[("east", &[("A", 5)]), ("west", &[("B", 1)])]);
        assert_eq!(
            step(&g, &s, true),
            Step::Done(Plan::Allocated {
                assignments: vec![
                    Assignment {
                        warehouse: "east".into(),
                        lines: vec![1]
                    },
                    Assignment {
                        warehouse: "west".into(),
                        lines: vec![2]
                    },
                ],
                split: true
            })
        );
        // Not allowed: short of what the best candidate lacks.
        assert_eq!(
            step(&g, &s, false),
            Step::Done(Plan::Short {
                shortfalls: vec![Shortfall {
                    line_no: 2,
                    sku: "B".into(),
                    category: None,
                    needed: d(1),
                    // West has it, but the order may not be split.
                    available: d(1)
                }]
            })
        );
    }

    #[test]
    fn short_names_the_lines_and_the_most_available() {
        let g = [group(
            &["east", "west"],
            vec![need(1, "A", 4, Some("kitchen")), need(2, "B", 1, None)],
        )];
        let s = stock(&[("east", &[("A", 1), ("B", 1)]), ("west", &[("A", 3)])]);
        for split in [false, true] {
            let Step::Done(Plan::Short { shortfalls }) = step(&g, &s, split) else {
                panic!("short")
            };
            assert_eq!(shortfalls.len(), 1, "{shortfalls:?}");
            assert_eq!(shortfalls[0].line_no, 1);
            assert_eq!(shortfalls[0].available, d(3));
            assert_eq!(shortfalls[0].category.as_deref(), Some("kitchen"));
        }
    }

    #[test]
    fn groups_are_allocated_each_to_its_own_warehouse() {
        let g = [
            group(&["east"], vec![need(1, "MUG", 1, None)]),
            group(&["factory"], vec![need(2, "DESK", 1, None)]),
        ];
        let s = stock(&[("east", &[("MUG", 1)]), ("factory", &[("DESK", 9)])]);
        let Step::Done(Plan::Allocated { assignments, split }) = step(&g, &s, false) else {
            panic!("allocated")
        };
        assert!(!split);
        assert_eq!(assignments.len(), 2);
    }
}
