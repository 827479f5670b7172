//! The security suite (issue 17, point 3), against a running daemon over real HTTP:
//! * the authorization matrix, generated from the server's route table
//!   (`ordergate::http::routes::table`): every route × {no token, wrong token, viewer, operator}
//!   and, for the dashboard, sessions and CSRF; no method is served that the table lacks;
//! * every inbound signature scheme (order webhooks, tracking callbacks, warehouse callbacks)
//!   with forged, missing, truncated, stale and replayed signatures: refused, nothing stored;
//! * bodies over the limit (413), slow bodies (cut off with 408) and slow request heads (the
//!   connection closed), while others are served;
//! * the customer pages' and the dashboard sign-in's rate limits (429 with `Retry-After`);
//! * `log_scan` (ignored; `deploy/dev/test.sh` runs it last): no fixture's name, e-mail, phone
//!   or street and no secret or token of the suite in any log line of the whole test run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::web::{cookie_of, csrf_of, no_redirects, sign_in};
use common::{drop_file, folder_connector, shopify_order, wait_until, Profile, TestEnv};
use ordergate::app::Daemon;
use ordergate::http::routes::{table, Access};
use ordergate::intake::webhook::{sign_base64, sign_ordergate};
use ordergate::partner::signature::{qimen_sign, sign_standard_webhooks, standard_webhooks_key};
use ordergate::sandbox::{qimen, shipbob};
use ordergate::tracking::{sign::sign, Scheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OPERATOR: &str = "sec-operator-7c1e9a52d4b84f0e9a3f";
const VIEWER: &str = "sec-viewer-3b8e2f60a1c94d7b8e21";
const WRONG: &str = "sec-wrong-0d9c8b7a6f5e4d3c2b1a";
const SHOP_SECRET: &str = "sec-shpss-4e1f0a9b8c7d";
const WOO_SECRET: &str = "sec-wc-5a6b7c8d9e0f";
const CUSTOM_SECRET: &str = "sec-custom-hmac-1f2e3d4c";
const SITE_SECRET: &str = "sec-site-9a8b7c6d5e4f";
const BASIC_PASSWORD: &str = "sec-basic-pw-2b3c4d5e";
const CXML_SECRET: &str = "sec-cxml-6d5c4b3a";
/// Each tracking connector's secret is `<scheme>` followed by this.
const TRACKING_SECRET_SUFFIX: &str = "-sec-trk-8e7d6c5b";

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples")
}

/// A request: target (path and query), headers, body.
#[derive(Debug, Clone, Default)]
struct Req {
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

async fn send(base: &str, method: &str, req: &Req) -> (u16, reqwest::header::HeaderMap, String) {
    let mut r = no_redirects().request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{base}{}", req.target),
    );
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    let resp = r.body(req.body.clone()).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap_or_default())
}

/// A POST over a plain connection, for bodies the server refuses before reading them whole
/// (a failed write then is part of the refusal); the status answered.
async fn raw_post(addr: std::net::SocketAddr, req: &Req) -> u16 {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.target,
        req.body.len()
    );
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let _ = conn.write_all(&req.body).await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn post(base: &str, req: &Req) -> (u16, String) {
    let (s, _, b) = send(base, "POST", req).await;
    (s, b)
}

/// The tracking samples: (connector name, scheme, the input the partner signs).
fn tracking_cases() -> Vec<(String, Scheme, Vec<u8>)> {
    common::facts::TRACKING_SAMPLES
        .iter()
        .map(|(format, case, payload)| {
            let body = std::fs::read(samples().join(case).join(payload)).unwrap();
            let scheme = if *format == "sf-express" && !body.starts_with(b"{") {
                "sf-express-form"
            } else {
                format
            };
            // Kuaidi100 signs the `param` JSON inside its form body.
            let input = if scheme == "kuaidi100" {
                form_urlencoded::parse(&body)
                    .find(|(k, _)| k == "param")
                    .map(|(_, v)| v.into_owned().into_bytes())
                    .unwrap()
            } else {
                body
            };
            (
                format!("trk-{scheme}"),
                Scheme::parse(scheme).unwrap(),
                input,
            )
        })
        .collect()
}

/// A daemon with the API tokens, every kind of signed connector, the dashboard and the
/// customer pages (`rate_per_minute` lookups/feedback posts and failed sign-ins per client),
/// request heads and bodies given `body_timeout_secs` each, and one Shopify order read from a
/// drop folder.
struct Server {
    env: TestEnv,
    daemon: Daemon,
    base: String,
    addr: std::net::SocketAddr,
}

async fn server(rate_per_minute: u32, body_timeout_secs: u64) -> Server {
    let env = TestEnv::new(Profile::Standalone).await;
    let d = env.dir.path().to_path_buf();
    let secret = |name: &str, value: &str| common::sim::secret_file(&d, name, value);
    let mut extra = format!(
        r#"
[notices]
rate_per_minute = {rate_per_minute}

[[connectors]]
kind = "webhook"
name = "shop"
format = "shopify"
max_body_bytes = 65536
auth = {{ scheme = "shopify", secret = "{shop}" }}

[[connectors]]
kind = "webhook"
name = "woo"
format = "woocommerce"
auth = {{ scheme = "woocommerce", secret = "{woo}" }}

[[connectors]]
kind = "webhook"
name = "custom"
format = "shopify"
auth = {{ scheme = "hmac-sha256", secret = "{custom}", header = "X-Custom-Signature", encoding = "hex", prefix = "sha256=" }}

[[connectors]]
kind = "webhook"
name = "site"
format = "shopify"
auth = {{ scheme = "ordergate", secret = "{site}" }}

[[connectors]]
kind = "webhook"
name = "partner-basic"
format = "shopify"
auth = {{ scheme = "basic", username = "partner", password = "{basic}" }}

[[connectors]]
kind = "webhook"
name = "acme"
format = "cxml"
auth = {{ scheme = "cxml-shared-secret", identity = "AN01051729384", secret = "{cxml}" }}

[[warehouses]]
name = "east"
definition = "shipbob"
definitions = "{defs}"
base_url = "http://127.0.0.1:9"
params = {{ channel_id = "{channel}" }}
credentials = {{ access_token = "{sb_token}", webhook_secret = "{whsec}" }}

[[warehouses]]
name = "asia"
definition = "qimen"
definitions = "{defs}"
base_url = "http://127.0.0.1:9"
params = {{ app_key = "{app_key}", customer_id = "{customer}", warehouse_code = "{code}" }}
credentials = {{ app_secret = "{qm_secret}" }}
"#,
        shop = secret("shop", SHOP_SECRET),
        woo = secret("woo", WOO_SECRET),
        custom = secret("custom", CUSTOM_SECRET),
        site = secret("site", SITE_SECRET),
        basic = secret("basic", BASIC_PASSWORD),
        cxml = secret("cxml", CXML_SECRET),
        defs = common::sim::warehouse_definitions(),
        channel = shipbob::CHANNEL_ID,
        sb_token = secret("east-token", shipbob::ACCESS_TOKEN),
        whsec = secret("east-whsec", shipbob::WEBHOOK_SECRET),
        app_key = qimen::APP_KEY,
        customer = qimen::CUSTOMER_ID,
        code = qimen::WAREHOUSE_CODE,
        qm_secret = secret("asia-secret", qimen::APP_SECRET),
    );
    for (name, scheme, _) in tracking_cases() {
        extra.push_str(&format!(
            "\n[[connectors]]\nkind = \"tracking\"\nname = \"{name}\"\nscheme = \"{}\"\nsecret = \"{}\"\nmax_body_bytes = 65536\n",
            scheme.name(),
            secret(&name, &format!("{}{TRACKING_SECRET_SUFFIX}", scheme.name())),
        ));
    }
    let inbox = env.inbox("folder-shop");
    extra.push_str(&folder_connector("folder-shop", &inbox, "shopify"));
    let mut cfg = env.config(&common::mappings_dir(), &extra);
    cfg.http = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\nbody_timeout_secs = {body_timeout_secs}\nheader_timeout_secs = {body_timeout_secs}\nsignin_failures_per_minute = {rate_per_minute}\napi_tokens = [{{ name = \"sec-ops\", token = \"{}\", role = \"operator\" }}, {{ name = \"sec-anna\", token = \"{}\", role = \"viewer\" }}]",
        secret("operator", OPERATOR),
        secret("viewer", VIEWER),
    ))
    .unwrap();
    let daemon = Daemon::start(&cfg).await.unwrap();
    let addr = daemon.http_addr.unwrap();
    drop_file(&inbox, "order-1.json", &shopify_order(1));
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "the folder's order", || async {
        store.order_count("folder-shop").await.unwrap() == 1
    })
    .await;
    Server {
        env,
        daemon,
        base: format!("http://{addr}"),
        addr,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The authorization matrix

/// The credentials each row is tried with.
const BEARERS: [(&str, Option<&str>); 4] = [
    ("no token", None),
    ("wrong token", Some(WRONG)),
    ("viewer", Some(VIEWER)),
    ("operator", Some(OPERATOR)),
];

/// The row's path with its parameters filled with things that exist.
fn fill(path: &str, order_id: &str, exception_id: &str) -> String {
    let exception_route = path.contains("/exceptions/");
    path.replace(
        "{id}",
        if exception_route {
            exception_id
        } else {
            order_id
        },
    )
    .replace("{sku}", "NRD-WOOL-SOCK-M")
    .replace("{token}", "no-such-feedback-token")
    .replace("{file}", "app.css")
    .replace(
        "{connector}",
        if path.starts_with("/hooks/tracking/") {
            "trk-aftership"
        } else if path.starts_with("/hooks/warehouse/") {
            "east"
        } else {
            "shop"
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_credential_as_its_table_row_says() {
    let s = server(10_000, 30).await;
    let base = s.base.as_str();
    let store = s.daemon.store.clone();
    let order_id = store.orders_list(None, 10, 0).await.unwrap()[0]
        .order_id
        .clone();
    // An exception to address: a refused (unsigned) webhook records one.
    let (status, _) = post(
        base,
        &Req {
            target: "/hooks/orders/shop".into(),
            body: b"{}".to_vec(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(status, 401);
    let exception_id = store.exceptions(false, 10).await.unwrap()[0].id.clone();

    let rows = table();
    assert!(
        rows.len() >= 40,
        "the table lists every route: {}",
        rows.len()
    );
    let mut tried = 0;
    for row in &rows {
        let target = fill(row.path, &order_id, &exception_id);
        let method = row.method.as_str();
        let what = format!("{method} {}", row.path);
        let json_body = |token: Option<&str>| {
            let mut r = Req {
                target: target.clone(),
                body: if method == "GET" {
                    Vec::new()
                } else {
                    b"{}".to_vec()
                },
                ..Default::default()
            };
            if method != "GET" {
                r = r.header("content-type", "application/json");
            }
            if let Some(t) = token {
                r = r.header("authorization", format!("Bearer {t}"));
            }
            r
        };
        let mut statuses = BTreeMap::new();
        for (who, token) in BEARERS {
            let (status, headers, body) = send(base, method, &json_body(token)).await;
            tried += 1;
            statuses.insert(who, status);
            let refused_401 = status == 401;
            match row.access {
                Access::Viewer | Access::Operator => {
                    let needs_operator = row.access == Access::Operator;
                    match who {
                        "no token" | "wrong token" => {
                            assert_eq!(status, 401, "{what} with {who}: {body}");
                            assert_eq!(headers["www-authenticate"], "Bearer", "{what}");
                        }
                        "viewer" if needs_operator => {
                            assert_eq!(status, 403, "{what} with {who}: {body}")
                        }
                        _ => assert!(
                            ![401, 403].contains(&status) && status < 500,
                            "{what} with {who}: {status} {body}"
                        ),
                    }
                }
                Access::Public | Access::RateLimited => assert!(
                    ![401, 403].contains(&status) && status < 500,
                    "{what} is public: {who} got {status} {body}"
                ),
                Access::Page => {
                    // A bearer token does not open the dashboard: the sign-in page does.
                    assert_eq!(status, 303, "{what} with {who}");
                    assert_eq!(headers["location"], "/ui/login", "{what}");
                }
                Access::Action | Access::SignOut => {
                    assert!(refused_401, "{what} with {who}: {status}")
                }
                Access::SignIn => assert_eq!(status, 403, "{what} without its form cookie"),
                // A bearer token is no partner signature.
                Access::PartnerSigned => assert!(refused_401, "{what} with {who}: {status}"),
            }
        }
        if matches!(row.access, Access::Public | Access::RateLimited) {
            let distinct: BTreeSet<_> = statuses.values().collect();
            assert_eq!(
                distinct.len(),
                1,
                "{what}: a public route answers everyone alike: {statuses:?}"
            );
        }
        assert_eq!(
            store.raw_count("shop").await.unwrap(),
            0,
            "{what}: nothing stored by an unsigned hook call"
        );

        // The dashboard's own scheme: sessions and CSRF.
        match row.access {
            Access::Page => {
                for token in [VIEWER, OPERATOR] {
                    let (cookie, _) = sign_in(base, token).await;
                    let req = Req {
                        target: target.clone(),
                        ..Default::default()
                    }
                    .header("cookie", cookie);
                    let (status, _, body) = send(base, method, &req).await;
                    tried += 1;
                    assert_eq!(status, 200, "{what} signed in: {body}");
                }
            }
            Access::Action | Access::SignOut => {
                let form = |cookie: &str, csrf: Option<&str>| {
                    Req {
                        target: target.clone(),
                        body: match csrf {
                            Some(c) => format!("csrf={c}&status=acknowledged&back=/ui/exceptions")
                                .into_bytes(),
                            None => b"status=acknowledged".to_vec(),
                        },
                        ..Default::default()
                    }
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("cookie", cookie)
                };
                let (viewer, viewer_csrf) = sign_in(base, VIEWER).await;
                let (status, _) = post(base, &form(&viewer, Some(&viewer_csrf))).await;
                if row.access == Access::SignOut {
                    assert_eq!(status, 303, "{what}: a viewer signs out");
                } else {
                    assert_eq!(status, 403, "{what}: a viewer's session may not act");
                }
                let (operator, operator_csrf) = sign_in(base, OPERATOR).await;
                let (status, _) = post(base, &form(&operator, None)).await;
                assert_eq!(
                    status, 403,
                    "{what}: a form without the session's CSRF token"
                );
                let (status, _) = post(base, &form(&operator, Some(&viewer_csrf))).await;
                assert_eq!(status, 403, "{what}: another session's CSRF token");
                let (status, body) = post(base, &form(&operator, Some(&operator_csrf))).await;
                assert!(
                    ![401, 403].contains(&status) && status < 500,
                    "{what}: the operator's own form: {status} {body}"
                );
                tried += 4;
            }
            Access::SignIn => {
                let page = no_redirects()
                    .get(format!("{base}/ui/login"))
                    .send()
                    .await
                    .unwrap();
                let (login_cookie, _) = cookie_of(&page, "og_login").unwrap();
                let csrf = csrf_of(&page.text().await.unwrap());
                for (token, want) in [(WRONG, 401), ("", 401), (VIEWER, 303)] {
                    let req = Req {
                        target: target.clone(),
                        body: format!("csrf={csrf}&token={token}").into_bytes(),
                        ..Default::default()
                    }
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("cookie", login_cookie.clone());
                    let (status, _) = post(base, &req).await;
                    assert_eq!(status, want, "{what} with token {token:?}");
                    tried += 1;
                }
            }
            _ => {}
        }
    }

    // No method is served on a route's path that the table does not list.
    let mut by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in &rows {
        by_path
            .entry(row.path)
            .or_default()
            .insert(row.method.as_str());
    }
    for (path, methods) in &by_path {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if methods.contains(method) {
                continue;
            }
            let req = Req {
                target: fill(path, &order_id, &exception_id),
                ..Default::default()
            }
            .header("authorization", format!("Bearer {OPERATOR}"));
            let (status, _, _) = send(base, method, &req).await;
            tried += 1;
            assert!(
                [404, 405].contains(&status),
                "{method} {path} is not in the table: {status}"
            );
        }
    }
    // Every route the index page names is a row.
    let (_, _, index) = send(
        base,
        "GET",
        &Req {
            target: "/".into(),
            ..Default::default()
        },
    )
    .await;
    for line in index.lines() {
        let mut words = line.split_whitespace();
        let (Some(method), Some(path)) = (words.next(), words.next()) else {
            continue;
        };
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) {
            continue;
        }
        let path = path
            .split('?')
            .next()
            .unwrap()
            .replace("{name}", "{connector}");
        assert!(
            rows.iter()
                .any(|r| r.method.as_str() == method && r.path == path),
            "the index names {method} {path}, the table does not"
        );
    }
    println!(
        "authorization matrix: {} routes, {tried} requests",
        rows.len()
    );
    s.daemon.stop().await;
    drop(s.env);
}

/// The server's router is built from the table only: no route is registered anywhere else in
/// the code that makes it (`src/http`, `src/ui`), so none can escape the matrix above.
#[test]
fn routes_are_registered_only_through_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for dir in ["http", "ui"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    files.push(root.join("app.rs"));
    let mut offenders = Vec::new();
    for f in &files {
        if f.ends_with("http/routes.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for needle in [
            ".route(",
            ".merge(",
            ".nest(",
            ".nest_service(",
            ".route_service(",
            "Router::new()",
            ".fallback(",
        ] {
            if text.contains(needle) {
                offenders.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes outside the table: {offenders:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Every inbound signature scheme

/// Where a scheme carries its proof.
#[derive(Clone)]
enum Carrier {
    Header(&'static str),
    Query(&'static str),
    Form(&'static str),
    /// Inside the body (cXML's SharedSecret).
    Body(String),
}

fn strip_query(target: &str, name: &str, cut: bool) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter_map(|(k, v)| match (k == name, cut) {
            (true, false) => None,
            (true, true) => Some((k, v[..v.len() / 2].to_string())),
            _ => Some((k, v)),
        })
        .collect();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{q}")
}

impl Carrier {
    /// The request without its proof (`cut` false) or with the proof cut to half its length.
    fn damage(&self, req: &Req, cut: bool) -> Req {
        let mut r = req.clone();
        match self {
            Carrier::Header(name) => {
                if cut {
                    for (k, v) in r.headers.iter_mut() {
                        if k.eq_ignore_ascii_case(name) {
                            *v = v[..v.len() / 2].to_string();
                        }
                    }
                } else {
                    r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                }
            }
            Carrier::Query(name) => r.target = strip_query(&r.target, name, cut),
            Carrier::Form(name) => {
                let pairs: Vec<(String, String)> = form_urlencoded::parse(&r.body)
                    .into_owned()
                    .filter_map(|(k, v)| match (k == *name, cut) {
                        (true, false) => None,
                        (true, true) => Some((k, v[..v.len() / 2].to_string())),
                        _ => Some((k, v)),
                    })
                    .collect();
                r.body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes();
            }
            Carrier::Body(secret) => {
                let with = if cut { &secret[..secret.len() / 2] } else { "" };
                r.body = String::from_utf8_lossy(&r.body)
                    .replacen(secret.as_str(), with, 1)
                    .into_bytes();
            }
        }
        r
    }
}

/// Signs a request body at a time (Unix seconds) as one scheme does.
type Signer = Box<dyn Fn(&str, i64) -> Req + Send + Sync>;

/// One signature scheme: how its partner signs a request with a secret at a time.
struct SchemeCase {
    label: String,
    /// The connector or warehouse the documents are stored under.
    connector: String,
    secret: String,
    carrier: Carrier,
    /// Whether the scheme signs a time (and so refuses stale requests).
    timestamped: bool,
    accepted: u16,
    sign: Signer,
}

fn order_hook_cases() -> Vec<SchemeCase> {
    let mut cases = Vec::new();
    let hook = |name: &str| format!("/hooks/orders/{name}");
    let body = shopify_order(501);
    cases.push(SchemeCase {
        label: "order webhook shopify".into(),
        connector: "shop".into(),
        secret: SHOP_SECRET.into(),
        carrier: Carrier::Header("x-shopify-hmac-sha256"),
        timestamped: false,
        accepted: 202,
        sign: Box::new(move |secret, _| {
            Req {
                target: hook("shop"),
                body: body.clone(),
                ..Default::default()
            }
            .header("content-type", "application/json")
            .header(
                "x-shopify-hmac-sha256",
                sign_base64(secret.as_bytes(), &body),
            )
        }),
    });
    let woo = std::fs::read(samples().join("woocommerce-order-basic/order.json")).unwrap();
    cases.push(SchemeCase {
        label: "order webhook woocommerce".into(),
        connector: "woo".into(),
        secret: WOO_SECRET.into(),
        carrier: Carrier::Header("x-wc-webhook-signature"),
        timestamped: false,
        accepted: 202,
        sign: Box::new(move |secret, _| {
            Req {
                target: hook("woo"),
                body: woo.clone(),
                ..Default::default()
            }
            .header("content-type", "application/json")
            .header(
                "x-wc-webhook-signature",
                sign_base64(secret.as_bytes(), &woo),
            )
        }),
    });
    let body = shopify_order(502);
    cases.push(SchemeCase {
        label: "order webhook hmac-sha256 (hex, prefixed)".into(),
        connector: "custom".into(),
        secret: CUSTOM_SECRET.into(),
        carrier: Carrier::Header("x-custom-signature"),
        timestamped: false,
        accepted: 202,
        sign: Box::new(move |secret, _| {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(&body);
            let sig = hex::encode(mac.finalize().into_bytes());
            Req {
                target: hook("custom"),
                body: body.clone(),
                ..Default::default()
            }
            .header("content-type", "application/json")
            .header("x-custom-signature", format!("sha256={sig}"))
        }),
    });
    let body = shopify_order(503);
    cases.push(SchemeCase {
        label: "order webhook ordergate (timestamped)".into(),
        connector: "site".into(),
        secret: SITE_SECRET.into(),
        carrier: Carrier::Header("x-ordergate-signature"),
        timestamped: true,
        accepted: 202,
        sign: Box::new(move |secret, now| {
            Req {
                target: hook("site"),
                body: body.clone(),
                ..Default::default()
            }
            .header("content-type", "application/json")
            .header(
                "x-ordergate-signature",
                sign_ordergate(secret.as_bytes(), now, &body),
            )
        }),
    });
    let body = shopify_order(504);
    cases.push(SchemeCase {
        label: "order webhook basic".into(),
        connector: "partner-basic".into(),
        secret: BASIC_PASSWORD.into(),
        carrier: Carrier::Header("authorization"),
        timestamped: false,
        accepted: 202,
        sign: Box::new(move |secret, _| {
            use base64::Engine;
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("partner:{secret}"));
            Req {
                target: hook("partner-basic"),
                body: body.clone(),
                ..Default::default()
            }
            .header("content-type", "application/json")
            .header("authorization", format!("Basic {credentials}"))
        }),
    });
    let sample =
        std::fs::read_to_string(samples().join("cxml-orderrequest-basic-usd/order-request.xml"))
            .unwrap();
    cases.push(SchemeCase {
        label: "order webhook cxml-shared-secret".into(),
        connector: "acme".into(),
        secret: CXML_SECRET.into(),
        carrier: Carrier::Body(CXML_SECRET.into()),
        timestamped: false,
        accepted: 200,
        sign: Box::new(move |secret, _| {
            let doc = sample.replacen("k7Qm-2wPz-91Lx", secret, 1);
            Req {
                target: hook("acme"),
                body: doc.into_bytes(),
                ..Default::default()
            }
            .header("content-type", "text/xml")
        }),
    });
    cases
}

fn tracking_hook_cases() -> Vec<SchemeCase> {
    tracking_cases()
        .into_iter()
        .map(|(name, scheme, input)| {
            let path = format!("/hooks/tracking/{name}");
            let carrier = match scheme {
                Scheme::EasyPost => Carrier::Header("x-hmac-signature-v2"),
                Scheme::Shippo => Carrier::Header("shippo-auth-signature"),
                Scheme::AfterShip => Carrier::Header("aftership-hmac-sha256"),
                Scheme::SeventeenTrack => Carrier::Header("sign"),
                Scheme::Kuaidi100 => Carrier::Form("sign"),
                Scheme::SfExpress | Scheme::SfExpressForm => Carrier::Query("token"),
            };
            let content_type = match scheme {
                Scheme::Kuaidi100 | Scheme::SfExpressForm => "application/x-www-form-urlencoded",
                _ => "application/json",
            };
            SchemeCase {
                label: format!("tracking callback {}", scheme.name()),
                connector: name.clone(),
                secret: format!("{}{TRACKING_SECRET_SUFFIX}", scheme.name()),
                carrier,
                timestamped: matches!(scheme, Scheme::EasyPost | Scheme::Shippo),
                accepted: 200,
                sign: Box::new(move |secret, now| {
                    let signed = sign(scheme, secret, &path, &input, now);
                    let mut r = Req {
                        target: match &signed.query {
                            Some(q) => format!("{path}?{q}"),
                            None => path.clone(),
                        },
                        body: signed.body.clone(),
                        ..Default::default()
                    }
                    .header("content-type", content_type);
                    for (k, v) in &signed.headers {
                        r = r.header(k, v.clone());
                    }
                    r
                }),
            }
        })
        .collect()
}

fn warehouse_hook_cases() -> Vec<SchemeCase> {
    let body = br#"{"topic":"order.shipped","data":{"id":1,"reference_id":"og-sec","status":"Fulfilled","shipments":[]}}"#.to_vec();
    let shipbob_case = SchemeCase {
        label: "warehouse callback standard-webhooks (ShipBob)".into(),
        connector: "east".into(),
        secret: shipbob::WEBHOOK_SECRET.into(),
        carrier: Carrier::Header("webhook-signature"),
        timestamped: true,
        accepted: 200,
        sign: Box::new(move |secret, now| {
            let key = standard_webhooks_key(secret)
                .unwrap_or_else(|| standard_webhooks_key("whsec_Zm9yZ2VkLWtleQ==").unwrap());
            Req {
                target: "/hooks/warehouse/east".into(),
                body: body.clone(),
                ..Default::default()
            }
            .header("content-type", "application/json")
            .header("webhook-id", "msg_sec_1")
            .header("webhook-timestamp", now.to_string())
            .header(
                "webhook-signature",
                sign_standard_webhooks(&key, "msg_sec_1", now, &body),
            )
        }),
    };
    let xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrder><deliveryOrderCode>og-sec</deliveryOrderCode><deliveryOrderId>WMS1</deliveryOrderId><status>DELIVERED</status></deliveryOrder></request>".to_vec();
    let qimen_case = SchemeCase {
        label: "warehouse callback qimen".into(),
        connector: "asia".into(),
        secret: qimen::APP_SECRET.into(),
        carrier: Carrier::Query("sign"),
        // The sign covers a Beijing-time `timestamp`, allowed 10 minutes from now.
        timestamped: true,
        accepted: 200,
        sign: Box::new(move |secret, now| {
            let beijing = chrono::DateTime::from_timestamp(now + 8 * 3600, 0)
                .unwrap()
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let mut query: Vec<(String, String)> = [
                ("method", "taobao.qimen.deliveryorder.confirm"),
                ("timestamp", beijing.as_str()),
                ("format", "xml"),
                ("app_key", qimen::APP_KEY),
                ("v", "2.0"),
                ("sign_method", "md5"),
                ("customerId", qimen::CUSTOMER_ID),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let sign = qimen_sign(
                secret,
                query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &xml,
            );
            query.push(("sign".into(), sign));
            let q = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            Req {
                target: format!("/hooks/warehouse/asia?{q}"),
                body: xml.clone(),
                ..Default::default()
            }
            .header("content-type", "text/xml; charset=utf-8")
        }),
    };
    vec![shipbob_case, qimen_case]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signature_scheme_refuses_forged_missing_truncated_stale_and_replayed_requests() {
    let s = server(10_000, 30).await;
    let base = s.base.as_str();
    let store = s.daemon.store.clone();
    let cases: Vec<SchemeCase> = order_hook_cases()
        .into_iter()
        .chain(tracking_hook_cases())
        .chain(warehouse_hook_cases())
        .collect();
    // Six order-webhook schemes, the six tracking samples (SF Express as its JSON push), two
    // warehouse kinds.
    assert_eq!(cases.len(), 6 + 6 + 2, "every scheme");
    let mut refused = 0;
    for case in &cases {
        let what = &case.label;
        let now = chrono::Utc::now().timestamp();
        let valid = (case.sign)(&case.secret, now);
        let mut bad = vec![
            ("forged", (case.sign)("sec-not-the-secret-1234", now)),
            ("missing", case.carrier.damage(&valid, false)),
            ("truncated", case.carrier.damage(&valid, true)),
        ];
        if case.timestamped {
            bad.push(("stale", (case.sign)(&case.secret, now - 3_600)));
            bad.push(("from the future", (case.sign)(&case.secret, now + 3_600)));
        }
        for (how, req) in &bad {
            let (status, body) = post(base, req).await;
            assert_eq!(status, 401, "{what}, {how} signature: {body}");
            refused += 1;
        }
        assert_eq!(
            store.raw_count(&case.connector).await.unwrap(),
            0,
            "{what}: nothing stored for a refused request"
        );
        // The genuine request, then the same bytes replayed: one document.
        for attempt in ["genuine", "replayed"] {
            let (status, body) = post(base, &valid).await;
            assert_eq!(status, case.accepted, "{what}, {attempt}: {body}");
        }
        assert_eq!(
            store.raw_count(&case.connector).await.unwrap(),
            1,
            "{what}: a replay stores nothing twice"
        );
    }
    // The shop's order arrives once (replayed webhook included).
    wait_until(Duration::from_secs(30), "the webhook order", || async {
        store.order_count("shop").await.unwrap() == 1
    })
    .await;
    println!(
        "signatures: {} schemes, {refused} bad requests refused, 0 stored",
        cases.len()
    );
    s.daemon.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Bodies over the limit and slow bodies

/// Sends the head of a request declaring `length` body bytes, then one byte a second; returns
/// the status the server answered and how long it took.
async fn trickle(addr: std::net::SocketAddr, head: String, length: usize) -> (u16, Duration) {
    let head = format!("{head}Content-Length: {length}\r\n\r\n");
    trickle_bytes(addr, head.into_bytes(), vec![b' '; length]).await
}

/// Sends `head` (a request head never finished) one byte a second; returns the status the
/// server answered (0: the connection was closed without one) and how long until it ended
/// the connection.
async fn trickle_head(addr: std::net::SocketAddr, head: String) -> (u16, Duration) {
    trickle_bytes(addr, Vec::new(), head.into_bytes()).await
}

/// Sends `at_once`, then `slowly` one byte a second, then holds the connection open as a slow
/// client would; returns the status the server answered (0: none) and how long until the
/// server ended the connection (at most 30 s, then the test gives up).
async fn trickle_bytes(
    addr: std::net::SocketAddr,
    at_once: Vec<u8>,
    slowly: Vec<u8>,
) -> (u16, Duration) {
    let started = Instant::now();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(&at_once).await.unwrap();
    let (mut read, mut write) = conn.into_split();
    let writer = tokio::spawn(async move {
        for byte in slowly {
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    writer.abort();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_and_slow_bodies_and_heads_are_cut_off_while_others_are_served() {
    let s = server(10_000, 2).await;
    let base = s.base.as_str();
    let store = s.daemon.store.clone();

    // Over the limit: the API's JSON, the sign-in form, a connector's max_body_bytes.
    let big = vec![b' '; 3 * 1024 * 1024];
    let api = Req {
        target: "/api/orders".into(),
        body: big.clone(),
        ..Default::default()
    }
    .header("content-type", "application/json")
    .header("authorization", format!("Bearer {OPERATOR}"));
    assert_eq!(raw_post(s.addr, &api).await, 413, "API body over 2 MB");
    let login = Req {
        target: "/ui/login".into(),
        body: big.clone(),
        ..Default::default()
    }
    .header("content-type", "application/x-www-form-urlencoded");
    assert_eq!(
        raw_post(s.addr, &login).await,
        413,
        "sign-in form over 2 MB"
    );
    let hook = Req {
        target: "/hooks/orders/shop".into(),
        body: vec![b' '; 70_000],
        ..Default::default()
    }
    .header("content-type", "application/json")
    .header(
        "x-shopify-hmac-sha256",
        sign_base64(SHOP_SECRET.as_bytes(), &vec![b' '; 70_000]),
    );
    assert_eq!(
        raw_post(s.addr, &hook).await,
        413,
        "webhook over max_body_bytes"
    );
    let feedback = Req {
        target: "/feedback/no-such-token".into(),
        body: vec![b'a'; 8192],
        ..Default::default()
    }
    .header("content-type", "application/x-www-form-urlencoded");
    assert_eq!(
        raw_post(s.addr, &feedback).await,
        413,
        "feedback form over its limit"
    );

    // Slow bodies: one byte a second to a webhook and to the API, answered 408 when the
    // 2 s are up; meanwhile the server answers others at once.
    let slow_hook = tokio::spawn(trickle(
        s.addr,
        "POST /hooks/orders/shop HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nX-Shopify-Hmac-Sha256: AAAA\r\n".to_string(),
        60,
    ));
    let slow_api = tokio::spawn(trickle(
        s.addr,
        format!("POST /api/orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nAuthorization: Bearer {OPERATOR}\r\n"),
        60,
    ));
    // A slow head: the request line and headers one byte a second (60 bytes, never ending
    // with the blank line), cut off when the 2 s header timeout is up.
    let slow_head = tokio::spawn(trickle_head(
        s.addr,
        format!(
            "GET /api/orders HTTP/1.1\r\nHost: test\r\nX-Slow: {}",
            "a".repeat(30)
        ),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..5 {
        let started = Instant::now();
        let (status, _, _) = send(
            base,
            "GET",
            &Req {
                target: "/healthz".into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "served while slow clients trickle"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (what, task) in [("webhook", slow_hook), ("API", slow_api)] {
        let (status, took) = task.await.unwrap();
        assert_eq!(status, 408, "slow {what} body");
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(8),
            "slow {what} body cut off after the 2 s timeout, took {took:?}"
        );
        println!("slow {what} body: 408 after {took:?}");
    }
    let (status, took) = slow_head.await.unwrap();
    assert!(
        [0, 408].contains(&status),
        "a slow head is closed (or answered 408): {status}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "slow head cut off after the 2 s timeout, took {took:?}"
    );
    println!("slow request head: closed after {took:?}");
    assert_eq!(store.raw_count("shop").await.unwrap(), 0, "nothing stored");
    let (status, _, _) = send(
        base,
        "GET",
        &Req {
            target: "/healthz".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(status, 200, "the server keeps serving");
    s.daemon.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Rate limits

/// Posts the dashboard's sign-in form with `token` from a client whose connections come from
/// `from` (its own sign-in page and double-submit cookie first), with `headers`; returns the
/// status, the `Retry-After` seconds and whether a session cookie was given.
async fn sign_in_from(
    base: &str,
    from: std::net::IpAddr,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<u64>, bool) {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from)
        .build()
        .unwrap();
    let page = c.get(format!("{base}/ui/login")).send().await.unwrap();
    assert_eq!(page.status(), 200, "the sign-in page is never limited");
    let (login_cookie, _) = cookie_of(&page, "og_login").unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let mut req = c
        .post(format!("{base}/ui/login"))
        .header("cookie", login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let wait = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let session = cookie_of(&resp, "og_session").is_some();
    (resp.status().as_u16(), wait, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_lookup_feedback_and_sign_in_are_rate_limited_per_client() {
    let s = server(3, 30).await;
    let base = s.base.as_str();
    let lookup = |n: u32| Req {
        target: format!("/api/public/status?order=%23T{n}&contact=nobody%40example.com"),
        ..Default::default()
    };
    for n in 0..3 {
        let (status, _, body) = send(base, "GET", &lookup(n)).await;
        assert_ne!(status, 429, "lookup {n} within the limit: {body}");
    }
    let limited = [
        ("GET", lookup(9)),
        (
            "POST",
            Req {
                target: "/api/public/status".into(),
                body: br##"{"order":"#T1","contact":"x@example.com"}"##.to_vec(),
                ..Default::default()
            }
            .header("content-type", "application/json"),
        ),
        (
            "POST",
            Req {
                target: "/status".into(),
                body: b"order=%23T1&contact=x%40example.com".to_vec(),
                ..Default::default()
            }
            .header("content-type", "application/x-www-form-urlencoded"),
        ),
        // A forged X-Forwarded-For (not trusted by default) is no way around it.
        ("GET", lookup(10).header("x-forwarded-for", "203.0.113.7")),
    ];
    for (method, req) in &limited {
        let (status, headers, _) = send(base, method, req).await;
        assert_eq!(status, 429, "{method} {} over the limit", req.target);
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    let feedback = || {
        Req {
            target: "/feedback/no-such-token".into(),
            body: br#"{"rating": 5}"#.to_vec(),
            ..Default::default()
        }
        .header("content-type", "application/json")
    };
    for n in 0..3 {
        let (status, _, _) = send(base, "POST", &feedback()).await;
        assert_eq!(
            status, 404,
            "feedback post {n} within the limit: unknown token"
        );
    }
    let (status, headers, _) = send(base, "POST", &feedback()).await;
    assert_eq!(status, 429, "feedback over the limit");
    assert!(headers.contains_key("retry-after"));

    // Dashboard sign-in: three failed sign-ins of a client, then that client is refused 429
    // whatever it sends, the right token too; another client (another loopback address) with
    // the right token signs in, and its own wrong token is a plain 401.
    let a: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let b: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    for n in 0..3 {
        let (status, wait, session) = sign_in_from(base, a, WRONG, &[]).await;
        assert_eq!(
            (status, wait, session),
            (401, None, false),
            "failed sign-in {n}"
        );
    }
    for (what, token, headers) in [
        ("a wrong token", WRONG, &[][..]),
        ("the right token", OPERATOR, &[][..]),
        (
            "a forged X-Forwarded-For",
            OPERATOR,
            &[("x-forwarded-for", "203.0.113.9")][..],
        ),
    ] {
        let (status, wait, session) = sign_in_from(base, a, token, headers).await;
        assert_eq!(status, 429, "{what} after the limit");
        assert!(!session, "{what}: no session while limited");
        let wait = wait.expect("Retry-After");
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    let (status, _, session) = sign_in_from(base, b, WRONG, &[]).await;
    assert_eq!(
        (status, session),
        (401, false),
        "another client's wrong token"
    );
    let (status, _, session) = sign_in_from(base, b, OPERATOR, &[]).await;
    assert_eq!(
        (status, session),
        (303, true),
        "another client's right token signs in"
    );
    // Everything else is served meanwhile.
    let (status, _, _) = send(
        base,
        "GET",
        &Req {
            target: "/healthz".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        base,
        "GET",
        &Req {
            target: "/api/orders".into(),
            ..Default::default()
        }
        .header("authorization", format!("Bearer {VIEWER}")),
    )
    .await;
    assert_eq!(status, 200);
    s.daemon.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Secrets and personal data never in logs

/// Personal data of every fixture: the names, e-mails, phones and streets of `expected.json`.
fn personal_data_needles() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut stack = vec![fixtures];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "expected.json") {
                let Ok(v) =
                    serde_json::from_slice::<serde_json::Value>(&std::fs::read(&p).unwrap())
                else {
                    continue;
                };
                for party in ["customer", "ship_to", "bill_to"] {
                    for field in ["name", "email", "phone", "line1", "line2"] {
                        if let Some(text) = v[party][field].as_str() {
                            let text = text.trim();
                            if text.chars().count() >= 6 {
                                out.insert(text.to_string());
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The secrets the suite uses: API tokens, webhook and callback secrets, partner credentials
/// (constants named *TOKEN/*SECRET/*PASSWORD/API_KEY in the tests and simulators, and the
/// literal values tests write into secret files).
fn secret_needles() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: BTreeSet<String> = [
        OPERATOR,
        VIEWER,
        WRONG,
        SHOP_SECRET,
        WOO_SECRET,
        CUSTOM_SECRET,
        SITE_SECRET,
        BASIC_PASSWORD,
        CXML_SECRET,
        TRACKING_SECRET_SUFFIX,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut files = Vec::new();
    for dir in ["tests", "tests/common", "src/sandbox"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "rs") {
                files.push(entry.path());
            }
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            let line = line.trim();
            // const NAME: &str = "value";
            if let Some(rest) = line
                .strip_prefix("const ")
                .or_else(|| line.strip_prefix("pub const "))
            {
                let Some((name, value)) = rest.split_once(": &str = \"") else {
                    continue;
                };
                let secretish = ["TOKEN", "SECRET", "PASSWORD", "API_KEY"]
                    .iter()
                    .any(|w| name.contains(w))
                    && !name.ends_with("_PATH")
                    && !name.ends_with("_ENV")
                    && !name.ends_with("_SUFFIX");
                let value = value.trim_end_matches(';').trim_end_matches('"');
                if secretish && value.len() >= 8 && !value.contains('{') && !value.contains('/') {
                    out.insert(value.to_string());
                }
            }
            // secret_file(dir, "name", "value")
            for piece in line.split("secret_file(").skip(1) {
                let literals: Vec<&str> = piece.split('"').skip(1).step_by(2).take(2).collect();
                if let [_, value] = literals[..] {
                    if value.len() >= 8 {
                        out.insert(value.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Run last by `deploy/dev/test.sh`: every log line the suite's processes wrote (in-process
/// daemons and child `ordergate` processes, JSON in `$ORDERGATE_TEST_LOG_DIR`) is searched for
/// the fixtures' personal data and the suite's secrets.
#[test]
#[ignore = "run by deploy/dev/test.sh after the whole suite: cargo test --test security -- --ignored log_scan"]
fn log_scan() {
    let dir = std::env::var_os(ordergate::telemetry::TEST_LOG_DIR)
        .map(PathBuf::from)
        .expect("ORDERGATE_TEST_LOG_DIR names the folder the suite's logs were collected in");
    let mut needles: Vec<(String, &str)> = personal_data_needles()
        .into_iter()
        .map(|n| (n, "personal data"))
        .collect();
    let personal = needles.len();
    needles.extend(secret_needles().into_iter().map(|n| (n, "secret")));
    assert!(
        personal >= 50,
        "the fixtures give personal data to look for: {personal}"
    );
    let mut files = 0;
    let mut lines = 0usize;
    let mut programs = BTreeSet::new();
    let mut leaks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        // This process's own log (the scan's) holds nothing but is skipped all the same.
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .contains(&format!("-{}.", std::process::id()))
        {
            continue;
        }
        files += 1;
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        programs.insert(
            name.rsplit_once('-')
                .map(|(a, _)| a.to_string())
                .unwrap_or_default(),
        );
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        for line in text.lines() {
            lines += 1;
            for (needle, kind) in &needles {
                if line.contains(needle.as_str()) {
                    // The line is shown with the value masked.
                    let shown: String = line
                        .replace(needle.as_str(), "<…>")
                        .chars()
                        .take(400)
                        .collect();
                    leaks
                        .entry(format!("{kind} in {name}"))
                        .or_default()
                        .push(shown);
                }
            }
        }
    }
    println!(
        "log scan: {files} files from {} programs, {lines} lines, {} needles ({personal} personal data, {} secrets)",
        programs.len(),
        needles.len(),
        needles.len() - personal
    );
    assert!(
        files > 0 && lines > 0,
        "no logs were collected in {}",
        dir.display()
    );
    assert!(
        programs.contains("ordergate"),
        "the child `ordergate` processes' logs are collected too: {programs:?}"
    );
    assert!(leaks.is_empty(), "logged: {leaks:#?}");
}
