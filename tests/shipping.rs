//! Shipping out through the real daemon, in both profiles: orders packed at a warehouse that
//! does not book carriers get one label each from the EasyPost or Shippo simulator (the
//! simulators count labels per parcel key), whatever happens to the purchase's answer (lost,
//! 429, an outage); an address the carrier refuses is an exception for logistics and no
//! label; a warehouse that books itself gets no second booking; the transport rules pick the
//! mode (own vehicle: a dispatch document, tracking entered through the API); the delivery
//! note's three copies are stored as PDF (text layer checked with `pdftotext`, Latin and CJK)
//! and HTML and served to viewer tokens only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{mappings_dir, poll, Profile, TestEnv};
use ordergate::outbound::carrier::{build, label_key, Address, Booking, LabelRequest};
use ordergate::outbound::warehouse::fulfilment_key;
use ordergate::sandbox::carrier::CarrierSandbox;
use ordergate::sandbox::shipout::ShipOut;
use ordergate::sandbox::warehouse::FaultRequest;
use ordergate::sandbox::{easypost, shippo};
use ordergate::store::Store;

/// Catalog rows for the test's SKUs, priced as the shared Shopify sample (24.00): a mug
/// (0.4 kg), a fragile lamp, a 40 kg sofa and a box its warehouse ships itself.
const PRODUCTS: &str = "SHIP-MUG,Mug,350 ml,kitchen,24.00,24.00,24.00,24.00,24.00,24.00,true,50,false,false,0.4\n\
                        SHIP-LAMP,Desk lamp 台灯,E27 白色,lighting,24.00,24.00,24.00,24.00,24.00,24.00,true,50,true,false,1.2\n\
                        SHIP-SOFA,Sofa,3-seat,furniture,24.00,24.00,24.00,24.00,24.00,24.00,true,50,false,false,40\n\
                        SHIP-BOX,Gift box,,selfship,24.00,24.00,24.00,24.00,24.00,24.00,true,50,false,false,0.2\n\
                        SHIP-TORCH,Torch,lithium,kitchen,24.00,24.00,24.00,24.00,24.00,24.00,true,50,false,true,0.5\n\
                        SHIP-CUP,Cup,200 ml,splitship,24.00,24.00,24.00,24.00,24.00,24.00,true,50,false,false,0.3\n";

const OPERATOR: &str = "ops-token-7f3e2d1c0b9a";
const VIEWER: &str = "viewer-token-1a2b3c4d5e6f";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The carriers' timeouts and retries.
const TIMING: &str =
    "request_timeout_ms = 3000\nmax_retries = 4\nretry_base_ms = 100\nretry_max_ms = 1500\n";

/// The daemon's configuration besides the store and bus: the folder connector, three
/// pick-list warehouses (`local` and `split` do not book carriers, `self` does), routing,
/// transport rules and the four carriers.
fn extra(env: &TestEnv, ep: &CarrierSandbox, sh: &CarrierSandbox) -> String {
    let d = env.dir.path();
    let catalog = d.join("catalog.csv");
    std::fs::write(&catalog, ordergate::sandbox::data::catalog_csv() + PRODUCTS).unwrap();
    let inbox = env.inbox("shop");
    let secret = |name: &str, value: &str| common::sim::secret_file(d, name, value);
    let connectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
    let mut ship_out = ShipOut::new(
        &connectors,
        d,
        "local",
        &ep.base_url(),
        &secret("ep-key", easypost::API_KEY),
    );
    ship_out.poll_interval_ms = Some(50);
    ship_out.carrier_settings = format!("pickup = true\n{TIMING}");
    let mut warehouses = ship_out.warehouse_section();
    for (name, books_carrier) in [("split", false), ("self", true)] {
        let mut w = ShipOut::new(&connectors, d, name, "", "");
        w.poll_interval_ms = Some(50);
        w.books_carrier = books_carrier;
        warehouses.push_str(&w.warehouse_section());
    }
    format!(
        r#"
[catalog]
path = "{catalog}"

{folder}
{warehouses}
[routing]
[[routing.rules]]
name = "self-shipping"
categories = ["selfship"]
warehouses = ["self"]
[[routing.rules]]
name = "packed-a-unit-a-parcel"
categories = ["splitship"]
warehouses = ["split"]
[[routing.rules]]
name = "rest"
warehouses = ["local"]

[transport]
department = "logistics"
[[transport.rules]]
name = "heavy-own-van"
min_weight_kg = "20"
mode = "own_vehicle"
carrier = "van"
[[transport.rules]]
name = "hazardous-by-shippo-with-pickup"
hazardous = true
mode = "express"
service = "usps_priority"
carrier = "shippo-pu"
[[transport.rules]]
name = "fragile-by-shippo"
fragile = true
mode = "express"
service = "usps_priority"
carrier = "shippo"
[[transport.rules]]
name = "rest-by-easypost"
mode = "express"
service = "Priority"
carrier = "easypost"

{easypost}
[[carriers]]
name = "shippo"
definition = "shippo"
definitions = "{cdefs}"
base_url = "{sh}"
credentials = {{ api_token = "{sh_key}" }}
{TIMING}from = {{ name = "Ordergate Test Warehouse", street1 = "1 Dock Road", city = "Newark", state = "NJ", postal_code = "07102", country = "US" }}

[[carriers]]
name = "shippo-pu"
definition = "shippo"
definitions = "{cdefs}"
base_url = "{sh}"
credentials = {{ api_token = "{sh_key}" }}
params = {{ carrier_account = "usps-account-1" }}
pickup = true
{TIMING}from = {{ name = "Ordergate Test Warehouse", street1 = "1 Dock Road", city = "Newark", state = "NJ", postal_code = "07102", country = "US" }}

[[carriers]]
name = "van"
definition = "dispatch"
definitions = "{cdefs}"
"#,
        catalog = catalog.display(),
        folder = common::folder_connector("shop-drop", &inbox, "shopify"),
        warehouses = warehouses,
        easypost = ship_out.carrier_section(),
        cdefs = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("connectors/carriers")
            .display(),
        sh = sh.base_url(),
        sh_key = secret("sh-key", shippo::API_TOKEN),
    )
}

/// The shared Shopify sample as order `n` of three `sku`, shipped to 张伟 at `street`.
fn shop_order(n: u64, sku: &str, street: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&common::shopify_order(n)).unwrap();
    v["line_items"][0]["sku"] = serde_json::json!(sku);
    let email = serde_json::json!(format!("buyer{n}@example.com"));
    v["email"] = email.clone();
    v["contact_email"] = email.clone();
    if v["customer"].is_object() {
        v["customer"]["email"] = email;
    }
    let a = &mut v["shipping_address"];
    a["name"] = serde_json::json!("张伟");
    a["first_name"] = serde_json::json!("伟");
    a["last_name"] = serde_json::json!("张");
    a["address1"] = serde_json::json!(street);
    serde_json::to_vec(&v).unwrap()
}

async fn state(store: &Store, id: &str) -> String {
    store
        .order(id)
        .await
        .unwrap()
        .map(|o| o.state)
        .unwrap_or_default()
}

async fn wait_state(store: &Store, id: &str, want: &str) {
    wait_states(store, id, &[want]).await;
}

/// Waits until order `id` is in one of `wanted`.
async fn wait_states(store: &Store, id: &str, wanted: &[&str]) {
    let want = wanted.join(" or ");
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        last = state(store, id).await;
        if wanted.contains(&last.as_str()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ex: Vec<_> = store
        .exceptions(false, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.reason))
        .collect();
    panic!("order {id} is {last}, not {want}; exceptions: {ex:?}");
}

/// Drops order `n` and waits until the warehouse got it (the `local` packer may have packed
/// it and the ship stage shipped it already); returns the order id.
async fn place(env: &TestEnv, store: &Store, n: u64, sku: &str, street: &str) -> String {
    let inbox = env.inbox("shop");
    common::drop_file(
        &inbox,
        &format!("order-{n}.json"),
        &shop_order(n, sku, street),
    );
    let external = format!("{}", 7_000_000_000_000u64 + n);
    let id = poll(Duration::from_secs(30), "the order stored", || async {
        sqlx::query_scalar::<_, String>("SELECT id FROM orders WHERE external_id = $1")
            .bind(&external)
            .fetch_optional(store.pool())
            .await
            .unwrap()
    })
    .await;
    wait_states(store, &id, &["fulfilment_requested", "packed", "shipped"]).await;
    id
}

/// Order `n` of three `sku` placed, packed at `local` (the sandbox packer; it books no
/// carrier) and shipped by the ship stage; returns the order id.
async fn packed_and_shipped(env: &TestEnv, store: &Store, n: u64, sku: &str) -> String {
    let id = place(env, store, n, sku, "388 Palmerston Blvd").await;
    wait_state(store, &id, "shipped").await;
    id
}

/// The warehouse's confirmation that order `id`'s fulfilment order was packed (no tracking).
fn pack(env: &TestEnv, warehouse: &str, id: &str, sku: &str) {
    let key = fulfilment_key(id, warehouse);
    let dir = env.dir.path().join(format!("confirm-{warehouse}"));
    std::fs::create_dir_all(&dir).unwrap();
    common::drop_file(
        &dir,
        &format!("{key}-packed.csv"),
        format!("key,carrier,tracking_number,sku,quantity\n{key},,,{sku},3\n").as_bytes(),
    );
}

/// Look-ups by ordergate's key the carrier simulator answered.
fn lookups(sim: &CarrierSandbox) -> u64 {
    sim.state
        .control
        .lookups
        .load(std::sync::atomic::Ordering::Relaxed)
}

fn labels(sim: &CarrierSandbox, id: &str) -> u32 {
    sim.state
        .labels()
        .get(&label_key(id, "local#1"))
        .copied()
        .unwrap_or(0)
}

/// The reason of order `id`'s first open exception of `kind`, waited for.
async fn exception_reason(store: &Store, kind: &str, id: &str) -> String {
    poll(Duration::from_secs(30), kind, || async {
        store
            .exceptions(false, 50)
            .await
            .unwrap()
            .into_iter()
            .find(|x| x.kind == kind && x.order_id.as_deref() == Some(id))
            .map(|x| x.reason)
    })
    .await
}

async fn shipments(store: &Store, id: &str) -> Vec<ordergate::store::Shipment> {
    store.order_shipments(id).await.unwrap()
}

async fn get(url: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

fn pdftotext(pdf: &[u8], dir: &Path, name: &str) -> String {
    let p = dir.join(format!("{name}.pdf"));
    std::fs::write(&p, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&p)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; deploy/dev/services.sh installs it)");
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8(out.stdout).unwrap()
}

async fn shipping_out(profile: Profile) {
    let env = TestEnv::new(profile).await;
    let port = free_port();
    let ep = easypost::start("127.0.0.1:0").await.unwrap();
    let sh = shippo::start("127.0.0.1:0").await.unwrap();
    for s in [&ep, &sh] {
        s.state.control.set_faults(FaultRequest {
            retry_after_secs: 1.0,
            ..FaultRequest::default()
        });
    }
    let mut cfg = env.config(&mappings_dir(), &extra(&env, &ep, &sh));
    cfg.http.listen = format!("127.0.0.1:{port}");
    let d = env.dir.path();
    let tokens = format!(
        "[http]\napi_tokens = [{{ name = \"ops\", token = \"{}\", role = \"operator\" }}, {{ name = \"anna\", token = \"{}\", role = \"viewer\" }}]\n",
        common::sim::secret_file(d, "op-token", OPERATOR),
        common::sim::secret_file(d, "viewer-token", VIEWER),
    );
    cfg.http.api_tokens = ordergate::config::Config::from_toml(&tokens, "tokens", Vec::new())
        .unwrap()
        .http
        .api_tokens;
    let daemon = ordergate::app::Daemon::start(&cfg).await.unwrap();
    // The `local` warehouse packs every pick list it gets and books no carrier.
    let packer_stop = tokio_util::sync::CancellationToken::new();
    let packer = ordergate::sandbox::packer::spawn(
        env.dir.path().join("pick-local"),
        env.dir.path().join("confirm-local"),
        Duration::from_millis(100),
        packer_stop.clone(),
    );
    // The `split` warehouse packs one unit to a parcel and says so (its `parcel` column).
    let splitter = ordergate::sandbox::packer::spawn_in(
        env.dir.path().join("pick-split"),
        env.dir.path().join("confirm-split"),
        Duration::from_millis(100),
        Some(1),
        packer_stop.clone(),
    );
    let store = daemon.store.clone();
    let base = format!("http://127.0.0.1:{port}");

    // EasyPost: one label, the parcel recorded with the bought rate's ETA, shipped, the label
    // file stored, a pickup scheduled.
    let a = packed_and_shipped(&env, &store, 1, "SHIP-MUG").await;
    assert_eq!(labels(&ep, &a), 1);
    // A first purchase has no earlier attempt to find: it looks nothing up (the booking's
    // lock row, written before any call, does not count as one).
    assert_eq!(lookups(&ep), 0, "a first purchase looks its key up");
    let parcels = shipments(&store, &a).await;
    assert_eq!(parcels.len(), 1, "{parcels:?}");
    assert!(
        parcels[0].tracking_number.starts_with("9400"),
        "{parcels:?}"
    );
    assert!(
        parcels[0].eta.is_some(),
        "the rate's delivery date is the ETA"
    );
    let label = store
        .order_document(&a, "label", &label_key(&a, "local#1"))
        .await
        .unwrap()
        .expect("label file stored");
    assert!(label.content.starts_with(b"%PDF"));
    assert_eq!(ep.state.pickup_count(), 1);

    // Shippo for the fragile lamp.
    let b = packed_and_shipped(&env, &store, 2, "SHIP-LAMP").await;
    assert_eq!(labels(&sh, &b), 1);
    assert_eq!(labels(&ep, &b), 0);
    assert_eq!(lookups(&sh), 0, "a first purchase looks its key up");
    assert!(shipments(&store, &b).await[0]
        .tracking_number
        .starts_with("92055"));

    // The purchase's answer lost after the carrier sold the label: looked up, still one.
    for (sim, n, sku) in [(&ep, 3, "SHIP-MUG"), (&sh, 4, "SHIP-LAMP")] {
        sim.state.control.set_faults(FaultRequest {
            drop_next_create: 1,
            retry_after_secs: 1.0,
            ..FaultRequest::default()
        });
        let id = packed_and_shipped(&env, &store, n, sku).await;
        assert_eq!(
            labels(sim, &id),
            1,
            "{sku}: a lost answer must not buy a second label"
        );
        assert!(lookups(sim) >= 1, "{sku}: the lost purchase was looked up");
    }

    // 429 with Retry-After, then an outage: retried, one label each.
    ep.state.control.set_faults(FaultRequest {
        throttle_next: 2,
        retry_after_secs: 1.0,
        ..FaultRequest::default()
    });
    let d = packed_and_shipped(&env, &store, 5, "SHIP-MUG").await;
    assert_eq!(labels(&ep, &d), 1);
    // EasyPost down (503 to everything) while the order is packed: the purchase and its
    // lookups are retried; back up, one label.
    ep.state.control.set_outage(true);
    let before = ep
        .state
        .control
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let e = place(&env, &store, 6, "SHIP-MUG", "388 Palmerston Blvd").await;
    wait_state(&store, &e, "packed").await;
    poll(
        Duration::from_secs(30),
        "calls refused by the outage",
        || async {
            (ep.state
                .control
                .requests
                .load(std::sync::atomic::Ordering::Relaxed)
                >= before + 3)
                .then_some(())
        },
    )
    .await;
    ep.state.control.set_outage(false);
    wait_state(&store, &e, "shipped").await;
    assert_eq!(labels(&ep, &e), 1);

    // An address the carrier cannot verify: an exception for logistics with its reason, no
    // label, the order waits packed.
    let f = place(&env, &store, 7, "SHIP-MUG", "1 Nowhere Lane").await;
    let reason = poll(
        Duration::from_secs(30),
        "a carrier_refused exception",
        || async {
            store
                .exceptions(false, 50)
                .await
                .unwrap()
                .into_iter()
                .find(|x| x.kind == "carrier_refused" && x.order_id.as_deref() == Some(f.as_str()))
                .map(|x| (x.department, x.reason))
        },
    )
    .await;
    assert_eq!(reason.0, "logistics");
    assert!(reason.1.contains("ADDRESS.VERIFY.FAILURE"), "{}", reason.1);
    assert!(
        !reason.1.contains("Nowhere") && !reason.1.contains("张伟"),
        "no personal data: {}",
        reason.1
    );
    assert_eq!(state(&store, &f).await, "packed");
    assert_eq!(labels(&ep, &f), 0);

    // Shippo refuses a label for an address it cannot verify in the transaction itself
    // (status ERROR, messages[]): the same exception, no label.
    let f2 = place(&env, &store, 10, "SHIP-LAMP", "2 Nowhere Road").await;
    let reason = exception_reason(&store, "carrier_refused", &f2).await;
    assert!(reason.contains("ADDRESS_INVALID"), "{reason}");
    assert_eq!(labels(&sh, &f2), 0);
    assert_eq!(state(&store, &f2).await, "packed");

    // A warehouse that books its own carrier: no booking here; its shipped confirmation ships.
    let g = place(&env, &store, 8, "SHIP-BOX", "388 Palmerston Blvd").await;
    pack(&env, "self", &g, "SHIP-BOX");
    wait_state(&store, &g, "packed").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let key = fulfilment_key(&g, "self");
    let dir = env.dir.path().join("confirm-self");
    common::drop_file(
        &dir,
        "g-shipped.csv",
        format!("key,carrier,tracking_number,sku,quantity\n{key},DHL,JD0001234,SHIP-BOX,3\n")
            .as_bytes(),
    );
    wait_state(&store, &g, "shipped").await;
    assert_eq!(ep.state.labels().get(&label_key(&g, "self#1")), None);
    assert_eq!(sh.state.labels().get(&label_key(&g, "self#1")), None);
    assert!(store
        .label(&label_key(&g, "self#1"))
        .await
        .unwrap()
        .is_none());

    // The same warehouse reports g's tracking number for the next box: that is g's parcel, not
    // merged into it nor shipped on it — a parcel_taken exception, and the box waits packed
    // for the right number (entered through the API below).
    let g2 = place(&env, &store, 11, "SHIP-BOX", "388 Palmerston Blvd").await;
    pack(&env, "self", &g2, "SHIP-BOX");
    wait_state(&store, &g2, "packed").await;
    let key2 = fulfilment_key(&g2, "self");
    common::drop_file(
        &dir,
        "g2-shipped.csv",
        format!("key,carrier,tracking_number,sku,quantity\n{key2},DHL,JD0001234,SHIP-BOX,3\n")
            .as_bytes(),
    );
    let reason = exception_reason(&store, "parcel_taken", &g2).await;
    assert!(reason.contains(&g) && reason.contains("self"), "{reason}");
    assert_eq!(state(&store, &g2).await, "packed");
    assert!(shipments(&store, &g2).await.is_empty());
    assert_eq!(shipments(&store, &g).await.len(), 1, "g's parcel stays g's");

    // Own vehicle for the heavy sofa: a dispatch document, the order waits for its tracking,
    // entered through the API (operator only).
    let h = place(&env, &store, 9, "SHIP-SOFA", "388 Palmerston Blvd").await;
    let dispatch = poll(Duration::from_secs(30), "the dispatch document", || async {
        store
            .order_document(
                &h,
                "dispatch",
                &format!("{}.json", label_key(&h, "local#1")),
            )
            .await
            .unwrap()
    })
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&dispatch.content).unwrap();
    assert_eq!(doc["mode"], "own_vehicle");
    assert_eq!(doc["rule"], "heavy-own-van");
    assert_eq!(state(&store, &h).await, "packed");
    let url = format!("{base}/api/orders/{h}/shipments");
    let body = serde_json::json!({"carrier": "Own fleet", "tracking_number": "VAN-2026-0042"});
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        client
            .post(&url)
            .bearer_auth(VIEWER)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let r = client
        .post(&url)
        .bearer_auth(OPERATOR)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
    assert_eq!(state(&store, &h).await, "shipped");
    assert_eq!(
        shipments(&store, &h).await[0].tracking_number,
        "VAN-2026-0042"
    );
    let again = client
        .post(&url)
        .bearer_auth(OPERATOR)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status().as_u16(),
        409,
        "a shipped order takes no second entry"
    );
    // g2's tracking, typed with g's number first: refused, naming the order it belongs to.
    let g2_url = format!("{base}/api/orders/{g2}/shipments");
    let typo = client
        .post(&g2_url)
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({"carrier": "DHL", "tracking_number": "JD 000 1234"}))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status().as_u16(), 409);
    let text = typo.text().await.unwrap();
    assert!(text.contains(&g), "names the order it belongs to: {text}");
    assert_eq!(state(&store, &g2).await, "packed");
    let right = client
        .post(&g2_url)
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({"carrier": "DHL", "tracking_number": "JD0005678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 201, "{:?}", right.text().await);
    assert_eq!(state(&store, &g2).await, "shipped");
    assert_eq!(shipments(&store, &g2).await[0].tracking_number, "JD0005678");

    // Delivery notes: three copies, each marked, PDF with a text layer in Latin and CJK, and
    // HTML; viewer tokens read them, nobody else.
    let note_url = |id: &str, q: &str| format!("{base}/api/orders/{id}/delivery-note?{q}");
    let pdf = poll(Duration::from_secs(30), "the delivery note", || async {
        let (status, body) = get(&note_url(&b, "copy=customer"), Some(VIEWER)).await;
        (status == 200).then_some(body)
    })
    .await;
    let text = pdftotext(&pdf, env.dir.path(), "customer");
    // The order's facts: number, customer, ship-to (a CJK name), product with spec and
    // quantity, ship date, note number, the packing remark for the fragile lamp.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    for want in [
        "发货单 Delivery note",
        "客户联 Customer copy",
        "#T2",
        "Chloé Bergeron",
        "张伟",
        "388 Palmerston Blvd",
        "Toronto",
        "SHIP-LAMP",
        "Nordkap",
        "M / Charcoal",
        "易碎品",
        "FRAGILE",
        "DN-",
        today.as_str(),
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in the PDF's text layer:\n{text}"
        );
    }
    for (copy, mark) in [
        ("warehouse", "仓库联 Warehouse copy"),
        ("finance", "财务联 Finance copy"),
    ] {
        let (status, pdf) = get(
            &note_url(&b, &format!("copy={copy}&format=pdf")),
            Some(VIEWER),
        )
        .await;
        assert_eq!(status, 200);
        let text = pdftotext(&pdf, env.dir.path(), copy);
        assert!(
            text.contains(mark) && text.contains("#T2"),
            "{copy}:\n{text}"
        );
    }
    let (status, html) = get(&note_url(&b, "copy=finance&format=html"), Some(VIEWER)).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("财务联 Finance copy") && html.contains("SHIP-LAMP"),
        "{html}"
    );
    assert_eq!(get(&note_url(&b, "copy=customer"), None).await.0, 401);
    assert_eq!(
        get(&note_url(&b, "copy=customer"), Some("wrong")).await.0,
        401
    );
    assert_eq!(get(&note_url(&b, "copy=nobody"), Some(VIEWER)).await.0, 422);
    // Every shipped order has its note, whoever booked the carrier.
    for id in [&a, &g, &h] {
        poll(Duration::from_secs(30), "a delivery note", || async {
            store
                .order_document(id, "delivery_note", "warehouse.pdf")
                .await
                .unwrap()
        })
        .await;
    }

    // Three cups packed a cup a parcel: three labels, each under its own key, the second's
    // answer lost (looked up, not bought again); three parcels; shipped once; one pickup.
    ep.state.control.set_faults(FaultRequest {
        drop_next_create: 1,
        retry_after_secs: 1.0,
        ..FaultRequest::default()
    });
    let pickups = ep.state.pickup_count();
    let cups = place(&env, &store, 40, "SHIP-CUP", "388 Palmerston Blvd").await;
    wait_state(&store, &cups, "shipped").await;
    let per_key: Vec<u32> = (1..=4)
        .map(|n| {
            ep.state
                .labels()
                .get(&label_key(&cups, &format!("split#{n}")))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(per_key, vec![1, 1, 1, 0], "one label per parcel");
    let mut parcels = shipments(&store, &cups).await;
    assert_eq!(parcels.len(), 3, "{parcels:?}");
    parcels.sort_by(|a, b| a.tracking_number.cmp(&b.tracking_number));
    parcels.dedup_by(|a, b| a.tracking_number == b.tracking_number);
    assert_eq!(parcels.len(), 3, "three distinct tracking numbers");
    for n in 1..=3 {
        assert!(store
            .order_document(&cups, "label", &label_key(&cups, &format!("split#{n}")))
            .await
            .unwrap()
            .is_some());
    }
    let shipped = store
        .order_events(&cups)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.to_state.as_deref() == Some("shipped"))
        .count();
    assert_eq!(shipped, 1, "shipped once");
    assert_eq!(ep.state.pickup_count(), pickups + 1, "one pickup per order");

    // Shippo pickups: one per order, asked under the label key for the bought transaction.
    let shippo_pickups = |key: &str| {
        sh.state
            .pickups
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"].as_str() == Some(key))
            .count()
    };
    let t1 = packed_and_shipped(&env, &store, 41, "SHIP-TORCH").await;
    assert_eq!(labels(&sh, &t1), 1);
    assert_eq!(shippo_pickups(&label_key(&t1, "local#1")), 1);
    // The label's answer lost, then the pickup's: the label is looked up, and the pickup —
    // which Shippo cannot look up — is not asked again: an exception for a person.
    sh.state.control.set_faults(FaultRequest {
        drop_next_create: 2,
        retry_after_secs: 1.0,
        ..FaultRequest::default()
    });
    let t2 = packed_and_shipped(&env, &store, 42, "SHIP-TORCH").await;
    assert_eq!(labels(&sh, &t2), 1);
    assert_eq!(
        shippo_pickups(&label_key(&t2, "local#1")),
        1,
        "never asked twice"
    );
    let unconfirmed = store
        .exceptions(false, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|x| x.kind == "pickup_unconfirmed" && x.order_id.as_deref() == Some(t2.as_str()))
        .count();
    assert_eq!(unconfirmed, 1);

    // Nothing else was bought: one label per parcel in all.
    assert_eq!(ep.state.label_count(), 7, "{:?}", ep.state.labels());
    assert_eq!(
        ep.state.pickup_count(),
        5,
        "one pickup per EasyPost-shipped order"
    );
    assert_eq!(sh.state.label_count(), 4, "{:?}", sh.state.labels());
    packer_stop.cancel();
    packer.await.unwrap();
    splitter.await.unwrap();
    daemon.stop().await;
    ep.stop().await;
    sh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shipping_out_standalone() {
    shipping_out(Profile::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shipping_out_cluster() {
    shipping_out(Profile::Cluster).await;
}

/// Straight at the connectors: each simulator sells a second label to a repeated purchase
/// (as the real APIs do), and a purchase told to look first finds the label and buys nothing.
#[tokio::test]
async fn a_purchase_that_looks_first_never_buys_twice() {
    let dir = tempfile::tempdir().unwrap();
    let ep = easypost::start("127.0.0.1:0").await.unwrap();
    let sh = shippo::start("127.0.0.1:0").await.unwrap();
    let cdefs = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/carriers");
    for (sim, definition, credential, value, service) in [
        (&ep, "easypost", "api_key", easypost::API_KEY, "Priority"),
        (
            &sh,
            "shippo",
            "api_token",
            shippo::API_TOKEN,
            "usps_priority",
        ),
    ] {
        let text = format!(
            "[[carriers]]\nname = \"{definition}\"\ndefinition = \"{definition}\"\ndefinitions = \"{}\"\nbase_url = \"{}\"\ncredentials = {{ {credential} = \"{}\" }}\nretry_base_ms = 50\n",
            cdefs.display(),
            sim.base_url(),
            common::sim::secret_file(dir.path(), definition, value),
        );
        let cfg = ordergate::config::Config::from_toml(&text, "t", Vec::new()).unwrap();
        let (_, booking) = build::build(
            &cfg.carriers[0],
            &tokio_util::sync::CancellationToken::new(),
        )
        .unwrap();
        let Booking::Api(carrier) = booking else {
            panic!("{definition} has an API")
        };
        let key = label_key("og_direct", "local#1");
        let request = LabelRequest {
            key: key.clone(),
            order_id: "og_direct".into(),
            order_number: "#D1".into(),
            to: Address {
                name: "Zoë Brontë".into(),
                street1: "12 Rue de l'Église".into(),
                city: "Lyon".into(),
                postal_code: "69002".into(),
                country: "FR".into(),
                ..Address::default()
            },
            from: Address {
                name: "Warehouse".into(),
                street1: "1 Dock Road".into(),
                city: "Newark".into(),
                postal_code: "07102".into(),
                country: "US".into(),
                ..Address::default()
            },
            weight_kg: rust_decimal::Decimal::ONE,
            dims_cm: [
                rust_decimal::Decimal::from(30),
                rust_decimal::Decimal::from(20),
                rust_decimal::Decimal::from(10),
            ],
            service: Some(service.into()),
        };
        let first = carrier.buy(&request, false).await.unwrap();
        assert_eq!(
            carrier.find(&key).await.unwrap().map(|l| l.tracking_number),
            Some(first.tracking_number.clone())
        );
        let looked = carrier.buy(&request, true).await.unwrap();
        assert_eq!(
            looked.tracking_number, first.tracking_number,
            "{definition}: found, not bought"
        );
        assert_eq!(sim.state.labels().get(&key), Some(&1), "{definition}");
        let blind = carrier.buy(&request, false).await.unwrap();
        assert_ne!(blind.tracking_number, first.tracking_number);
        assert_eq!(
            sim.state.labels().get(&key),
            Some(&2),
            "{definition}: a blind repeat is a second label"
        );
        assert!(carrier
            .label_file(&first)
            .await
            .unwrap()
            .unwrap()
            .1
            .starts_with(b"%PDF"));
    }
    ep.stop().await;
    sh.stop().await;
}

#[test]
fn check_validates_transport_rules_carriers_and_the_delivery_note() {
    let dir = tempfile::tempdir().unwrap();
    let cdefs = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/carriers");
    let key = common::sim::secret_file(dir.path(), "k", "x");
    let write = |name: &str, rules: &str, note: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "[mappings]\ndir = \"{}\"\n[[carriers]]\nname = \"ep\"\ndefinition = \"easypost\"\ndefinitions = \"{}\"\ncredentials = {{ api_key = \"{key}\" }}\n[[carriers]]\nname = \"van\"\ndefinition = \"dispatch\"\ndefinitions = \"{}\"\n{rules}\n{note}\n",
                mappings_dir().display(),
                cdefs.display(),
                cdefs.display()
            ),
        )
        .unwrap();
        p
    };
    let run = |p: &Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ordergate"))
            .args(["check", "--config"])
            .arg(p)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let good = write(
        "good.toml",
        "[[transport.rules]]\nname = \"all\"\nmode = \"express\"\ncarrier = \"ep\"\n",
        "",
    );
    let (ok, out) = run(&good);
    assert!(ok, "{out}");
    assert!(
        out.contains("carrier ep (easypost)") && out.contains("delivery note"),
        "{out}"
    );
    let misfit = write(
        "misfit.toml",
        "[[transport.rules]]\nname = \"vanned\"\nmode = \"express\"\ncarrier = \"van\"\n",
        "",
    );
    let (ok, out) = run(&misfit);
    assert!(!ok && out.contains("does not fit carrier van"), "{out}");
    let bad_template = dir.path().join("note.html");
    std::fs::write(&bad_template, "{% if %}").unwrap();
    let broken = write(
        "broken.toml",
        "",
        &format!(
            "[transport.delivery_note]\ntemplate = \"{}\"\n",
            bad_template.display()
        ),
    );
    let (ok, out) = run(&broken);
    assert!(!ok && out.contains("note.html"), "{out}");
}
