//! ordergate's performance suite: every figure is a ratio to a baseline measured in the same run
//! on the same machine, and every measurement checks that each order it counts arrived, once.
//!
//! Run with `deploy/dev/bench.sh` (starts PostgreSQL and RabbitMQ, then
//! `cargo bench --bench suite`). Writes `target/bench-report.md` and `target/bench-report.json`
//! and prints the table. `BENCH_QUICK=1` runs smaller counts (a smoke test of the harness).
//!
//! Order of the run: machine facts; N1 on this thread alone (one core, nothing else of ours
//! running); then P2 (standalone), P1 with M1 (cluster), L2 (standalone), L1 (cluster), S1
//! (cluster), W1, T1, each against a child `ordergate run`. (N2, the jq mapping against a hand-written one, is
//! retired.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod daemon;
mod docs;
mod http;
mod large;
mod lifecycle;
mod machine;
mod normalize;
mod ops;
mod pipeline;
mod report;
mod shipout;
mod tracking;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use daemon::Profile;
use ordergate::mapping::MappingSet;
use ordergate::normalize::Normalizer;
use report::{Report, Row};

/// How much each part does.
struct Scale {
    /// Time per side of each N1/N2 figure.
    cpu_budget: Duration,
    /// Distinct documents per format in N1/N2.
    variants: u64,
    /// Orders timed in P1 and P2 (after the warm-up), and messages/rows of their baselines.
    orders: u64,
    warm: u64,
    /// W1 closed-loop requests and connections.
    requests: usize,
    conns: usize,
}

fn scale() -> Scale {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v != "0");
    let orders = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 300 } else { 3_000 });
    Scale {
        cpu_budget: Duration::from_millis(if quick { 300 } else { 2_000 }),
        variants: if quick { 50 } else { 200 },
        orders,
        warm: (orders / 10).max(20),
        requests: std::env::var("BENCH_REQUESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 300 } else { 3_000 }),
        conns: 16,
    }
}

/// Whether a part runs: `BENCH_ONLY=n1,p2` runs only those (for profiling one part);
/// `BENCH_ONLY=n1/email` runs only that row of a part.
fn selected(part: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| {
        only.split(',').any(|p| {
            let p = p.trim();
            let whole = p.split('/').next().unwrap_or(p);
            p.eq_ignore_ascii_case(part) || whole.eq_ignore_ascii_case(part)
        })
    })
}

/// Whether row `row` of `part` runs (see [`selected`]): all rows unless `BENCH_ONLY` names some
/// rows of this part.
fn row_selected(part: &str, row: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| {
        let rows: Vec<&str> = only
            .split(',')
            .filter_map(|p| p.trim().split_once('/'))
            .filter(|(p, _)| p.eq_ignore_ascii_case(part))
            .map(|(_, r)| r)
            .collect();
        rows.is_empty() || rows.iter().any(|r| r.eq_ignore_ascii_case(row))
    })
}

/// M1/large's goal: a 15 MB document may take this much above the daemon's RSS before it.
const LARGE_PEAK_MIB: f64 = 150.0;
/// M1/after's goal: what the daemon keeps of it 3 s later.
const LARGE_AFTER_MIB: f64 = 32.0;

fn report_dir() -> PathBuf {
    std::env::var("BENCH_REPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

// The same allocator as the `ordergate` binary, so in-process figures match the daemon's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ordergate::mem::tune();
    let started = Instant::now();
    let s = scale();
    let tmp_root = std::env::temp_dir();
    let mut report = Report {
        machine: machine::describe(&tmp_root),
        ..Report::default()
    };
    if let Err(e) = http::self_check() {
        eprintln!("bench: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("bench: N1 (one core)…");
    let mappings = match MappingSet::load(&docs::mappings_dir()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("bench: mappings: {e}");
            return ExitCode::FAILURE;
        }
    };
    let normalizer = Normalizer::new(mappings.clone());
    if selected("n1") {
        report
            .rows
            .extend(normalize::n1(&normalizer, s.cpu_budget, s.variants));
    }

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (order_json, event_json) = match pipeline::order_event(&normalizer) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("bench: sample order: {e}");
            return ExitCode::FAILURE;
        }
    };
    let event_size = event_json.len();
    let defaults = ordergate::config::Config::from_toml("", "defaults", Vec::new());
    let (prefetch, embedded_prefetch, concurrency, synchronous) = defaults
        .as_ref()
        .map(|c| {
            // The lapin baselines stand beside the cluster rows (P1, L1, S1): the prefetch
            // the daemon uses on RabbitMQ.
            let mut amqp = c.bus.clone();
            amqp.kind = ordergate::config::BusKind::Amqp;
            (
                amqp.prefetch(),
                c.bus.prefetch(),
                c.pipeline.concurrency,
                c.store.sqlite_synchronous.clone(),
            )
        })
        .unwrap_or((128, 32, 128, "full".into()));
    rt.block_on(async {
        if selected("p2") {
            eprintln!("bench: P2 (standalone)…");
            report
                .rows
                .push(p2(&tmp_root, &s, (&order_json, &event_json), &synchronous).await);
        }
        if selected("p1") {
            eprintln!("bench: P1 + M1 (cluster)…");
            report
                .rows
                .extend(p1(&tmp_root, &s, event_size, prefetch).await);
        }
        if selected("l2") {
            eprintln!("bench: L2 (standalone lifecycle)…");
            report.rows.push(
                l2(
                    &tmp_root,
                    &s,
                    &normalizer,
                    (&order_json, &event_json),
                    &synchronous,
                )
                .await,
            );
        }
        if selected("l1") {
            eprintln!("bench: L1 (cluster lifecycle)…");
            report
                .rows
                .push(l1(&tmp_root, &s, &normalizer, event_size, prefetch).await);
        }
        if selected("s1") {
            eprintln!("bench: S1 (cluster shipping out)…");
            report
                .rows
                .push(s1(&tmp_root, &s, event_size, prefetch).await);
        }
        if selected("r1") || selected("u1") {
            eprintln!("bench: R1, U1 (KPI report and dashboard, PostgreSQL)…");
            report
                .rows
                .extend(ops::run(&tmp_root, selected("r1"), selected("u1")).await);
        }
        if selected("w1") {
            eprintln!("bench: W1 (webhook)…");
            report
                .rows
                .push(webhook::w1(&tmp_root, s.requests, s.conns).await);
        }
        if selected("t1") {
            eprintln!("bench: T1 (tracking callbacks, standalone)…");
            report
                .rows
                .push(tracking::t1(&tmp_root, &normalizer, s.requests, s.conns).await);
        }
    });
    report.machine.push((
        "settings".into(),
        format!(
            "product defaults (prefetch {prefetch} on RabbitMQ, {} on the embedded bus, pipeline.concurrency {concurrency}, sqlite synchronous {synchronous}, log level info, JSON to a file); \
             raw events published in confirm windows of {}; {} orders timed after {} warm-up; N1 {} distinct documents, {:?} per side",
            embedded_prefetch, pipeline::PUBLISH_BATCH, s.orders, s.warm, s.variants, s.cpu_budget
        ),
    ));
    report.wall_seconds = started.elapsed().as_secs_f64();

    let md = report.markdown();
    println!("\n{md}");
    let dir = report_dir();
    let _ = std::fs::create_dir_all(&dir);
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    for (name, text) in [("bench-report.md", &md), ("bench-report.json", &json)] {
        if let Err(e) = std::fs::write(dir.join(name), text) {
            eprintln!("bench: writing {name}: {e}");
        }
    }
    eprintln!("bench: report in {}", dir.join("bench-report.md").display());
    if report.any_invalid() {
        eprintln!("bench: some figures could not be verified (INVALID rows)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn p2(
    tmp_root: &std::path::Path,
    s: &Scale,
    (order_json, event_json): (&str, &str),
    synchronous: &str,
) -> Row {
    let measure = "standalone: raw event published → normalized → committed in SQLite → order.received durable, orders/s";
    let event_size = event_json.len();
    let base =
        pipeline::sqlite_baseline(tmp_root, s.orders, synchronous, order_json, event_json).await;
    let ours = pipeline::run(
        Profile::Standalone,
        tmp_root,
        s.orders,
        s.warm,
        event_size,
        false,
    )
    .await;
    match (ours, base) {
        (Ok(run), Ok(base)) => Row::ratio(
            "P2",
            measure,
            "orders/s",
            run.rate,
            format!("bare SQLite (sqlx): the same 5 rows per order, one transaction each, WAL, synchronous={synchronous}"),
            base,
            0.3,
            format!(
                "{} orders in {:.1} s; {}; RSS idle {:.0} MiB, peak {:.0} MiB",
                run.orders, run.seconds, run.verified, run.rss_idle.unwrap_or(0.0), run.rss_peak.unwrap_or(0.0)
            ),
        ),
        (Err(e), _) => Row::invalid("P2", measure, e),
        (_, Err(e)) => Row::invalid("P2", measure, format!("baseline: {e}")),
    }
}

async fn p1(tmp_root: &std::path::Path, s: &Scale, event_size: usize, prefetch: u16) -> Vec<Row> {
    let measure = "cluster: raw event published → normalized → committed in PostgreSQL → order.received confirmed, orders/s";
    // The path carries two messages per order (the raw event in, `order.received` out): the
    // baseline carries as many, and its rate in orders/s is its message rate over two.
    let per = pipeline::MESSAGES_PER_ORDER;
    let base = pipeline::lapin_baseline(s.orders * per, event_size, prefetch)
        .await
        .map(|msgs| msgs / per as f64);
    let ours = pipeline::run(
        Profile::Cluster,
        tmp_root,
        s.orders,
        s.warm,
        event_size,
        true,
    )
    .await;
    let run = match (ours, base) {
        (Ok(run), Ok(base)) => (run, base),
        (Err(e), _) => {
            return vec![
                Row::invalid("P1", measure, e),
                Row::invalid("M1", "resident memory", "P1 failed"),
            ]
        }
        (_, Err(e)) => return vec![Row::invalid("P1", measure, format!("baseline: {e}"))],
    };
    let (run, base) = run;
    let (raw_doc, raw_event, order_event) = run.sizes;
    let mut rows = vec![
        Row::ratio(
            "P1",
            measure,
            "orders/s",
            run.rate,
            lapin_per_order(per, event_size, prefetch),
            base,
            0.3,
            format!(
                "{} orders in {:.1} s; {}; messages: raw document {raw_doc} B (stored, not on the bus), raw event {raw_event} B, order.received {order_event} B; prefetch {}, concurrency {}",
                run.orders, run.seconds, run.verified, run.prefetch, run.concurrency
            ),
        ),
        Row::at_most("M1/idle", "daemon RSS idle (cluster profile, connected)", "MiB", run.rss_idle.unwrap_or(f64::NAN), 40.0, "VmRSS of the ordergate child, 2 s after ready"),
        Row::at_most("M1/load", "daemon RSS peak during P1", "MiB", run.rss_peak.unwrap_or(f64::NAN), 150.0, "VmRSS sampled every 100 ms"),
    ];
    rows.extend(large_rows(run.large));
    rows
}

/// M1's large-document rows: peak and after, each above the RSS the daemon had before it.
fn large_rows(large: Option<Result<large::LargeRun, String>>) -> Vec<Row> {
    let peak = "daemon RSS peak above before, one 15 MB JSON document (cluster)";
    let after = "daemon RSS 3 s after that document, above before";
    match large {
        Some(Ok(l)) => {
            let note = format!(
                "before {:.0} MiB, peak {:.0} MiB, after {:.0} MiB; order stored {:.1} s after publish; VmRSS sampled every 100 ms",
                l.before, l.peak, l.after, l.seconds
            );
            vec![
                Row::at_most(
                    "M1/large",
                    peak,
                    "MiB",
                    l.peak - l.before,
                    LARGE_PEAK_MIB,
                    note.clone(),
                ),
                Row::at_most(
                    "M1/after",
                    after,
                    "MiB",
                    l.after - l.before,
                    LARGE_AFTER_MIB,
                    note,
                ),
            ]
        }
        Some(Err(e)) => vec![Row::invalid("M1/large", peak, e)],
        None => vec![Row::invalid("M1/large", peak, "not run")],
    }
}

async fn l2(
    tmp_root: &std::path::Path,
    s: &Scale,
    normalizer: &Normalizer,
    (order_json, event_json): (&str, &str),
    synchronous: &str,
) -> Row {
    let measure = "standalone lifecycle: raw event → normalize → review → allocate (stock query) → fulfilment order at the warehouse simulator → fulfilment_requested durable, orders/s";
    let base =
        lifecycle::sqlite_baseline(tmp_root, s.orders, synchronous, order_json, event_json).await;
    let ours = lifecycle::run(Profile::Standalone, tmp_root, normalizer, s.orders, s.warm).await;
    match (ours, base) {
        (Ok(run), Ok(base)) => Row::ratio(
            "L2",
            measure,
            "orders/s",
            run.rate,
            format!(
                "bare SQLite (sqlx): {} transactions per order (one per stage unit: state, audit event, inbox, outbox, queue row in and out), WAL, synchronous={synchronous}",
                lifecycle::UNITS_PER_ORDER
            ),
            base,
            0.3,
            format!(
                "{} orders in {:.1} s; daemon CPU {} per order; {}",
                run.orders,
                run.seconds,
                cpu(run.cpu_ms_per_order),
                run.verified
            ),
        ),
        (Err(e), _) => Row::invalid("L2", measure, e),
        (_, Err(e)) => Row::invalid("L2", measure, format!("baseline: {e}")),
    }
}

async fn l1(
    tmp_root: &std::path::Path,
    s: &Scale,
    normalizer: &Normalizer,
    event_size: usize,
    prefetch: u16,
) -> Row {
    let measure = "cluster lifecycle: raw event → normalize → review → allocate (stock query) → fulfilment order at the warehouse simulator → fulfilment_requested committed in PostgreSQL, orders/s";
    let per = lifecycle::MESSAGES_PER_ORDER;
    // The baseline carries the same number of messages per order: its rate in orders/s is its
    // message rate over `per`.
    let base = pipeline::lapin_baseline(s.orders * per, event_size, prefetch)
        .await
        .map(|msgs| msgs / per as f64);
    let ours = lifecycle::run(Profile::Cluster, tmp_root, normalizer, s.orders, s.warm).await;
    match (ours, base) {
        (Ok(run), Ok(base)) => Row::ratio(
            "L1",
            measure,
            "orders/s",
            run.rate,
            lapin_per_order(per, event_size, prefetch),
            base,
            0.25,
            format!(
                "{} orders in {:.1} s; daemon CPU {} per order (PostgreSQL and RabbitMQ not counted); {}",
                run.orders,
                run.seconds,
                cpu(run.cpu_ms_per_order),
                run.verified
            ),
        ),
        (Err(e), _) => Row::invalid("L1", measure, e),
        (_, Err(e)) => Row::invalid("L1", measure, format!("baseline: {e}")),
    }
}

async fn s1(tmp_root: &std::path::Path, s: &Scale, event_size: usize, prefetch: u16) -> Row {
    let measure = "cluster shipping out: fulfilment_requested → packed (warehouse confirmation) → label bought at the EasyPost simulator → shipped → push-back accepted by the Shopify simulator and shipped e-mail accepted by the SMTP server, orders/s";
    let run = match shipout::run(tmp_root, s.orders).await {
        Ok(run) => run,
        Err(e) => return Row::invalid("S1", measure, e),
    };
    // The baseline carries as many messages per order as the daemon published on the path.
    let per = run.messages_per_order.round().max(1.0) as u64;
    let base = match pipeline::lapin_baseline(run.orders * per, event_size, prefetch).await {
        Ok(msgs) => msgs / per as f64,
        Err(e) => return Row::invalid("S1", measure, format!("baseline: {e}")),
    };
    Row::ratio(
        "S1",
        measure,
        "orders/s",
        run.rate,
        lapin_per_order(per, event_size, prefetch),
        base,
        0.25,
        format!(
            "{} orders (of {} pulled; the rest wait for payment, need information or were refused) in {:.1} s; {:.2} messages published per order; daemon CPU {} per order (PostgreSQL and RabbitMQ not counted); {}",
            run.orders,
            run.pulled,
            run.seconds,
            run.messages_per_order,
            cpu(run.cpu_ms_per_order),
            run.verified
        ),
    )
}

/// The lapin baseline of a row that carries `per` messages per order.
fn lapin_per_order(per: u64, event_size: usize, prefetch: u16) -> String {
    format!(
        "bare lapin: {per} messages per order ({event_size} B, persistent, quorum queue), published with confirms in windows of {} and consumed with manual ack, prefetch {prefetch}",
        pipeline::PUBLISH_BATCH
    )
}

fn cpu(ms: Option<f64>) -> String {
    ms.map_or("unknown".into(), |ms| format!("{ms:.2} ms"))
}
