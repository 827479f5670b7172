//! The shared e-mail and fax samples (copied into `tests/fixtures/samples/`) and further cases
//! of our own through the normalizer: MIME decoding, extraction, the mapping and the canonical
//! order, checked fact by fact.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use ordergate::mapping::MappingSet;
use ordergate::model::CanonicalOrder;
use ordergate::normalize::Normalizer;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn normalizer() -> Normalizer {
    Normalizer::new(MappingSet::load(&root().join("mappings")).unwrap_or_else(|e| panic!("{e}")))
}

fn normalize(format: &str, bytes: &[u8]) -> CanonicalOrder {
    let mut orders = normalizer()
        .normalize(format, &[bytes])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(orders.len(), 1, "one order per message");
    orders.remove(0)
}

fn check(format: &str, case: &str) -> CanonicalOrder {
    let dir = root().join("tests/fixtures/samples").join(case);
    let doc = std::fs::read(dir.join("message.eml")).unwrap();
    let order = normalize(format, &doc);
    let errs = common::facts::check_order_facts(&dir, std::slice::from_ref(&order));
    assert!(errs.is_empty(), "{case}:\n  {}", errs.join("\n  "));
    // Right and complete, so it goes on without a person (default threshold).
    assert_eq!(ordergate::review::hold_reason(&order, 0.7), None, "{case}");
    order
}

#[test]
fn email_plain_order_en() {
    let order = check("email", "email-plain-order-en");
    let x = order.extraction.clone().expect("extraction");
    assert!(x.missing.is_empty(), "{:?}", x.missing);
    assert!(x.confidence >= 0.7, "{}", x.confidence);
    assert_eq!(
        order.check_totals(),
        ordergate::model::TotalsCheck::Consistent
    );
}

#[test]
fn email_csv_attachment_gbp() {
    let order = check("email", "email-csv-attachment-gbp");
    assert!(order.extraction.expect("extraction").missing.is_empty());
}

#[test]
fn fax_efax_order_form_usd() {
    let order = check("fax", "fax-efax-order-form-usd");
    let x = order.extraction.clone().expect("extraction");
    assert!(x.missing.is_empty(), "{:?}", x.missing);
    // Read from the PDF's text layer, not by OCR.
    assert!(order.notes.is_none(), "{:?}", order.notes);
    assert_eq!(
        order.check_totals(),
        ordergate::model::TotalsCheck::Consistent
    );
}

#[test]
fn email_with_a_cxml_attachment_uses_the_b2b_mapping() {
    let xml = std::fs::read(
        root().join("tests/fixtures/samples/cxml-orderrequest-basic-usd/order-request.xml"),
    )
    .unwrap();
    let mut eml = String::from(
        "From: Procurement <p2p@halvorsenbio.example.com>\r\nTo: orders@example.com\r\n\
         Subject: PO-4500187342\r\nDate: Tue, 21 Oct 2025 17:02:40 +0000\r\n\
         Message-ID: <po4500187342@halvorsenbio.example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nPlease find our order attached.\r\n--b\r\n\
         Content-Type: application/xml; name=\"po.xml\"\r\n\
         Content-Disposition: attachment; filename=\"po.xml\"\r\n\r\n",
    );
    eml.push_str(&String::from_utf8(xml).unwrap());
    eml.push_str("\r\n--b--\r\n");
    let order = normalize("email", eml.as_bytes());
    assert_eq!(order.source.format, "email");
    assert_eq!(order.source.external_id, "PO-4500187342");
    assert_eq!(order.lines.len(), 3);
    assert_eq!(order.extraction.expect("extraction").confidence, 1.0);
}

#[test]
fn sender_template_supplies_labels_columns_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("mappings")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "jq") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/kiwi.toml"),
        "senders = [\"@kiwi.example.nz\"]\ncurrency = \"NZD\"\ncountry = \"NZ\"\n\
         [labels]\nexternal_id = [\"Our ref\"]\nship_to = [\"Drop off at\"]\n\
         [columns]\nsku = [\"Prod\"]\nquantity = [\"How many\"]\nunit_price = [\"Each NZD\"]\n",
    )
    .unwrap();
    let eml = "From: Kiri <kiri@kiwi.example.nz>\r\nDate: Mon, 10 Nov 2025 09:00:00 +1300\r\n\
               Message-ID: <k1@kiwi.example.nz>\r\nSubject: order\r\n\r\n\
               Our ref: KW-9\r\nDrop off at:\r\nKiwi Kitchen\r\n3 Beach Rd\r\nAuckland 1010\r\n\r\n\
               Prod      Item name          How many   Each NZD\r\n\
               KK-1      Flat white cups    200        0.30\r\n";
    let normalizer = Normalizer::new(MappingSet::load(dir.path()).unwrap());
    let order = normalizer
        .normalize("email", &[eml.as_bytes()])
        .unwrap()
        .remove(0);
    assert_eq!(order.source.external_id, "KW-9");
    assert_eq!(order.currency.as_deref(), Some("NZD"));
    let ship_to = order.ship_to.unwrap();
    assert_eq!(ship_to.country.as_deref(), Some("NZ"));
    assert_eq!(ship_to.city.as_deref(), Some("Auckland"));
    assert_eq!(ship_to.postal_code.as_deref(), Some("1010"));
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].sku.as_deref(), Some("KK-1"));
    assert_eq!(order.lines[0].quantity.to_string(), "200");
}

/// One fact of a corpus case: its path and whether the order has it right.
struct FactResult {
    path: String,
    right: bool,
    detail: String,
}

/// Compares one order with a corpus case's `expected.json` (samples/README.md rules), fact by
/// fact. An expected `external_id` of `null` means the message names no order reference: the
/// order is right only when it reports `source.external_id` missing (it keeps the Message-ID
/// as its identity for dedupe, which is not a fact the sender wrote).
fn corpus_facts(expected: &serde_json::Value, order: &CanonicalOrder) -> Vec<FactResult> {
    use rust_decimal::Decimal;
    use serde_json::Value;
    use std::str::FromStr;
    let got = serde_json::to_value(order).unwrap();
    let missing: Vec<String> = order
        .extraction
        .as_ref()
        .map(|x| x.missing.clone())
        .unwrap_or_default();
    // What review reports missing (a line's empty quantity) was not read.
    let review_missing = ordergate::review::missing_required(order);
    let mut out = Vec::new();
    let mut fact = |path: &str, right: bool, want: &Value, got: &Value| {
        out.push(FactResult {
            path: path.to_string(),
            right,
            detail: format!("expected {want}, got {got}"),
        });
    };
    let money = |v: &Value| match v {
        Value::String(s) => Decimal::from_str(s).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    };
    let same_money = |w: &Value, g: &Value| {
        (w.is_null() && g.is_null()) || money(w).is_some() && money(w) == money(g)
    };
    let instant = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    for (key, want) in expected.as_object().unwrap() {
        match key.as_str() {
            "source" => fact(
                key,
                *want == got["source"]["format"],
                want,
                &got["source"]["format"],
            ),
            "status_hint" => fact(
                key,
                *want == got["source"]["status"],
                want,
                &got["source"]["status"],
            ),
            "external_id" => {
                let reported_missing = missing.iter().any(|m| m == "source.external_id");
                let g = if reported_missing {
                    Value::Null
                } else {
                    got["source"]["external_id"].clone()
                };
                fact(key, *want == g, want, &g);
            }
            "currency" => fact(key, *want == got["currency"], want, &got["currency"]),
            "placed_at" => fact(
                key,
                instant(want).is_some() && instant(want) == instant(&got["placed_at"]),
                want,
                &got["placed_at"],
            ),
            "total" => fact(key, same_money(want, &got["total"]), want, &got["total"]),
            "customer" | "ship_to" => {
                for (k, w) in want.as_object().unwrap() {
                    let g = got[key.as_str()].get(k).cloned().unwrap_or(Value::Null);
                    fact(&format!("{key}.{k}"), *w == g, w, &g);
                }
            }
            "lines" => {
                let want_lines = want.as_array().unwrap();
                let got_lines = got["lines"].as_array().cloned().unwrap_or_default();
                fact(
                    "lines.count",
                    want_lines.len() == got_lines.len(),
                    &Value::from(want_lines.len()),
                    &Value::from(got_lines.len()),
                );
                for (i, w) in want_lines.iter().enumerate() {
                    let g = got_lines.get(i).cloned().unwrap_or(Value::Null);
                    for (k, wv) in w.as_object().unwrap() {
                        // A value the order reports missing (a quantity left empty, held for a
                        // person) is none, as for the reference.
                        let path = format!("lines[{i}].{k}");
                        let gv = if missing.contains(&path) || review_missing.contains(&path) {
                            Value::Null
                        } else {
                            g.get(k).cloned().unwrap_or(Value::Null)
                        };
                        let right = match k.as_str() {
                            "unit_price" | "quantity" => same_money(wv, &gv),
                            _ => *wv == gv,
                        };
                        fact(&format!("lines[{i}].{k}"), right, wv, &gv);
                    }
                }
            }
            other => panic!("{other}: fact not understood by the corpus checker"),
        }
    }
    out
}

/// The figures of one set of messages scored against their `expected.json`.
struct Score {
    messages: usize,
    facts: usize,
    facts_right: usize,
    orders_right: usize,
    held: usize,
    silently_wrong: Vec<String>,
    unexplained: Vec<String>,
}

impl Score {
    fn facts_pct(&self) -> f64 {
        100.0 * self.facts_right as f64 / self.facts.max(1) as f64
    }

    fn orders_pct(&self) -> f64 {
        100.0 * self.orders_right as f64 / self.messages.max(1) as f64
    }

    fn summary(&self, title: &str) -> String {
        format!(
            "{title}: {} messages; facts right {}/{} ({:.1} %); orders fully right {}/{} \
             ({:.1} %); held {}; silently wrong {} {:?}; held without a reason {}",
            self.messages,
            self.facts_right,
            self.facts,
            self.facts_pct(),
            self.orders_right,
            self.messages,
            self.orders_pct(),
            self.held,
            self.silently_wrong.len(),
            self.silently_wrong,
            self.unexplained.len()
        )
    }

    /// The project's goals: no order silently wrong, every held order saying why, at least
    /// 95 % of facts and 80 % of orders right.
    fn assert_goals(&self, title: &str) {
        self.assert_safe(title);
        assert!(self.facts_pct() >= 95.0, "{title}: facts right below 95 %");
        assert!(
            self.orders_pct() >= 80.0,
            "{title}: orders fully right below 80 %"
        );
    }
}

impl Score {
    /// No order silently wrong, every held order with its reason.
    fn assert_safe(&self, title: &str) {
        assert!(
            self.silently_wrong.is_empty(),
            "{title}: silently wrong: {:?}",
            self.silently_wrong
        );
        assert!(
            self.unexplained.is_empty(),
            "{title}: held without a reason: {:?}",
            self.unexplained
        );
    }
}

/// Every case folder (one with an `expected.json`) under `dir`, sorted.
fn cases_in(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.json").exists())
        .collect();
    cases.sort();
    cases
}

/// Normalizes every case (each within the same time bound as hostile mail) and scores it
/// fact by fact; prints each order's figures and what it got wrong, then per-fact accuracy.
/// An order is silently wrong when a fact is wrong while it is not held for review.
fn score(cases: &[PathBuf], title: &str) -> Score {
    // The default `review.confidence_threshold`.
    let threshold = 0.7;
    let normalizer = normalizer();
    let mut s = Score {
        messages: cases.len(),
        facts: 0,
        facts_right: 0,
        orders_right: 0,
        held: 0,
        silently_wrong: Vec::new(),
        unexplained: Vec::new(),
    };
    let mut by_fact: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut report = String::new();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
                .unwrap();
        let format = expected["source"].as_str().unwrap().to_string();
        let doc = std::fs::read(case.join("message.eml")).unwrap();
        if std::env::var("CORPUS_DUMP").is_ok_and(|d| d == name) {
            // What the decoder read, for working on one case.
            let v = ordergate::normalize::decode(&format, &[&doc]).unwrap();
            println!("{}", serde_json::to_string_pretty(&v).unwrap());
        }
        let started = std::time::Instant::now();
        let mut orders = normalizer
            .normalize(&format, &[&doc])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // A guard against runaway extraction, not a speed figure: the scanned fax's OCR takes
        // ~2 s on an idle machine and 10-17 s at a load of 15-24 on 2 cores (the whole suite
        // running), so the bound sits above that.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{name} took {:?}",
            started.elapsed()
        );
        assert_eq!(orders.len(), 1, "{name}: one order per message");
        let order = orders.remove(0);
        let results = corpus_facts(&expected, &order);
        let hold = ordergate::review::hold_reason(&order, threshold);
        let wrong: Vec<&FactResult> = results.iter().filter(|r| !r.right).collect();
        s.facts += results.len();
        s.facts_right += results.len() - wrong.len();
        for r in &results {
            let key = r.path.split('.').next_back().unwrap_or(&r.path);
            let key = if r.path.starts_with("lines[") {
                format!("lines.{key}")
            } else {
                r.path.clone()
            };
            let e = by_fact.entry(key).or_default();
            e.0 += 1;
            e.1 += usize::from(r.right);
        }
        if wrong.is_empty() {
            s.orders_right += 1;
        }
        if let Some(why) = &hold {
            s.held += 1;
            let x = order.extraction.as_ref().unwrap();
            if x.missing.is_empty() && x.doubts.is_empty() {
                s.unexplained.push(format!("{name}: {why}"));
            }
        } else if !wrong.is_empty() {
            s.silently_wrong.push(name.clone());
        }
        report += &format!(
            "{name:<36} {:>2}/{:<2} {}{}\n",
            results.len() - wrong.len(),
            results.len(),
            match &hold {
                Some(why) => format!("held: {why}"),
                None => "released".to_string(),
            },
            wrong
                .iter()
                .map(|r| format!("\n    {}: {}", r.path, r.detail))
                .collect::<String>()
        );
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!("== {title}\n{report}");
    println!("Per fact:");
    for (k, (n, r)) in &by_fact {
        println!("  {k:<22} {r:>3}/{n:<3} {:5.1} %", pct(*r, *n));
    }
    println!("{}\n", s.summary(title));
    s
}

/// The corpus (`tests/fixtures/mail-corpus/`, made by its `generate.py`): order e-mails and
/// faxes from invented senders in eleven languages, every layout and several charsets, each
/// with its expected facts. Prints per-fact accuracy, orders fully right, orders held and
/// orders silently wrong (a wrong fact while not held), and holds the project's goals: no
/// order silently wrong, at least 95 % of facts and 80 % of orders right, every held order
/// saying why. Each message is normalized within the same time bound as hostile mail.
#[test]
fn mail_corpus_accuracy() {
    let cases = cases_in(&root().join("tests/fixtures/mail-corpus"));
    assert!(cases.len() >= 40, "the corpus has {} messages", cases.len());
    score(&cases, "Mail corpus").assert_goals("Mail corpus");
}

/// Blind probe rounds (`tests/fixtures/mail-probe/roundN/`, written by `roundN.py` there):
/// messages written from how people send orders, each round before the extractor was
/// changed for it, so they measure how extraction generalizes to senders it has never seen.
/// The same goals as the corpus hold for every round.
#[test]
fn mail_probe_accuracy() {
    let dir = root().join("tests/fixtures/mail-probe");
    let mut rounds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !cases_in(p).is_empty())
        .collect();
    rounds.sort();
    assert!(!rounds.is_empty(), "no probe rounds in {}", dir.display());
    let mut scores = Vec::new();
    for round in &rounds {
        let title = format!(
            "Mail probe {}",
            round.file_name().unwrap().to_string_lossy()
        );
        scores.push((score(&cases_in(round), &title), title));
    }
    for (s, title) in &scores {
        println!("{}", s.summary(title));
    }
    for ((s, title), round) in scores.iter().zip(&rounds) {
        // A blind round not yet worked on keeps the safety goals (nothing silently wrong,
        // every held order says why); its accuracy is printed, reported in the README, and
        // asserted once the round is worked (the marker file removed).
        if round.join(MEASURED_ONLY).exists() {
            s.assert_safe(title);
        } else {
            s.assert_goals(title);
        }
    }
}

/// The marker of a probe round whose accuracy goals are not met yet (see [`mail_probe_accuracy`]).
const MEASURED_ONLY: &str = "MEASURED-ONLY.md";
