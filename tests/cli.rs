//! The `ordergate` binary as people use it: help, check, normalize, orders, dlq, run + SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ordergate::model::CanonicalOrder;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ordergate"));
    c.env_remove("ORDERGATE_CONFIG").env_remove("RUST_LOG");
    c
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn help_explains_every_command() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "check", "normalize", "orders", "dlq"] {
        assert!(text.contains(cmd), "--help lists {cmd}:\n{text}");
    }
    assert!(
        text.contains("ORDERGATE_"),
        "--help tells about env overrides:\n{text}"
    );
    let out = bin().args(["normalize", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("JSON lines"));
}

/// The format and payload files of a sample folder, by its name.
fn sample_payloads(name: &str, dir: &Path) -> Option<(&'static str, Vec<PathBuf>)> {
    let formats = [
        ("shopify-", "shopify"),
        ("woocommerce-", "woocommerce"),
        ("amazon-", "amazon"),
        ("ebay-", "ebay"),
        ("magento-", "magento"),
        ("cxml-", "cxml"),
        ("ubl-", "ubl"),
        ("email-", "email"),
        ("fax-", "fax"),
    ];
    let (_, format) = formats
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))?;
    let files: Vec<PathBuf> = if *format == "amazon" {
        vec![dir.join("getOrders.json"), dir.join("getOrderItems.json")]
    } else {
        let names = [
            "orders.json",
            "body.json",
            "order.json",
            "getOrders.json",
            "order-request.xml",
            "order.xml",
            "message.eml",
        ];
        names
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.exists())
            .take(1)
            .collect()
    };
    Some((format, files))
}

#[test]
fn normalize_every_order_sample_matches_its_facts() {
    let samples = root().join("tests/fixtures/samples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&samples).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some((format, files)) = sample_payloads(&name, &dir) else {
            continue;
        };
        assert!(
            !files.is_empty() && files.iter().all(|f| f.exists()),
            "{name}: payload files"
        );
        let out = bin()
            .args(["normalize", "--format", format, "--mappings"])
            .arg(root().join("mappings"))
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let orders: Vec<CanonicalOrder> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{name}: line is not a canonical order: {e}"))
            })
            .collect();
        let errs = common::facts::check_order_facts(&dir, &orders);
        assert!(errs.is_empty(), "{name}:\n  {}", errs.join("\n  "));
        checked.push(format);
    }
    for format in [
        "shopify",
        "woocommerce",
        "amazon",
        "ebay",
        "magento",
        "cxml",
        "ubl",
        "email",
        "fax",
    ] {
        assert!(
            checked.contains(&format),
            "a {format} sample was checked: {checked:?}"
        );
    }
}

#[test]
fn normalize_names_the_file_and_reason_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("truncated.json");
    std::fs::write(&bad, b"{\"orders\": [ {\"id\": 1,").unwrap();
    let out = bin()
        .args(["normalize", "--format", "shopify", "--mappings"])
        .arg(root().join("mappings"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated.json"), "{err}");
    assert!(
        err.to_lowercase().contains("eof") || err.contains("end of"),
        "says why: {err}"
    );
    let out = bin()
        .args(["normalize", "--format", "nosuchformat", "--mappings"])
        .arg(root().join("mappings"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchformat"));
}

#[test]
fn example_configs_pass_check() {
    let out = bin()
        .args(["check", "--config"])
        .arg(root().join("deploy/standalone/ordergate.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "standalone:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("mapping test case(s) pass"), "{text}");
    assert!(text.contains("catalog.csv: 5 product(s)"), "{text}");

    let out = bin()
        .args(["check", "--config"])
        .arg(root().join("deploy/cluster/ordergate.toml"))
        .env("ORDERGATE_API_TOKEN", "t0ken")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cluster:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn check_connect_reaches_postgres_and_rabbitmq() {
    let pg = common::PgDatabase::create().await;
    let inbox = tempfile::tempdir().unwrap();
    let namespace = format!("ogtest-{}", uuid::Uuid::new_v4().simple());
    // The example's two sandbox warehouses, reached with --connect.
    let east =
        ordergate::sandbox::shipbob::ShipbobSandbox::start("127.0.0.1:0", Default::default())
            .await
            .unwrap();
    let asia = ordergate::sandbox::qimen::QimenSandbox::start("127.0.0.1:0", Default::default())
        .await
        .unwrap();
    let mut cmd = bin();
    cmd.args(["check", "--connect", "--config"])
        .arg(root().join("deploy/cluster/ordergate.toml"))
        .env("ORDERGATE_API_TOKEN", "t0ken")
        .env("ORDERGATE_DATABASE_URL", &pg.url)
        .env("ORDERGATE_AMQP_URL", common::amqp_url())
        .env("ORDERGATE_BUS__NAMESPACE", &namespace)
        .env("ORDERGATE_CONNECTORS__0__PATH", inbox.path())
        .env("ORDERGATE_WAREHOUSES__0__BASE_URL", east.base_url())
        .env("ORDERGATE_WAREHOUSES__1__BASE_URL", asia.base_url());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("warehouse east (shipbob): stock query answered"),
        "{text}"
    );
    assert!(
        text.contains("warehouse asia (qimen): stock query answered"),
        "{text}"
    );
    assert!(text.contains("store reachable"), "{text}");
    assert!(text.contains("bus (amqp) reachable"), "{text}");
    // The check declared the cluster config's topology (default retry tiers): remove it.
    let tiers = [1_000u64, 5_000, 30_000, 120_000, 600_000]
        .map(std::time::Duration::from_millis)
        .to_vec();
    ordergate::bus::amqp::delete_topology(
        &common::amqp_url(),
        &ordergate::bus::Topology::standard(&namespace, tiers),
    )
    .await
    .unwrap();
}

#[test]
fn check_reports_failures_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir(&mappings).unwrap();
    // A mapping with no sibling tests, and one that does not compile.
    std::fs::write(mappings.join("shopify.order.jq"), ".").unwrap();
    std::fs::write(mappings.join("broken.order.jq"), "{ nope").unwrap();
    let cfg = dir.path().join("og.toml");
    std::fs::write(
        &cfg,
        "[mappings]\ndir = \"mappings\"\n[[connectors]]\nkind = \"folder\"\nname = \"x\"\npath = \"in\"\nformat = \"woo\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FAIL"), "{text}");
    assert!(
        text.contains("woo"),
        "names the connector's missing mapping: {text}"
    );

    std::fs::write(&cfg, "[store]\nurll = 1\n").unwrap();
    let out = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("urll"));
}

/// A standalone configuration in a new folder: SQLite store, a free loopback port, a Shopify
/// drop folder `inbox/`. Returns the folder, the config file and the port.
fn standalone_config() -> (tempfile::TempDir, PathBuf, u16) {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, port) = write_config(
        dir.path(),
        &common::folder_connector("drop", Path::new("inbox"), "shopify"),
    );
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    (dir, cfg, port)
}

/// Writes `og.toml` in `dir`: store `og.sqlite` there, a free loopback port, the repository's
/// mappings, and `extra`. Returns the file and the port.
fn write_config(dir: &Path, extra: &str) -> (PathBuf, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = dir.join("og.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://og.sqlite\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[mappings]\ndir = \"{}\"\n[bus]\npoll_interval_ms = 50\n{extra}",
            root().join("mappings").display(),
        ),
    )
    .unwrap();
    (cfg, port)
}

/// Waits until something listens on `port`, failing at `deadline`.
fn wait_listening(port: u16, deadline: Instant) {
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the daemon never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ordergate run` on the standalone profile: takes a dropped file in, serves /healthz, writes
/// JSON logs without personal data, and exits 0 on SIGTERM; `orders show` and `dlq list` then
/// read the same store.
#[test]
fn run_standalone_then_sigterm_exits_cleanly() {
    let (dir, cfg, port) = standalone_config();
    let mut child = bin()
        .args(["run", "--log-format", "json", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let mut stderr = stderr;
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    wait_listening(port, deadline);
    common::drop_file(
        &dir.path().join("inbox"),
        "o.json",
        &common::shopify_order(42),
    );
    let processed = dir.path().join("inbox/processed/o.json");
    while !processed.exists() {
        assert!(Instant::now() < deadline, "the file was never processed");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let logs = logs.join().unwrap();
    let mut order_id = None;
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["message"] == "Order received." || v["message"] == "Order received." {
            order_id = v["order_id"]
                .as_str()
                .or(v["fields"]["order_id"].as_str())
                .map(str::to_string);
        }
    }
    // Personal data from the order never reaches the logs.
    for pii in [
        "chloe.bergeron@example.com",
        "388 Palmerston",
        "416-555-0199",
        "Bergeron",
    ] {
        assert!(!logs.contains(pii), "logs leak {pii:?}");
    }
    assert!(logs.contains("Shutting down."), "{logs}");
    let order_id =
        order_id.unwrap_or_else(|| panic!("an 'Order received.' event with its order_id:\n{logs}"));

    let out = bin()
        .args(["orders", "show", &order_id, "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["order"]["order"]["source"]["external_id"],
        "7000000000042"
    );
    assert_eq!(shown["history"][0]["kind"], "received");
    let out = bin()
        .args(["dlq", "list", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing parked");
}

/// The commands of the README's quick start, in a fresh copy of the files they use (the
/// standalone config, the mappings, the samples): the daemon starts, the dropped order is
/// listed and shown, the generated API token reads it over HTTP, and `GET /` says what is
/// served. Only the listening port is overridden (tests run side by side).
#[test]
fn readme_quick_start_works() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Quick start section");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match (in_sh, line.trim()) {
            (false, "```sh") => in_sh = true,
            (true, "```") => in_sh = false,
            (true, cmd) if !cmd.is_empty() => commands.push(cmd.to_string()),
            _ => {}
        }
    }
    assert!(
        commands.iter().any(|c| c.contains("ordergate run")),
        "{commands:?}"
    );

    // A fresh checkout's files: the config, the mappings, the connector definitions, the
    // sandbox credentials and the samples, nothing else.
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::create_dir_all(work.join("deploy/standalone")).unwrap();
    for file in ["ordergate.toml", "catalog.csv"] {
        std::fs::copy(
            root().join("deploy/standalone").join(file),
            work.join("deploy/standalone").join(file),
        )
        .unwrap();
    }
    std::fs::create_dir_all(work.join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_ordergate"),
        work.join("target/release/ordergate"),
    )
    .unwrap();
    std::os::unix::fs::symlink(root().join("mappings"), work.join("mappings")).unwrap();
    std::os::unix::fs::symlink(root().join("connectors"), work.join("connectors")).unwrap();
    std::os::unix::fs::symlink(root().join("deploy/sandbox"), work.join("deploy/sandbox")).unwrap();
    std::fs::create_dir_all(work.join("tests/fixtures")).unwrap();
    std::os::unix::fs::symlink(
        root().join("tests/fixtures/samples"),
        work.join("tests/fixtures/samples"),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sh = |cmd: &str| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(cmd)
            .current_dir(work)
            .env_remove("ORDERGATE_CONFIG")
            .env("ORDERGATE_HTTP__LISTEN", format!("127.0.0.1:{port}"));
        c
    };

    let mut daemon: Option<std::process::Child> = None;
    let mut order_id: Option<String> = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    for cmd in &commands {
        if cmd.starts_with("cargo ") || cmd.starts_with("deploy/dev/") || cmd.contains(" sandbox ")
        {
            continue; // the build is done; the tests and the sandbox are other sections' business
        }
        let cmd = cmd
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace(
                "<order_id from the list>",
                order_id.as_deref().unwrap_or("missing"),
            );
        if cmd.contains("ordergate run") {
            // `exec`: the signal at the end reaches the daemon, not the shell.
            daemon = Some(
                sh(&format!("exec {cmd}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            wait_listening(port, deadline);
            continue;
        }
        // Commands that read what the daemon made retry until it is there.
        let out = loop {
            let out = sh(&cmd).output().unwrap();
            // The order is listed once the review stage has decided on it.
            let reviewed = !cmd.contains("orders list")
                || !String::from_utf8_lossy(&out.stdout).contains("\"state\":\"received\"");
            let done = out.status.success() && !out.stdout.is_empty() && reviewed;
            if done || cmd.starts_with("cp ") || Instant::now() > deadline {
                break out;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{cmd}: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        if cmd.contains("orders list") {
            let first: serde_json::Value =
                serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
            assert!(
                ["approved", "needs_info", "rejected"].contains(&first["state"].as_str().unwrap()),
                "reviewed: {stdout}"
            );
            order_id = first["order_id"].as_str().map(str::to_string);
        }
        if cmd.contains("orders show") {
            let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(shown["order"]["order_id"], order_id.clone().unwrap());
        }
        if cmd.starts_with("curl") {
            let v: serde_json::Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{cmd}: not JSON ({e}): {stdout}"));
            assert_eq!(v["orders"][0]["order_id"], order_id.clone().unwrap(), "{v}");
        }
    }
    assert!(order_id.is_some(), "the quick start lists the order");
    let token_file = work.join("deploy/standalone/var/api-token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the token file is the owner's alone");
    let index = sh(&format!("curl -s http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    let index = String::from_utf8_lossy(&index.stdout);
    assert!(
        index.contains("/api/orders") && index.contains("api-token"),
        "{index}"
    );
    let mut daemon = daemon.expect("the quick start runs the daemon");
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(daemon.wait().unwrap().success());
}

/// `orders list` with no config, in a folder where nothing was ever stored: refused, naming
/// the store it looked for, and no empty store is created.
#[test]
fn orders_without_a_store_are_refused_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["orders", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no store at ordergate.sqlite") && err.contains("--config"),
        "{err}"
    );
    assert!(!dir.path().join("ordergate.sqlite").exists());
    let cfg = dir.path().join("og.toml");
    std::fs::write(&cfg, "[store]\nurl = \"sqlite://var/og.sqlite\"\n").unwrap();
    let out = bin()
        .args(["dlq", "list", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("og.toml") && err.contains("og.sqlite"),
        "{err}"
    );
    assert!(!dir.path().join("var/og.sqlite").exists());
}

/// Without pdftotext, `check` says what to install instead of printing fax mapping diffs.
#[test]
fn check_without_pdftotext_says_what_to_install() {
    let out = bin()
        .args(["check", "--config"])
        .arg(root().join("deploy/standalone/ordergate.toml"))
        .env("ORDERGATE_PDFTOTEXT", "/nonexistent/pdftotext")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "FAIL  fax mapping tests: /nonexistent/pdftotext not found: install poppler-utils"
        ),
        "{text}"
    );
    assert!(!text.contains("mapping test fax"), "no diffs:\n{text}");
}

/// `normalize --format <scheme>`: every tracking sample's callback body (a form body as the
/// callback sends it) prints canonical tracking updates matching its facts; an SF Express form
/// push is read as well; a forged-looking body fails naming the file.
#[test]
fn normalize_tracking_schemes_print_tracking_updates() {
    let samples = root().join("tests/fixtures/samples");
    let run = |format: &str, file: &Path| {
        bin()
            .args(["normalize", "--format", format, "--mappings"])
            .arg(root().join("mappings"))
            .arg(file)
            .output()
            .unwrap()
    };
    for (format, case, payload) in common::facts::TRACKING_SAMPLES {
        let dir = samples.join(case);
        let out = run(format, &dir.join(payload));
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let updates: Vec<ordergate::model::TrackingUpdate> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{case}: {e}: {l}")))
            .collect();
        assert_eq!(updates.len(), 1, "{case}");
        let errs = common::facts::check_tracking_facts(&dir, format, &updates);
        assert!(errs.is_empty(), "{case}:\n  {}", errs.join("\n  "));
    }

    // The SF Express form push: `content` = URL-encoded XML, same facts as the JSON push.
    let tmp = tempfile::tempdir().unwrap();
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Request service="RoutePushService" lang="zh-CN"><Body><WaybillRoute id="1" mailno="SF1402877365219" orderid="TG-1" acceptTime="2025-11-04 18:22:41" acceptAddress="深圳市" remark="顺丰速运 已收取快件" opCode="50"/><WaybillRoute id="2" mailno="SF1402877365219" orderid="TG-1" acceptTime="2025-11-05 02:47:09" acceptAddress="广州市" remark="快件到达【广州白云集散中心】" opCode="31"/></Body></Request>"#;
    let form = tmp.path().join("push.form");
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("content", xml)
        .finish();
    std::fs::write(&form, body).unwrap();
    let out = run("sf-express", &form);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let update: ordergate::model::TrackingUpdate =
        serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
    assert_eq!(update.carrier, "sf-express");
    assert_eq!(update.tracking_number, "SF1402877365219");
    assert_eq!(update.location.as_deref(), Some("广州市"));
    assert_eq!(
        update.occurred_at.map(|t| t.to_rfc3339()),
        Some("2025-11-04T18:47:09+00:00".into())
    );
    assert_eq!(update.events.len(), 2);

    // A body that is not what the scheme sends: the file and the reason, exit status 1.
    let bad = tmp.path().join("bad.form");
    std::fs::write(&bad, "sign=ABC").unwrap();
    let out = run("kuaidi100", &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.form") && err.contains("no param"),
        "{err}"
    );
}

/// Resident memory of a process, in MiB (from /proc).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// A 15 MB document (under the 16 MiB limit) through the real daemon: once its order is
/// stored, the memory it took is given back. Without the release it stays at its peak, 105 to
/// 142 MiB above where it started (measured on this suite's debug build); with it, 3 to 40 MiB
/// stay (what threads that go idle afterwards freed is returned when they next run), so the
/// bound is 64 MiB: well under the peak, above what the release leaves.
#[test]
fn a_large_document_gives_its_memory_back() {
    const KEPT_MIB: f64 = 64.0;
    let (dir, cfg, port) = standalone_config();
    let mut child = bin()
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    wait_listening(port, deadline);
    // A small order first, so what "before" counts is a daemon that has worked.
    common::drop_file(
        &dir.path().join("inbox"),
        "small.json",
        &common::shopify_order(1),
    );
    let processed = dir.path().join("inbox/processed/small.json");
    while !processed.exists() {
        assert!(
            Instant::now() < deadline,
            "the small file was never processed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = rss_mib(child.id());

    let mut order: serde_json::Value = serde_json::from_slice(&common::shopify_order(2)).unwrap();
    let value = "x".repeat(200);
    order["note_attributes"] = serde_json::Value::Array(
        (0..15 * 1024 * 1024 / 240)
            .map(|i| serde_json::json!({"name": format!("attribute-{i}"), "value": value}))
            .collect(),
    );
    let large = serde_json::to_vec(&order).unwrap();
    assert!(large.len() > 14 * 1024 * 1024 && large.len() < 16 * 1024 * 1024);
    common::drop_file(&dir.path().join("inbox"), "large.json", &large);
    drop(large);
    let out = loop {
        let out = bin()
            .args(["orders", "list", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).lines().count() == 2 {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "the large order was never stored"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(out.status.success());
    // Given back means it comes down and stays down: the lowest reading within 10 s (the
    // daemon may still be finishing the document's outbox and file move on a loaded machine).
    let mut after = f64::MAX;
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(500));
        after = after.min(rss_mib(child.id()));
        if after - before <= KEPT_MIB {
            break;
        }
    }
    eprintln!("daemon RSS around a 15 MB document: {before:.0} MiB before, {after:.0} MiB after");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        after - before <= KEPT_MIB,
        "the daemon kept {:.0} MiB after a 15 MB document ({before:.0} → {after:.0} MiB)",
        after - before
    );
}

/// Rows of a SQLite store file, read directly: (order id, state, canonical) and each order's
/// events (seq, kind), and the number of raw documents.
type Snapshot = (
    std::collections::BTreeMap<String, (String, String)>,
    std::collections::BTreeMap<String, Vec<(i64, String)>>,
    i64,
);

async fn snapshot(file: &Path) -> Snapshot {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap();
    let mut orders = std::collections::BTreeMap::new();
    for r in sqlx::query("SELECT id, state, canonical FROM orders")
        .fetch_all(&mut c)
        .await
        .unwrap()
    {
        orders.insert(
            r.get::<String, _>("id"),
            (r.get::<String, _>("state"), r.get::<String, _>("canonical")),
        );
    }
    let mut events: std::collections::BTreeMap<String, Vec<(i64, String)>> = Default::default();
    for r in sqlx::query("SELECT order_id, seq, kind FROM order_events ORDER BY seq")
        .fetch_all(&mut c)
        .await
        .unwrap()
    {
        events
            .entry(r.get::<String, _>("order_id"))
            .or_default()
            .push((r.get::<i64, _>("seq"), r.get::<String, _>("kind")));
    }
    let raw: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM raw_documents")
        .fetch_one(&mut c)
        .await
        .unwrap();
    (orders, events, raw)
}

/// `ordergate run` with `cfg`, output discarded, once it listens on `port`.
fn quiet_daemon(cfg: &Path, port: u16) -> std::process::Child {
    let child = bin()
        .args(["run", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port, Instant::now() + Duration::from_secs(30));
    child
}

fn sigterm_and_wait(child: &mut std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ordergate backup` while orders keep arriving gives a consistent, verified copy; restored
/// into a fresh daemon it serves the same orders with the same history, and the documents that
/// were stored but not yet normalized at the backup's instant still become orders — nothing
/// lost. A second backup to the same name is refused; a file that is not a store is refused
/// by restore with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_order_and_its_history() {
    let (dir, cfg, port) = standalone_config();
    let mut daemon = quiet_daemon(&cfg, port);
    let inbox = dir.path().join("inbox");
    let writer = {
        let inbox = inbox.clone();
        std::thread::spawn(move || {
            for n in 0..240u64 {
                common::drop_file(&inbox, &format!("o{n}.json"), &common::shopify_order(n));
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    // Back up in the middle of the load.
    let processed = inbox.join("processed");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&processed).map_or(0, |d| d.count()) < 60 {
        assert!(
            Instant::now() < deadline,
            "the daemon never took 60 files in"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let backup = dir.path().join("backups/b1.sqlite");
    let out = bin()
        .args(["backup", "--to"])
        .arg(&backup)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("verified"), "{said}");
    let again = bin()
        .args(["backup", "--to"])
        .arg(&backup)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    writer.join().unwrap();
    sigterm_and_wait(&mut daemon);

    let (orders, events, raw) = snapshot(&backup).await;
    assert!(raw >= 60, "the backup holds {raw} documents");
    assert!(!orders.is_empty());
    // Consistent: every order in the copy has its history in the copy.
    for id in orders.keys() {
        assert!(events.contains_key(id), "order {id} without its events");
    }

    // Restore into a fresh place and run a daemon on it.
    let fresh = tempfile::tempdir().unwrap();
    let (cfg2, port2) = write_config(fresh.path(), "");
    let not_a_store = fresh.path().join("junk.sqlite");
    std::fs::write(&not_a_store, b"not a database").unwrap();
    let refused = bin()
        .args(["restore", "--from"])
        .arg(&not_a_store)
        .arg("--config")
        .arg(&cfg2)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not usable"));
    let out = bin()
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--config")
        .arg(&cfg2)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut restored = quiet_daemon(&cfg2, port2);
    let store2 = fresh.path().join("og.sqlite");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (now, _, _) = snapshot(&store2).await;
        if now.len() as i64 >= raw {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} orders from {raw} stored documents after restore",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sigterm_and_wait(&mut restored);
    let (after, after_events, after_raw) = snapshot(&store2).await;
    assert_eq!(after_raw, raw, "no document lost or added");
    assert_eq!(after.len() as i64, raw, "one order per stored document");
    for (id, (_, canonical)) in &orders {
        // The order is the same; its state may have moved on (stages ran after the restore).
        let (_, canonical2) = after.get(id).unwrap_or_else(|| panic!("order {id} lost"));
        assert_eq!(canonical, canonical2, "order {id}");
        let history = &events[id];
        assert_eq!(
            &after_events[id][..history.len()],
            &history[..],
            "history of {id}"
        );
    }
}

/// The README's PostgreSQL backup procedure (pg_dump in custom format, pg_restore into a new
/// database), run on a store a daemon wrote: the restored database holds the same orders and
/// history, and a daemon starts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_backup_procedure_restores_the_same_orders() {
    use sqlx::{Connection, Row};
    let source = common::PgDatabase::create().await;
    let target = common::PgDatabase::create().await;
    let (dir, cfg, port) = standalone_config();
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "url = \"sqlite://og.sqlite\"",
        &format!("url = \"{}\"", source.url),
    );
    std::fs::write(&cfg, text).unwrap();
    let mut daemon = quiet_daemon(&cfg, port);
    let inbox = dir.path().join("inbox");
    for n in 0..20u64 {
        common::drop_file(&inbox, &format!("o{n}.json"), &common::shopify_order(n));
    }
    sqlx::any::install_default_drivers();
    let count = |url: String| async move {
        let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
            .fetch_one(&mut c)
            .await
            .unwrap();
        n
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(source.url.clone()).await < 20 {
        assert!(Instant::now() < deadline, "orders never stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sigterm_and_wait(&mut daemon);

    // The procedure, as the README gives it.
    let dump = dir.path().join("ordergate.dump");
    let st = Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&source.url)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("pg_restore")
        .args(["--no-owner", "--dbname", &target.url])
        .arg(&dump)
        .status()
        .unwrap();
    assert!(st.success());

    let rows = |url: String| async move {
        let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
        let orders: Vec<(String, String)> =
            sqlx::query("SELECT id, canonical FROM orders ORDER BY id")
                .fetch_all(&mut c)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.get::<String, _>("id"), r.get::<String, _>("canonical")))
                .collect();
        let events: Vec<(i64, String, String)> =
            sqlx::query("SELECT seq, order_id, kind FROM order_events ORDER BY seq")
                .fetch_all(&mut c)
                .await
                .unwrap()
                .into_iter()
                .map(|r| {
                    (
                        r.get::<i64, _>("seq"),
                        r.get::<String, _>("order_id"),
                        r.get::<String, _>("kind"),
                    )
                })
                .collect();
        (orders, events)
    };
    let before = rows(source.url.clone()).await;
    let after = rows(target.url.clone()).await;
    assert_eq!(before.0.len(), 20);
    assert_eq!(before, after);
    // A daemon starts on the restored database (its migrations are recorded there too).
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&source.url, &target.url);
    std::fs::write(&cfg, text).unwrap();
    let out = bin()
        .args(["orders", "list", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 20);
}

/// `ordergate demo` from a folder that is not the repository (the binary carries what it
/// needs): the daemon on the embedded default with the marketplace, three warehouses, the
/// carrier, tracker simulators and an SMTP sink, the rulebook's cases, and a summary; exit 0
/// only when every order reached the state the scenario expects (delivered, or the held-up
/// parcels' orders in transit with their exceptions) and every delivered order's e-mails were
/// caught. A data folder that holds something is refused.
#[test]
fn the_demo_runs_from_anywhere_and_every_order_ends_where_expected() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data");
    let out = bin()
        .current_dir(dir.path())
        .args(["demo", "--orders", "25", "--timeout", "150", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "Every order reached the state the scenario expects",
        "shipped",
        "rejected",
        "cancelled",
        "stock_shortage",
        "bad_input",
        "operator: SupplyInfo",
        "operator: Restock",
        "orders show og_",
        // Every shipped shop order was pushed back (the demo exits 0 only then), the run's
        // KPIs and the dashboard are shown.
        "push-backs to the shop",
        "proof for og_",
        "KPIs of the run",
        "processing",
        "/ui (sign in",
        // The shipping half: labels from the carrier simulator, tracking to delivered, the
        // held-up parcels and their exceptions (one overdue), the e-mails caught.
        "delivered",
        "in_transit",
        "held up: og_",
        "exceptions board:",
        "shipped      en",
        "delivered    zh",
        "overdue",
    ] {
        assert!(said.contains(expected), "{expected:?} missing:\n{said}");
    }
    for (held, shown) in [
        (" delayed: ", "shipment_late (open"),
        (" damaged: ", "shipment_exception (open, overdue)"),
    ] {
        let line = said.lines().find(|l| l.contains(held)).unwrap_or_default();
        assert!(line.contains(shown), "{held}{shown} missing:\n{said}");
    }
    let number_after = |prefix: &str| -> usize {
        said.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| {
                n.trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{prefix:?} missing:\n{said}"))
    };
    // One label per parcel of the pick-list warehouse (the demo checks the simulator's
    // count per parcel key), orders delivered, two e-mails per delivered order at least.
    let labels = number_after("labels bought from the carrier simulator:");
    assert!(labels >= 2, "{said}");
    let delivered_orders = number_after("delivered ");
    assert!(delivered_orders > 0, "{said}");
    let mails = number_after("e-mails caught by the SMTP sink:");
    assert!(mails >= 2 * delivered_orders, "{said}");
    assert!(data.join("ordergate.sqlite").exists());
    let again = bin()
        .current_dir(dir.path())
        .args(["demo", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
