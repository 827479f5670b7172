//! Order webhooks against a running daemon over real HTTP: signatures checked before anything
//! is stored, oversize refused, duplicates give one order, cXML partners get cXML answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::{shopify_order, wait_until, Profile, TestEnv};
use ordergate::app::Daemon;
use ordergate::intake::webhook::{sign_base64, sign_ordergate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 client: one request per connection, whole response read.
async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    // A server may refuse before reading the whole body; a failed write is then fine.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn secret_file(env: &TestEnv, name: &str, value: &str) -> String {
    let p = env.dir.path().join(name);
    std::fs::write(&p, value).unwrap();
    format!("file:{}", p.display())
}

async fn daemon_with_hooks(env: &TestEnv) -> (Daemon, std::net::SocketAddr) {
    let extra = format!(
        r#"
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
name = "site"
format = "shopify"
auth = {{ scheme = "ordergate", secret = "{site}" }}

[[connectors]]
kind = "webhook"
name = "acme-procurement"
format = "cxml"
auth = {{ scheme = "cxml-shared-secret", identity = "AN01051729384", secret = "{cxml}" }}
"#,
        shop = secret_file(env, "shop.secret", "shpss_test_secret"),
        site = secret_file(env, "site.secret", "website-secret"),
        woo = secret_file(env, "woo.secret", "wc-secret"),
        cxml = secret_file(env, "cxml.secret", "s3cr3t-cxml"),
    );
    let mut cfg = env.config(&common::mappings_dir(), &extra);
    cfg.http.listen = "127.0.0.1:0".into();
    let daemon = Daemon::start(&cfg).await.unwrap();
    let addr = daemon.http_addr.unwrap();
    (daemon, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_webhook_signatures_size_and_duplicates() {
    // The process's metrics recorder, installed before anything counts.
    ordergate::telemetry::prometheus();
    let env = TestEnv::new(Profile::Standalone).await;
    let (daemon, addr) = daemon_with_hooks(&env).await;
    let store = daemon.store.clone();
    let body = shopify_order(77);
    let sig = sign_base64(b"shpss_test_secret", &body);
    let json = ("content-type", "application/json".to_string());

    // Forged, missing, and valid-for-another-body signatures: 401, nothing stored.
    let forged = sign_base64(b"not the secret", &body);
    let (s, _) = post(
        addr,
        "/hooks/orders/shop",
        &[json.clone(), ("X-Shopify-Hmac-Sha256", forged)],
        &body,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = post(
        addr,
        "/hooks/orders/shop",
        std::slice::from_ref(&json),
        &body,
    )
    .await;
    assert_eq!(s, 401);
    let reserialised =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&body).unwrap()).unwrap();
    assert_ne!(reserialised, body);
    let (s, _) = post(
        addr,
        "/hooks/orders/shop",
        &[json.clone(), ("X-Shopify-Hmac-Sha256", sig.clone())],
        &reserialised,
    )
    .await;
    assert_eq!(s, 401, "the signature covers the exact bytes");
    assert_eq!(
        store.raw_count("shop").await.unwrap(),
        0,
        "nothing stored for refused requests"
    );

    // Oversize: 413 before storing.
    let big = vec![b' '; 70_000];
    let (s, _) = post(
        addr,
        "/hooks/orders/shop",
        &[
            json.clone(),
            (
                "X-Shopify-Hmac-Sha256",
                sign_base64(b"shpss_test_secret", &big),
            ),
        ],
        &big,
    )
    .await;
    assert_eq!(s, 413);
    assert_eq!(store.raw_count("shop").await.unwrap(), 0);
    // A second one: counted, but the open exception stands for both (anyone can send these).
    let (s, _) = post(
        addr,
        "/hooks/orders/shop",
        std::slice::from_ref(&json),
        &big,
    )
    .await;
    assert_eq!(s, 413);

    // Every refusal is counted by reason and is an exception; requests refused before their
    // sender is known (anyone on the network can send them) share one open exception per reason.
    let exceptions = store.exceptions(false, 100).await.unwrap();
    let of = |kind: &str| {
        exceptions
            .iter()
            .filter(|e| e.kind == kind && e.connector.as_deref() == Some("shop"))
            .count()
    };
    assert_eq!(of("request_unauthenticated"), 1, "{exceptions:?}");
    assert_eq!(of("document_too_large"), 1, "{exceptions:?}");
    let metrics = ordergate::telemetry::prometheus().render();
    assert!(
        metrics.contains(
            r#"ordergate_documents_refused_total{connector="shop",reason="unauthenticated"} 3"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"ordergate_documents_refused_total{connector="shop",reason="too_large"} 2"#
        ),
        "{metrics}"
    );

    // Valid: 202, then the order. Shopify resends the same delivery: still one order.
    let headers = [
        json.clone(),
        ("X-Shopify-Hmac-Sha256", sig.clone()),
        ("X-Shopify-Webhook-Id", "b54557e4".to_string()),
    ];
    let (s, resp) = post(addr, "/hooks/orders/shop", &headers, &body).await;
    assert_eq!(s, 202, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["duplicate"], false);
    let (s, resp) = post(addr, "/hooks/orders/shop", &headers, &body).await;
    assert_eq!(s, 202);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&resp).unwrap()["duplicate"],
        true
    );
    wait_until(Duration::from_secs(30), "the order", || async {
        store.order_count("shop").await.unwrap() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.order_count("shop").await.unwrap(), 1);
    assert_eq!(store.raw_count("shop").await.unwrap(), 1);
    let raw = store
        .raw(v["raw_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.content, body, "the raw body is kept byte for byte");
    assert_eq!(raw.source_name.as_deref(), Some("webhook:b54557e4"));

    let (s, _) = post(addr, "/hooks/orders/nope", &[json], &body).await;
    assert_eq!(s, 404);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn website_scheme_is_timestamped() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (daemon, addr) = daemon_with_hooks(&env).await;
    let body = shopify_order(78);
    let now = chrono::Utc::now().timestamp();
    let stale = sign_ordergate(b"website-secret", now - 3_600, &body);
    let (s, _) = post(
        addr,
        "/hooks/orders/site",
        &[("X-Ordergate-Signature", stale)],
        &body,
    )
    .await;
    assert_eq!(s, 401);
    let fresh = sign_ordergate(b"website-secret", now, &body);
    let (s, _) = post(
        addr,
        "/hooks/orders/site",
        &[("X-Ordergate-Signature", fresh)],
        &body,
    )
    .await;
    assert_eq!(s, 202);
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "the order", || async {
        store.order_count("site").await.unwrap() == 1
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cxml_partner_gets_cxml_responses() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (daemon, addr) = daemon_with_hooks(&env).await;
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/samples/cxml-orderrequest-basic-usd/order-request.xml"),
    )
    .unwrap();
    let secret_in_sample = sample
        .split("<SharedSecret>")
        .nth(1)
        .and_then(|r| r.split("</SharedSecret>").next())
        .expect("the sample has a SharedSecret")
        .to_string();
    let doc = sample.replacen(&secret_in_sample, "s3cr3t-cxml", 1);
    let xml = ("content-type", "text/xml".to_string());
    let wrong = doc.replacen("s3cr3t-cxml", "guess", 1);
    let (s, resp) = post(
        addr,
        "/hooks/orders/acme-procurement",
        std::slice::from_ref(&xml),
        wrong.as_bytes(),
    )
    .await;
    assert_eq!(s, 401);
    assert!(resp.contains("<Status code=\"401\""), "{resp}");
    assert_eq!(daemon.store.raw_count("acme-procurement").await.unwrap(), 0);

    let (s, resp) = post(
        addr,
        "/hooks/orders/acme-procurement",
        &[xml],
        doc.as_bytes(),
    )
    .await;
    assert_eq!(s, 200, "{resp}");
    assert!(resp.contains("<!DOCTYPE cXML"), "{resp}");
    assert!(
        resp.contains("<Status code=\"200\" text=\"OK\"/>"),
        "{resp}"
    );
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "the cXML order", || async {
        store.order_count("acme-procurement").await.unwrap() == 1
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_webhook() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (daemon, addr) = daemon_with_hooks(&env).await;
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/samples/woocommerce-order-basic/order.json"),
    )
    .unwrap();
    let (s, _) = post(
        addr,
        "/hooks/orders/woo",
        &[("X-WC-Webhook-Signature", sign_base64(b"wrong", &body))],
        &body,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = post(
        addr,
        "/hooks/orders/woo",
        &[("X-WC-Webhook-Signature", sign_base64(b"wc-secret", &body))],
        &body,
    )
    .await;
    assert_eq!(s, 202);
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(30), "the WooCommerce order", || async {
        store.order_count("woo").await.unwrap() == 1
    })
    .await;
    daemon.stop().await;
}

/// Concurrent deliveries share group commits: every one is answered 202 only once stored, and
/// every one becomes its order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_webhooks_are_each_stored_once() {
    let env = TestEnv::new(Profile::Standalone).await;
    let (daemon, addr) = daemon_with_hooks(&env).await;
    let mut tasks = Vec::new();
    for n in 0..60u64 {
        tasks.push(tokio::spawn(async move {
            let body = shopify_order(1_000 + n);
            let sig = sign_base64(b"shpss_test_secret", &body);
            post(
                addr,
                "/hooks/orders/shop",
                &[("X-Shopify-Hmac-Sha256", sig)],
                &body,
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    // 202 means stored: the count is complete at once.
    assert_eq!(daemon.store.raw_count("shop").await.unwrap(), 60);
    let store = daemon.store.clone();
    wait_until(Duration::from_secs(60), "60 orders", || async {
        store.order_count("shop").await.unwrap() == 60
    })
    .await;
    daemon.stop().await;
}

/// Carrier tracking callbacks over real HTTP, per scheme: a callback signed as the partner
/// signs it is stored byte for byte and answered in the partner's own shape, and announced as
/// `tracking.<connector>`; a forged one is refused in the partner's failure shape with nothing
/// stored; a resent one is the same document; an oversize body or a 10 MB signature header is
/// refused and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_callbacks_per_scheme() {
    use ordergate::tracking::{sign::sign, Scheme};
    let env = TestEnv::new(Profile::Standalone).await;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples");
    let mut connectors = String::new();
    let mut cases = Vec::new();
    for (format, case, payload) in common::facts::TRACKING_SAMPLES {
        let body = std::fs::read(samples.join(case).join(payload)).unwrap();
        let scheme = if format == "sf-express" && !body.starts_with(b"{") {
            "sf-express-form"
        } else {
            format
        };
        let name = format!("trk-{scheme}");
        let secret = format!("{scheme}-secret-7f3a");
        connectors.push_str(&format!(
            "[[connectors]]\nkind = \"tracking\"\nname = \"{name}\"\nscheme = \"{scheme}\"\nsecret = \"{}\"\nmax_body_bytes = 65536\n",
            secret_file(&env, &format!("{name}.secret"), &secret)
        ));
        // Kuaidi100 signs the `param` JSON inside its form body.
        let signed_input = if scheme == "kuaidi100" {
            form_urlencoded::parse(&body)
                .find(|(k, _)| k == "param")
                .map(|(_, v)| v.into_owned().into_bytes())
                .unwrap()
        } else {
            body.clone()
        };
        cases.push((name, Scheme::parse(scheme).unwrap(), secret, signed_input));
    }
    let mut cfg = env.config(&common::mappings_dir(), &connectors);
    cfg.http.listen = "127.0.0.1:0".into();
    let daemon = Daemon::start(&cfg).await.unwrap();
    let addr = daemon.http_addr.unwrap();
    let mut observer = common::observe(&daemon.bus, &cfg, "trk-observer", &["tracking.*"]).await;
    let store = daemon.store.clone();

    for (name, scheme, secret, input) in &cases {
        let path = format!("/hooks/tracking/{name}");
        let now = chrono::Utc::now().timestamp();
        let signed = sign(*scheme, secret, &path, input, now);
        let url = match &signed.query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let content_type = match scheme {
            Scheme::Kuaidi100 | Scheme::SfExpressForm => "application/x-www-form-urlencoded",
            _ => "application/json",
        };
        let mut headers: Vec<(&str, String)> = signed
            .headers
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        headers.push(("content-type", content_type.to_string()));

        // Forged: signed with another secret — refused in the partner's shape, nothing stored.
        let forged = sign(*scheme, "not-the-secret", &path, input, now);
        let forged_url = match &forged.query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let mut forged_headers: Vec<(&str, String)> = forged
            .headers
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        forged_headers.push(("content-type", content_type.to_string()));
        let (s, body) = post(addr, &forged_url, &forged_headers, &forged.body).await;
        assert_eq!(s, 401, "{name} forged: {body}");
        assert_eq!(
            body,
            ordergate::tracking::ack::refused(*scheme, 401, "authentication failed").body,
            "{name}"
        );
        assert_eq!(store.raw_count(name).await.unwrap(), 0, "{name}");

        // Genuine, then resent: one document, answered as the partner expects both times.
        for _ in 0..2 {
            let (s, body) = post(addr, &url, &headers, &signed.body).await;
            assert_eq!(s, 200, "{name}: {body}");
            assert_eq!(
                body,
                ordergate::tracking::ack::accepted(*scheme).body,
                "{name}"
            );
        }
        assert_eq!(store.raw_count(name).await.unwrap(), 1, "{name}");
    }
    let events = common::drain(&mut observer, Duration::from_secs(3)).await;
    // One event per document: a resend racing the first announcement may publish it again,
    // always under the same message id, which consumers dedupe on.
    for (name, _, _, _) in &cases {
        let ids: std::collections::HashSet<_> = events
            .iter()
            .filter(|e| e.kind == format!("tracking.{name}"))
            .map(|e| e.id)
            .collect();
        assert_eq!(ids.len(), 1, "one tracking.{name} event: {events:?}");
    }
    // Stored byte for byte.
    let (name, scheme, secret, input) = &cases[0];
    let path = format!("/hooks/tracking/{name}");
    let signed = sign(
        *scheme,
        secret,
        &path,
        input,
        chrono::Utc::now().timestamp(),
    );
    let event = events
        .iter()
        .find(|e| e.kind == format!("tracking.{name}"))
        .unwrap();
    let raw_id = event.payload["raw_id"].as_str().unwrap();
    let raw = store.raw(raw_id).await.unwrap().unwrap();
    assert_eq!(raw.content, signed.body);
    assert_eq!(raw.format, scheme.name());

    // Hostile: a body over the limit, a 10 MB signature header. Refused; the server goes on.
    let (name, ..) = &cases[2];
    let path = format!("/hooks/tracking/{name}");
    let big = vec![b'{'; 70_000];
    let (s, _) = post(
        addr,
        &path,
        &[("content-type", "application/json".into())],
        &big,
    )
    .await;
    assert_eq!(s, 413);
    let huge = "a".repeat(10 * 1024 * 1024);
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\naftership-hmac-sha256: {huge}\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may close before reading it all: a failed write means refused too.
    let _ = conn.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "a 10 MB signature header is refused: {}",
        answer.lines().next().unwrap_or("")
    );
    assert_eq!(store.raw_count(name).await.unwrap(), 1, "nothing stored");
    let (s, _) = post(addr, "/hooks/tracking/nope", &[], b"{}").await;
    assert_eq!(s, 404, "the server keeps serving");
    daemon.stop().await;
}
