//! The demo's second half of the life cycle: labels from the EasyPost simulator for the
//! pick-list warehouse's parcels, tracking from the tracker simulators, customer e-mails into
//! the demo's SMTP sink — and the scenario's held-up parcels (one delayed past its carrier
//! ETA, one damaged) whose exceptions fill the dashboard, one of them overdue.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::smtp::SmtpSink;
use crate::model::TrackingStatus as S;
use crate::sandbox::carrier::CarrierSandbox;
use crate::sandbox::trackers::{Scan, Script, TrackerSim, Webhook};
use crate::store::{ExceptionRecord, OrderSummary, Store};
use crate::tracking::Scheme;

/// The tracking connector of the US carriers' parcels (EasyPost trackers).
pub const PARCELS: &str = "parcels";
/// The tracking connector of the Chinese carriers' parcels (Kuaidi100 subscriptions).
pub const PARCELS_CN: &str = "parcels-cn";
/// How long one of the simulated carrier's days lasts: a two-day service's ETA passes in 20 s.
pub const CARRIER_DAY: Duration = Duration::from_secs(10);
/// The damaged parcel's exception is due this soon (hours; about 15 s), so it goes overdue.
const DAMAGE_SLA_HOURS: f64 = 0.004;
/// The department the overdue exception is e-mailed to.
const TRANSPORT_DESK: &str = "transport-desk@demo.example";
/// The demo's simulated credentials (the simulators check them like the real services).
const TRACKER_KEY: &str = "demo-tracker-key-5c1e";
const EASYPOST_WEBHOOK_SECRET: &str = "demo-easypost-webhook-secret-93ab";
const KUAIDI100_SALT: &str = "demo-kuaidi100-salt-71";
/// The held-up parcels' journeys, by script name.
pub const DELAYED: &str = "delayed";
pub const DAMAGED: &str = "damaged";

/// The simulators and the sink of the shipping half.
pub struct Lifecycle {
    sink: SmtpSink,
    carrier: CarrierSandbox,
    trackers: Arc<TrackerSim>,
    trackers_addr: std::net::SocketAddr,
    stop: CancellationToken,
    packer: tokio::task::JoinHandle<()>,
}

impl Lifecycle {
    /// Starts the SMTP sink, the EasyPost simulator, the tracker simulators (posting to the
    /// daemon on `port`) and the packer of the pick-list warehouse in `data`.
    pub async fn start(data: &Path, port: u16) -> anyhow::Result<Self> {
        let sink = SmtpSink::start()
            .await
            .context("starting the demo's SMTP sink")?;
        println!(
            "  SMTP sink (catches the customer e-mails): 127.0.0.1:{}",
            sink.port
        );
        let carrier = crate::sandbox::easypost::start("127.0.0.1:0")
            .await
            .context("starting the EasyPost-shaped carrier simulator")?;
        carrier.state.set_day(CARRIER_DAY);
        println!(
            "  carrier (EasyPost API, a day lasts {} s): {}",
            CARRIER_DAY.as_secs(),
            carrier.base_url()
        );
        let webhooks = HashMap::from([(
            Scheme::EasyPost,
            Webhook {
                url: format!("http://127.0.0.1:{port}/hooks/tracking/{PARCELS}"),
                secret: EASYPOST_WEBHOOK_SECRET.into(),
            },
        )]);
        let trackers = TrackerSim::new(TRACKER_KEY, webhooks);
        for script in held_up_journeys() {
            trackers.script(script);
        }
        let stop = CancellationToken::new();
        let trackers_addr = crate::sandbox::trackers::serve(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            trackers.clone(),
            stop.clone(),
        )
        .await
        .context("starting the tracker simulators")?;
        println!("  tracking (EasyPost trackers, Kuaidi100 subscriptions): http://{trackers_addr}");
        let packer = crate::sandbox::packer::spawn(
            data.join("pick-local"),
            data.join("confirm-local"),
            Duration::from_millis(300),
            stop.clone(),
        );
        println!(
            "  warehouse local (pick lists, packs, books no carrier): {}",
            data.join("pick-local").display()
        );
        Ok(Self {
            sink,
            carrier,
            trackers,
            trackers_addr,
            stop,
            packer,
        })
    }

    /// The daemon's configuration for them (appended to the demo's).
    pub fn config(&self, data: &Path, port: u16) -> anyhow::Result<String> {
        let secret = |name: &str, value: &str| super::secret_ref(data, name, value);
        let templates = data.join("templates/notices");
        crate::notices::render::write_default_templates(&templates)
            .context("writing the notice templates")?;
        // The shipping half: the pick-list warehouse (it packs; ordergate books the carrier),
        // every parcel by the EasyPost simulator.
        let mut ship_out = crate::sandbox::shipout::ShipOut::new(
            Path::new("connectors"),
            data,
            "local",
            &self.carrier.base_url(),
            &secret("easypost-api-key", crate::sandbox::easypost::API_KEY)?,
        );
        ship_out.poll_interval_ms = Some(200);
        ship_out.department = "transport".into();
        ship_out.rule = "parcels-by-easypost".into();
        ship_out.sender = "Ordergate Demo Warehouse".into();
        ship_out.carrier_settings =
            "request_timeout_ms = 5000\nretry_base_ms = 200\nretry_max_ms = 2000\n".into();
        let shipping = [
            ship_out.warehouse_section(),
            ship_out.transport_section(),
            ship_out.carrier_section(),
        ]
        .concat();
        Ok(format!(
            r#"
# The shipping half: the pick-list warehouse, the carrier, tracking, customer e-mails.
{shipping}
[[connectors]]
kind = "tracking"
name = "{PARCELS}"
scheme = "easypost"
secret = "{ep_secret}"
subscribe = {{ api_url = "http://{trackers}", api_key = "{tracker_key}", carriers = ["usps", "ups"] }}

[[connectors]]
kind = "tracking"
name = "{PARCELS_CN}"
scheme = "kuaidi100"
secret = "{salt}"
subscribe = {{ api_url = "http://{trackers}", api_key = "{tracker_key}", callback_url = "http://127.0.0.1:{port}/hooks/tracking/{PARCELS_CN}", carriers = ["sf-express"] }}

[tracking]
department = "transport"
sweep_interval_ms = 1000

[exceptions]
escalate_every_secs = 1
# Short on purpose: the damaged parcel's exception goes overdue while the demo runs.
sla_hours = {{ shipment_exception = {DAMAGE_SLA_HOURS} }}

[notices]
smtp_host = "127.0.0.1"
smtp_port = {smtp}
tls = "none"
from = "Ordergate Demo Shop <orders@demo.example>"
templates_dir = "{templates}"
base_url = "http://127.0.0.1:{port}"
poll_interval_ms = 200
retry_base_ms = 200
retry_max_ms = 2000
departments = {{ transport = "{TRANSPORT_DESK}" }}
"#,
            ep_secret = secret("easypost-webhook-secret", EASYPOST_WEBHOOK_SECRET)?,
            salt = secret("kuaidi100-salt", KUAIDI100_SALT)?,
            tracker_key = secret("tracker-api-key", TRACKER_KEY)?,
            trackers = self.trackers_addr,
            smtp = self.sink.port,
            templates = templates.display(),
        ))
    }

    /// The orders whose parcel took a held-up journey, with its name.
    pub async fn held_up(
        &self,
        store: &Store,
        orders: &[OrderSummary],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let scripted: HashMap<String, String> = self.trackers.scripted().into_iter().collect();
        let mut held = BTreeMap::new();
        if scripted.is_empty() {
            return Ok(held);
        }
        for o in orders {
            for s in store.order_shipments(&o.order_id).await? {
                if let Some(name) = scripted.get(&s.tracking_number) {
                    held.insert(s.order_id, name.clone());
                }
            }
        }
        Ok(held)
    }

    /// What the shipping half still lacks: each held-up journey taken and its exception
    /// raised (the damage one overdue and e-mailed to the department), a label for every
    /// parcel of the local warehouse, and the shipped and delivered e-mails of every delivered
    /// order caught by the sink.
    pub async fn misses(
        &self,
        store: &Store,
        orders: &[OrderSummary],
        exceptions: &[ExceptionRecord],
    ) -> anyhow::Result<Vec<String>> {
        let mut misses = Vec::new();
        let held = self.held_up(store, orders).await?;
        for (name, kind) in [(DELAYED, "shipment_late"), (DAMAGED, "shipment_exception")] {
            let Some(order) = held.iter().find(|(_, n)| *n == name).map(|(o, _)| o) else {
                misses.push(format!("no parcel took the {name} journey yet"));
                continue;
            };
            let open = exceptions.iter().find(|e| {
                e.kind == kind
                    && e.order_id.as_deref() == Some(order.as_str())
                    && matches!(e.status.as_str(), "open" | "acknowledged")
            });
            match open {
                None => misses.push(format!("the {name} parcel of {order} has no {kind} yet")),
                Some(e) if name == DAMAGED && !overdue(e) => {
                    misses.push(format!("the {kind} of {order} is not overdue yet"))
                }
                Some(_) => {}
            }
        }
        let mail = self.mail(store).await?;
        if !mail.iter().any(|m| m.notice == "overdue") {
            misses.push("the overdue exception was not e-mailed to the department yet".into());
        }
        for o in orders.iter().filter(|o| o.state == "delivered") {
            for notice in ["shipped", "delivered"] {
                let caught = mail.iter().any(|m| {
                    m.order_id.as_deref() == Some(o.order_id.as_str()) && m.notice == notice
                });
                if !caught {
                    misses.push(format!("no {notice} e-mail for {} caught yet", o.order_id));
                }
            }
        }
        let mut local = 0;
        for o in orders {
            let parcels = store.order_shipments(&o.order_id).await?;
            local += parcels
                .iter()
                .filter(|s| s.warehouse.as_deref() == Some("local"))
                .count();
        }
        let labels = self.carrier.state.labels();
        if labels.len() != local || labels.values().any(|n| *n != 1) {
            misses.push(format!(
                "{local} parcel(s) of the local warehouse, {} label(s) bought for {} parcel key(s)",
                self.carrier.state.label_count(),
                labels.len()
            ));
        }
        Ok(misses)
    }

    /// The e-mails the sink caught, matched with the notices the daemon recorded.
    async fn mail(&self, store: &Store) -> anyhow::Result<Vec<Mail>> {
        use sqlx::Row;
        let rows = sqlx::query("SELECT message_id, order_id, notice, lang FROM notices")
            .fetch_all(store.pool())
            .await?;
        let mut recorded: HashMap<String, (Option<String>, String, String)> = HashMap::new();
        for r in rows {
            let id: String = r.try_get("message_id")?;
            recorded.insert(
                id.trim_matches(['<', '>']).to_string(),
                (
                    r.try_get("order_id")?,
                    r.try_get("notice")?,
                    r.try_get("lang")?,
                ),
            );
        }
        let mut out = Vec::new();
        for c in self.sink.caught() {
            let (id, subject) = c.id_and_subject();
            let (order_id, notice, lang) = id
                .as_deref()
                .and_then(|id| recorded.get(id).cloned())
                .unwrap_or((None, "unknown".into(), "?".into()));
            out.push(Mail {
                order_id,
                notice,
                lang,
                to: c.recipients.join(", "),
                subject: subject.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// The summary's shipping half: labels, parcels by tracking status, the held-up parcels
    /// and their exceptions, the exceptions board's counts, the e-mails caught.
    pub async fn summary(
        &self,
        store: &Store,
        orders: &[OrderSummary],
        exceptions: &[ExceptionRecord],
    ) -> anyhow::Result<()> {
        let mut parcels: BTreeMap<String, usize> = BTreeMap::new();
        let mut total = 0;
        for o in orders {
            for s in store.order_shipments(&o.order_id).await? {
                total += 1;
                let status = if s.status == "delivered" {
                    "delivered".to_string()
                } else if s.first_scan_at.is_some() {
                    "in transit".to_string()
                } else {
                    "waiting for the first scan".to_string()
                };
                *parcels.entry(status).or_default() += 1;
            }
        }
        println!(
            "  labels bought from the carrier simulator: {} (one per parcel of the local warehouse)",
            self.carrier.state.label_count()
        );
        println!(
            "  parcels ({total}; tracking callbacks acknowledged: {}):",
            self.trackers.acknowledged()
        );
        for (status, n) in &parcels {
            println!("    {status:<22}{n:>6}");
        }
        let held = self.held_up(store, orders).await?;
        for (order, name) in &held {
            let why = exceptions
                .iter()
                .filter(|e| e.order_id.as_deref() == Some(order.as_str()))
                .filter(|e| e.kind.starts_with("shipment_"))
                .map(|e| {
                    format!(
                        "{} ({}{})",
                        e.kind,
                        e.status,
                        if overdue(e) { ", overdue" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            println!("    held up: {order} {name}: {why}");
        }
        let active: Vec<&ExceptionRecord> = exceptions
            .iter()
            .filter(|e| matches!(e.status.as_str(), "open" | "acknowledged"))
            .collect();
        println!(
            "  exceptions board: {} open, {} overdue, {} resolved",
            active.len(),
            active.iter().filter(|e| overdue(e)).count(),
            exceptions.iter().filter(|e| e.status == "resolved").count()
        );
        let mail = self.mail(store).await?;
        println!("  e-mails caught by the SMTP sink: {}", mail.len());
        let mut by_kind: BTreeMap<(String, String), usize> = BTreeMap::new();
        for m in &mail {
            *by_kind
                .entry((m.notice.clone(), m.lang.clone()))
                .or_default() += 1;
        }
        for ((notice, lang), n) in &by_kind {
            println!("    {notice:<12} {lang:<4}{n:>6}");
        }
        let mut per_order: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for m in &mail {
            let key = m.order_id.as_deref().unwrap_or("(department)");
            per_order
                .entry(key)
                .or_default()
                .push(format!("{} {}", m.notice, m.lang));
        }
        println!("  e-mails per order:");
        for (order, list) in &per_order {
            println!("    {order}  {}", list.join(", "));
        }
        if let Some(m) = mail.iter().find(|m| m.lang == "zh") {
            println!("    for example, to {}: {}", m.to, m.subject);
        }
        Ok(())
    }

    /// Stops the simulators and the sink.
    pub async fn stop(self) {
        self.stop.cancel();
        self.sink.stop();
        let _ = self.packer.await;
        self.carrier.stop().await;
    }
}

/// One e-mail the sink caught.
struct Mail {
    order_id: Option<String>,
    notice: String,
    lang: String,
    to: String,
    subject: String,
}

/// One line saying what the shipping half shows.
pub fn describe() -> String {
    format!(
        "kitchen goods packed by a warehouse that books no carrier (labels bought from the \
         carrier simulator); every parcel tracked to delivered through signed callbacks (late, \
         duplicated, out of order), except one delayed past its carrier ETA and one damaged \
         (its exception overdue after {:.0} s); customer e-mails caught by the SMTP sink",
        DAMAGE_SLA_HOURS * 3600.0
    )
}

/// Whether an exception is active and past its due time.
fn overdue(e: &ExceptionRecord) -> bool {
    matches!(e.status.as_str(), "open" | "acknowledged") && e.due_at.is_some_and(|d| d < Utc::now())
}

/// The two held-up journeys, for the first two USPS parcels registered: one stays in transit
/// past its ETA, one is damaged (in the carrier's words).
fn held_up_journeys() -> [Script; 2] {
    let now = Utc::now();
    let pickup = Scan::new(
        now - chrono::Duration::hours(2),
        S::InTransit,
        "Newark, NJ",
        "Picked up by the carrier",
    );
    [
        Script {
            carrier: "usps".into(),
            name: DELAYED.into(),
            steps: vec![
                vec![pickup.clone()],
                vec![
                    pickup.clone(),
                    Scan::new(
                        now - chrono::Duration::hours(1),
                        S::InTransit,
                        "Philadelphia, PA",
                        "Departed USPS regional facility",
                    ),
                ],
            ],
        },
        Script {
            carrier: "usps".into(),
            name: DAMAGED.into(),
            steps: vec![
                vec![pickup.clone()],
                vec![
                    pickup,
                    Scan::new(
                        now - chrono::Duration::minutes(30),
                        S::Exception,
                        "Columbus, OH",
                        "Package damaged in transit: outer carton crushed, contents being inspected",
                    ),
                ],
            ],
        },
    ]
}
