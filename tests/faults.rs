//! The whole order lifecycle under process and infrastructure faults (issue 17, point 2).
//!
//! One run: the Shopify-shaped sandbox store (pulled by the marketplace connector) → review →
//! allocation → a pick-list warehouse that packs but books no carrier (a counting packer in the
//! test stands for the warehouse) → the `ship` stage buys one label per parcel from the
//! EasyPost simulator → push-back accepted by the store simulator (proof stored) → customer
//! notices e-mailed to a real SMTP server (`tests/fixtures/smtp_sink.py`, aiosmtpd) → the
//! parcel registered with the sandbox tracker, which posts signed callbacks (out of order, a
//! duplicate, a late one) → every approved order `delivered`. The daemon is the real binary
//! (`ordergate run`), and the faults are real:
//!
//! * SIGKILL of the daemon at seeded random points, both profiles, repeated with `FAULT_SEEDS`
//!   different seeds per test run (each printed; `FAULT_SEED=` replays one run), and of one
//!   of three competing daemons the same way;
//! * a PRIVATE RabbitMQ node (own node name, ports and data folder) stopped and started during
//!   a cluster run;
//! * a PRIVATE PostgreSQL cluster (initdb + pg_ctl in a temp folder) restarted during a run;
//! * three daemons on the cluster profile as competing consumers, one SIGKILLed.
//!
//! Every run ends with the same count of effects: at the simulators one pick list, one label,
//! one push-back and one tracker registration per approved order; at the SMTP server one e-mail
//! per recorded notice (by Message-ID), a shipped and a delivered e-mail per order; in the
//! store each lifecycle transition once per order; nothing parked.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::smtp::Sink;
use common::{sim, Profile, TestEnv};
use ordergate::sandbox::carrier::CarrierSandbox;
use ordergate::sandbox::shipout::ShipOut;
use ordergate::sandbox::trackers::{self, TrackerSim, Webhook};
use ordergate::sandbox::{easypost, Platform, Sandbox};
use ordergate::store::Store;
use ordergate::tracking::Scheme;
use tokio_util::sync::CancellationToken;

const TRACKER_SECRET: &str = "easypost-secret-faults-5d1e";
const TRACKER_KEY: &str = "sim-api-key-faults";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `FAULT_SEED` when set (a replay).
fn replayed_seed() -> Option<u64> {
    std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
}

/// A seed from the clock.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000
}

/// The run's seed: `FAULT_SEED` when set (a replay), else from the clock; printed either way.
fn seed(test: &str) -> u64 {
    let seed = replayed_seed().unwrap_or_else(clock_seed);
    eprintln!("{test}: FAULT_SEED={seed} (set it to replay this run)");
    seed
}

/// Seeds a SIGKILL test runs with by default, one run each (`FAULT_SEEDS` overrides).
const DEFAULT_SEEDS: usize = 3;

/// The seeds of a repeated test: `FAULT_SEED` alone when set (a replay of one run), else
/// `FAULT_SEEDS` (default [`DEFAULT_SEEDS`]) different seeds, the first from the clock.
fn seeds() -> Vec<u64> {
    if let Some(seed) = replayed_seed() {
        return vec![seed];
    }
    let n = std::env::var("FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEEDS)
        .max(1);
    let mut rng = Rng(clock_seed());
    let mut seeds = Vec::with_capacity(n);
    while seeds.len() < n {
        let s = rng.next() % 1_000_000;
        if !seeds.contains(&s) {
            seeds.push(s);
        }
    }
    seeds
}

/// Runs `run` once per seed of [`seeds`], each seed printed before its run; a failing run
/// fails the test with its seed and how to replay it.
async fn for_each_seed<F, Fut>(test: &str, run: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures_util::FutureExt;
    let seeds = seeds();
    for (i, seed) in seeds.iter().copied().enumerate() {
        eprintln!(
            "{test}: run {} of {}: FAULT_SEED={seed} (set it to replay this run)",
            i + 1,
            seeds.len()
        );
        if let Err(panic) = std::panic::AssertUnwindSafe(run(seed)).catch_unwind().await {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "{test}: the run with FAULT_SEED={seed} failed (replay: FAULT_SEED={seed} cargo test --test faults {test}): {why}"
            );
        }
    }
}

/// A small seeded generator (splitmix64): the fault points of a run follow from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// The warehouse: takes every pick list that appears in its folder, counts it by key (a second
/// pick list for one key is a second warehouse order), and drops the packed confirmation (no
/// carrier, no tracking) after a short while.
struct Packer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    lists: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl Packer {
    fn spawn(folder: PathBuf, confirmations: PathBuf) -> Packer {
        let stop = CancellationToken::new();
        let lists: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
        let (s, l) = (stop.clone(), lists.clone());
        let task = tokio::spawn(async move {
            std::fs::create_dir_all(&confirmations).unwrap();
            while !s.is_cancelled() {
                if let Ok(entries) = std::fs::read_dir(&folder) {
                    for e in entries.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if name.starts_with('.') || !name.ends_with(".csv") {
                            continue;
                        }
                        let Ok(bytes) = std::fs::read(e.path()) else {
                            continue;
                        };
                        // Not yet whole: read again on the next round.
                        let Some((key, confirmation)) =
                            ordergate::sandbox::packer::packed_confirmation(&bytes)
                        else {
                            continue;
                        };
                        std::fs::remove_file(e.path()).unwrap();
                        *l.lock().unwrap().entry(key.clone()).or_insert(0) += 1;
                        let dir = confirmations.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(150)).await;
                            common::drop_file(&dir, &format!("{key}-packed.csv"), &confirmation);
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Packer { stop, task, lists }
    }

    fn lists(&self) -> BTreeMap<String, u32> {
        self.lists.lock().unwrap().clone()
    }
}

/// A private store or broker a test started, in place of the shared one.
#[derive(Default)]
struct Services {
    store_url: Option<String>,
    amqp_url: Option<String>,
}

/// One lifecycle run: the simulators, the SMTP server, the warehouse, and `daemons`
/// configurations of `ordergate run` (each with its own HTTP port; the tracker posts to the
/// first).
struct Run {
    env: TestEnv,
    orders: usize,
    shop: Sandbox,
    carrier: CarrierSandbox,
    tracker: Arc<TrackerSim>,
    tracker_stop: CancellationToken,
    packer: Packer,
    sink: Sink,
    configs: Vec<PathBuf>,
    ports: Vec<u16>,
    store: Store,
    started: Instant,
}

impl Run {
    async fn start(
        profile: Profile,
        orders: usize,
        seed: u64,
        services: Services,
        daemons: usize,
    ) -> Run {
        let env = TestEnv::new(profile).await;
        let d = env.dir.path().to_path_buf();
        let store_url = services.store_url.unwrap_or_else(|| env.store_url());
        let amqp_url = services
            .amqp_url
            .or_else(|| (profile == Profile::Cluster).then(common::amqp_url));
        let ports: Vec<u16> = (0..daemons).map(|_| free_port()).collect();
        let shop = sim::start(Platform::Shopify, orders, seed).await;
        let carrier = easypost::start("127.0.0.1:0").await.unwrap();
        carrier
            .state
            .control
            .set_faults(ordergate::sandbox::warehouse::FaultRequest {
                retry_after_secs: 1.0,
                ..Default::default()
            });
        let tracker = TrackerSim::new(
            TRACKER_KEY,
            HashMap::from([(
                Scheme::EasyPost,
                Webhook {
                    url: format!("http://127.0.0.1:{}/hooks/tracking/trk", ports[0]),
                    secret: TRACKER_SECRET.into(),
                },
            )]),
        );
        let tracker_stop = CancellationToken::new();
        let tracker_addr = trackers::serve(
            "127.0.0.1:0".parse().unwrap(),
            tracker.clone(),
            tracker_stop.clone(),
        )
        .await
        .unwrap();
        let smtp_port = free_port();
        let sink = Sink::start(&d.join("mail"), smtp_port);

        let catalog = d.join("catalog.csv");
        std::fs::write(&catalog, ordergate::sandbox::data::catalog_csv()).unwrap();
        let secret = |name: &str, value: &str| sim::secret_file(&d, name, value);
        let mut ship_out = ShipOut::new(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors"),
            &d,
            "local",
            &carrier.base_url(),
            &secret("ep-key", easypost::API_KEY),
        );
        ship_out.poll_interval_ms = Some(50);
        ship_out.carrier_settings =
            "request_timeout_ms = 3000\nmax_retries = 4\nretry_base_ms = 100\nretry_max_ms = 1500\n"
                .into();
        let packer = Packer::spawn(ship_out.pick.clone(), ship_out.confirm.clone());
        let shop_section = sim::marketplace_section("shop", &shop, &d, 50).replace(
            "lease_ms = 3000\n",
            "lease_ms = 3000\npushback = \"on_label\"\ndepartment = \"marketplaces\"\n",
        );
        let bus = match &amqp_url {
            None => "kind = \"embedded\"\npoll_interval_ms = 50\nlease_ms = 3000".to_string(),
            Some(url) => format!("kind = \"amqp\"\nurl = \"{url}\""),
        };
        let common_text = format!(
            r#"
[store]
url = "{store}"
max_connections = 8

[bus]
{bus}
namespace = "{ns}"
prefetch = 64
retry_tiers_ms = [100, 200, 400, 800, 1600]

[pipeline]
max_attempts = 12
retry_base_ms = 100
retry_max_ms = 1000
concurrency = 16
shutdown_grace_ms = 3000

[mappings]
dir = "{mappings}"

[catalog]
path = "{catalog}"

[health]
degraded_after = 1
down_after = 3

[pushback]
claim_ms = 5000
reconcile_interval_secs = 0

[tracking]
sweep_interval_ms = 0

{notices}
{shop_section}

[[connectors]]
kind = "tracking"
name = "trk"
scheme = "easypost"
secret = "{trk_secret}"
subscribe = {{ api_url = "http://{tracker_addr}", api_key = "{trk_key}", callback_url = "http://127.0.0.1:{hook_port}/hooks/tracking/trk", carriers = ["usps"] }}

{ship_out}"#,
            store = store_url,
            ns = env.namespace,
            mappings = common::mappings_dir().display(),
            catalog = catalog.display(),
            notices =
                common::smtp::notices_section(smtp_port, r#"["shipped", "delivered"]"#, 5000, ""),
            trk_secret = secret("trk-secret", TRACKER_SECRET),
            trk_key = secret("trk-key", TRACKER_KEY),
            hook_port = ports[0],
            ship_out = ship_out.toml(),
        );
        let configs = ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let path = d.join(format!("og-{i}.toml"));
                std::fs::write(
                    &path,
                    format!("[http]\nlisten = \"127.0.0.1:{port}\"\n{common_text}"),
                )
                .unwrap();
                path
            })
            .collect();
        let store = Store::connect(&store_url, 4, "normal").await.unwrap();
        Run {
            env,
            orders,
            shop,
            carrier,
            tracker,
            tracker_stop,
            packer,
            sink,
            configs,
            ports,
            store,
            started: Instant::now(),
        }
    }

    /// Starts daemon `i` (`ordergate run`), its log appended to `daemon-i.log`.
    fn daemon(&self, i: usize) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.env.dir.path().join(format!("daemon-{i}.log")))
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_ordergate"))
            .args(["run", "--config"])
            .arg(&self.configs[i])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// The bus status daemon `i`'s `/readyz` reports (`up`, `down`, or `no answer`).
    async fn bus_status(&self, i: usize) -> String {
        let url = format!("http://127.0.0.1:{}/readyz", self.ports[i]);
        let answer = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        match answer {
            Ok(r) => r
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["bus"]["status"].as_str().map(str::to_string))
                .unwrap_or_else(|| "no answer".into()),
            Err(_) => "no answer".into(),
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(self.store.pool())
            .await
            .unwrap_or(-1)
    }

    /// How far the run is, by one of its effects (`what` in 0..5): pick lists taken, labels
    /// bought, push-backs accepted, e-mails received, orders delivered.
    async fn progress(&self, what: u64) -> i64 {
        match what {
            0 => self.packer.lists().len() as i64,
            1 => self.carrier.state.label_count() as i64,
            2 => self.shop.state.push.creates_per_order().len() as i64,
            3 => self.sink.message_ids().len() as i64,
            _ => {
                self.count("SELECT COUNT(*) FROM orders WHERE state = 'delivered'")
                    .await
            }
        }
    }

    /// Waits until the run's effects reach a seeded random point: returns a description.
    async fn until_random_point(&self, rng: &mut Rng) -> String {
        const EFFECTS: [&str; 5] = [
            "pick lists",
            "labels",
            "push-backs",
            "e-mails",
            "deliveries",
        ];
        let what = rng.range(0, 4);
        // About half the orders pass review; aim inside that.
        let at = rng.range(1, (self.orders as u64 / 4).max(2)) as i64;
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let now = self.progress(what).await;
            if now >= at {
                return format!("{} {now} (aimed at {at})", EFFECTS[what as usize]);
            }
            assert!(
                Instant::now() < deadline,
                "the run never reached {at} {}: {now}",
                EFFECTS[what as usize]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the run has settled: every order pulled, every approved order delivered,
    /// every tracker journey acknowledged, no notice or push-back pending.
    async fn settle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let orders = self.count("SELECT COUNT(*) FROM orders").await;
            let approved = self
                .count("SELECT COUNT(DISTINCT order_id) FROM order_events WHERE kind = 'approve'")
                .await;
            let delivered = self
                .count("SELECT COUNT(*) FROM orders WHERE state = 'delivered'")
                .await;
            let pending_notices = self
                .count(
                    "SELECT COUNT(*) FROM notices WHERE status IN ('pending', 'sending', 'data')",
                )
                .await;
            let pending_pushbacks = self
                .count("SELECT COUNT(*) FROM pushbacks WHERE status = 'intended'")
                .await;
            // A delivered order's shipped and delivered notices are recorded by the notify
            // stage after the move: until both exist, nothing is pending and yet not settled.
            let unnoticed = self
                .count(
                    "SELECT COUNT(*) FROM orders o, (SELECT 'shipped' AS k UNION ALL SELECT 'delivered') n \
                     WHERE o.state = 'delivered' AND NOT EXISTS \
                     (SELECT 1 FROM notices x WHERE x.order_id = o.id AND x.notice = n.k)",
                )
                .await;
            let registered = self.tracker.registrations().await.len();
            let acknowledged = self.tracker.acknowledged();
            let now = format!(
                "orders {orders}/{}, approved {approved}, delivered {delivered}, notices pending {pending_notices}, notices not yet recorded {unnoticed}, push-backs pending {pending_pushbacks}, callbacks {acknowledged}/{}",
                self.orders,
                registered * 4
            );
            if orders == self.orders as i64
                && approved > 0
                && delivered == approved
                && pending_notices == 0
                && unnoticed == 0
                && pending_pushbacks == 0
                && acknowledged >= registered * 4
            {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = (0..self.configs.len())
                    .map(|i| {
                        std::fs::read_to_string(self.env.dir.path().join(format!("daemon-{i}.log")))
                            .unwrap_or_default()
                            .lines()
                            .rev()
                            .take(15)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .collect();
                let ex: Vec<_> = self
                    .store
                    .exceptions(false, 20)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| (e.kind, e.reason))
                    .collect();
                panic!("the run did not settle in {timeout:?}: {now}\nexceptions: {ex:?}\nlast log lines: {logs:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every effect once: returns how many orders were delivered.
    async fn assert_once(&self) -> usize {
        // A duplicate would come within the retry delays.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let delivered: Vec<String> =
            sqlx::query_scalar("SELECT id FROM orders WHERE state = 'delivered' ORDER BY id")
                .fetch_all(self.store.pool())
                .await
                .unwrap();
        let n = delivered.len();
        assert!(n > 0);
        // In the store: each lifecycle transition applied once per delivered order.
        for kind in [
            "approve",
            "allocate",
            "request_fulfilment",
            "pack",
            "ship",
            "scan",
            "deliver",
            "pushed_back",
        ] {
            let per_order: Vec<(String, i64)> = sqlx::query_as(
                "SELECT o.id, (SELECT COUNT(*) FROM order_events e WHERE e.order_id = o.id AND e.kind = $1) \
                 FROM orders o WHERE o.state = 'delivered'",
            )
            .bind(kind)
            .fetch_all(self.store.pool())
            .await
            .unwrap();
            let wrong: Vec<_> = per_order.iter().filter(|(_, c)| *c != 1).collect();
            assert!(wrong.is_empty(), "`{kind}` not applied once: {wrong:?}");
        }
        // The warehouse: one pick list per order.
        let lists = self.packer.lists();
        let twice: Vec<_> = lists.iter().filter(|(_, c)| **c != 1).collect();
        assert!(
            twice.is_empty(),
            "pick lists taken more than once: {twice:?}"
        );
        assert_eq!(lists.len(), n, "one warehouse order per order");
        // The carrier: one label per parcel.
        let labels = self.carrier.state.labels();
        let twice: Vec<_> = labels.iter().filter(|(_, c)| **c != 1).collect();
        assert!(twice.is_empty(), "labels bought more than once: {twice:?}");
        assert_eq!(labels.len(), n, "one label per parcel");
        let parcels = self.count("SELECT COUNT(*) FROM shipments").await;
        assert_eq!(parcels, n as i64, "one parcel per order");
        // The marketplace: one push-back per order, its proof stored.
        let pushes = self.shop.state.push.creates_per_order();
        let twice: Vec<_> = pushes.iter().filter(|(_, c)| **c != 1).collect();
        assert!(twice.is_empty(), "pushed back more than once: {twice:?}");
        assert_eq!(pushes.len(), n, "one push-back per order");
        let proven = self
            .count("SELECT COUNT(*) FROM pushbacks WHERE status = 'pushed' AND proof IS NOT NULL")
            .await;
        assert_eq!(proven, n as i64, "every push-back's proof stored");
        // The tracker: each parcel registered once.
        let regs = self.tracker.registrations().await;
        let mut numbers: Vec<_> = regs.iter().map(|r| r.number.clone()).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), regs.len(), "a parcel registered twice");
        assert_eq!(regs.len(), n, "every parcel registered");
        // The SMTP server: one e-mail per notice, a shipped and a delivered one per order.
        let received = self.sink.message_ids();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for id in &received {
            *seen.entry(id.as_str()).or_insert(0) += 1;
        }
        let twice: Vec<_> = seen.iter().filter(|(_, c)| **c != 1).collect();
        assert!(
            twice.is_empty(),
            "e-mails received more than once: {twice:?}"
        );
        let notices: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT COALESCE(order_id, ''), notice, status, message_id FROM notices",
        )
        .fetch_all(self.store.pool())
        .await
        .unwrap();
        for (_, notice, status, message_id) in &notices {
            if status == "sent" {
                assert_eq!(
                    seen.get(message_id.trim_matches(['<', '>'])),
                    Some(&1),
                    "{notice} recorded sent, received once"
                );
            }
        }
        let recorded: std::collections::BTreeSet<&str> = notices
            .iter()
            .map(|n| n.3.trim_matches(['<', '>']))
            .collect();
        for id in seen.keys() {
            assert!(recorded.contains(id), "an e-mail no notice records: {id}");
        }
        for o in &delivered {
            for kind in ["shipped", "delivered"] {
                let rows: Vec<_> = notices
                    .iter()
                    .filter(|r| &r.0 == o && r.1 == kind)
                    .collect();
                assert_eq!(rows.len(), 1, "{o}: one {kind} notice");
                // A send the kill cut off inside the SMTP transaction is `unknown` (a `notice_unconfirmed`
                // exception with its Message-ID), never repeated blindly.
                assert!(
                    rows[0].2 == "sent" || rows[0].2 == "unknown",
                    "{o}: {kind} notice {}",
                    rows[0].2
                );
            }
        }
        let parked = ordergate::dlq::list(&self.store, 10).await.unwrap();
        assert!(parked.is_empty(), "nothing parked: {parked:?}");
        n
    }

    async fn stop(self) {
        self.packer.stop.cancel();
        let _ = self.packer.task.await;
        self.tracker_stop.cancel();
        self.shop.stop().await;
        self.carrier.stop().await;
        drop(self.sink);
    }
}

fn kill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The lifecycle with the daemon SIGKILLed at `kills` random points of `seed` and started
/// again.
async fn lifecycle_under_sigkill(profile: Profile, orders: usize, kills: usize, seed: u64) {
    let test = format!("lifecycle_under_sigkill({profile:?})");
    let mut rng = Rng(seed);
    let run = Run::start(profile, orders, seed, Services::default(), 1).await;
    let mut child = run.daemon(0);
    for _ in 0..kills {
        let point = run.until_random_point(&mut rng).await;
        kill(&mut child);
        eprintln!("{test}: SIGKILL at {point}");
        child = run.daemon(0);
    }
    run.settle(Duration::from_secs(240)).await;
    let n = run.assert_once().await;
    eprintln!(
        "{test}: seed {seed}, {orders} orders, {n} delivered once, {kills} SIGKILL, lost 0, duplicated 0, {:?}",
        run.started.elapsed()
    );
    kill(&mut child);
    run.stop().await;
}

/// A run that fails fails the test naming its seed and how to replay it.
#[tokio::test]
async fn a_failing_run_names_its_seed() {
    use futures_util::FutureExt;
    let failed = std::panic::AssertUnwindSafe(for_each_seed("probe", |seed| async move {
        assert_eq!(seed, u64::MAX, "the run's own failure");
    }))
    .catch_unwind()
    .await
    .unwrap_err();
    let why = failed.downcast_ref::<String>().unwrap();
    assert!(
        why.starts_with("probe: the run with FAULT_SEED=")
            && why.contains("(replay: FAULT_SEED=")
            && why.contains("the run's own failure"),
        "{why}"
    );
}

/// The whole lifecycle on the standalone profile, the daemon SIGKILLed once per run, one run
/// per seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifecycle_standalone_with_sigkill() {
    for_each_seed("lifecycle_standalone_with_sigkill", |seed| {
        lifecycle_under_sigkill(Profile::Standalone, 60, 1, seed)
    })
    .await;
}

/// The whole lifecycle on the cluster profile, the daemon SIGKILLed twice per run, one run
/// per seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifecycle_cluster_with_sigkill() {
    for_each_seed("lifecycle_cluster_with_sigkill", |seed| {
        lifecycle_under_sigkill(Profile::Cluster, 200, 2, seed)
    })
    .await;
}

/// Runs `cmd`, panicking with its output when it fails.
fn must(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PRIVATE RabbitMQ node for one test (never the shared one on 5672): its own node name,
/// AMQP and distribution ports, database and log folders in a temp dir, no plugins. With
/// `netns`, it runs in a network namespace of its own, reached over a veth pair, so the test
/// can cut the network to it (the namespace's end of the link down: packets are dropped, as
/// when a cable is pulled) and restore it.
struct PrivateRabbit {
    node: String,
    port: u16,
    dist: u16,
    dir: tempfile::TempDir,
    /// (namespace, host-side link, namespace-side link, broker address).
    netns: Option<(String, String, String, String)>,
}

const RABBIT_BIN: &str = "/usr/lib/rabbitmq/bin";

impl PrivateRabbit {
    fn start(netns: bool) -> PrivateRabbit {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let dir = tempfile::tempdir().unwrap();
        let (port, dist) = (free_port(), free_port());
        let netns = netns.then(|| {
            let ns = format!("ogf{tag}");
            let (host, peer) = (format!("ogfa{}", &tag[..6]), format!("ogfb{}", &tag[..6]));
            let net = 1 + (u32::from_str_radix(&tag[..4], 16).unwrap() % 250);
            let (host_ip, ns_ip) = (format!("10.251.{net}.1"), format!("10.251.{net}.2"));
            must(
                Command::new("ip").args(["netns", "add", ns.as_str()]),
                "ip netns add",
            );
            let ip = |args: &str| {
                must(
                    Command::new("ip").args(args.split_whitespace()),
                    &format!("ip {args}"),
                )
            };
            ip(&format!("link add {host} type veth peer name {peer}"));
            ip(&format!("link set {peer} netns {ns}"));
            ip(&format!("addr add {host_ip}/30 dev {host}"));
            ip(&format!("link set {host} up"));
            ip(&format!(
                "netns exec {ns} ip addr add {ns_ip}/30 dev {peer}"
            ));
            ip(&format!("netns exec {ns} ip link set {peer} up"));
            ip(&format!("netns exec {ns} ip link set lo up"));
            (ns, host, peer, ns_ip)
        });
        let listen = netns
            .as_ref()
            .map(|n| n.3.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        let d = dir.path();
        std::fs::write(d.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(
            d.join("rabbitmq.conf"),
            // A short heartbeat so a cut network is noticed in seconds, not minutes.
            format!(
                "listeners.tcp.local = {listen}:{port}\nloopback_users = none\nheartbeat = 4\n"
            ),
        )
        .unwrap();
        std::fs::write(d.join("env.conf"), "").unwrap();
        let rabbit = PrivateRabbit {
            node: format!("ogf{tag}@localhost"),
            port,
            dist,
            dir,
            netns,
        };
        rabbit.up();
        rabbit
    }

    fn url(&self) -> String {
        let host = self
            .netns
            .as_ref()
            .map(|n| n.3.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        format!("amqp://guest:guest@{host}:{}/%2f", self.port)
    }

    /// A RabbitMQ command for this node (inside its namespace when it has one).
    fn command(&self, program: &str) -> Command {
        let path = format!("{RABBIT_BIN}/{program}");
        let mut cmd = match &self.netns {
            Some((ns, ..)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.as_str(), path.as_str()]);
                c
            }
            None => Command::new(path),
        };
        let d = self.dir.path();
        cmd.current_dir(d)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("env.conf"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Starts the node and waits until it serves AMQP.
    fn up(&self) {
        must(
            self.command("rabbitmq-server").arg("-detached"),
            "rabbitmq-server -detached",
        );
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ok = self
                .command("rabbitmqctl")
                .args(["-n", self.node.as_str(), "await_startup", "--timeout", "30"])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private RabbitMQ node did not start"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Stops the node (its durable queues and persistent messages stay on disk).
    fn down(&self) {
        let _ = self
            .command("rabbitmqctl")
            .args(["-n", self.node.as_str(), "stop"])
            .status();
    }

    /// Cuts the network to the broker (the namespace's end of the link down).
    fn cut(&self, down: bool) {
        let (ns, _, peer, _) = self.netns.as_ref().expect("a broker in its own namespace");
        must(
            Command::new("ip").args([
                "netns",
                "exec",
                ns.as_str(),
                "ip",
                "link",
                "set",
                peer.as_str(),
                if down { "down" } else { "up" },
            ]),
            "ip link set",
        );
    }
}

impl Drop for PrivateRabbit {
    /// Stops the node and removes the namespace and its link, whatever the test's outcome.
    fn drop(&mut self) {
        if let Some((ns, _, peer, _)) = &self.netns {
            // The link may be down: bring it up so the CLI can reach the node to stop it.
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns.as_str(),
                    "ip",
                    "link",
                    "set",
                    peer.as_str(),
                    "up",
                ])
                .status();
        }
        self.down();
        if let Some((ns, host, ..)) = &self.netns {
            // What is left in the namespace is ours (epmd): end it by pid.
            if let Ok(out) = Command::new("ip")
                .args(["netns", "pids", ns.as_str()])
                .output()
            {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip")
                .args(["link", "del", host.as_str()])
                .status();
            let _ = Command::new("ip")
                .args(["netns", "del", ns.as_str()])
                .status();
        }
    }
}

/// A PRIVATE PostgreSQL cluster for one test (initdb + pg_ctl in a temp dir, run as the
/// `postgres` user: the server refuses root), on its own port and socket folder.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl PrivatePg {
    fn start() -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let pg = PrivatePg {
            dir,
            port: free_port(),
            bin,
        };
        must(
            &mut pg.as_postgres(&[
                "initdb",
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]),
            "initdb",
        );
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"])
            .arg(self.bin.join(args[0]))
            .args(&args[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log").display().to_string();
        must(
            &mut self.as_postgres(&[
                "pg_ctl",
                "-D",
                &self.data(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "start",
            ]),
            "pg_ctl start",
        );
    }

    /// Stops the server at once (`immediate`: as a crash, recovery on start).
    fn down(&self) {
        let _ = self
            .as_postgres(&[
                "pg_ctl",
                "-D",
                &self.data(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .status();
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.down();
    }
}

/// Three daemons on the cluster profile share the stage queues as competing consumers; one of
/// them (not the one the tracker posts to) is SIGKILLed at a seeded random point and stays
/// dead: the other two finish every order, each once. One run per seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_daemons_compete_one_sigkilled() {
    for_each_seed(
        "three_daemons_compete_one_sigkilled",
        three_daemons_one_sigkilled,
    )
    .await;
}

async fn three_daemons_one_sigkilled(seed: u64) {
    let test = "three_daemons_compete_one_sigkilled";
    let mut rng = Rng(seed);
    let run = Run::start(Profile::Cluster, 150, seed, Services::default(), 3).await;
    let mut children: Vec<Child> = (0..3).map(|i| run.daemon(i)).collect();
    let point = run.until_random_point(&mut rng).await;
    let victim = rng.range(1, 2) as usize;
    kill(&mut children[victim]);
    eprintln!("{test}: SIGKILL of daemon {victim} at {point}");
    run.settle(Duration::from_secs(240)).await;
    let n = run.assert_once().await;
    eprintln!(
        "{test}: seed {seed}, 150 orders, {n} delivered once, lost 0, duplicated 0, {:?}",
        run.started.elapsed()
    );
    for (i, c) in children.iter_mut().enumerate() {
        if i != victim {
            kill(c);
        }
    }
    run.stop().await;
}

/// A private RabbitMQ node stopped at a seeded random point of a cluster run and started again
/// a few seconds later (its durable queues and persistent messages survive on disk): the
/// daemon reconnects and every order completes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_stopped_and_started() {
    let test = "rabbitmq_stopped_and_started";
    let seed = seed(test);
    let mut rng = Rng(seed);
    let rabbit = PrivateRabbit::start(false);
    let services = Services {
        amqp_url: Some(rabbit.url()),
        ..Services::default()
    };
    let run = Run::start(Profile::Cluster, 100, seed, services, 1).await;
    let mut child = run.daemon(0);
    let point = run.until_random_point(&mut rng).await;
    rabbit.down();
    let outage = Duration::from_millis(rng.range(2000, 6000));
    eprintln!("{test}: RabbitMQ stopped at {point} for {outage:?}");
    tokio::time::sleep(outage).await;
    let bus = run.bus_status(0).await;
    assert_ne!(bus, "up", "/readyz shows the broker down");
    tokio::task::block_in_place(|| rabbit.up());
    run.settle(Duration::from_secs(240)).await;
    let n = run.assert_once().await;
    eprintln!(
        "{test}: seed {seed}, 100 orders, {n} delivered once, lost 0, duplicated 0, {:?}",
        run.started.elapsed()
    );
    kill(&mut child);
    run.stop().await;
}

/// The network to a private broker (in its own network namespace) cut at a seeded random
/// point — packets dropped, connections left half-open — and restored: the daemon notices by
/// the missed heartbeats, `/readyz` shows the bus down, and after the link is back every order
/// completes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_network_cut_and_restored() {
    let test = "broker_network_cut_and_restored";
    let seed = seed(test);
    let mut rng = Rng(seed);
    let rabbit = PrivateRabbit::start(true);
    let services = Services {
        amqp_url: Some(rabbit.url()),
        ..Services::default()
    };
    let run = Run::start(Profile::Cluster, 100, seed, services, 1).await;
    let mut child = run.daemon(0);
    let point = run.until_random_point(&mut rng).await;
    rabbit.cut(true);
    eprintln!("{test}: network to the broker cut at {point}");
    let cut_at = Instant::now();
    let mut seen = String::new();
    while cut_at.elapsed() < Duration::from_secs(60) {
        seen = run.bus_status(0).await;
        if seen != "up" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let noticed = cut_at.elapsed();
    tokio::time::sleep(Duration::from_millis(rng.range(1000, 4000))).await;
    rabbit.cut(false);
    eprintln!(
        "{test}: /readyz said the bus is {seen} after {noticed:?}; restored after {:?}",
        cut_at.elapsed()
    );
    assert_eq!(seen, "down", "/readyz shows the outage");
    run.settle(Duration::from_secs(240)).await;
    let n = run.assert_once().await;
    eprintln!(
        "{test}: seed {seed}, 100 orders, {n} delivered once, lost 0, duplicated 0, {:?}",
        run.started.elapsed()
    );
    kill(&mut child);
    run.stop().await;
}

/// A private PostgreSQL cluster stopped at once (as a crash) at a seeded random point of a
/// cluster run and started again: the daemon's store calls fail and are retried, and every
/// order completes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_restarted() {
    let test = "postgresql_restarted";
    let seed = seed(test);
    let mut rng = Rng(seed);
    let pg = PrivatePg::start();
    let services = Services {
        store_url: Some(pg.url()),
        ..Services::default()
    };
    let run = Run::start(Profile::Cluster, 100, seed, services, 1).await;
    let mut child = run.daemon(0);
    let point = run.until_random_point(&mut rng).await;
    pg.down();
    let outage = Duration::from_millis(rng.range(1000, 5000));
    eprintln!("{test}: PostgreSQL stopped at {point} for {outage:?}");
    tokio::time::sleep(outage).await;
    pg.up();
    run.settle(Duration::from_secs(240)).await;
    let n = run.assert_once().await;
    eprintln!(
        "{test}: seed {seed}, 100 orders, {n} delivered once, lost 0, duplicated 0, {:?}",
        run.started.elapsed()
    );
    kill(&mut child);
    run.stop().await;
}
