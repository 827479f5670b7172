//! Customer notices, department e-mails and webhooks, the order-status page and feedback,
//! against real services: a real SMTP server (Debian's python3-aiosmtpd, driven by
//! `tests/fixtures/smtp_sink.py`, which saves each message to a folder; STARTTLS and AUTH
//! where tested), a real webhook receiver on loopback verifying signatures, the daemon's HTTP
//! server, and a real headless Chromium for the status page.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::smtp::Sink;
use common::{Profile, TestEnv};
use mail_parser::MessageParser;
use ordergate::app::Daemon;
use ordergate::model::{CanonicalOrder, Envelope, EventType, ShipmentRef};
use ordergate::store::{NewShipment, Store};
use serde_json::{json, Value};
use sqlx::Row;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test CA and a server certificate it signed for `localhost` / 127.0.0.1:
/// (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let openssl = |args: &[&str]| {
        let ok = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl {args:?}");
    };
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=ordergate test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "smtp.key",
        "-out",
        "smtp.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "smtp.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "smtp.pem",
        "-extfile",
        "leaf.ext",
    ]);
    (p("ca.pem"), p("smtp.pem"), p("smtp.key"))
}

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/notices")
}

/// A daemon running only the notify stage (and the sender), with `extra` configuration, its
/// HTTP server on `http_port`.
async fn daemon(env: &TestEnv, extra: &str, http_port: Option<u16>) -> Daemon {
    let mut cfg = env.config(&common::mappings_dir(), extra);
    cfg.pipeline.stages = vec!["notify".into()];
    if let Some(p) = http_port {
        cfg.http.listen = format!("127.0.0.1:{p}");
    }
    Daemon::start(&cfg).await.unwrap()
}

fn order_json(n: u32, country: &str, email: &str, phone: &str) -> CanonicalOrder {
    serde_json::from_value(json!({
        "source": {"connector": "shop", "format": "shopify", "channel": "web",
                   "external_id": format!("70000{n}"), "external_number": format!("#{n}"),
                   "status": "open"},
        "placed_at": "2026-12-01T08:00:00Z",
        "currency": "USD",
        "customer": {"name": "Ann Lee", "email": email, "phone": phone},
        "ship_to": {"name": "Ann Lee", "line1": "1 Secret Street", "city": "Springfield",
                    "region": null, "postal_code": "ZP-778", "country": country},
        "lines": [{"line_ref": "1", "sku": "W-1", "name": "Widget", "quantity": 2,
                   "unit_price": "19.99"}],
        "total": "39.98"
    }))
    .unwrap()
}

/// Stores an order with one parcel; returns (order id, shipment id).
async fn store_order(
    store: &Store,
    mut order: CanonicalOrder,
    carrier: (&str, &str),
    number: &str,
    eta: &str,
) -> (String, String) {
    let eta = chrono::DateTime::parse_from_rfc3339(eta)
        .unwrap()
        .timestamp_millis();
    let mut tx = store.begin().await.unwrap();
    let id = Store::upsert_order(&mut tx, &mut order, None)
        .await
        .unwrap()
        .order_id()
        .to_string();
    let (shipment, _) = Store::record_shipment(
        &mut tx,
        &NewShipment {
            order_id: &id,
            warehouse: Some("wh"),
            carrier: carrier.0,
            carrier_name: Some(carrier.1),
            tracking_number: number,
            service: Some("express"),
            promised_at: None,
            eta: Some(eta),
            items: json!([]),
        },
    )
    .await
    .unwrap()
    .shipment()
    .unwrap();
    tx.commit().await.unwrap();
    (id, shipment)
}

/// Stores order `n` (Ann's, to the US) with one UPS parcel `number` and publishes its
/// `order.shipped`; returns the order id.
async fn shipped(d: &Daemon, n: u32, number: &str) -> String {
    let (a, _) = store_order(
        &d.store,
        order_json(n, "US", "ann@example.com", "5550100200"),
        ("UPS", "UPS"),
        number,
        "2026-12-10T12:00:00Z",
    )
    .await;
    d.bus
        .publish(&[event(EventType::ORDER_SHIPPED, &a, json!({"order_id": a}))])
        .await
        .unwrap();
    a
}

fn event(kind: &str, order_id: &str, payload: Value) -> Envelope {
    Envelope::new(kind, "wh", payload).with_order(order_id)
}

fn shipment_event(kind: &str, order_id: &str, shipment_id: &str, detail: Value) -> Envelope {
    let r = ShipmentRef {
        order_id: order_id.into(),
        shipment_id: shipment_id.into(),
        carrier: String::new(),
        tracking_number: String::new(),
        warehouse: Some("wh".into()),
        status: None,
        detail,
    };
    event(kind, order_id, serde_json::to_value(r).unwrap())
}

/// A parsed e-mail's facts.
#[derive(Debug)]
struct Mail {
    to: String,
    subject: String,
    text: String,
    html: String,
    message_id: String,
    in_reply_to: Option<String>,
    references: Vec<String>,
}

fn parse(raw: &[u8]) -> Mail {
    let m = MessageParser::default()
        .parse(raw)
        .expect("a parsable e-mail");
    let ids = |h: &mail_parser::HeaderValue| -> Vec<String> {
        match h {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    Mail {
        to: m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string(),
        subject: m.subject().unwrap_or_default().to_string(),
        text: m.body_text(0).unwrap_or_default().to_string(),
        // minijinja writes `/` as `&#x2f;` in HTML; a browser reads both alike.
        html: m.body_html(0).unwrap_or_default().replace("&#x2f;", "/"),
        message_id: m.message_id().unwrap_or_default().to_string(),
        in_reply_to: ids(m.in_reply_to()).into_iter().next(),
        references: ids(m.references()),
    }
}

async fn wait_for_messages(store: &Store, dir: &Path, n: usize) -> Vec<Mail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while Sink::messages(dir).len() < n {
        if tokio::time::Instant::now() > deadline {
            let rows = sqlx::query("SELECT notice, status, attempts, last_error FROM notices")
                .fetch_all(store.pool())
                .await
                .unwrap();
            let rows: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {:?}",
                        r.get::<String, _>("notice"),
                        r.get::<String, _>("status"),
                        r.get::<i64, _>("attempts"),
                        r.get::<Option<String>, _>("last_error")
                    )
                })
                .collect();
            panic!(
                "{} of {n} e-mails arrived; notices: {rows:#?}",
                Sink::messages(dir).len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more arrives (a duplicate would come within the retry delays).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Sink::messages(dir).iter().map(|m| parse(m)).collect()
}

fn notices_section(smtp_port: u16, tls: &str, extra: &str) -> String {
    format!(
        "[notices]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\ntls = \"{tls}\"\n\
         from = \"Shop <shop@example.com>\"\ntemplates_dir = \"{}\"\nretry_base_ms = 200\n\
         retry_max_ms = 1000\npoll_interval_ms = 100\ntimeout_ms = 5000\n{extra}\n",
        templates_dir().display()
    )
}

async fn customer_emails(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let smtp_port = free_port();
    let http_port = free_port();
    let mail_dir = env.dir.path().join("mail");
    // Standalone: STARTTLS with AUTH (password by reference); cluster: a plain relay.
    let tls = (profile == Profile::Standalone).then(|| certificates(env.dir.path()));
    let server_tls = tls
        .as_ref()
        .map(|(_, cert, key)| (cert.clone(), key.clone()));
    let _sink = Sink::start_with(
        &mail_dir,
        smtp_port,
        server_tls.as_ref(),
        tls.as_ref().map(|_| "mailer:s3cret"),
    );
    let mut extra = format!(
        "base_url = \"http://127.0.0.1:{http_port}\"\ndepartments = {{ logistics = \"ops@example.com\" }}\n"
    );
    if let Some((ca, _, _)) = &tls {
        let pw = env.dir.path().join("smtp-password");
        std::fs::write(&pw, "s3cret\n").unwrap();
        extra.push_str(&format!(
            "tls_ca_file = \"{}\"\nsmtp_user = \"mailer\"\nsmtp_password = \"file:{}\"\n",
            ca.display(),
            pw.display()
        ));
    }
    let mode = if tls.is_some() { "starttls" } else { "none" };
    let d = daemon(
        &env,
        &notices_section(smtp_port, mode, &extra),
        Some(http_port),
    )
    .await;
    let store = d.store.clone();

    let (a, a_parcel) = store_order(
        &store,
        order_json(1001, "US", "ann@example.com", "+1 555 010 0200"),
        ("UPS", "UPS"),
        "1Z999AA10123456784",
        "2026-12-10T12:00:00Z",
    )
    .await;
    let (b, b_parcel) = store_order(
        &store,
        order_json(1002, "CN", "li@example.cn", "+86 138 0013 8000"),
        ("sf-express", "顺丰速运"),
        "SF1234567890123",
        "2026-12-11T12:00:00Z",
    )
    .await;
    // An order that came by e-mail: its notice answers the original message.
    let mut by_mail = order_json(1003, "US", "buyer@example.org", "5550100300");
    by_mail.source.channel = ordergate::model::Channel::Email;
    by_mail.source.format = "email".into();
    by_mail.origin = Some(
        serde_json::from_value(json!({
            "message_id": "<po-77@buyer.example.org>",
            "references": ["<thread-1@buyer.example.org>"],
            "reply_to": "purchasing@buyer.example.org",
            "subject": "PO 77: 2 widgets"
        }))
        .unwrap(),
    );
    let (c, _) = store_order(
        &store,
        by_mail,
        ("UPS", "UPS"),
        "1Z999AA10123456799",
        "2026-12-12T12:00:00Z",
    )
    .await;

    let shipped_a = event(EventType::ORDER_SHIPPED, &a, json!({"order_id": a}));
    let mut events = vec![
        shipped_a.clone(),
        event(EventType::ORDER_SHIPPED, &b, json!({"order_id": b})),
        event(EventType::ORDER_SHIPPED, &c, json!({"order_id": c})),
        shipment_event(
            EventType::SHIPMENT_DELAYED,
            &a,
            &a_parcel,
            json!({"finding": "late"}),
        ),
        shipment_event(
            EventType::SHIPMENT_DELAYED,
            &b,
            &b_parcel,
            json!({"finding": "late"}),
        ),
        event(EventType::ORDER_DELIVERED, &a, json!({"order_id": a})),
        event(EventType::ORDER_DELIVERED, &b, json!({"order_id": b})),
        Envelope::new(
            "exception.overdue",
            "",
            json!({"exception_id": "exc_1", "kind": "carrier_delay", "department": "logistics",
                   "owner": null, "order_id": a, "due_at": "2026-12-01T10:00:00Z",
                   "severity": "critical", "reason": "parcel late"}),
        ),
    ];
    // A redelivered event, and the same fact announced again under a new id.
    events.push(shipped_a.clone());
    events.push(event(EventType::ORDER_SHIPPED, &a, json!({"order_id": a})));
    // The e-mail order lacks a fact: the customer is asked in the thread.
    events.push(event(
        EventType::ORDER_NEEDS_INFO,
        &c,
        json!({"order_id": c, "connector": "shop", "external_id": "700001003", "findings": [
            {"rule": "contact", "version": 1, "code": "phone_missing", "path": "customer.phone",
             "message": "no phone number for the carrier"}]}),
    ));
    // A cancelled order, in Chinese.
    events.push(event(
        EventType::ORDER_CANCELLED,
        &b,
        json!({"order_id": b, "change_id": "chg-1", "kind": "cancel", "requested_by": "api:ops",
               "state": "approved", "reason": "客户要求取消"}),
    ));
    // A marketplace whose platform mails its buyers: no e-mail.
    let mut marketplace = order_json(1004, "US", "buyer@marketplace.example", "5550100400");
    marketplace.source.format = "amazon".into();
    let (q, _) = store_order(
        &store,
        marketplace,
        ("UPS", "UPS"),
        "1Z999AA10123456800",
        "2026-12-12T12:00:00Z",
    )
    .await;
    events.push(event(EventType::ORDER_SHIPPED, &q, json!({"order_id": q})));
    for e in &events {
        d.bus.publish(std::slice::from_ref(e)).await.unwrap();
    }
    let mails = wait_for_messages(&store, &mail_dir, 10).await;
    assert_eq!(
        mails.len(),
        10,
        "one e-mail per order and event: {mails:#?}"
    );
    let find = |to: &str, words: &str| -> &Mail {
        let found: Vec<&Mail> = mails
            .iter()
            .filter(|m| m.to == to && m.subject.contains(words))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one e-mail to {to} about {words:?}: {mails:#?}"
        );
        found[0]
    };
    // English.
    let m = find("ann@example.com", "has shipped");
    assert!(m.subject.contains("#1001"), "{}", m.subject);
    for fact in [
        "UPS",
        "1Z999AA10123456784",
        "2026-12-10",
        "https://www.ups.com/track?tracknum=1Z999AA10123456784",
    ] {
        assert!(
            m.text.contains(fact),
            "shipped e-mail lacks {fact}: {}",
            m.text
        );
    }
    assert!(
        m.html
            .contains("href=\"https://www.ups.com/track?tracknum=1Z999AA10123456784\""),
        "{}",
        m.html
    );
    assert!(m.message_id.ends_with("@example.com"), "{}", m.message_id);
    let m = find("ann@example.com", "delayed");
    assert!(
        m.text.contains("1Z999AA10123456784") && m.text.contains("2026-12-10"),
        "{}",
        m.text
    );
    let delivered = find("ann@example.com", "was delivered");
    // Chinese.
    let m = find("li@example.cn", "已发货");
    for fact in [
        "顺丰速运",
        "SF1234567890123",
        "2026-12-11",
        "运单号",
        "https://www.sf-express.com/chn/sc/waybill/waybill-detail/SF1234567890123",
    ] {
        assert!(
            m.text.contains(fact),
            "Chinese shipped e-mail lacks {fact}: {}",
            m.text
        );
    }
    let m = find("li@example.cn", "延误");
    assert!(m.text.contains("SF1234567890123"), "{}", m.text);
    let m = find("li@example.cn", "已签收");
    assert!(m.text.contains("/feedback/"), "{}", m.text);
    // The e-mail order's notice threads under the original, to its reply address.
    let thread: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.to == "purchasing@buyer.example.org")
        .collect();
    assert_eq!(thread.len(), 2, "{thread:#?}");
    let asked = thread
        .iter()
        .find(|m| m.text.contains("we need the following"))
        .unwrap();
    assert!(asked.text.contains("customer.phone"), "{}", asked.text);
    assert_eq!(
        asked.in_reply_to.as_deref(),
        Some("po-77@buyer.example.org")
    );
    let m = thread
        .iter()
        .find(|m| m.text.contains("1Z999AA10123456799"))
        .unwrap();
    assert_eq!(m.subject, "Re: PO 77: 2 widgets");
    assert_eq!(m.in_reply_to.as_deref(), Some("po-77@buyer.example.org"));
    assert_eq!(
        m.references,
        vec![
            "thread-1@buyer.example.org".to_string(),
            "po-77@buyer.example.org".to_string()
        ]
    );
    let m = find("li@example.cn", "已取消");
    assert!(m.text.contains("客户要求取消"), "{}", m.text);
    assert!(!mails.iter().any(|m| m.to == "buyer@marketplace.example"));
    // The department's overdue exception.
    let m = find("ops@example.com", "Overdue");
    assert!(
        m.text.contains("carrier_delay") && m.text.contains("exc_1"),
        "{}",
        m.text
    );

    // Every sent e-mail is in its order's trail.
    let trail = store.order_events(&a).await.unwrap();
    let mut sent: Vec<String> = trail
        .iter()
        .filter(|e| e.kind == "notice_sent")
        .map(|e| {
            e.data.as_ref().unwrap()["notice"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    sent.sort();
    assert_eq!(sent, ["delayed", "delivered", "overdue", "shipped"]);

    // Feedback: the delivered e-mail's link works once, for 1–5 only.
    let link = delivered
        .text
        .split_whitespace()
        .find(|w| w.contains("/feedback/"))
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let page = http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"rating\""));
    for bad in ["0", "6", "x", ""] {
        let r = http
            .post(&link)
            .form(&[("rating", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "rating {bad:?}");
    }
    let r = http
        .post(&link)
        .form(&[("rating", "4")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(&link)
        .json(&json!({"rating": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410, "a token works once");
    let unknown = format!("http://127.0.0.1:{http_port}/feedback/{}", "0".repeat(32));
    let r = http
        .post(&unknown)
        .form(&[("rating", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let feedback: Vec<_> = store
        .order_events(&a)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "feedback_received")
        .collect();
    assert_eq!(feedback.len(), 1);
    assert_eq!(feedback[0].data, Some(json!({"rating": 4})));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_emails_arrive_once_with_their_facts_standalone() {
    customer_emails(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_emails_arrive_once_with_their_facts_cluster() {
    customer_emails(Profile::Cluster).await;
}

/// Each row of `table` as (status, attempts), by `key` (a notice's order, a delivery's
/// subscriber and event).
async fn attempts_of(store: &Store, sql: &str) -> Vec<(String, String, i64)> {
    sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(store.pool())
        .await
        .unwrap()
}

const NOTICE_ROWS: &str =
    "SELECT COALESCE(order_id, ''), status, attempts FROM notices ORDER BY order_id";
const DELIVERY_ROWS: &str =
    "SELECT subscriber || ' ' || event_type || ' ' || event_id, status, attempts \
     FROM subscriber_deliveries ORDER BY subscriber, event_id";

/// A notices daemon with two attempts per e-mail and per delivery (200 ms doubling to 1 s
/// apart: they would be spent in a fraction of a second) and the outage window
/// `outage_secs`: the relay on `smtp_port`, the subscriber `finance` at `hook` and the
/// subscriber `legacy` at `gone` (a path the receiver does not have: 404).
async fn outage_daemon(
    env: &TestEnv,
    smtp_port: u16,
    hook: &str,
    gone: &str,
    outage_secs: u64,
) -> Daemon {
    let secret = env.dir.path().join("hook-secret");
    std::fs::write(&secret, "hook-secret\n").unwrap();
    let mut subscribers = String::new();
    for (name, url) in [("finance", hook), ("legacy", gone)] {
        subscribers.push_str(&format!(
            "[[subscribers]]\nname = \"{name}\"\nurl = \"{url}\"\nevents = [\"order.shipped\"]\n\
             secret = \"file:{}\"\ntimeout_ms = 2000\nmax_attempts = 2\n",
            secret.display()
        ));
    }
    let extra = format!(
        "{}{subscribers}",
        notices_section(smtp_port, "none", "max_attempts = 2")
    );
    let mut cfg = env.config(&common::mappings_dir(), &extra);
    cfg.pipeline.stages = vec!["notify".into()];
    cfg.pipeline.outage_retry_secs = outage_secs;
    Daemon::start(&cfg).await.unwrap()
}

/// The SMTP relay down (nothing listens) and a department's subscriber down (503) for far
/// longer than their two attempts last: nothing is parked, each try counts on (the outage
/// window `pipeline.outage_retry_secs` decides, as in the stages, not `max_attempts`), and
/// once both are back every e-mail and delivery arrives once. A refusal still fails after
/// the attempts: the relay's 550 for a mailbox parks that e-mail, a subscriber answering 404
/// has its deliveries parked after two attempts, each with its exception. With a short window
/// an outage that outlasts it parks the e-mail and the delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_outlasts_max_attempts_a_refusal_does_not() {
    let env = TestEnv::new(Profile::Standalone).await;
    let smtp_port = free_port();
    let mail_dir = env.dir.path().join("mail");
    let (receiver, addr) = Receiver::start_down().await;
    let (hook, gone) = (format!("http://{addr}/hook"), format!("http://{addr}/gone"));
    let d = outage_daemon(&env, smtp_port, &hook, &gone, 3600).await;
    let mut events = Vec::new();
    let mut orders = Vec::new();
    for (n, email) in [(2001, "ann@example.com"), (2002, "nobody@example.com")] {
        let (id, _) = store_order(
            &d.store,
            order_json(n, "US", email, "5550100200"),
            ("UPS", "UPS"),
            &format!("1Z999AA1012345{n}"),
            "2026-12-10T12:00:00Z",
        )
        .await;
        let e = event(EventType::ORDER_SHIPPED, &id, json!({"order_id": id}));
        d.bus.publish(std::slice::from_ref(&e)).await.unwrap();
        events.push(e.id.to_string());
        orders.push(id);
    }
    let store = d.store.clone();
    // Well past two attempts each, still waiting; the 404s parked after their two.
    common::wait_until(
        Duration::from_secs(60),
        "five tries of each e-mail and finance delivery, legacy's parked",
        || async {
            let notices = attempts_of(&store, NOTICE_ROWS).await;
            let deliveries = attempts_of(&store, DELIVERY_ROWS).await;
            let waiting = |rows: &[(String, String, i64)], of: &str| {
                rows.iter()
                    .filter(|r| r.0.starts_with(of) && r.2 >= 5 && r.1 != "parked")
                    .count()
                    == 2
            };
            waiting(&notices, "")
                && waiting(&deliveries, "finance")
                && deliveries
                    .iter()
                    .filter(|r| r.0.starts_with("legacy") && r.1 == "parked")
                    .count()
                    == 2
        },
    )
    .await;
    let deliveries = attempts_of(&store, DELIVERY_ROWS).await;
    for r in deliveries.iter().filter(|r| r.0.starts_with("legacy")) {
        assert_eq!(r.2, 2, "a 404 parks after max_attempts: {r:?}");
    }
    let notices = attempts_of(&store, NOTICE_ROWS).await;
    assert!(notices.iter().all(|r| r.1 != "parked"), "{notices:?}");
    assert!(Sink::messages(&mail_dir).is_empty());
    assert!(receiver.got.lock().unwrap().is_empty());
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM exceptions ORDER BY kind")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(kinds, ["subscriber_failed", "subscriber_failed"]);

    // Both back: the relay refuses one mailbox for good.
    let _sink = Sink::start_refusing(&mail_dir, smtp_port, &["nobody@example.com"]);
    receiver.down.store(false, Ordering::SeqCst);
    let mails = wait_for_messages(&d.store, &mail_dir, 1).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].to, "ann@example.com");
    common::wait_until(Duration::from_secs(30), "both deliveries", || async {
        receiver.got.lock().unwrap().len() >= 2
    })
    .await;
    common::wait_until(
        Duration::from_secs(30),
        "the refused e-mail parked",
        || async {
            attempts_of(&store, NOTICE_ROWS)
                .await
                .iter()
                .any(|r| r.0 == orders[1] && r.1 == "parked")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let notices = attempts_of(&store, NOTICE_ROWS).await;
    assert_eq!(
        notices
            .iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        [(orders[0].as_str(), "sent"), (orders[1].as_str(), "parked")]
    );
    let mut got: Vec<String> = receiver
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    got.sort();
    events.sort();
    assert_eq!(got, events, "each event delivered once");
    assert_eq!(Sink::messages(&mail_dir).len(), 1, "nothing sent twice");
    let failed: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, COALESCE(order_id, '') FROM exceptions WHERE kind = 'notice_failed'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(failed, [("notice_failed".to_string(), orders[1].clone())]);
    d.stop().await;

    // A window of two seconds: an outage longer than that parks what waits on it.
    receiver.down.store(true, Ordering::SeqCst);
    let closed = free_port();
    let d = outage_daemon(&env, closed, &hook, &gone, 2).await;
    let (id, _) = store_order(
        &d.store,
        order_json(2003, "US", "bo@example.com", "5550100200"),
        ("UPS", "UPS"),
        "1Z999AA10123452003",
        "2026-12-10T12:00:00Z",
    )
    .await;
    let e = event(EventType::ORDER_SHIPPED, &id, json!({"order_id": id}));
    d.bus.publish(std::slice::from_ref(&e)).await.unwrap();
    let store = d.store.clone();
    common::wait_until(
        Duration::from_secs(30),
        "the e-mail and the delivery parked once the window closed",
        || async {
            let parked = |rows: Vec<(String, String, i64)>, of: &str| {
                rows.iter()
                    .any(|r| r.0.contains(of) && r.1 == "parked" && r.2 > 2)
            };
            parked(attempts_of(&store, NOTICE_ROWS).await, &id)
                && parked(
                    attempts_of(&store, DELIVERY_ROWS).await,
                    &format!("finance order.shipped {}", e.id),
                )
        },
    )
    .await;
    d.stop().await;
}

/// The notices sender runs where the notify stage does: an e-mail recorded while the relay was
/// down stays unsent while only a daemon without the stage runs (the relay up meanwhile); a
/// daemon with the stage sends it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notices_sender_runs_only_where_the_notify_stage_does() {
    let env = TestEnv::new(Profile::Standalone).await;
    let smtp_port = free_port();
    let mail_dir = env.dir.path().join("mail");
    let extra = notices_section(smtp_port, "none", "max_attempts = 100");
    let d = daemon(&env, &extra, None).await;
    shipped(&d, 2101, "1Z999AA10123452101").await;
    // The test's own handle: each daemon closes its own when it stops.
    let store = Store::connect(&env.store_url(), 4, "normal").await.unwrap();
    let notice = || async {
        let r = sqlx::query("SELECT attempts, status FROM notices")
            .fetch_optional(store.pool())
            .await
            .unwrap()?;
        Some((r.get::<i64, _>("attempts"), r.get::<String, _>("status")))
    };
    common::wait_until(Duration::from_secs(30), "a failed attempt", || async {
        notice()
            .await
            .is_some_and(|(n, s)| n >= 1 && s == "pending")
    })
    .await;
    d.stop().await;
    let (attempts, _) = notice().await.unwrap();

    let _sink = Sink::start(&mail_dir, smtp_port);
    let mut cfg = env.config(&common::mappings_dir(), &extra);
    cfg.pipeline.stages = vec!["normalize".into()];
    let d = Daemon::start(&cfg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        Sink::messages(&mail_dir).is_empty(),
        "no sender without the notify stage"
    );
    assert_eq!(notice().await, Some((attempts, "pending".to_string())));
    d.stop().await;

    cfg.pipeline.stages = vec!["notify".into()];
    let d = Daemon::start(&cfg).await.unwrap();
    let mails = wait_for_messages(&d.store, &mail_dir, 1).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(mails[0].text.contains("1Z999AA10123452101"));
    assert_eq!(notice().await.map(|(_, s)| s).as_deref(), Some("sent"));
    d.stop().await;
}

/// A backlog of more e-mails than one round takes is sent at once, round after round, without
/// waiting for the poll interval between full rounds (nothing new wakes the sender: the
/// e-mails were recorded before it started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_larger_than_a_round_is_sent_without_waiting_for_the_poll_interval() {
    let env = TestEnv::new(Profile::Standalone).await;
    let smtp_port = free_port();
    let mail_dir = env.dir.path().join("mail");
    let _sink = Sink::start(&mail_dir, smtp_port);
    let n = 120;
    {
        let store = Store::connect(&env.store_url(), 2, "full").await.unwrap();
        store.migrate().await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        for i in 0..n {
            let notice = ordergate::notices::NewNotice {
                id: format!("n{i}"),
                dedupe_key: format!("shipped:backlog-{i}:order"),
                order_id: None,
                notice: "shipped".into(),
                lang: "en".into(),
                recipient: format!("c{i}@example.com"),
                sender: "shop@example.com".into(),
                message_id: format!("<backlog-{i}@example.com>"),
                subject: format!("Backlog {i}"),
                raw: format!(
                    "From: shop@example.com\r\nTo: c{i}@example.com\r\n\
                     Message-ID: <backlog-{i}@example.com>\r\nSubject: Backlog {i}\r\n\r\nHello {i}\r\n"
                ),
                feedback_token: None,
            };
            assert!(ordergate::notices::store::insert_notice(&mut conn, &notice)
                .await
                .unwrap());
        }
    }
    // A poll interval far longer than the test: only the rounds themselves can send them all.
    let section = notices_section(smtp_port, "none", "")
        .replace("poll_interval_ms = 100\n", "poll_interval_ms = 600000\n");
    assert!(section.contains("poll_interval_ms = 600000"));
    let d = daemon(&env, &section, None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while Sink::messages(&mail_dir).len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} e-mails sent in 30 s with a poll interval of 10 minutes",
            Sink::messages(&mail_dir).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails: Vec<Mail> = Sink::messages(&mail_dir).iter().map(|m| parse(m)).collect();
    let ids: std::collections::BTreeSet<_> = mails.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!((mails.len(), ids.len()), (n, n), "each e-mail once");
    d.stop().await;
}

/// A crash while an e-mail's data was under way leaves it `data`: it is never sent again by
/// itself but raised with its Message-ID; a crash after the claim but before the data leaves
/// it `sending`: it is sent once after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_cut_off_during_the_data_is_not_repeated_and_one_cut_off_before_is_sent_once() {
    let env = TestEnv::new(Profile::Standalone).await;
    let smtp_port = free_port();
    let mail_dir = env.dir.path().join("mail");
    let section = notices_section(smtp_port, "none", "max_attempts = 100");
    let d = daemon(&env, &section, None).await;
    let mut orders = Vec::new();
    for (n, number) in [(4001, "1Z999AA10123454001"), (4002, "1Z999AA10123454002")] {
        let (id, _) = store_order(
            &d.store,
            order_json(n, "US", &format!("c{n}@example.com"), "5550100200"),
            ("UPS", "UPS"),
            number,
            "2026-12-10T12:00:00Z",
        )
        .await;
        d.bus
            .publish(&[event(
                EventType::ORDER_SHIPPED,
                &id,
                json!({"order_id": id}),
            )])
            .await
            .unwrap();
        orders.push(id);
    }
    let store = d.store.clone();
    common::wait_until(Duration::from_secs(30), "both e-mails tried", || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE attempts >= 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
        n == 2
    })
    .await;
    d.stop().await;
    // What a SIGKILL leaves: one e-mail in its data, one claimed before it.
    let store = ordergate::app::connect_store(&env.config(&common::mappings_dir(), &section))
        .await
        .unwrap();
    let long_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for (order, status) in [(&orders[0], "data"), (&orders[1], "sending")] {
        sqlx::query("UPDATE notices SET status = $1, claimed_at = $2 WHERE order_id = $3")
            .bind(status)
            .bind(long_ago)
            .bind(order)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let message_id: String =
        sqlx::query_scalar("SELECT message_id FROM notices WHERE order_id = $1")
            .bind(&orders[0])
            .fetch_one(store.pool())
            .await
            .unwrap();
    store.close().await;
    let _sink = Sink::start(&mail_dir, smtp_port);
    let d = daemon(&env, &section, None).await;
    let mails = wait_for_messages(&d.store, &mail_dir, 1).await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].to, "c4002@example.com");
    let store = d.store.clone();
    common::wait_until(
        Duration::from_secs(30),
        "the unconfirmed e-mail raised",
        || async {
            sqlx::query_scalar::<_, String>("SELECT status FROM notices WHERE order_id = $1")
                .bind(&orders[0])
                .fetch_one(store.pool())
                .await
                .unwrap()
                == "unknown"
        },
    )
    .await;
    let reason: String = sqlx::query_scalar(
        "SELECT reason FROM exceptions WHERE kind = 'notice_unconfirmed' AND order_id = $1",
    )
    .bind(&orders[0])
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(reason.contains(&message_id), "{reason}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(Sink::messages(&mail_dir).len(), 1, "nothing sent twice");
    d.stop().await;
}

/// A department's webhook receiver: answers 503 while `down`, else verifies the signature and
/// records (delivery id, event id).
#[derive(Clone, Default)]
struct Receiver {
    down: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<(String, String)>>>,
    refused: Arc<Mutex<u32>>,
    bad_signatures: Arc<Mutex<u32>>,
}

impl Receiver {
    /// A receiver on loopback taking POSTs at `/hook`, down until told otherwise; with its
    /// address.
    async fn start_down() -> (Receiver, std::net::SocketAddr) {
        let receiver = Receiver::default();
        receiver.down.store(true, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, addr)
    }
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    if r.down.load(Ordering::SeqCst) {
        *r.refused.lock().unwrap() += 1;
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    let sig = headers
        .get("x-ordergate-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = ordergate::partner::signature::Timestamped::parse(sig)
        .map(|t| {
            t.matches(b"hook-secret", &body) && (chrono::Utc::now().timestamp() - t.at).abs() < 300
        })
        .unwrap_or(false);
    if !ok {
        *r.bad_signatures.lock().unwrap() += 1;
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    let delivery = headers
        .get("x-ordergate-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let env: Envelope = serde_json::from_slice(&body).unwrap();
    r.got.lock().unwrap().push((delivery, env.id.to_string()));
    axum::http::StatusCode::OK
}

async fn subscriber_outage(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let (receiver, addr) = Receiver::start_down().await;
    let secret = env.dir.path().join("hook-secret");
    std::fs::write(&secret, "hook-secret\n").unwrap();
    let http_port = free_port();
    let extra = format!(
        "[notices]\nretry_base_ms = 200\nretry_max_ms = 800\npoll_interval_ms = 100\n\n\
         [[subscribers]]\nname = \"finance\"\nurl = \"http://{addr}/hook\"\n\
         events = [\"order.shipped\", \"order.delivered\", \"exception.*\"]\n\
         secret = \"file:{}\"\ntimeout_ms = 2000\nmax_attempts = 100\n",
        secret.display()
    );
    let d = daemon(&env, &extra, Some(http_port)).await;
    let wanted = [
        event(
            EventType::ORDER_SHIPPED,
            "og_1",
            json!({"order_id": "og_1"}),
        ),
        event(
            EventType::ORDER_SHIPPED,
            "og_2",
            json!({"order_id": "og_2"}),
        ),
        event(
            EventType::ORDER_DELIVERED,
            "og_1",
            json!({"order_id": "og_1"}),
        ),
        Envelope::new("exception.overdue", "", json!({"exception_id": "exc_9"})),
    ];
    let unwanted = event(
        EventType::ORDER_APPROVED,
        "og_3",
        json!({"order_id": "og_3"}),
    );
    for e in wanted.iter().chain([&unwanted]) {
        d.bus.publish(std::slice::from_ref(e)).await.unwrap();
    }
    let r = receiver.clone();
    common::wait_until(Duration::from_secs(30), "refused attempts", || async {
        *r.refused.lock().unwrap() >= 8
    })
    .await;
    // A redelivered event while it is down.
    d.bus
        .publish(std::slice::from_ref(&wanted[0]))
        .await
        .unwrap();
    receiver.down.store(false, Ordering::SeqCst);
    common::wait_until(Duration::from_secs(30), "every event delivered", || async {
        r.got.lock().unwrap().len() >= wanted.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    let mut events: Vec<&str> = got.iter().map(|(_, e)| e.as_str()).collect();
    events.sort();
    let mut expected: Vec<String> = wanted.iter().map(|e| e.id.to_string()).collect();
    expected.sort();
    assert_eq!(events, expected, "every wanted event once, nothing else");
    let mut ids: Vec<&str> = got.iter().map(|(d, _)| d.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), wanted.len(), "a delivery id per delivery");

    // Visible per subscriber.
    let token = std::fs::read_to_string(env.dir.path().join("api-token")).ok();
    if let Some(token) = token {
        let v: Value = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{http_port}/api/subscribers"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let s = &v["subscribers"][0];
        assert_eq!(s["name"], "finance");
        assert_eq!(s["deliveries"]["delivered"], 4);
        assert_eq!(s["deliveries"]["pending"], 0);
        assert!(
            s["deliveries"]["failed_attempts"].as_i64().unwrap() >= 8,
            "{v}"
        );
        assert_eq!(s["deliveries"]["last_error"], "HTTP 503");
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{http_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "ordergate_subscriber_deliveries_total{subscriber=\"finance\",outcome=\"delivered\"}"
        ),
        "{metrics}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_down_for_a_while_gets_every_event_once_signed_standalone() {
    ordergate::telemetry::prometheus();
    subscriber_outage(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_down_for_a_while_gets_every_event_once_signed_cluster() {
    ordergate::telemetry::prometheus();
    subscriber_outage(Profile::Cluster).await;
}

/// A daemon with the status page and one shipped order (#3001, ann@example.com,
/// +1 555 010 0200); returns it and its base URL.
async fn status_daemon(env: &TestEnv, rate: u32) -> (Daemon, String) {
    let http_port = free_port();
    let d = daemon(
        env,
        &format!("[notices]\nrate_per_minute = {rate}\n"),
        Some(http_port),
    )
    .await;
    let (a, _) = store_order(
        &d.store,
        order_json(3001, "US", "ann@example.com", "+1 555 010 0200"),
        ("UPS", "UPS"),
        "1Z999AA10123453001",
        "2026-12-10T12:00:00Z",
    )
    .await;
    let mut tx = d.store.begin().await.unwrap();
    for (from, to) in [("received", "approved"), ("approved", "shipped")] {
        // The fixture's history: two state changes, as the stages would have written them.
        sqlx::query("UPDATE orders SET state = $1 WHERE id = $2")
            .bind(to)
            .bind(&a)
            .execute(&mut *tx)
            .await
            .unwrap();
        Store::append_event(
            &mut tx,
            &a,
            "transition",
            Some((Some(from), to)),
            "test",
            None,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    (d, format!("http://127.0.0.1:{http_port}"))
}

async fn status_lookups(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let (d, base) = status_daemon(&env, 9).await;
    let http = reqwest::Client::new();
    let get = |order: &str, contact: &str| {
        let mut q: Vec<(&str, String)> = Vec::new();
        if !order.is_empty() {
            q.push(("order", order.to_string()));
        }
        if !contact.is_empty() {
            q.push(("contact", contact.to_string()));
        }
        http.get(format!("{base}/api/public/status"))
            .query(&q)
            .send()
    };
    // The right pair, by e-mail and by phone (written differently).
    let r = get("#3001", "Ann@Example.com").await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["state"], "shipped");
    assert_eq!(v["order_number"], "#3001");
    assert_eq!(v["parcels"][0]["tracking_number"], "1Z999AA10123453001");
    assert_eq!(
        v["parcels"][0]["tracking_url"],
        "https://www.ups.com/track?tracknum=1Z999AA10123453001"
    );
    assert_eq!(v["events"][0]["state"], "shipped");
    for private in [
        "Secret Street",
        "19.99",
        "39.98",
        "ZP-778",
        "Ann Lee",
        "ann@example.com",
    ] {
        assert!(
            !body.contains(private),
            "the answer shows {private}: {body}"
        );
    }
    let r = get("3001", "555-010-0200").await.unwrap();
    assert_eq!(r.status(), 200);
    // The same by POST, the contact kept out of the URL.
    let r = http
        .post(format!("{base}/api/public/status"))
        .json(&json!({"order": "#3001", "contact": "+1 (555) 010-0200"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "shipped");
    // Wrong pair, unknown order, missing fields: one answer.
    let mut refusals = Vec::new();
    for (order, contact) in [
        ("#3001", "eve@example.com"),
        ("#9999", "ann@example.com"),
        ("#3001", ""),
        ("", "ann@example.com"),
    ] {
        let r = get(order, contact).await.unwrap();
        refusals.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert!(refusals.iter().all(|r| r == &refusals[0]), "{refusals:#?}");
    assert_eq!(refusals[0].0, 404);
    // The HTML form: wrong pair and unknown order get the same page.
    let html = |order: &str, contact: &str| {
        http.post(format!("{base}/status?lang=en"))
            .form(&[("order", order), ("contact", contact)])
            .send()
    };
    let wrong = html("#3001", "eve@example.com")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let unknown = html("#9999", "ann@example.com")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(wrong, unknown);
    assert!(wrong.contains("id=\"refused\""));
    // Nine lookups a minute: the tenth is refused, whatever it asks.
    let r = get("#3001", "ann@example.com").await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lookup_answers_the_right_pair_only_and_is_rate_limited_standalone() {
    status_lookups(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lookup_answers_the_right_pair_only_and_is_rate_limited_cluster() {
    status_lookups(Profile::Cluster).await;
}

/// Fills the status form and sends it, as a person would.
async fn submit(b: &common::browser::Browser, order: &str, contact: &str) {
    use fantoccini::Locator;
    for (id, value) in [("order", order), ("contact", contact)] {
        let field = b.client.find(Locator::Id(id)).await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    b.client
        .find(Locator::Id("lookup"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_a_real_browser_in_english_and_chinese() {
    use fantoccini::Locator;
    let env = TestEnv::new(Profile::Standalone).await;
    let (d, base) = status_daemon(&env, 30).await;
    let mut b = common::browser::Browser::start("notices_status_page", false).await;
    for (lang, title, shipped) in [
        ("en", "Order status", "Shipped"),
        ("zh", "订单状态查询", "已发货"),
    ] {
        b.client
            .goto(&format!("{base}/status?lang={lang}"))
            .await
            .unwrap();
        let h1 = b
            .client
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(h1, title);
        b.screenshot(&format!("form-{lang}")).await;
        // A wrong pair first.
        submit(&b, "#3001", "eve@example.com").await;
        b.client
            .wait()
            .for_element(Locator::Id("refused"))
            .await
            .unwrap();
        assert!(b.client.find(Locator::Id("answer")).await.is_err());
        b.screenshot(&format!("refused-{lang}")).await;
        // Then the right one.
        submit(&b, "#3001", "ann@example.com").await;
        let state = b
            .client
            .wait()
            .for_element(Locator::Id("state"))
            .await
            .unwrap();
        assert_eq!(state.text().await.unwrap(), shipped);
        let link = b
            .client
            .find(Locator::Css("#answer a"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap();
        assert_eq!(
            link.as_deref(),
            Some("https://www.ups.com/track?tracknum=1Z999AA10123453001")
        );
        b.screenshot(&format!("answer-{lang}")).await;
        let errors = b.console_errors().await;
        assert!(errors.is_empty(), "console errors: {errors:?}");
    }
    // The browser's language picks the page's when the link does not.
    b.client.goto(&format!("{base}/status")).await.unwrap();
    let h1 = b
        .client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "Order status");
    d.stop().await;
}

#[test]
fn check_renders_every_notice_template_and_names_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    for entry in std::fs::read_dir(templates_dir()).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, templates.join(p.file_name().unwrap())).unwrap();
    }
    let config = dir.path().join("ordergate.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://og.sqlite\"\n[mappings]\ndir = \"{}\"\n\
             [notices]\nsmtp_host = \"127.0.0.1\"\ntls = \"none\"\ntemplates_dir = \"templates\"\n\
             departments = {{ logistics = \"ops@example.com\" }}\n",
            common::mappings_dir().display()
        ),
    )
    .unwrap();
    let check = || {
        let out = Command::new(env!("CARGO_BIN_EXE_ordergate"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = check();
    assert!(ok, "{text}");
    assert!(text.contains("ok    notices (SMTP 127.0.0.1:25"), "{text}");
    // A typo in a template, and a missing one.
    std::fs::write(
        templates.join("shipped.zh.txt"),
        "运单号：{{ tracking_nuber }}",
    )
    .unwrap();
    std::fs::remove_file(templates.join("delayed.en.subject")).unwrap();
    let (ok, text) = check();
    assert!(!ok, "{text}");
    assert!(text.contains("shipped.zh.txt"), "{text}");
    assert!(text.contains("delayed.en.subject is missing"), "{text}");
}

/// A store from before the order number had a column of its own (migration 0024): the
/// migration fills the column from each order's content, so the status page still finds an
/// order stored then by the number its customer knows.
async fn number_of_an_order_stored_before_its_column(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let dialect = match profile {
        Profile::Standalone => "sqlite",
        Profile::Cluster => "postgres",
    };
    let mut before = sqlx::migrate::Migrator::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect),
    )
    .await
    .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 24)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    sqlx::any::install_default_drivers();
    let url = match profile {
        Profile::Standalone => format!("{}?mode=rwc", env.store_url()),
        Profile::Cluster => env.store_url(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    before.run(&pool).await.unwrap();
    let canonical = json!({"source": {"connector": "shop", "external_id": "5100",
                                      "external_number": "#5100"}});
    for (id, external_id, content) in [
        ("og_before_0024", "5100", canonical.to_string()),
        (
            "og_without_number",
            "5101",
            json!({"source": {}}).to_string(),
        ),
    ] {
        sqlx::query(
            "INSERT INTO orders (id, connector, external_id, state, source_status, \
             content_hash, canonical, created_at, updated_at) \
             VALUES ($1, 'shop', $2, 'received', 'open', 'h', $3, 1, 1)",
        )
        .bind(id)
        .bind(external_id)
        .bind(content)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let store = Store::connect(&env.store_url(), 2, "full").await.unwrap();
    let found = ordergate::notices::store::orders_by_number(&store, "#5100")
        .await
        .unwrap();
    assert_eq!(found, vec!["og_before_0024".to_string()]);
    let numbers: Vec<Option<String>> =
        sqlx::query_scalar("SELECT external_number FROM orders ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(numbers, vec![Some("#5100".to_string()), None]);
}

#[tokio::test]
async fn an_order_stored_before_the_number_column_is_found_by_its_number_standalone() {
    number_of_an_order_stored_before_its_column(Profile::Standalone).await;
}

#[tokio::test]
async fn an_order_stored_before_the_number_column_is_found_by_its_number_cluster() {
    number_of_an_order_stored_before_its_column(Profile::Cluster).await;
}
