//! The demo's scenario: what arrives, what the operator does, and the state every order must
//! end in.

use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};

use super::{DROP, SHOP};
use crate::model::OrderState;
use crate::sandbox::book::SimOrder;
use crate::store::OrderSummary;

/// Where an order that nothing stops ends up: every parcel delivered.
pub const FINAL: OrderState = OrderState::Delivered;

/// Where an order whose parcel the tracker simulator holds up (delayed, damaged) stays.
pub const HELD_UP: OrderState = OrderState::InTransit;

/// What the scenario expects of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub state: OrderState,
}

/// What the demo does, as the operator would, once an order reaches a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Supplies the customer's missing e-mail address (`PATCH /api/orders/{id}`).
    SupplyInfo,
    /// Cancels it (`POST /api/orders/{id}/cancel`).
    Cancel,
    /// Stock arrives at the warehouse that was short.
    Restock,
}

/// The product the scenario runs short of, how many the short warehouse holds, and how many
/// the shortage order asks for.
const SHORT_SKU: &str = "LAMP-DESK-01";
const SHORT_STOCK: i64 = 40;
const SHORT_ORDER: u32 = 48;

/// The stock the short warehouse starts with (everything else: its default).
pub fn short_stock() -> std::collections::BTreeMap<String, rust_decimal::Decimal> {
    [(
        SHORT_SKU.to_string(),
        rust_decimal::Decimal::from(SHORT_STOCK),
    )]
    .into()
}

/// One case the rulebook exists for, arriving in the drop folder.
struct Special {
    /// The document's file name and the order's source id.
    id: &'static str,
    /// What it shows.
    about: &'static str,
    /// What the demo does and when.
    step: Option<(OrderState, Action)>,
    /// Whether the step was done.
    done: bool,
    /// The last failure of the step, said once.
    failed: Option<String>,
    /// Where it must end.
    expect: OrderState,
}

/// The scenario and its progress.
pub struct Plan {
    orders: usize,
    specials: Vec<Special>,
    /// The warehouse that runs short.
    short: std::sync::Arc<crate::sandbox::warehouse::SimControl>,
}

/// The daemon's API, as the operator's scripts would call it.
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// The API at `base` with an operator token.
    pub fn new(base: String, token: String) -> Self {
        Self {
            base,
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
        key: &str,
    ) -> Result<(), String> {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("{path}: {}", resp.status()))
        }
    }
}

impl Plan {
    /// The scenario for a marketplace of `orders` orders.
    pub fn new(
        orders: usize,
        short: std::sync::Arc<crate::sandbox::warehouse::SimControl>,
    ) -> Self {
        let specials = vec![
            Special {
                id: "9000000001",
                about: "an order without any way to reach the customer (needs information; the operator supplies it)",
                step: Some((OrderState::NeedsInfo, Action::SupplyInfo)),
                done: false,
                failed: None,
                expect: FINAL,
            },
            Special {
                id: "9000000002",
                about: "an order refunded at the source (rejected)",
                step: None,
                done: false,
                failed: None,
                expect: OrderState::Rejected,
            },
            Special {
                id: "9000000003",
                about: "an order not paid yet, then cancelled by the operator",
                step: Some((OrderState::Received, Action::Cancel)),
                done: false,
                failed: None,
                expect: OrderState::Cancelled,
            },
            Special {
                id: "9000000005",
                about: "an order from a customer in Shanghai (her e-mails in Chinese)",
                step: None,
                done: false,
                failed: None,
                expect: FINAL,
            },
            Special {
                id: "9000000004",
                about: "48 desk lamps where the lighting warehouse holds fewer (backordered until stock arrives)",
                step: Some((OrderState::Backordered, Action::Restock)),
                done: false,
                failed: None,
                expect: FINAL,
            },
        ];
        Self {
            orders,
            specials,
            short,
        }
    }

    /// One line saying what is in it.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} marketplace orders", self.orders)];
        parts.extend(self.specials.iter().map(|s| s.about.to_string()));
        parts.push("a document that is not JSON (parked, with an exception)".to_string());
        parts.join("; ")
    }

    /// Writes the special documents into the drop folder.
    pub fn drop_documents(&self, inbox: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(inbox)?;
        let mut gen = crate::sandbox::data::Generator::new(99);
        for (i, s) in self.specials.iter().enumerate() {
            let now = chrono::Utc::now();
            let mut facts = gen.order();
            if s.step.is_some_and(|(_, a)| a == Action::Restock) {
                facts.lines = vec![crate::sandbox::data::Line {
                    sku: SHORT_SKU,
                    name: "Desk lamp (fragile)",
                    quantity: SHORT_ORDER,
                    unit_cents: 5900,
                }];
                facts.tax_cents = facts.subtotal_cents() * 8 / 100;
            }
            let mut doc = crate::sandbox::shopify::render(&SimOrder {
                id: i as u64,
                created_at: now,
                updated_at: now,
                version: 0,
                facts,
            });
            doc["id"] = json!(s.id.parse::<u64>().unwrap_or_default());
            doc["name"] = json!(format!("#D{}", &s.id[s.id.len() - 3..]));
            match s.id {
                "9000000001" => {
                    for p in ["email", "contact_email", "phone"] {
                        doc[p] = Value::Null;
                    }
                    doc["customer"]["email"] = Value::Null;
                    doc["customer"]["phone"] = Value::Null;
                    for a in ["billing_address", "shipping_address"] {
                        doc[a]["phone"] = Value::Null;
                    }
                }
                "9000000002" => doc["financial_status"] = json!("refunded"),
                "9000000005" => {
                    let to = json!({"first_name": "晓梅", "last_name": "王", "name": "王晓梅",
                                    "address1": "淮海中路 999 号", "address2": null,
                                    "city": "上海", "province": "上海市", "province_code": "SH",
                                    "zip": "200031", "country": "China", "country_code": "CN",
                                    "phone": "+86 21 5555 0199", "company": null});
                    doc["shipping_address"] = to.clone();
                    doc["billing_address"] = to;
                    doc["customer"]["first_name"] = json!("晓梅");
                    doc["customer"]["last_name"] = json!("王");
                }
                "9000000003" => doc["financial_status"] = json!("pending"),
                _ => {}
            }
            let file = inbox.join(format!("order-{}.json", s.id));
            std::fs::write(&file, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| format!("writing {}", file.display()))?;
        }
        std::fs::write(
            inbox.join("broken-order.json"),
            b"{\"id\": 9000000099, \"line_items\": [",
        )?;
        Ok(())
    }

    /// Does what is due: the operator's steps for orders that reached their state.
    pub async fn act(&mut self, orders: &[OrderSummary], api: &Api) {
        for s in self.specials.iter_mut().filter(|s| !s.done) {
            let Some((when, action)) = s.step else {
                continue;
            };
            let Some(o) = find(orders, DROP, s.id) else {
                continue;
            };
            if o.state != when.as_str() {
                continue;
            }
            let key = format!("demo-{}-{action:?}", s.id);
            let path = format!("/api/orders/{}", o.order_id);
            let result = match action {
                Action::SupplyInfo => {
                    let patch = json!({"order": {"customer": {"email": "customer@example.com"}},
                                       "resume": true, "note": "customer phoned in their e-mail"});
                    api.call(reqwest::Method::PATCH, &path, patch, &key).await
                }
                Action::Cancel => {
                    let body = json!({"reason": "customer changed their mind"});
                    api.call(reqwest::Method::POST, &format!("{path}/cancel"), body, &key)
                        .await
                }
                Action::Restock => {
                    self.short.set_stock(
                        [(SHORT_SKU.to_string(), rust_decimal::Decimal::from(500))].into(),
                    );
                    Ok(())
                }
            };
            match result {
                Ok(()) => {
                    println!("         operator: {action:?} on {}", o.order_id);
                    s.done = true;
                }
                Err(e) => {
                    if s.failed.as_deref() != Some(e.as_str()) {
                        println!(
                            "         operator: {action:?} on {} failed: {e}",
                            o.order_id
                        );
                    }
                    s.failed = Some(e);
                }
            }
        }
    }

    /// What is not yet as expected (empty when the scenario is complete).
    pub fn misses(
        &self,
        orders: &[OrderSummary],
        exceptions: &[crate::store::ExceptionRecord],
        held_up: &std::collections::BTreeMap<String, String>,
    ) -> Vec<String> {
        let expect = |o: &OrderSummary, otherwise| expected(held_up, o, otherwise);
        let mut misses = Vec::new();
        if !exceptions
            .iter()
            .any(|e| e.connector.as_deref() == Some(DROP) && e.kind == "bad_input")
        {
            misses.push("the broken document has no exception yet".to_string());
        }
        let shop: Vec<&OrderSummary> = orders.iter().filter(|o| o.connector == SHOP).collect();
        if shop.len() != self.orders {
            misses.push(format!(
                "{} of {} marketplace orders taken in",
                shop.len(),
                self.orders
            ));
        }
        let behind = shop
            .iter()
            .filter(|o| o.state != expected(held_up, o, FINAL).as_str())
            .count();
        if behind > 0 {
            misses.push(format!(
                "{behind} marketplace order(s) not {FINAL} (or, held up, {HELD_UP}) yet"
            ));
        }
        for s in &self.specials {
            match find(orders, DROP, s.id) {
                None => misses.push(format!("order {} not taken in", s.id)),
                Some(o) if o.state != expect(o, s.expect).as_str() => misses.push(format!(
                    "order {} ({}) is {}, expected {}",
                    o.order_id,
                    s.id,
                    o.state,
                    expect(o, s.expect)
                )),
                Some(_) => {}
            }
        }
        misses
    }
}

/// Where an order must end: `otherwise`, unless its parcel was held up.
fn expected(
    held_up: &std::collections::BTreeMap<String, String>,
    o: &OrderSummary,
    otherwise: OrderState,
) -> OrderState {
    if held_up.contains_key(&o.order_id) {
        HELD_UP
    } else {
        otherwise
    }
}

fn find<'a>(orders: &'a [OrderSummary], connector: &str, id: &str) -> Option<&'a OrderSummary> {
    orders
        .iter()
        .find(|o| o.connector == connector && o.external_id == id)
}
