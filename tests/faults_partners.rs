//! Partners down, slow and answering garbage, the disk full under the SQLite store, and a
//! poison message at each stage — through the real daemon, its real store and bus, and the
//! partner simulators on loopback, counting effects at the simulators and in the store:
//!
//! * every partner down together for minutes (`FAULTS_OUTAGE_SECS`, ten in CI) while orders
//!   keep arriving — a marketplace (its polls and its push-backs), a warehouse, the carrier of
//!   a pick-list warehouse, the SMTP relay and a department's subscriber — beside a
//!   marketplace, a warehouse and a subscriber that stay up and keep working: the work waits
//!   (tried again and again, nothing parked), each down partner's health goes degraded → down
//!   → up while the others never leave up, and after it every order is stored once and ships,
//!   every warehouse order, label, push-back, e-mail and delivery made exactly once (issues 12
//!   and 17);
//! * warehouse and carrier creates answered after our timeout: the call is looked up before
//!   it is repeated, so the partner never gets two;
//! * a marketplace, a warehouse and a carrier answering 200 with a body that is not what the
//!   definition says: a typed partner error, retried or parked by class, an exception named;
//!   the other connectors unaffected;
//! * the SMTP relay and a department's webhook subscriber down (`FAULTS_NOTICE_OUTAGE_SECS`,
//!   20 s in CI), slow and answering garbage (a TCP front on loopback before a real aiosmtpd
//!   server and a real receiver): every e-mail once by Message-ID, every delivery once by its
//!   id, health down and up, warehouses untouched;
//! * the SQLite store's disk full (a small tmpfs): intake refuses naming the full disk,
//!   nothing half-written, the retries taken when space returns;
//! * a poison message at each stage: parked once with its exception, the rest flows; a
//!   document parked until its mapping exists, replayed once.
//!
//! `deploy/dev/test.sh` runs the long outage beside the rest of the suite; the outage tests
//! name their durations when they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::lifecycle::{
    self as lc, free_port, once_each, qimen_section, shipbob_section, state_count, FAST_RETRIES,
    ROUTING,
};
use common::{sim, wait_until, Profile, TestEnv};
use ordergate::health::HealthTracker;
use ordergate::sandbox::warehouse::FaultRequest;
use ordergate::sandbox::Platform;
use ordergate::store::{ConnectorHealth, Store};

/// Records every health `connector` passes through (sampled every 20 ms) until dropped.
struct HealthLog {
    seen: Arc<Mutex<Vec<ConnectorHealth>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HealthLog {
    fn start(health: Arc<HealthTracker>, connector: &'static str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let now = health
                    .snapshot()
                    .into_iter()
                    .find(|s| s.connector == connector)
                    .map(|s| s.health);
                if let Some(h) = now {
                    let mut seen = log.lock().unwrap();
                    if seen.last() != Some(&h) {
                        seen.push(h);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self { seen, task }
    }

    fn seen(&self) -> Vec<ConnectorHealth> {
        self.seen.lock().unwrap().clone()
    }

    fn now(&self) -> Option<ConnectorHealth> {
        self.seen().last().copied()
    }

    /// Asserts the log went down (through degraded, when the failures came one at a time
    /// slowly enough to be sampled), then up again.
    fn went_down_and_up(&self, what: &str) {
        let seen = self.seen();
        let down = seen.iter().position(|s| *s == ConnectorHealth::Down);
        let up = down.and_then(|d| seen.iter().skip(d).position(|s| *s == ConnectorHealth::Up));
        assert!(up.is_some(), "{what}: health went down, then up: {seen:?}");
        eprintln!("{what}: health {seen:?}");
    }
}

impl Drop for HealthLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The connectors' health as `GET /readyz` reports it.
async fn readyz_health(port: u16, connector: &str) -> String {
    let body: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["connectors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["connector"] == connector)
        .map(|c| c["health"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// Orders approved (reviewed and let through).
async fn approved(store: &Store) -> i64 {
    lc::count(
        store,
        "SELECT COUNT(DISTINCT order_id) FROM order_events WHERE kind = 'approve'",
    )
    .await
}

/// Orders approved and waiting for a warehouse (its stock query or its fulfilment order).
async fn waiting(store: &Store) -> i64 {
    lc::count(
        store,
        "SELECT COUNT(*) FROM orders WHERE state IN ('approved', 'allocated')",
    )
    .await
}

/// Asserts nothing was parked.
async fn nothing_parked(store: &Store, when: &str) {
    let parked = ordergate::dlq::list(store, 10).await.unwrap();
    assert!(
        parked.is_empty(),
        "{when}: nothing parked: {:?}",
        parked.iter().map(|p| &p.error).collect::<Vec<_>>()
    );
}

/// Seconds from the environment variable `var`, else `default`.
fn secs_from_env(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

/// How long every partner is down in
/// [`every_partner_down_for_minutes_orders_wait_then_each_effect_happens_once`]
/// (`FAULTS_OUTAGE_SECS`; ten minutes unless set, as `deploy/dev/test.sh` runs it).
fn outage() -> Duration {
    secs_from_env("FAULTS_OUTAGE_SECS", 600)
}

/// Names a run's durations when its test fails, whatever failed (an assertion, a wait that
/// timed out): printed after the panic's own message.
struct Durations {
    what: String,
    started: Instant,
}

impl Drop for Durations {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "the failed run: {}; failed {:?} after its start",
                self.what,
                self.started.elapsed()
            );
        }
    }
}

/// [`ROUTING`] with a third warehouse: Germany, Poland and Denmark from the pick-list
/// warehouse `local` (its parcels by the EasyPost carrier).
fn three_warehouses() -> String {
    let rest = "\n[[routing.rules]]\nname = \"rest\"";
    assert!(ROUTING.contains(rest));
    ROUTING.replace(
        rest,
        &format!(
            "\n[[routing.rules]]\nname = \"continent-by-region\"\ncountries = [\"DE\", \"PL\", \
             \"DK\"]\nwarehouses = [\"local\"]\n{rest}"
        ),
    )
}

/// Orders of source connector `connector`.
async fn orders_of(store: &Store, connector: &str) -> i64 {
    lc::count(
        store,
        &format!("SELECT COUNT(*) FROM orders WHERE connector = '{connector}'"),
    )
    .await
}

/// Shipped orders of marketplace `connector` whose push-back is not made (yet).
async fn pushbacks_waiting(store: &Store, connector: &str) -> i64 {
    lc::count(
        store,
        &format!(
            "SELECT COUNT(*) FROM orders o WHERE o.connector = '{connector}' AND o.state = 'shipped' \
             AND NOT EXISTS (SELECT 1 FROM pushbacks p WHERE p.order_id = o.id AND p.status = 'pushed')"
        ),
    )
    .await
}

/// Asserts every push-back to marketplace `connector` (simulator `sim`) was made once, one
/// per shipped order of it, its proof stored.
async fn pushed_back_once(store: &Store, connector: &str, sim: &ordergate::sandbox::Sandbox) {
    let creates = sim.state.push.creates_per_order();
    let twice: Vec<_> = creates.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{connector}: pushed back twice: {twice:?}"
    );
    let shipped = lc::count(
        store,
        &format!(
            "SELECT COUNT(*) FROM orders WHERE connector = '{connector}' AND state = 'shipped'"
        ),
    )
    .await;
    let proven = lc::count(
        store,
        &format!(
            "SELECT COUNT(*) FROM pushbacks WHERE connector = '{connector}' AND status = 'pushed' \
             AND proof IS NOT NULL"
        ),
    )
    .await;
    assert!(shipped > 0, "{connector}: orders shipped");
    assert_eq!(
        creates.len() as i64,
        shipped,
        "{connector}: one push-back per shipped order"
    );
    assert_eq!(
        proven, shipped,
        "{connector}: every push-back's proof stored"
    );
}

/// Asserts the subscriber `name` (receiver `r`) got every delivery recorded for it once, each
/// under one delivery id, all delivered; returns how many.
async fn delivered_once(store: &Store, name: &str, r: &Receiver) -> usize {
    let applied = r.applied();
    let events: std::collections::BTreeSet<&String> = applied.values().collect();
    assert_eq!(
        events.len(),
        applied.len(),
        "{name}: each event under one delivery id"
    );
    let recorded = lc::count(
        store,
        &format!("SELECT COUNT(*) FROM subscriber_deliveries WHERE subscriber = '{name}'"),
    )
    .await;
    let delivered = lc::count(
        store,
        &format!(
            "SELECT COUNT(*) FROM subscriber_deliveries WHERE subscriber = '{name}' AND status = 'delivered'"
        ),
    )
    .await;
    assert_eq!(delivered, recorded, "{name}: every delivery delivered");
    assert_eq!(
        applied.len() as i64,
        recorded,
        "{name}: every delivery arrived once"
    );
    assert_eq!(
        r.bad_signatures.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "{name}: every delivery signed"
    );
    applied.len()
}

/// Every partner down together for minutes (issue 17; issue 12's warehouse outage among
/// them) while orders keep coming: the marketplace `shop` (503 to its polls and its
/// push-backs), the warehouse `east` (503), the EasyPost carrier of the pick-list warehouse
/// `local` (503 to every label), the SMTP relay and the department subscriber `finance`
/// (nothing listens). Beside each kind one stays up and keeps working: the marketplace
/// `shop2` (polled, new orders taken, pushed back to), the warehouse `factory` (ships) and the
/// subscriber `ops` (delivered to). With three attempts a message would be parked within
/// seconds; a partner outage is retried (backoff up to 20 s; e-mails and deliveries up to
/// 5 s) for as long as `pipeline.outage_retry_secs` instead.
///
/// At the end of the outage nothing reached a down partner, each was tried again and again,
/// nothing was parked, each down partner's health is `down` and the others' never left `up`.
/// Then all come back at once: every order of both marketplaces (those placed at `shop`
/// during its outage too) is stored once and every approved one ships; at the simulators
/// every warehouse order, label, push-back, e-mail (by Message-ID) and delivery (by delivery
/// id) exactly once; each down partner's health went down and came back up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_partner_down_for_minutes_orders_wait_then_each_effect_happens_once() {
    use ConnectorHealth::{Down, Up};
    let started = Instant::now();
    let outage = outage();
    let _durations = Durations {
        what: format!(
            "every partner down for {outage:?} (FAULTS_OUTAGE_SECS), the marketplace from when \
             its first orders were in, the others from the start"
        ),
        started,
    };
    let env = TestEnv::new(Profile::Standalone).await;
    let dir = env.dir.path();
    let port = free_port();
    let shop = sim::start(Platform::Shopify, 30, 12).await;
    let shop2 = sim::start(Platform::Shopify, 10, 21).await;
    let east = lc::shipbob_sim(port, "east", Some(Duration::from_millis(300))).await;
    // Ships two seconds after the create: the marketplace is down by then, so the
    // push-backs of its first orders wait too.
    let factory = lc::shipbob_sim(port, "factory", Some(Duration::from_secs(2))).await;
    let ep = ordergate::sandbox::easypost::start("127.0.0.1:0")
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let packer = ordergate::sandbox::packer::spawn(
        dir.join("pick-local"),
        dir.join("confirm-local"),
        Duration::from_millis(100),
        stop.clone(),
    );
    let sink_port = free_port();
    let sink = common::smtp::Sink::start(&dir.join("mail"), sink_port);
    let (finance, finance_addr) = Receiver::start().await;
    let (ops, ops_addr) = Receiver::start().await;
    east.state.control.set_outage(true);
    ep.state.control.set_outage(true);
    let smtp = FaultyPort::start(
        ([127, 0, 0, 1], sink_port).into(),
        Duration::ZERO,
        Behaviour::Closed,
    );
    let hook = FaultyPort::start(finance_addr, Duration::ZERO, Behaviour::Closed);
    let hook_secret = sim::secret_file(dir, "hook-secret", HOOK_SECRET);
    let marketplace = |name: &str, s: &ordergate::sandbox::Sandbox| {
        sim::marketplace_section(name, s, dir, 20).replace(
            "lease_ms = 3000\n",
            "lease_ms = 3000\npushback = \"on_label\"\ndepartment = \"marketplaces\"\n",
        )
    };
    let local = ship_out(&env, &ep, 2000, 1);
    let subscriber = |name: &str, url: String| {
        format!(
            "\n[[subscribers]]\nname = \"{name}\"\nurl = \"{url}\"\nevents = [\"order.shipped\"]\n\
             secret = \"{hook_secret}\"\ntimeout_ms = 1000\nmax_attempts = 3\n"
        )
    };
    let extra = format!(
        "{}{}{}{}{}{}{}{}\n[pushback]\nreconcile_interval_secs = 0\n{}{}{}",
        marketplace("shop", &shop),
        marketplace("shop2", &shop2),
        shipbob_section(dir, "east", &east.base_url(), 2000),
        shipbob_section(dir, "factory", &factory.base_url(), 2000),
        local.warehouse_section(),
        local.transport_section(),
        local.carrier_section(),
        three_warehouses(),
        common::smtp::notices_section(smtp.port, r#"["shipped"]"#, 1000, "max_attempts = 3")
            .replace("retry_max_ms = 1000", "retry_max_ms = 5000"),
        subscriber("finance", format!("http://127.0.0.1:{}/hook", hook.port)),
        subscriber("ops", format!("http://{ops_addr}/hook")),
    );
    let d = lc::daemon(
        &env,
        port,
        "max_attempts = 3\nretry_base_ms = 200\nretry_max_ms = 20000",
        &extra,
    )
    .await;
    let store = d.store.clone();
    let down = ["shop", "east", "easypost", "smtp", "finance"];
    let up = ["shop2", "factory", "ops"];
    let logs: BTreeMap<&str, HealthLog> = down
        .iter()
        .chain(&up)
        .map(|c| (*c, HealthLog::start(d.health.clone(), c)))
        .collect();

    // The marketplace goes down once its first orders are in.
    wait_until(
        Duration::from_secs(120),
        "the marketplace's first 30 orders stored",
        || async { orders_of(&store, "shop").await == 30 },
    )
    .await;
    shop.state.faults(|f| {
        f.outage_until = Some(Instant::now() + Duration::from_secs(86_400));
    });
    let outage_started = Instant::now();
    let pushed_before = shop.state.push.creates_per_order().len();
    wait_until(
        Duration::from_secs(120),
        "every down partner down",
        || async { down.iter().all(|c| logs[c].now() == Some(Down)) },
    )
    .await;
    for c in down {
        assert_eq!(readyz_health(port, c).await, "down", "{c} in /readyz");
    }
    // The factory's orders ship meanwhile; the east's and the local warehouse's wait.
    wait_until(
        Duration::from_secs(120),
        "the factory's orders shipped, the others waiting",
        || async {
            !factory.state.created().is_empty()
                && state_count(&store, "shipped").await > 0
                && waiting(&store).await > 0
                && state_count(&store, "packed").await > 0
        },
    )
    .await;
    // Midway more orders: at the marketplace that is down (they wait there) and at the one
    // that is up (taken and shipped meanwhile, where their warehouse is up).
    tokio::time::sleep((outage / 2).saturating_sub(outage_started.elapsed())).await;
    shop.state.create(20);
    shop2.state.create(10);
    wait_until(
        Duration::from_secs(120),
        "the new orders of the marketplace that is up stored",
        || async { orders_of(&store, "shop2").await == 20 },
    )
    .await;
    tokio::time::sleep(outage.saturating_sub(outage_started.elapsed())).await;

    // At the end of the outage: nothing reached a down partner, nothing parked, each tried
    // again and again.
    nothing_parked(&store, "after the outage").await;
    assert!(east.state.created().is_empty(), "nothing reached the east");
    assert!(ep.state.labels().is_empty(), "no label bought");
    assert_eq!(
        shop.state.push.creates_per_order().len(),
        pushed_before,
        "no push-back reached the marketplace"
    );
    assert!(sink.message_ids().is_empty(), "no e-mail sent");
    assert!(finance.posts().is_empty(), "nothing reached the subscriber");
    assert_eq!(
        orders_of(&store, "shop").await,
        30,
        "the orders placed at the marketplace while it was down wait there"
    );
    let at_east = waiting(&store).await;
    let packed = state_count(&store, "packed").await;
    let shipped = state_count(&store, "shipped").await;
    let pushbacks = pushbacks_waiting(&store, "shop").await;
    let notices = statuses(&store, "notices").await;
    let e_mails: i64 = ["pending", "sending"]
        .iter()
        .filter_map(|s| notices.get(*s))
        .sum();
    let deliveries = lc::count(
        &store,
        "SELECT COUNT(*) FROM subscriber_deliveries WHERE subscriber = 'finance' \
         AND status IN ('pending', 'sending')",
    )
    .await;
    assert!(
        at_east > 0 && packed > 0 && pushbacks > 0 && e_mails > 0 && deliveries > 0,
        "work waits for each partner: {at_east} orders for the east, {packed} for a label, \
         {pushbacks} push-backs, {e_mails} e-mails ({notices:?}), {deliveries} deliveries"
    );
    let requests = |c: &ordergate::sandbox::warehouse::SimControl| {
        c.requests.load(std::sync::atomic::Ordering::Relaxed)
    };
    let tries = [
        (
            "shop",
            shop.state
                .requests()
                .iter()
                .filter(|r| r.status == 503)
                .count() as i64,
            pushbacks,
        ),
        ("east", requests(&east.state.control) as i64, at_east),
        ("easypost", requests(&ep.state.control) as i64, packed),
        (
            "smtp",
            lc::count(&store, "SELECT COALESCE(SUM(attempts), 0) FROM notices").await,
            e_mails,
        ),
        (
            "finance",
            lc::count(
                &store,
                "SELECT COALESCE(SUM(attempts), 0) FROM subscriber_deliveries \
                 WHERE subscriber = 'finance'",
            )
            .await,
            deliveries,
        ),
    ];
    for (c, tried, waited) in tries {
        assert!(
            tried > waited,
            "{c}: each piece of work tried again: {tried} tries for {waited}"
        );
    }
    // The partners that stayed up did their part meanwhile.
    assert!(!factory.state.created().is_empty());
    assert!(
        !shop2.state.push.creates_per_order().is_empty(),
        "shop2 pushed back to"
    );
    assert!(!ops.applied().is_empty(), "ops delivered to");
    for c in down {
        assert_eq!(logs[c].now(), Some(Down), "{c} at the end of the outage");
    }
    for c in up {
        assert_eq!(logs[c].seen(), vec![Up], "{c} at the end of the outage");
    }
    let outage_took = outage_started.elapsed();

    // All come back.
    east.state.control.set_outage(false);
    ep.state.control.set_outage(false);
    shop.state.faults(|f| f.outage_until = None);
    smtp.set(Behaviour::Open);
    hook.set(Behaviour::Open);
    let back = Instant::now();
    wait_until(
        Duration::from_secs(180),
        "every order of both marketplaces stored",
        || async { lc::count(&store, "SELECT COUNT(*) FROM orders").await == 70 },
    )
    .await;
    // Done: every approved order shipped, pushed back, e-mailed and delivered to both
    // subscribers. A timeout names how far it got.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let a = approved(&store).await;
        let shipped = state_count(&store, "shipped").await;
        let waiting = (
            pushbacks_waiting(&store, "shop").await,
            pushbacks_waiting(&store, "shop2").await,
        );
        let notices = statuses(&store, "notices").await;
        let deliveries = statuses(&store, "subscriber_deliveries").await;
        // An order split between the factory and the local warehouse is shipped with the
        // factory's parcel while its local part may still wait for its label.
        let owed = lc::count(
            &store,
            "SELECT COUNT(*) FROM fulfilments WHERE status NOT IN ('shipped', 'cancelled')",
        )
        .await;
        if a > 0
            && shipped == a
            && owed == 0
            && waiting == (0, 0)
            && notices.keys().all(|s| s == "sent")
            && deliveries.keys().all(|s| s == "delivered")
            && notices.get("sent").copied().unwrap_or(0) >= a
            && deliveries.get("delivered").copied().unwrap_or(0) >= 2 * a
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not done 240 s after the partners came back: {a} approved, {shipped} shipped, \
             {owed} fulfilments owing goods, push-backs waiting (shop, shop2) {waiting:?}, e-mails {notices:?}, deliveries \
             {deliveries:?}; parked {:?}; open exceptions {:?}",
            ordergate::dlq::list(&store, 10)
                .await
                .unwrap()
                .iter()
                .map(|p| &p.error)
                .collect::<Vec<_>>(),
            lc::open_exceptions(&store).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered = back.elapsed();
    // A duplicate would come within the retry delays.
    tokio::time::sleep(Duration::from_secs(3)).await;

    for c in down {
        logs[c].went_down_and_up(c);
        assert_eq!(readyz_health(port, c).await, "up", "{c} in /readyz");
    }
    for c in up {
        assert_eq!(logs[c].seen(), vec![Up], "{c} never left up");
    }
    // Warehouse orders and labels.
    once_each(&store, "east", &east.state.created()).await;
    once_each(&store, "factory", &factory.state.created()).await;
    let labels = ep.state.labels();
    let twice: Vec<_> = labels.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "labels bought twice: {twice:?}");
    let at_local = lc::count(
        &store,
        "SELECT COUNT(*) FROM fulfilments WHERE warehouse = 'local'",
    )
    .await;
    if labels.len() as i64 != at_local {
        panic!(
            "one label per local order: {} labels for {at_local} local fulfilments; without \
             one (order, fulfilment status, order state, events): {:?}",
            labels.len(),
            without_label(&store, &labels).await
        );
    }
    // Push-backs.
    pushed_back_once(&store, "shop", &shop).await;
    pushed_back_once(&store, "shop2", &shop2).await;
    // E-mails, by Message-ID: each recorded one arrived once, nothing else did.
    let received = each_email_once(&store, &sink).await;
    let shipped_orders = state_count(&store, "shipped").await;
    assert_eq!(
        lc::count(&store, "SELECT COUNT(DISTINCT order_id) FROM notices").await,
        shipped_orders,
        "a shipped e-mail for every shipped order"
    );
    // Deliveries, by delivery id.
    let to_finance = delivered_once(&store, "finance", &finance).await;
    let to_ops = delivered_once(&store, "ops", &ops).await;
    assert_eq!(
        to_finance as i64, shipped_orders,
        "finance: one per order.shipped"
    );
    assert_eq!(to_ops as i64, shipped_orders, "ops: one per order.shipped");
    nothing_parked(&store, "at the end").await;
    let partner_exceptions: Vec<(String, String)> = lc::open_exceptions(&store)
        .await
        .into_iter()
        .filter(|(k, _)| !k.starts_with("review"))
        .collect();
    assert!(
        partner_exceptions.is_empty(),
        "no exception but review's: {partner_exceptions:?}"
    );
    eprintln!(
        "every partner down for {outage_took:?} (shop, east, easypost, smtp, finance; shop2, \
         factory, ops up): 70 orders, {shipped_orders} shipped ({at_east} waited for east, \
         {packed} for a label, {pushbacks} push-backs, {e_mails} e-mails and {deliveries} \
         deliveries waited; {shipped} shipped during the outage), tries during it {:?}; \
         {} warehouse orders, {} labels, {} push-backs, {} e-mails, {} + {} deliveries, each \
         once; lost 0, duplicated 0; all done {recovered:?} after the partners came back, in \
         {:?}",
        tries.map(|(c, n, _)| (c, n)),
        east.state.created().len() + factory.state.created().len(),
        labels.len(),
        shop.state.push.creates_per_order().len() + shop2.state.push.creates_per_order().len(),
        received.len(),
        to_finance,
        to_ops,
        started.elapsed()
    );
    stop.cancel();
    packer.await.unwrap();
    d.stop().await;
    shop.stop().await;
    shop2.stop().await;
    east.stop().await;
    factory.stop().await;
    ep.stop().await;
}

/// The local fulfilments without a label at the carrier: order, fulfilment status, the
/// order's state and its events' kinds (what a failure needs to be read).
async fn without_label(
    store: &Store,
    labels: &BTreeMap<String, u32>,
) -> Vec<(String, String, String, Vec<String>)> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT f.order_id, f.status, o.state FROM fulfilments f JOIN orders o \
         ON o.id = f.order_id WHERE f.warehouse = 'local' ORDER BY f.order_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut out = Vec::new();
    for (order, status, state) in rows {
        if labels.contains_key(&ordergate::outbound::carrier::label_key(&order, "local#1")) {
            continue;
        }
        let events: Vec<String> =
            sqlx::query_scalar("SELECT kind FROM order_events WHERE order_id = $1 ORDER BY seq")
                .bind(&order)
                .fetch_all(store.pool())
                .await
                .unwrap();
        out.push((order, status, state, events));
    }
    out
}

/// A folder connector for [`lc::shop_order`] files; returns its section and its inbox.
fn folder(env: &TestEnv) -> (String, std::path::PathBuf) {
    let inbox = env.inbox("shop");
    (
        common::folder_connector("shop-drop", &inbox, "shopify"),
        inbox,
    )
}

/// Creates whose answers come after our timeout (the partner carried them out): the stage
/// looks each up by our key before it would create again, so neither warehouse gets two —
/// the Qimen WMS and the ShipBob 3PL, which would refuse a repeated reference (and so park
/// the order) if the create were blindly sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_warehouse_answers_are_looked_up_never_sent_twice() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let east = lc::qimen_sim(port, "east", Some(Duration::from_millis(300))).await;
    let factory = lc::shipbob_sim(port, "factory", Some(Duration::from_millis(300))).await;
    for control in [&east.state.control, &factory.state.control] {
        control.set_faults(FaultRequest {
            slow_next_create: 2,
            slow_ms: 2500,
            ..FaultRequest::default()
        });
    }
    let (section, inbox) = folder(&env);
    let extra = format!(
        "{section}{}{}{ROUTING}",
        qimen_section(env.dir.path(), "east", &east.base_url(), 800),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 800),
    );
    let d = lc::daemon(&env, port, FAST_RETRIES, &extra).await;
    let store = d.store.clone();
    // Mugs to Canada go east, lamps to the factory.
    for n in 0..6u64 {
        let sku = if n % 2 == 0 { "TEST-MUG" } else { "TEST-LAMP" };
        common::drop_file(&inbox, &format!("o{n}.json"), &lc::shop_order(500 + n, sku));
    }
    for n in 0..6u64 {
        let id = lc::order_of(&store, 500 + n).await;
        lc::wait_state(&store, &id, "shipped", Duration::from_secs(90)).await;
    }
    assert!(
        east.state.control.take_slow_create().is_none()
            && factory.state.control.take_slow_create().is_none(),
        "the slow answers were given"
    );
    once_each(&store, "east", &east.state.created()).await;
    once_each(&store, "factory", &factory.state.created()).await;
    assert_eq!(east.state.created().len(), 3);
    assert_eq!(factory.state.created().len(), 3);
    assert_eq!(
        refused_as_duplicates(&factory),
        0,
        "no create repeated blindly"
    );
    nothing_parked(&store, "slow answers").await;
    assert!(
        lc::open_exceptions(&store).await.is_empty(),
        "{:?}",
        lc::open_exceptions(&store).await
    );
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// Creates ShipBob refused as repeats of a reference it holds (each a create sent again).
fn refused_as_duplicates(sim: &ordergate::sandbox::shipbob::ShipbobSandbox) -> u64 {
    sim.state
        .control
        .duplicates_refused
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// A warehouse create ShipBob makes only after our last try gave up (no retries left): the
/// fulfil stage retries the order after 100 ms, and its look-up must not run while the create
/// is still on its way — it would miss it and create again (ShipBob refuses the second by its
/// reference; a partner that did not would hold two orders). The chain's end waits for the
/// unanswered create to settle, so the retry finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warehouse_create_late_past_the_last_retry_is_not_sent_again() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let factory = lc::shipbob_sim(port, "factory", Some(Duration::from_millis(300))).await;
    factory.state.control.set_faults(FaultRequest {
        late_next_create: 1,
        slow_ms: 1500,
        ..FaultRequest::default()
    });
    let (section, inbox) = folder(&env);
    let no_retries = shipbob_section(env.dir.path(), "factory", &factory.base_url(), 800)
        .replace("max_retries = 1", "max_retries = 0");
    assert!(no_retries.contains("max_retries = 0"));
    let routing = "\n[routing]\nrecheck_interval_secs = 0\nshortage_department = \"procurement\"\n\
                   change_department = \"sales\"\n\n[[routing.rules]]\nname = \"all\"\n\
                   warehouses = [\"factory\"]\n";
    let extra = format!("{section}{no_retries}{routing}");
    let d = lc::daemon(&env, port, FAST_RETRIES, &extra).await;
    let store = d.store.clone();
    common::drop_file(&inbox, "lamp.json", &lc::shop_order(520, "TEST-LAMP"));
    let id = lc::order_of(&store, 520).await;
    lc::wait_state(&store, &id, "shipped", Duration::from_secs(60)).await;
    assert!(
        factory.state.control.take_late_create().is_none(),
        "the late create was made"
    );
    // Whatever a second create would have met is met by now.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    once_each(&store, "factory", &factory.state.created()).await;
    assert_eq!(
        refused_as_duplicates(&factory),
        0,
        "a create still in flight after the last try must not be sent again"
    );
    nothing_parked(&store, "a late last create").await;
    d.stop().await;
    factory.stop().await;
}

/// A warehouse answering 200 with a body that is not its API's shape, among orders for
/// another warehouse: the east's order is parked once with a `warehouse_error` exception
/// naming the warehouse and the typed decode error (retrying gives the same answer), nothing
/// is created at the east; the factory ships its orders meanwhile, its health never leaving
/// `up`; once the east answers properly its next order goes through once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warehouse_garbage_parks_its_order_named_and_the_other_warehouse_ships() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let east = lc::shipbob_sim(port, "east", Some(Duration::from_millis(300))).await;
    let factory = lc::shipbob_sim(port, "factory", Some(Duration::from_millis(300))).await;
    let (section, inbox) = folder(&env);
    let extra = format!(
        "{section}{}{}{ROUTING}",
        shipbob_section(env.dir.path(), "east", &east.base_url(), 2000),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 2000),
    );
    let d = lc::daemon(&env, port, FAST_RETRIES, &extra).await;
    let store = d.store.clone();
    let factory_log = HealthLog::start(d.health.clone(), "factory");
    east.state.control.set_faults(FaultRequest {
        garble_next: 5,
        ..FaultRequest::default()
    });
    // A mug to Canada goes east, lamps to the factory.
    common::drop_file(&inbox, "bad.json", &lc::shop_order(700, "TEST-MUG"));
    for n in 701..704u64 {
        common::drop_file(
            &inbox,
            &format!("o{n}.json"),
            &lc::shop_order(n, "TEST-LAMP"),
        );
    }
    let reason = common::poll(Duration::from_secs(60), "the east's exception", || async {
        lc::open_exceptions(&store)
            .await
            .into_iter()
            .find(|(kind, _)| kind == "warehouse_error")
            .map(|(_, reason)| reason)
    })
    .await;
    assert!(
        reason.contains("warehouse east") && reason.contains("unexpected response"),
        "names the warehouse and the typed decode error: {reason}"
    );
    for n in 701..704u64 {
        let id = lc::order_of(&store, n).await;
        lc::wait_state(&store, &id, "shipped", Duration::from_secs(60)).await;
    }
    assert!(
        east.state.created().is_empty(),
        "garbage created nothing at the east"
    );
    let parked = ordergate::dlq::list(&store, 10).await.unwrap();
    assert_eq!(parked.len(), 1, "the east's order parked once: {parked:?}");

    east.state.control.set_faults(FaultRequest::default());
    common::drop_file(&inbox, "next.json", &lc::shop_order(704, "TEST-MUG"));
    let next = lc::order_of(&store, 704).await;
    lc::wait_state(&store, &next, "shipped", Duration::from_secs(60)).await;
    once_each(&store, "east", &east.state.created()).await;
    once_each(&store, "factory", &factory.state.created()).await;
    assert_eq!(east.state.created().len(), 1);
    assert_eq!(factory.state.created().len(), 3);
    assert_eq!(
        factory_log.seen(),
        vec![ConnectorHealth::Up],
        "the factory never noticed"
    );
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// The marketplace answering garbage (200 with a body that is not its API's shape) and late
/// (after our timeout) while the warehouses work: the polls fail with a typed partner error,
/// health degrades and recovers, every order is taken once and fulfilled once.
///
/// Two garbage pages fail two polls (degraded; a garbage page used to pass for an empty one,
/// so health never moved); three late answers exhaust the next poll's retries (its third
/// failure in a row: down); then the connector is up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn marketplace_garbage_and_slow_pages_lose_nothing() {
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let shop = sim::start(Platform::Shopify, 30, 31).await;
    shop.state.faults(|f| {
        f.garble_next = 2;
        // One first try and `max_retries = 2` retries of one poll.
        f.slow_next = 3;
        f.slow_ms = 4000;
    });
    let east = lc::shipbob_sim(port, "east", Some(Duration::from_millis(300))).await;
    let factory = lc::shipbob_sim(port, "factory", Some(Duration::from_millis(300))).await;
    let extra = format!(
        "{}{}{}{ROUTING}",
        sim::marketplace_section("shop", &shop, env.dir.path(), 10),
        shipbob_section(env.dir.path(), "east", &east.base_url(), 2000),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 2000),
    );
    let d = lc::daemon(&env, port, FAST_RETRIES, &extra).await;
    let store = d.store.clone();
    let log = HealthLog::start(d.health.clone(), "shop");
    wait_until(Duration::from_secs(120), "every order taken", || async {
        lc::count(&store, "SELECT COUNT(*) FROM orders").await == 30
    })
    .await;
    wait_until(
        Duration::from_secs(120),
        "every approved order shipped",
        || async {
            let a = approved(&store).await;
            a > 0 && state_count(&store, "shipped").await == a
        },
    )
    .await;
    let seen = log.seen();
    assert!(
        seen.contains(&ConnectorHealth::Degraded)
            && seen.contains(&ConnectorHealth::Down)
            && seen.last() == Some(&ConnectorHealth::Up),
        "the garbage pages degraded the connector, the late ones took it down, then it \
         recovered: {seen:?}"
    );
    assert_eq!(readyz_health(port, "shop").await, "up");
    let state = store.connector_state("shop").await.unwrap().unwrap();
    let error = state.last_error.unwrap_or_default();
    assert!(
        error.contains("shopify") && error.contains("timed out"),
        "the last failure, a late page, names the partner: {error}"
    );
    let injected = shop.state.requests().iter().filter(|r| r.injected).count();
    assert_eq!(injected, 2, "both garbage pages were served");
    // The simulator changes some orders meanwhile: each change is a new document, but no
    // version of an order is stored twice, and every order's current version is stored.
    let def = sim::definition(Platform::Shopify);
    wait_until(
        Duration::from_secs(30),
        "every current version stored",
        || async {
            let (versions, _) = sim::stored_versions(&store, &def, "shop").await;
            sim::current_versions(&shop, &def).is_subset(&versions)
        },
    )
    .await;
    let (versions, raws) = sim::stored_versions(&store, &def, "shop").await;
    assert_eq!(raws, versions.len(), "no version of an order stored twice");
    eprintln!("marketplace garbage and late pages: health {seen:?}, {raws} documents (versions)");
    assert_eq!(
        lc::count(&store, "SELECT COUNT(DISTINCT external_id) FROM orders").await,
        30,
        "each order once"
    );
    once_each(&store, "east", &east.state.created()).await;
    once_each(&store, "factory", &factory.state.created()).await;
    nothing_parked(&store, "marketplace garbage").await;
    d.stop().await;
    shop.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// A pick-list warehouse `local` that packs (the sandbox packer) and books no carrier, every
/// order routed to it, and the EasyPost simulator `easypost` for every parcel, with timeouts
/// of `timeout_ms`, calls tried `max_retries` more times (`.toml()`, or taken apart).
fn ship_out(
    env: &TestEnv,
    ep: &ordergate::sandbox::carrier::CarrierSandbox,
    timeout_ms: u64,
    max_retries: u32,
) -> ordergate::sandbox::shipout::ShipOut {
    let d = env.dir.path();
    let mut s = ordergate::sandbox::shipout::ShipOut::new(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors"),
        d,
        "local",
        &ep.base_url(),
        &sim::secret_file(d, "ep-key", ordergate::sandbox::easypost::API_KEY),
    );
    s.poll_interval_ms = Some(50);
    s.carrier_settings = format!(
        "request_timeout_ms = {timeout_ms}\nmax_retries = {max_retries}\nretry_base_ms = 100\nretry_max_ms = 1000\n"
    );
    s
}

/// Order `n` shipped while the carrier makes its (first) purchase only after our timeout
/// (1.5 s against 0.8 s): the purchase is still on its way when the answer is given up, and
/// whatever looks the label up next must wait for it to land instead of missing it and
/// buying a second label.
async fn late_purchase_bought_once(
    ep: &ordergate::sandbox::carrier::CarrierSandbox,
    store: &Store,
    inbox: &std::path::Path,
    n: u64,
) {
    ep.state.control.set_faults(FaultRequest {
        late_next_create: 1,
        slow_ms: 1500,
        ..FaultRequest::default()
    });
    common::drop_file(
        inbox,
        &format!("late-{n}.json"),
        &lc::shop_order(n, "TEST-MUG"),
    );
    let late = lc::order_of(store, n).await;
    lc::wait_state(store, &late, "shipped", Duration::from_secs(60)).await;
    assert!(
        ep.state.control.take_late_create().is_none(),
        "the late purchase was made"
    );
    // Whatever a second purchase would have made is made by now.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(
        labels(ep, &late),
        1,
        "a purchase still in flight must not be bought again"
    );
}

/// The EasyPost simulator, a daemon shipping every order through the pick-list warehouse
/// `local` and the carrier (calls time out after 0.8 s, tried `max_retries` more times), and
/// the sandbox packer.
struct CarrierRun {
    ep: ordergate::sandbox::carrier::CarrierSandbox,
    d: ordergate::app::Daemon,
    store: Store,
    inbox: std::path::PathBuf,
    stop: tokio_util::sync::CancellationToken,
    packer: tokio::task::JoinHandle<()>,
}

impl CarrierRun {
    async fn start(env: &TestEnv, max_retries: u32) -> Self {
        let ep = ordergate::sandbox::easypost::start("127.0.0.1:0")
            .await
            .unwrap();
        let (section, inbox) = folder(env);
        let extra = format!("{section}{}", ship_out(env, &ep, 800, max_retries).toml());
        let d = lc::daemon(env, free_port(), FAST_RETRIES, &extra).await;
        let stop = tokio_util::sync::CancellationToken::new();
        let packer = ordergate::sandbox::packer::spawn(
            env.dir.path().join("pick-local"),
            env.dir.path().join("confirm-local"),
            Duration::from_millis(100),
            stop.clone(),
        );
        Self {
            store: d.store.clone(),
            ep,
            d,
            inbox,
            stop,
            packer,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.packer.await.unwrap();
        self.d.stop().await;
        self.ep.stop().await;
    }
}

/// Labels bought for order `id`'s first parcel.
fn labels(ep: &ordergate::sandbox::carrier::CarrierSandbox, id: &str) -> u32 {
    ep.state
        .labels()
        .get(&ordergate::outbound::carrier::label_key(id, "local#1"))
        .copied()
        .unwrap_or(0)
}

/// The carrier answering a label purchase after our timeout (it sold the label): looked up,
/// never bought twice (a blind repeat buys a second label at EasyPost); one still making the
/// purchase when we gave up: looked up once it has landed, not before. The carrier
/// answering garbage: a typed partner error in a `carrier_refused` exception, no label, the
/// order waits packed; the next order ships as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_and_garbage_carrier_answers_buy_no_second_label() {
    let env = TestEnv::new(Profile::Standalone).await;
    let run = CarrierRun::start(&env, 1).await;
    let (ep, store, inbox) = (&run.ep, &run.store, &run.inbox);

    ep.state.control.set_faults(FaultRequest {
        slow_next_create: 1,
        slow_ms: 2500,
        ..FaultRequest::default()
    });
    common::drop_file(inbox, "slow.json", &lc::shop_order(600, "TEST-MUG"));
    let slow = lc::order_of(store, 600).await;
    lc::wait_state(store, &slow, "shipped", Duration::from_secs(60)).await;
    assert!(
        ep.state.control.take_slow_create().is_none(),
        "the slow answer was given"
    );
    assert_eq!(
        labels(ep, &slow),
        1,
        "a late answer must not buy a second label"
    );

    ep.state.control.set_faults(FaultRequest {
        garble_next: 1,
        ..FaultRequest::default()
    });
    common::drop_file(inbox, "garbage.json", &lc::shop_order(601, "TEST-MUG"));
    let bad = lc::order_of(store, 601).await;
    let reason = common::poll(Duration::from_secs(60), "a carrier exception", || async {
        store
            .exceptions(false, 50)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.order_id.as_deref() == Some(bad.as_str()))
            .map(|e| (e.kind, e.reason))
    })
    .await;
    assert_eq!(reason.0, "carrier_refused", "{reason:?}");
    assert!(
        reason.1.contains("easypost") && reason.1.contains(&bad),
        "names the carrier and the order: {}",
        reason.1
    );
    lc::wait_state(store, &bad, "packed", Duration::from_secs(10)).await;

    // A purchase late past our timeout, with a retry left: the retry's look-up waits.
    late_purchase_bought_once(ep, store, inbox, 603).await;

    common::drop_file(inbox, "next.json", &lc::shop_order(602, "TEST-MUG"));
    let next = lc::order_of(store, 602).await;
    lc::wait_state(store, &next, "shipped", Duration::from_secs(60)).await;
    assert_eq!(labels(ep, &next), 1);
    assert!(
        ep.state.labels().values().all(|n| *n == 1),
        "no label twice: {:?}",
        ep.state.labels()
    );
    nothing_parked(store, "carrier faults").await;
    run.stop().await;
}

/// A purchase the carrier makes only after our LAST try gave up (no retries left): the
/// stage hands the order back and retries it after its backoff (100 ms here), and that
/// retry's look-up must not run while the purchase is still on its way — it would miss it
/// and buy a second label. The chain's end waits for the unanswered purchase to settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_late_past_the_last_retry_is_not_bought_again() {
    let env = TestEnv::new(Profile::Standalone).await;
    let run = CarrierRun::start(&env, 0).await;
    let (ep, store, inbox) = (&run.ep, &run.store, &run.inbox);
    late_purchase_bought_once(ep, store, inbox, 610).await;
    nothing_parked(store, "a late last purchase").await;
    run.stop().await;
}

/// A small tmpfs mounted for one test (we run as root), unmounted when dropped — also when
/// the test fails.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs (the tests run as root)");
        Self { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the file system with a filler file until it refuses; returns the filler's path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// POSTs Shopify order `n` to the webhook connector `shop`, signed; returns status and body.
async fn post_order(port: u16, n: u64) -> (u16, String) {
    let body = common::shopify_order(n);
    let sig = ordergate::intake::webhook::sign_base64(b"shpss_disk_secret", &body);
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hooks/orders/shop"))
        .header("content-type", "application/json")
        .header("X-Shopify-Hmac-Sha256", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// The SQLite store on a small tmpfs that fills up: webhooks are refused with 503 and a
/// reason naming the full disk (the sender retries), nothing is half-written (integrity
/// check), the pipeline waits instead of parking, and when space returns the refused orders
/// are taken on their retry: every order accepted before, during and after is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_disk_full_refuses_clearly_and_recovers() {
    let env = TestEnv::new(Profile::Standalone).await;
    let disk = Tmpfs::mount("6m");
    let port = free_port();
    let secret = sim::secret_file(env.dir.path(), "shop-secret", "shpss_disk_secret");
    let extra = format!(
        "[[connectors]]\nkind = \"webhook\"\nname = \"shop\"\nformat = \"shopify\"\n\
         auth = {{ scheme = \"shopify\", secret = \"{secret}\" }}\n"
    );
    let url = format!(
        "sqlite://{}",
        disk.path().join("ordergate.sqlite").display()
    );
    let text = lc::config_text(&env, port, FAST_RETRIES, &extra).replace(&env.store_url(), &url);
    let mut cfg = ordergate::config::Config::from_toml(&text, "test", Vec::new()).unwrap();
    cfg.anchor_paths(env.dir.path());
    let d = ordergate::app::Daemon::start(&cfg).await.unwrap();
    let store = d.store.clone();

    for n in 1..=5 {
        assert_eq!(post_order(port, n).await.0, 202);
    }
    wait_until(Duration::from_secs(30), "5 orders", || async {
        lc::count(&store, "SELECT COUNT(*) FROM orders").await == 5
    })
    .await;

    let filler = disk.fill();
    let mut refused = Vec::new();
    for n in 6..=30 {
        let (status, body) = post_order(port, n).await;
        match status {
            202 => {}
            503 => {
                assert!(body.contains("disk is full"), "a clear reason: {body}");
                refused.push(n);
            }
            other => panic!("order {n}: {other} {body}"),
        }
    }
    assert!(!refused.is_empty(), "a full disk refuses intake");
    std::fs::remove_file(&filler).unwrap();

    // The senders retry; every refused order is taken now.
    for n in &refused {
        let n = *n;
        common::poll(
            Duration::from_secs(30),
            "the retry accepted",
            || async move { (post_order(port, n).await.0 == 202).then_some(()) },
        )
        .await;
    }
    for n in 31..=35 {
        assert_eq!(post_order(port, n).await.0, 202, "after space returned");
    }
    wait_until(Duration::from_secs(60), "35 orders", || async {
        lc::count(&store, "SELECT COUNT(*) FROM orders").await == 35
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        lc::count(&store, "SELECT COUNT(DISTINCT external_id) FROM orders").await,
        35,
        "each order once"
    );
    assert_eq!(
        lc::count(&store, "SELECT COUNT(*) FROM raw_documents").await,
        35,
        "each document once"
    );
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(check, "ok", "nothing half-written");
    nothing_parked(&store, "disk full").await;
    eprintln!(
        "disk full: 35 orders, {} refused while full and taken on retry, lost 0, duplicated 0",
        refused.len()
    );
    d.stop().await;
    drop(store);
}

/// Copies the repository's mappings into `dir` (a test changes its copy).
fn copy_mappings(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(common::mappings_dir()).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
}

/// A poison message at each stage — an event its stage cannot apply (it names an order or
/// a document that is not in the store, or its payload is not the event's shape): parked
/// once with its exception, while real orders flow through review, allocation, fulfilment
/// and the warehouses' shipped callbacks. Then a document no mapping can read (a new
/// connector's format): parked after its attempts; the mapping is added (hot-reloaded) and
/// `dlq replay` applies it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_at_each_stage_is_parked_once_and_the_rest_flows() {
    use ordergate::model::Envelope;
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let east = lc::shipbob_sim(port, "east", Some(Duration::from_millis(300))).await;
    let factory = lc::shipbob_sim(port, "factory", Some(Duration::from_millis(300))).await;
    let (section, inbox) = folder(&env);
    let acme_inbox = env.inbox("acme");
    let mappings = env.dir.path().join("mappings");
    copy_mappings(&mappings);
    let extra = format!(
        "{section}{}{}{}{ROUTING}",
        common::folder_connector("acme-drop", &acme_inbox, "acme"),
        shipbob_section(env.dir.path(), "east", &east.base_url(), 2000),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 2000),
    );
    let text = lc::config_text(&env, port, FAST_RETRIES, &extra).replace(
        &format!("dir = \"{}\"", common::mappings_dir().display()),
        &format!("dir = \"{}\"", mappings.display()),
    );
    // A poison goes to every stage's queue: each is bound to all it can take, also the
    // push-back and notify stages that this configuration (no push-back, no e-mail, no
    // subscriber) would otherwise tell nothing (`bus.only_wanted`).
    let everything = [(
        "ORDERGATE_BUS__ONLY_WANTED".to_string(),
        "false".to_string(),
    )];
    let mut cfg = ordergate::config::Config::from_toml(&text, "test", everything).unwrap();
    cfg.anchor_paths(env.dir.path());
    let d = ordergate::app::Daemon::start(&cfg).await.unwrap();
    let store = d.store.clone();

    let missing = |stage: &str| format!("00000000-poison-{stage}");
    let order_event = |kind: &str, stage: &str| {
        Envelope::new(
            kind,
            "poison",
            serde_json::json!({"order_id": missing(stage)}),
        )
        .with_order(missing(stage))
    };
    let poisons: Vec<(&str, Envelope)> = vec![
        (
            "normalize",
            Envelope::new(
                "raw.poison",
                "poison",
                serde_json::json!({"raw_id": "no-such-document", "format": "shopify"}),
            ),
        ),
        ("review", order_event("order.received", "review")),
        ("allocate", order_event("order.reallocate", "allocate")),
        ("fulfil", order_event("order.allocated", "fulfil")),
        ("ship", order_event("order.packed", "ship")),
        (
            "track",
            Envelope::new(
                "tracking.poison",
                "poison",
                serde_json::json!({"not": "tracking"}),
            ),
        ),
        ("pushback", order_event("order.shipped", "pushback")),
        (
            "notify",
            Envelope::new("exception.raised", "poison", serde_json::json!([1, 2, 3])),
        ),
    ];
    // Half the real orders before the poison, half after.
    for n in 0..4u64 {
        let sku = if n % 2 == 0 { "TEST-MUG" } else { "TEST-LAMP" };
        common::drop_file(&inbox, &format!("o{n}.json"), &lc::shop_order(700 + n, sku));
    }
    let envelopes: Vec<Envelope> = poisons.iter().map(|(_, e)| e.clone()).collect();
    d.bus.publish(&envelopes).await.unwrap();
    for n in 4..8u64 {
        let sku = if n % 2 == 0 { "TEST-MUG" } else { "TEST-LAMP" };
        common::drop_file(&inbox, &format!("o{n}.json"), &lc::shop_order(700 + n, sku));
    }
    for n in 0..8u64 {
        let id = lc::order_of(&store, 700 + n).await;
        lc::wait_state(&store, &id, "shipped", Duration::from_secs(60)).await;
    }
    let stage_of = |queue: &str| queue.rsplit('.').next().unwrap_or_default().to_string();
    common::poll(Duration::from_secs(30), "every poison parked", || async {
        let parked = ordergate::dlq::list(&store, 100).await.unwrap();
        poisons
            .iter()
            .all(|(stage, e)| {
                parked
                    .iter()
                    .any(|p| p.envelope.id == e.id && stage_of(&p.queue) == *stage)
            })
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = ordergate::dlq::list(&store, 100).await.unwrap();
    let parked = all.len();
    for p in &all {
        assert!(
            poisons.iter().any(|(_, e)| e.id == p.envelope.id),
            "only poison is parked: {} {}",
            p.queue,
            p.error
        );
        let copies = all
            .iter()
            .filter(|q| q.envelope.id == p.envelope.id && q.queue == p.queue)
            .count();
        assert_eq!(copies, 1, "parked once at {}", p.queue);
    }
    let exceptions = store.exceptions(false, 200).await.unwrap();
    for p in &all {
        assert!(
            exceptions.iter().any(|x| x.id == p.exception_id),
            "an exception for the message parked at {}",
            p.queue
        );
    }
    once_each(&store, "east", &east.state.created()).await;
    once_each(&store, "factory", &factory.state.created()).await;

    // A format no mapping reads yet: parked after its attempts, then the mapping is added
    // (hot-reloaded) and the replay applies it once.
    common::drop_file(&acme_inbox, "acme-1.json", &lc::shop_order(800, "TEST-MUG"));
    let acme = common::poll(
        Duration::from_secs(60),
        "the acme document parked",
        || async {
            ordergate::dlq::list(&store, 100)
                .await
                .unwrap()
                .into_iter()
                .find(|p| p.envelope.kind == "raw.acme-drop")
        },
    )
    .await;
    assert!(
        acme.error.contains("acme"),
        "names the format: {}",
        acme.error
    );
    // The acme shop sends Shopify's shape: its mapping is Shopify's, naming its own format.
    let shopify = std::fs::read_to_string(mappings.join("shopify.order.jq")).unwrap();
    let acme_mapping = shopify.replace("format: \"shopify\"", "format: \"acme\"");
    assert_ne!(acme_mapping, shopify, "the mapping names its format");
    std::fs::write(mappings.join("acme.order.jq"), acme_mapping).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    ordergate::dlq::replay(&store, d.bus.as_ref(), std::slice::from_ref(&acme.id))
        .await
        .unwrap();
    let id = lc::order_of(&store, 800).await;
    lc::wait_state(&store, &id, "shipped", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        lc::count(
            &store,
            "SELECT COUNT(*) FROM orders WHERE external_id = '7000000000800'"
        )
        .await,
        1,
        "applied once"
    );
    assert!(
        !ordergate::dlq::list(&store, 100)
            .await
            .unwrap()
            .iter()
            .any(|p| p.id == acme.id),
        "no longer parked"
    );
    once_each(&store, "east", &east.state.created()).await;
    eprintln!(
        "poison: {} stages, {parked} messages parked once each, 9 real orders shipped once",
        poisons.len()
    );
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// How a partner's port behaves; the test switches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Nothing listens: connection refused.
    Closed,
    /// The connection is taken and what the client sends is passed on at once, but the
    /// server's answers reach the client only after the slow delay (later than it waits).
    Slow,
    /// Answers bytes that are not the protocol, then hangs up.
    Garbage,
    /// Passes everything both ways.
    Open,
}

/// A partner's address on loopback in front of its real server (`upstream`), behaving as the
/// test says. A switch also drops every connection open at the time, as a server that goes
/// down or changes does (a client's pooled keep-alive connection does not carry on as before).
struct FaultyPort {
    port: u16,
    behaviour: tokio::sync::watch::Sender<Behaviour>,
    /// Cancelled at each switch: the connections taken before it.
    connections: Arc<Mutex<tokio_util::sync::CancellationToken>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyPort {
    fn start(upstream: std::net::SocketAddr, slow: Duration, initial: Behaviour) -> Self {
        let port = free_port();
        let (behaviour, rx) = tokio::sync::watch::channel(initial);
        let connections = Arc::new(Mutex::new(tokio_util::sync::CancellationToken::new()));
        let task = tokio::spawn(listen(port, upstream, slow, rx, connections.clone()));
        Self {
            port,
            behaviour,
            connections,
            task,
        }
    }

    fn set(&self, b: Behaviour) {
        let fresh = tokio_util::sync::CancellationToken::new();
        std::mem::replace(&mut *self.connections.lock().unwrap(), fresh).cancel();
        self.behaviour.send_replace(b);
    }
}

impl Drop for FaultyPort {
    fn drop(&mut self) {
        self.connections.lock().unwrap().cancel();
        self.task.abort();
    }
}

/// Listens on `port` while the behaviour is not [`Behaviour::Closed`]. While it is, the port
/// is held by a socket bound to it that does not listen: a connection is refused as by a
/// closed port, and no other test's server can take the port meanwhile (a subscriber "down"
/// for ten minutes once met another test's HTTP server there, whose 404 parked its deliveries).
async fn listen(
    port: u16,
    upstream: std::net::SocketAddr,
    slow: Duration,
    mut rx: tokio::sync::watch::Receiver<Behaviour>,
    connections: Arc<Mutex<tokio_util::sync::CancellationToken>>,
) {
    loop {
        if *rx.borrow_and_update() == Behaviour::Closed {
            let _held = tokio::select! {
                held = hold(port) => held,
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        loop {
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *rx.borrow() == Behaviour::Closed {
                        break;
                    }
                }
                accepted = listener.accept() => {
                    let Ok((client, _)) = accepted else { continue };
                    let b = *rx.borrow();
                    let cancel = connections.lock().unwrap().clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = serve(client, b, upstream, slow) => {}
                            _ = cancel.cancelled() => {}
                        }
                    });
                }
            }
        }
    }
}

/// A socket bound to `port` on loopback that does not listen, without `SO_REUSEADDR` so that
/// no other socket can bind the port beside it (tried again until the port is free: the
/// connections of a listener just dropped may still hold it for a while).
async fn hold(port: u16) -> tokio::net::TcpSocket {
    loop {
        if let Ok(socket) = tokio::net::TcpSocket::new_v4() {
            if socket.bind(([127, 0, 0, 1], port).into()).is_ok() {
                return socket;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One connection as `b` says.
async fn serve(
    mut client: tokio::net::TcpStream,
    b: Behaviour,
    upstream: std::net::SocketAddr,
    slow: Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    match b {
        Behaviour::Closed => {}
        Behaviour::Garbage => {
            // Whatever the client says first (an HTTP request; an SMTP client waits for the
            // greeting), then noise.
            let mut buf = [0u8; 8192];
            let _ = tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await;
            let _ = client
                .write_all(b"\x15\x03\x01\x00\x02\x02\x28 this is not the protocol\r\n")
                .await;
            let _ = client.shutdown().await;
        }
        Behaviour::Slow => {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let to_server = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut sw).await;
                let _ = sw.shutdown().await;
            });
            tokio::time::sleep(slow).await;
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            to_server.abort();
        }
        Behaviour::Open => {
            let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
    }
}

/// A department's webhook receiver: verifies the signature and records every POST as
/// (delivery id, event id) — a delivery sent again (its answer came late) is the same
/// delivery id, which is how a receiver applies it once.
#[derive(Clone, Default)]
struct Receiver {
    posts: Arc<Mutex<Vec<(String, String)>>>,
    bad_signatures: Arc<std::sync::atomic::AtomicUsize>,
}

const HOOK_SECRET: &str = "finance-hook-secret";

impl Receiver {
    async fn start() -> (Self, std::net::SocketAddr) {
        let r = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, addr)
    }

    fn posts(&self) -> Vec<(String, String)> {
        self.posts.lock().unwrap().clone()
    }

    /// Deliveries applied: distinct delivery ids.
    fn applied(&self) -> BTreeMap<String, String> {
        self.posts().into_iter().collect()
    }
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let signed =
        ordergate::partner::signature::Timestamped::parse(&header("x-ordergate-signature"))
            .map(|t| t.matches(HOOK_SECRET.as_bytes(), &body))
            .unwrap_or(false);
    if !signed {
        r.bad_signatures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    let env: ordergate::model::Envelope = serde_json::from_slice(&body).unwrap();
    r.posts
        .lock()
        .unwrap()
        .push((header("x-ordergate-delivery"), env.id.to_string()));
    axum::http::StatusCode::OK
}

/// How long the SMTP relay and the subscriber are down before their slow and garbage phases
/// (`FAULTS_NOTICE_OUTAGE_SECS`, 20 s in CI: their outage of minutes is in
/// [`every_partner_down_for_minutes_orders_wait_then_each_effect_happens_once`]).
fn notice_outage() -> Duration {
    secs_from_env("FAULTS_NOTICE_OUTAGE_SECS", 20)
}

/// Counts of a table's rows by status.
async fn statuses(store: &Store, table: &str) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT status, COUNT(*) FROM {table} GROUP BY status"
    )))
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// The SMTP relay (a real aiosmtpd server behind a [`FaultyPort`]) and a department's webhook
/// subscriber, both down, then slow (answers after our timeout), then answering garbage,
/// while orders flow through both warehouses and ship: every shipped e-mail arrives once (by
/// Message-ID), every `order.shipped` is delivered to the subscriber under one delivery id
/// (sent again only when its answer came late), nothing is parked; the relay's and the
/// subscriber's health go down and come back up at each fault; the warehouses stay up and
/// every order is fulfilled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtp_and_subscriber_down_slow_and_garbage_lose_nothing_send_nothing_twice() {
    let started = Instant::now();
    let env = TestEnv::new(Profile::Standalone).await;
    let port = free_port();
    let east = lc::shipbob_sim(port, "east", Some(Duration::from_millis(300))).await;
    let factory = lc::shipbob_sim(port, "factory", Some(Duration::from_millis(300))).await;
    let sink_port = free_port();
    let sink = common::smtp::Sink::start(&env.dir.path().join("mail"), sink_port);
    let (receiver, receiver_addr) = Receiver::start().await;
    // Our timeouts are one second; a slow answer comes after 2.5.
    let slow = Duration::from_millis(2500);
    let smtp = FaultyPort::start(([127, 0, 0, 1], sink_port).into(), slow, Behaviour::Closed);
    let hook = FaultyPort::start(receiver_addr, slow, Behaviour::Closed);
    let outage = notice_outage();
    let _durations = Durations {
        what: format!(
            "the SMTP relay and the subscriber down for {outage:?} (FAULTS_NOTICE_OUTAGE_SECS), \
             then slow (answers after {slow:?}), then answering garbage"
        ),
        started,
    };
    // Three attempts at these delays are spent in about a second: the outage is waited
    // through by `pipeline.outage_retry_secs` (an hour), as the stages wait for a warehouse.
    let attempts = 3;
    let hook_secret = sim::secret_file(env.dir.path(), "finance-secret", HOOK_SECRET);
    let (section, inbox) = folder(&env);
    let extra = format!(
        r#"{section}{}{}{ROUTING}{notices}
[[subscribers]]
name = "finance"
url = "http://127.0.0.1:{hook_port}/hook"
events = ["order.shipped"]
secret = "{hook_secret}"
timeout_ms = 1000
max_attempts = {attempts}
"#,
        shipbob_section(env.dir.path(), "east", &east.base_url(), 2000),
        shipbob_section(env.dir.path(), "factory", &factory.base_url(), 2000),
        notices = common::smtp::notices_section(
            smtp.port,
            r#"["shipped"]"#,
            1000,
            &format!("max_attempts = {attempts}"),
        ),
        hook_port = hook.port,
    );
    let d = lc::daemon(&env, port, FAST_RETRIES, &extra).await;
    let store = d.store.clone();
    let smtp_log = HealthLog::start(d.health.clone(), "smtp");
    let hook_log = HealthLog::start(d.health.clone(), "finance");
    let east_log = HealthLog::start(d.health.clone(), "east");
    let factory_log = HealthLog::start(d.health.clone(), "factory");
    let mut n = 900u64;
    let mut orders = Vec::new();
    let mut ship = |count: u64| {
        let mut ids = Vec::new();
        for _ in 0..count {
            let sku = if n.is_multiple_of(2) {
                "TEST-MUG"
            } else {
                "TEST-LAMP"
            };
            common::drop_file(&inbox, &format!("o{n}.json"), &lc::shop_order(n, sku));
            ids.push(n);
            n += 1;
        }
        orders.extend(ids.iter().copied());
        ids
    };
    let shipped = |ids: Vec<u64>| {
        let store = store.clone();
        async move {
            for n in ids {
                let id = lc::order_of(&store, n).await;
                lc::wait_state(&store, &id, "shipped", Duration::from_secs(60)).await;
            }
        }
    };
    // Everything sent so far arrived, each once.
    let all_arrived = |count: usize, what: &'static str| {
        let (sink, receiver) = (&sink, &receiver);
        async move {
            wait_until(Duration::from_secs(60), what, || async {
                sink.message_ids().len() >= count && receiver.applied().len() >= count
            })
            .await;
        }
    };

    // Down for the outage: the orders ship, their e-mails and deliveries wait.
    let batch = ship(4);
    shipped(batch).await;
    wait_until(
        Duration::from_secs(60),
        "the relay and the subscriber down",
        || async {
            smtp_log.now() == Some(ConnectorHealth::Down)
                && hook_log.now() == Some(ConnectorHealth::Down)
        },
    )
    .await;
    assert_eq!(readyz_health(port, "smtp").await, "down");
    assert_eq!(readyz_health(port, "finance").await, "down");
    tokio::time::sleep(outage.saturating_sub(started.elapsed())).await;
    assert!(sink.message_ids().is_empty() && receiver.posts().is_empty());
    // Each waits for its next try (or is being tried): none sent, none parked.
    for table in ["notices", "subscriber_deliveries"] {
        let waited = statuses(&store, table).await;
        let trying: i64 = ["pending", "sending"]
            .iter()
            .filter_map(|s| waited.get(*s))
            .sum();
        assert_eq!(trying, 4, "{table}: {waited:?}");
    }
    smtp.set(Behaviour::Open);
    hook.set(Behaviour::Open);
    all_arrived(4, "the e-mails and deliveries after the outage").await;
    wait_until(Duration::from_secs(30), "both up", || async {
        smtp_log.now() == Some(ConnectorHealth::Up) && hook_log.now() == Some(ConnectorHealth::Up)
    })
    .await;
    smtp_log.went_down_and_up("smtp outage");
    hook_log.went_down_and_up("subscriber outage");

    // Slow, then garbage: each fault takes both off up; once they answer properly, every
    // e-mail and delivery arrives.
    let mut total = 4;
    for fault in [Behaviour::Slow, Behaviour::Garbage] {
        let (smtp_seen, hook_seen) = (smtp_log.seen().len(), hook_log.seen().len());
        let posts_before = receiver.posts().len();
        smtp.set(fault);
        hook.set(fault);
        let batch = ship(2);
        total += 2;
        shipped(batch).await;
        wait_until(Duration::from_secs(60), "both off up", || async {
            smtp_log.now() != Some(ConnectorHealth::Up)
                && hook_log.now() != Some(ConnectorHealth::Up)
        })
        .await;
        if fault == Behaviour::Slow {
            // The subscriber got a delivery whose answer came late (it applied it).
            wait_until(
                Duration::from_secs(30),
                "a late-answered delivery",
                || async { receiver.posts().len() > posts_before },
            )
            .await;
        } else {
            assert_eq!(
                receiver.posts().len(),
                posts_before,
                "garbage applies nothing"
            );
        }
        assert_eq!(
            sink.message_ids().len(),
            total - 2,
            "{fault:?}: no e-mail got through"
        );
        smtp.set(Behaviour::Open);
        hook.set(Behaviour::Open);
        all_arrived(total, "the e-mails and deliveries after the fault").await;
        wait_until(Duration::from_secs(30), "both up again", || async {
            smtp_log.now() == Some(ConnectorHealth::Up)
                && hook_log.now() == Some(ConnectorHealth::Up)
        })
        .await;
        eprintln!(
            "{fault:?}: smtp {:?}, subscriber {:?}",
            &smtp_log.seen()[smtp_seen..],
            &hook_log.seen()[hook_seen..]
        );
    }

    // Nothing lost, nothing twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = each_email_once(&store, &sink).await;
    assert_eq!(received.len(), orders.len(), "one shipped e-mail per order");
    assert_eq!(
        statuses(&store, "notices").await,
        BTreeMap::from([("sent".to_string(), orders.len() as i64)])
    );
    let applied = receiver.applied();
    let events: std::collections::BTreeSet<&String> = applied.values().collect();
    assert_eq!(
        applied.len(),
        orders.len(),
        "one delivery per order.shipped"
    );
    assert_eq!(
        events.len(),
        orders.len(),
        "each event under one delivery id"
    );
    let posts = receiver.posts().len();
    assert!(
        posts > applied.len(),
        "late answers were sent again: {posts}"
    );
    assert_eq!(
        receiver
            .bad_signatures
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        statuses(&store, "subscriber_deliveries").await,
        BTreeMap::from([("delivered".to_string(), orders.len() as i64)])
    );
    nothing_parked(&store, "notices faults").await;
    let kinds: Vec<String> = lc::open_exceptions(&store)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(kinds.is_empty(), "no exception: {kinds:?}");
    // The warehouses never noticed.
    assert_eq!(east_log.seen(), vec![ConnectorHealth::Up]);
    assert_eq!(factory_log.seen(), vec![ConnectorHealth::Up]);
    once_each(&store, "east", &east.state.created()).await;
    once_each(&store, "factory", &factory.state.created()).await;
    assert_eq!(state_count(&store, "shipped").await, orders.len() as i64);
    eprintln!(
        "smtp and subscriber down {outage:?}, slow and garbage: {} orders, {} e-mails and {} \
         deliveries once each ({posts} posts), lost 0, duplicated 0, in {:?}",
        orders.len(),
        received.len(),
        applied.len(),
        started.elapsed()
    );
    d.stop().await;
    east.stop().await;
    factory.stop().await;
}

/// The Message-IDs the SMTP sink received: none twice, and exactly the ones the store
/// recorded as notices.
async fn each_email_once(store: &Store, sink: &common::smtp::Sink) -> Vec<String> {
    let received = sink.message_ids();
    let unique: std::collections::BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        received.len(),
        "no e-mail twice: {received:?}"
    );
    let recorded: Vec<String> = sqlx::query_scalar("SELECT message_id FROM notices")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let recorded: std::collections::BTreeSet<String> = recorded
        .iter()
        .map(|m| m.trim_matches(['<', '>']).to_string())
        .collect();
    assert_eq!(
        recorded, unique,
        "every recorded e-mail arrived, nothing else"
    );
    received
}
