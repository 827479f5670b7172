//! The command line. `anyhow` is used here and nowhere below: this is the top of the program.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, ConnectorConfig, LogFormat};

/// ordergate — order integration gateway.
///
/// Takes orders in from marketplaces, B2B partners, mailboxes, fax-to-email and drop folders,
/// keeps every raw document, normalizes each into one canonical order with a jq mapping, and
/// carries it through the pipeline over RabbitMQ or an embedded queue.
#[derive(Debug, Parser)]
#[command(name = "ordergate", version, about, long_about)]
pub struct Cli {
    /// Configuration file (TOML). Without one, the built-in standalone defaults are used:
    /// SQLite file ./ordergate.sqlite, embedded bus, mappings in ./mappings. Any setting can be
    /// overridden with ORDERGATE_<SECTION>__<KEY> environment variables.
    #[arg(long, short, global = true, env = "ORDERGATE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format: human-readable text or one JSON object per line (overrides log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: connectors, stages and the HTTP server, until SIGTERM or Ctrl-C.
    Run,
    /// See the whole gateway work on this machine, with nothing installed: runs the daemon on
    /// the embedded default (SQLite, embedded queue) in a data folder of its own, starts a
    /// simulated marketplace and two simulated warehouses on loopback, feeds them realistic
    /// orders and the cases the rulebook exists for (an order that needs information, a
    /// rejected one, a cancel, a stock shortage, a bad document), acts as the operator, shows
    /// progress and ends with a summary. Exits 0 only if every order reached the state the
    /// scenario expects. Its configuration is its own: --config and ORDERGATE_* are not read.
    Demo {
        /// The data folder (new or empty): store, configuration, inbox. Default: a new folder
        /// under the system's temporary directory, printed at start.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Orders in the simulated marketplace.
        #[arg(long, default_value_t = 30)]
        orders: usize,
        /// Keep everything running after the summary, until Ctrl-C.
        #[arg(long)]
        keep: bool,
        /// Give up (exit 1) after this many seconds.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
    },
    /// Validate the configuration, the connector definitions and the mappings, and run every
    /// mapping's sibling tests. Exits non-zero with a report when anything is wrong.
    Check {
        /// Also reach the store, the bus and every connector's endpoint.
        #[arg(long)]
        connect: bool,
    },
    /// Normalize documents to canonical orders and print them as JSON lines on stdout
    /// (a list response gives one line per order). Nothing is stored. Each file is one
    /// document, except for amazon: the getOrders response (or an Order) and then its
    /// getOrderItems response, as two files in that order. A tracking scheme's callback bodies
    /// (easypost, shippo, aftership, 17track, kuaidi100, sf-express) give canonical tracking
    /// updates.
    Normalize {
        /// The documents' format (picks the mapping <FORMAT>.order.jq): shopify, woocommerce,
        /// amazon, ebay, magento, cxml, ubl; or a tracking scheme (<FORMAT>.tracking.jq).
        #[arg(long, short)]
        format: String,
        /// Mappings directory (default: the config's mappings.dir).
        #[arg(long)]
        mappings: Option<PathBuf>,
        /// The documents.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Look at stored orders.
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// The dead-letter store: messages a stage gave up on.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Compare what ordergate did with what a partner has, and repair the difference.
    Reconcile {
        #[command(subcommand)]
        command: ReconcileCommand,
    },
    /// Back the SQLite store up while the daemon runs: an online, consistent copy, verified by
    /// opening it and counting its rows. (A PostgreSQL store: pg_dump, see the README.)
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup in place of the SQLite store. Stop the daemon first; the store it replaces
    /// is kept beside it as <name>.before-restore-<time>.
    Restore {
        /// The backup file (from `ordergate backup` or a scheduled backup).
        #[arg(long)]
        from: PathBuf,
    },
    /// Serve a simulated marketplace API (orders, paging, auth, rate limits) on loopback, for
    /// demos and trying connectors without a real account. Prints the base URL and the
    /// sandbox credentials; runs until Ctrl-C.
    Sandbox {
        /// What to simulate: a marketplace (shopify, woocommerce, amazon, ebay, magento), a
        /// warehouse (shipbob, qimen) or a carrier (easypost, shippo).
        platform: crate::sandbox::Simulator,
        /// Warehouses: where callbacks (shipped, cancelled) are posted, e.g.
        /// `http://127.0.0.1:8080/hooks/warehouse/east`.
        #[arg(long)]
        callback_url: Option<String>,
        /// Warehouses: ship every order this many seconds after it was created (0: only on
        /// `POST /_sim/ship/{id}`).
        #[arg(long, default_value_t = 5)]
        ship_after_secs: u64,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// Orders in the simulated store.
        #[arg(long, default_value_t = 500)]
        orders: usize,
        /// Seed of the generated orders.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Serve the simulated tracking aggregators' registration APIs (EasyPost, AfterShip,
    /// 17TRACK, Kuaidi100) on loopback; each registered parcel's journey is posted back, signed
    /// as the service signs it, to the scheme's webhook (Kuaidi100: the URL and salt of the
    /// subscription). Runs until Ctrl-C.
    /// Reports for management and the prevention review: the rulebook's KPIs and exceptions
    /// by kind and root cause, computed from the event log.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Work on mappings before they are deployed.
    Mappings {
        #[command(subcommand)]
        command: MappingsCommand,
    },
    SandboxTrackers {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8091")]
        listen: String,
        /// The API key the simulators accept (a sandbox value).
        #[arg(long, default_value = "sandbox-tracker-key")]
        api_key: String,
        /// Where a scheme's callbacks go: `SCHEME=URL=SECRET_FILE` (the file holds the
        /// webhook secret), once per scheme.
        #[arg(long = "webhook")]
        webhooks: Vec<String>,
    },
}

/// `ordergate report …`
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The KPIs (volume, sales, on-time processing, shipping and delivery, accuracy,
    /// satisfaction) of the orders received in [--from, --to), per day, week or month (UTC).
    Kpi {
        /// First day (YYYY-MM-DD) or time (RFC 3339); default: 30 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// The end, exclusive; default: now.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "month")]
        period: crate::kpi::Period,
        /// Also cut by channel, connector, warehouse or carrier.
        #[arg(long, value_enum)]
        by: Option<crate::kpi::Dimension>,
        /// List the orders that failed this rate instead.
        #[arg(long, value_enum)]
        failed: Option<crate::kpi::Kpi>,
        /// With --failed and --by: only this group (e.g. `web`).
        #[arg(long)]
        group: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::kpi::format::Format,
    },
    /// Exceptions raised in [--from, --to) by kind and root-cause category.
    Exceptions {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::kpi::format::Format,
    },
    /// Recompute the KPI rollup from the whole event log (after a restore, or to check it).
    Rebuild,
}

/// `ordergate mappings …`
#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Shadow run: run a changed order mapping (`<format>.order.jq`) over the stored raw
    /// documents of its format beside the mapping in force, and show per order the canonical
    /// fields that would change. Nothing is written. Exits 1 when any order would change.
    Diff {
        /// The changed mapping file.
        #[arg(long)]
        mapping: PathBuf,
        /// Only documents received since this date or time.
        #[arg(long)]
        since: Option<String>,
        /// The mappings in force (default: the config's mappings.dir).
        #[arg(long)]
        mappings: Option<PathBuf>,
        /// At most this many documents.
        #[arg(long, default_value_t = 10_000)]
        limit: i64,
        /// Show the values of personal fields (customer, addresses, notes) too.
        #[arg(long)]
        show_personal: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `ordergate orders …`
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// List orders, newest first, one JSON line each.
    List {
        /// Only orders in this state (received, needs_review, …).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Print an order (canonical JSON) and its history.
    Show {
        /// The order id (og_…).
        id: String,
    },
}

/// `ordergate reconcile …`
#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// Push-backs: for every marketplace connector that pushes back, look each push-back with
    /// proof up at the platform; push again what the platform lost (or raise an exception) and
    /// finish push-backs a worker left without proof. One JSON line per connector; exits 1 when
    /// some could not be checked or repaired.
    Pushback {
        /// Also try the refused push-backs again (after fixing their cause; each refused again
        /// raises a new exception).
        #[arg(long)]
        retry_failed: bool,
    },
}

/// `ordergate dlq …`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List parked messages with the reason each was parked.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Put parked messages back on their queue (after fixing what made them fail).
    Replay {
        /// Parked message ids (dlq_…); none means all.
        ids: Vec<String>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ordergate: {e:#}");
            return ExitCode::from(2);
        }
    };
    // The demo prints its own progress; the daemon inside it says only what goes wrong.
    let level = match cli.command {
        Command::Demo { .. } => "warn",
        _ => cfg.log.level.as_str(),
    };
    crate::telemetry::init_logging(cli.log_format.unwrap_or(cfg.log.format), level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ordergate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, cfg, cli.config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ordergate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::from_env_only()?,
    })
}

/// The store a reading command (`orders`, `dlq`) looks at. A SQLite file that does not exist
/// is refused rather than created: it means the command is not looking where the daemon
/// writes (run from another folder, or without the daemon's `--config`).
async fn existing_store(
    cfg: &Config,
    config: Option<&Path>,
) -> anyhow::Result<crate::store::Store> {
    let url = cfg.store.url.resolve()?;
    if let Some(file) = crate::store::sqlite_file(&url) {
        if !file.exists() {
            let origin = match config {
                Some(p) => format!("the configuration {}", p.display()),
                None => {
                    "the built-in defaults (no --config given, no ORDERGATE_CONFIG set)".to_string()
                }
            };
            anyhow::bail!(
                "no store at {}: {origin} points there and nothing has been stored yet. Give the \
                 daemon's configuration with --config FILE (or ORDERGATE_CONFIG)",
                file.display()
            );
        }
    }
    crate::app::connect_store(cfg).await
}

async fn dispatch(
    command: Command,
    cfg: Config,
    config: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run => {
            crate::telemetry::prometheus();
            let daemon = crate::app::Daemon::start(&cfg).await?;
            let token = daemon.shutdown_token();
            tokio::spawn(async move {
                crate::app::shutdown_signal().await;
                token.cancel();
            });
            daemon.wait().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { connect } => Ok(check(&cfg, connect).await),
        Command::Demo {
            data,
            orders,
            keep,
            timeout,
        } => {
            let ok = crate::demo::run(crate::demo::Options {
                data,
                orders,
                keep,
                timeout: std::time::Duration::from_secs(timeout),
            })
            .await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sandbox {
            platform: crate::sandbox::Simulator::Marketplace(platform),
            listen,
            orders,
            seed,
            ..
        } => sandbox(platform, &listen, orders, seed).await,
        Command::Sandbox {
            platform,
            listen,
            callback_url,
            ship_after_secs,
            ..
        } => warehouse_sandbox(platform, &listen, callback_url, ship_after_secs).await,
        Command::SandboxTrackers {
            listen,
            api_key,
            webhooks,
        } => sandbox_trackers(&listen, &api_key, &webhooks).await,
        Command::Normalize {
            format,
            mappings,
            files,
        } => normalize(&cfg, &format, mappings.as_deref(), &files),
        Command::Orders {
            command: OrdersCommand::List { status, limit },
        } => {
            let store = existing_store(&cfg, config.as_deref()).await?;
            for o in store.orders_list(status.as_deref(), limit, 0).await? {
                println!("{}", serde_json::to_string(&o)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Orders {
            command: OrdersCommand::Show { id },
        } => {
            let store = existing_store(&cfg, config.as_deref()).await?;
            let order = store
                .order(&id)
                .await?
                .with_context(|| format!("no order {id}"))?;
            let history = store.order_events(&id).await?;
            let out = serde_json::json!({"order": order, "history": history});
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { to } => {
            let store = existing_store(&cfg, config.as_deref()).await?;
            let v = crate::backup::backup(&store, &to).await?;
            store.close().await;
            println!(
                "backup {} verified: {} bytes, {} orders, {} order events, {} raw documents, {} exceptions",
                v.path.display(),
                v.bytes,
                v.orders,
                v.order_events,
                v.raw_documents,
                v.exceptions
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { from } => {
            let url = cfg.store.url.resolve()?;
            let file =
                crate::store::sqlite_file(&url).ok_or(crate::backup::BackupError::NotSqlite)?;
            let (v, kept) = crate::backup::restore(&from, &file).await?;
            println!(
                "restored {} into {}: {} orders, {} order events, {} raw documents, {} exceptions",
                from.display(),
                file.display(),
                v.orders,
                v.order_events,
                v.raw_documents,
                v.exceptions
            );
            if let Some(old) = kept {
                println!("the store it replaced is kept as {}", old.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile {
            command: ReconcileCommand::Pushback { retry_failed },
        } => {
            let store = existing_store(&cfg, config.as_deref()).await?;
            let pushers = crate::outbound::pushback::Pushers::from_config(&cfg.connectors);
            let reports = crate::outbound::pushback::reconcile::run_once_with(
                &store,
                &pushers,
                &cfg.pushback,
                cfg.pipeline.exception_due_hours,
                retry_failed,
            )
            .await?;
            for r in &reports {
                println!("{}", serde_json::to_string(r)?);
            }
            Ok(if reports.iter().any(|r| r.failed > 0) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Report { command } => report(&cfg, config.as_deref(), command).await,
        Command::Mappings {
            command:
                MappingsCommand::Diff {
                    mapping,
                    since,
                    mappings,
                    limit,
                    show_personal,
                    json,
                },
        } => {
            let store = existing_store(&cfg, config.as_deref()).await?;
            let format = crate::shadow::format_of(&mapping)?;
            let dir = mappings.unwrap_or_else(|| cfg.mappings.dir.clone());
            let current = crate::normalize::Normalizer::new(
                crate::mapping::MappingSet::load(&dir)
                    .with_context(|| format!("mappings in {}", dir.display()))?,
            );
            let scratch = tempfile_dir()?;
            let candidate = crate::shadow::candidate(&dir, &mapping, &scratch);
            let result = match candidate {
                Ok(candidate) => {
                    let since = since
                        .as_deref()
                        .map(crate::kpi::parse_time)
                        .transpose()
                        .map_err(anyhow::Error::msg)?
                        .map_or(0, |t| t.timestamp_millis());
                    crate::shadow::diff(
                        &store,
                        &current,
                        &candidate,
                        &format,
                        since,
                        limit,
                        show_personal,
                    )
                    .await
                    .map_err(anyhow::Error::from)
                }
                Err(e) => Err(e.into()),
            };
            let _ = std::fs::remove_dir_all(&scratch);
            let report = result?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", crate::shadow::render(&report));
            }
            Ok(if report.changed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Dlq { command } => {
            let store = existing_store(&cfg, config.as_deref()).await?;
            match command {
                DlqCommand::List { limit } => {
                    let parked = crate::dlq::list(&store, limit).await?;
                    eprintln!(
                        "{} parked message(s) in the dead-letter store",
                        parked.len()
                    );
                    if cfg.bus.kind == crate::config::BusKind::Amqp {
                        // Messages the broker itself dead-lettered (a consumer died on them
                        // `delivery_limit` times, or they were not envelopes) wait in the
                        // parking queue for an operator.
                        let bus = crate::app::connect_bus(&cfg, &store).await?;
                        let queue = crate::app::topology(&cfg).parking_queue;
                        let n = bus.depth(&queue).await?;
                        bus.close().await;
                        eprintln!(
                            "{n} message(s) dead-lettered by the broker still in {queue} (a running daemon moves them here)"
                        );
                    }
                    for p in parked {
                        println!(
                            "{}",
                            serde_json::json!({
                                "id": p.id, "queue": p.queue, "message_id": p.envelope.id,
                                "type": p.envelope.kind, "connector": p.envelope.connector,
                                "attempts": p.attempts, "parked_at": p.parked_at,
                                "exception_id": p.exception_id, "error": p.error,
                            })
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                DlqCommand::Replay { ids } => {
                    let bus = crate::app::connect_bus(&cfg, &store).await?;
                    let done = crate::dlq::replay(&store, bus.as_ref(), &ids).await;
                    bus.close().await;
                    let done = done?;
                    eprintln!("replayed {} message(s)", done.len());
                    for id in done {
                        println!("{id}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
    }
}

async fn sandbox(
    platform: crate::sandbox::Platform,
    listen: &str,
    orders: usize,
    seed: u64,
) -> anyhow::Result<ExitCode> {
    let settings = crate::sandbox::SandboxSettings {
        orders,
        seed,
        ..Default::default()
    };
    let sim = crate::sandbox::Sandbox::start(platform, listen, settings)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    println!(
        "{} sandbox: base_url = \"{}\"",
        platform.as_str(),
        sim.base_url()
    );
    if let Some(t) = sim.token_url() {
        println!("token_url = \"{t}\"");
    }
    for (k, v) in platform.params() {
        println!("params.{k} = \"{v}\"");
    }
    for (k, v) in platform.credentials() {
        println!("credential {k} = \"{v}\"  (sandbox value)");
    }
    crate::app::shutdown_signal().await;
    sim.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Serves a warehouse simulator until Ctrl-C, printing what an instance needs.
async fn warehouse_sandbox(
    sim: crate::sandbox::Simulator,
    listen: &str,
    callback_url: Option<String>,
    ship_after_secs: u64,
) -> anyhow::Result<ExitCode> {
    use crate::sandbox::{qimen, shipbob, Simulator};
    let ship_after = (ship_after_secs > 0).then(|| std::time::Duration::from_secs(ship_after_secs));
    match sim {
        Simulator::Marketplace(_) => return Ok(ExitCode::FAILURE),
        // <carrier>
        Simulator::Easypost | Simulator::Shippo => {
            use crate::sandbox::{easypost, shippo};
            let (name, s, credential) = if sim == Simulator::Easypost {
                (
                    "easypost",
                    easypost::start(listen).await,
                    ("api_key", easypost::API_KEY),
                )
            } else {
                (
                    "shippo",
                    shippo::start(listen).await,
                    ("api_token", shippo::API_TOKEN),
                )
            };
            let s = s.with_context(|| format!("listening on {listen}"))?;
            println!(
                "{name} sandbox (definition \"{name}\"): base_url = \"{}\"",
                s.base_url()
            );
            println!(
                "credential {} = \"{}\"  (sandbox value)",
                credential.0, credential.1
            );
            println!(
                "controls: GET {0}/_sim/stats, POST {0}/_sim/faults",
                format_args!("http://{}", s.addr())
            );
            crate::app::shutdown_signal().await;
            s.stop().await;
        }
        // </carrier>
        Simulator::Shipbob => {
            let settings = shipbob::ShipbobSettings {
                callback_url,
                ship_after,
                ..Default::default()
            };
            let s = shipbob::ShipbobSandbox::start(listen, settings)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            println!(
                "shipbob sandbox (definition \"shipbob\"): base_url = \"{}\"",
                s.base_url()
            );
            println!("params.channel_id = \"{}\"", shipbob::CHANNEL_ID);
            println!(
                "credential access_token = \"{}\"  (sandbox value)",
                shipbob::ACCESS_TOKEN
            );
            println!(
                "credential webhook_secret = \"{}\"  (sandbox value)",
                shipbob::WEBHOOK_SECRET
            );
            crate::app::shutdown_signal().await;
            s.stop().await;
        }
        Simulator::Qimen => {
            let settings = qimen::QimenSettings {
                callback_url,
                ship_after,
                ..Default::default()
            };
            let s = qimen::QimenSandbox::start(listen, settings)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            println!(
                "qimen sandbox (definition \"qimen\"): base_url = \"{}\"",
                s.base_url()
            );
            println!("params.app_key = \"{}\"", qimen::APP_KEY);
            println!("params.customer_id = \"{}\"", qimen::CUSTOMER_ID);
            println!("params.warehouse_code = \"{}\"", qimen::WAREHOUSE_CODE);
            println!(
                "credential app_secret = \"{}\"  (sandbox value)",
                qimen::APP_SECRET
            );
            crate::app::shutdown_signal().await;
            s.stop().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn sandbox_trackers(
    listen: &str,
    api_key: &str,
    webhooks: &[String],
) -> anyhow::Result<ExitCode> {
    use crate::sandbox::trackers::{TrackerSim, Webhook};
    let mut hooks = std::collections::HashMap::new();
    for w in webhooks {
        let mut parts = w.splitn(3, '=');
        let (Some(scheme), Some(url), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("--webhook {w:?}: expected SCHEME=URL=SECRET_FILE");
        };
        let scheme = crate::tracking::Scheme::parse(scheme)
            .with_context(|| format!("--webhook: {scheme:?} is not a tracking scheme"))?;
        let secret = crate::config::read_bounded_text(
            std::path::Path::new(file),
            crate::config::MAX_SECRET_FILE_BYTES,
        )
        .with_context(|| format!("--webhook {scheme}: reading the secret file"))?;
        hooks.insert(
            scheme,
            Webhook {
                url: url.to_string(),
                secret: secret.trim().to_string(),
            },
        );
    }
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?}"))?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let bound =
        crate::sandbox::trackers::serve(addr, TrackerSim::new(api_key, hooks), shutdown.clone())
            .await
            .with_context(|| format!("listening on {listen}"))?;
    println!("trackers sandbox: api_url = \"http://{bound}\"");
    println!("api_key = \"{api_key}\"  (sandbox value)");
    crate::app::shutdown_signal().await;
    shutdown.cancel();
    Ok(ExitCode::SUCCESS)
}

fn normalize(
    cfg: &Config,
    format: &str,
    mappings: Option<&Path>,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let dir = mappings.unwrap_or(&cfg.mappings.dir);
    let set = crate::mapping::MappingSet::load(dir)
        .with_context(|| format!("mappings in {}", dir.display()))?;
    if crate::tracking::Scheme::parse(format).is_some() {
        // A tracking scheme: canonical tracking updates instead of orders.
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        let ok = crate::tracking::normalize_files(&set, format, files, &mut out, &mut err)?;
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let normalizer = crate::normalize::Normalizer::new(set);
    let mut failed = false;
    let mut stdout = std::io::stdout().lock();
    // Most formats: each file is one request. Multi-document formats: all files together.
    let groups: Vec<&[PathBuf]> = if crate::normalize::MULTI_DOCUMENT_FORMATS.contains(&format) {
        vec![files]
    } else {
        files.chunks(1).collect()
    };
    for group in groups {
        let label = group
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ");
        let result = group
            .iter()
            .map(|f| std::fs::read(f).map_err(|e| format!("{}: {e}", f.display())))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|docs| {
                let docs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
                normalizer
                    .normalize(format, &docs)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(orders) => {
                for o in orders {
                    use std::io::Write;
                    writeln!(stdout, "{}", serde_json::to_string(&o)?)?;
                }
            }
            Err(reason) => {
                eprintln!("ordergate: {label}: {reason}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether `command` runs: a path that exists, or a name found in a `PATH` folder.
fn on_path(command: &str) -> bool {
    let p = Path::new(command);
    if p.components().count() > 1 {
        return p.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(command).is_file()))
}

/// One line of the check report.
struct Report {
    failures: usize,
}

impl Report {
    fn ok(&mut self, what: &str) {
        println!("ok    {what}");
    }
    fn fail(&mut self, what: &str, why: impl std::fmt::Display) {
        println!("FAIL  {what}: {why}");
        self.failures += 1;
    }
}

async fn check(cfg: &Config, connect: bool) -> ExitCode {
    let mut r = Report { failures: 0 };
    r.ok("configuration parsed and validated");
    match crate::stage::check_selection(&cfg.pipeline.stages) {
        Ok(()) if cfg.pipeline.stages.is_empty() => r.ok("stages: all"),
        Ok(()) => r.ok(&format!("stages: {}", cfg.pipeline.stages.join(", "))),
        Err(e) => r.fail("pipeline.stages", e),
    }
    for t in &cfg.http.api_tokens {
        if let Err(e) = t.secret().resolve() {
            r.fail("http.api_tokens", e);
        }
    }
    if let Some(path) = &cfg.catalog.path {
        match crate::catalog::Catalog::load(path) {
            Ok(c) => r.ok(&format!(
                "catalog {}: {} product(s)",
                path.display(),
                c.len()
            )),
            Err(e) => r.fail("catalog", e),
        }
    }
    match crate::mapping::MappingSet::load(&cfg.mappings.dir) {
        Ok(set) => {
            r.ok(&format!(
                "mappings in {} compile",
                cfg.mappings.dir.display()
            ));
            check_mapping_tests(&set, &cfg.mappings.dir, &mut r);
        }
        Err(e) => r.fail(&format!("mappings in {}", cfg.mappings.dir.display()), e),
    }
    for c in &cfg.connectors {
        let mapping = |format: &str| cfg.mappings.dir.join(format!("{format}.order.jq"));
        match c {
            ConnectorConfig::Webhook(w) => {
                let what = format!("connector {} (webhook /hooks/orders/{})", w.name, w.name);
                match crate::intake::webhook::Endpoint::new(w) {
                    Err(e) => r.fail(&what, e),
                    Ok(_) if !mapping(&w.format).is_file() => {
                        r.fail(&what, format!("no mapping for format {:?}", w.format))
                    }
                    Ok(_) if cfg.http.listen.is_empty() => r.fail(
                        &what,
                        "http.listen is empty, so nothing receives the webhook",
                    ),
                    Ok(_) => r.ok(&what),
                }
            }
            ConnectorConfig::Folder(f) => {
                let what = format!("connector {} (folder {})", f.name, f.path.display());
                let mapping = cfg.mappings.dir.join(format!("{}.order.jq", f.format));
                if !mapping.is_file() {
                    r.fail(
                        &what,
                        format!("no mapping {} for format {:?}", mapping.display(), f.format),
                    );
                } else if connect {
                    match std::fs::metadata(&f.path) {
                        Ok(m) if m.is_dir() => r.ok(&what),
                        Ok(_) => r.fail(&what, "not a directory"),
                        Err(e) => r.fail(&what, e),
                    }
                } else {
                    r.ok(&what);
                }
            }
            ConnectorConfig::Marketplace(m) => check_marketplace(cfg, m, connect, &mut r).await,
            ConnectorConfig::Tracking(t) => {
                let what = format!("connector {} (tracking /hooks/tracking/{})", t.name, t.name);
                match crate::intake::tracking::TrackingEndpoint::new(t) {
                    Err(e) => r.fail(&what, e),
                    Ok(_) if cfg.http.listen.is_empty() => r.fail(
                        &what,
                        "http.listen is empty, so nothing receives the callbacks",
                    ),
                    Ok(_) => r.ok(&what),
                }
            }
            ConnectorConfig::Imap(i) => {
                let what = format!("connector {} (imap {}:{})", i.name, i.host, i.port());
                let mapping = cfg.mappings.dir.join(format!("{}.order.jq", i.format));
                if !mapping.is_file() {
                    r.fail(
                        &what,
                        format!("no mapping {} for format {:?}", mapping.display(), i.format),
                    );
                } else if let Err(e) = i.password.resolve() {
                    r.fail(&what, e);
                } else {
                    r.ok(&what);
                }
            }
        }
    }
    for w in &cfg.warehouses {
        check_warehouse(cfg, w, connect, &mut r).await;
    }
    check_notices(cfg, &mut r);
    // <carrier>
    check_transport(cfg, &mut r);
    // </carrier>
    if connect {
        match crate::app::connect_store(cfg).await {
            Ok(store) => {
                r.ok("store reachable and migrated");
                match crate::app::connect_bus(cfg, &store).await {
                    Ok(bus) => {
                        match bus.ping().await {
                            Ok(()) => r.ok(&format!(
                                "bus ({}) reachable, topology declared",
                                bus.kind()
                            )),
                            Err(e) => r.fail("bus", e),
                        }
                        bus.close().await;
                    }
                    Err(e) => r.fail("bus", format!("{e:#}")),
                }
                store.close().await;
            }
            Err(e) => r.fail("store", format!("{e:#}")),
        }
    }
    if r.failures == 0 {
        println!("check passed");
        ExitCode::SUCCESS
    } else {
        println!("check failed: {} problem(s)", r.failures);
        ExitCode::FAILURE
    }
}

/// `[notices]`: every template an enabled notice needs exists, compiles and renders a sample
/// in every language; the SMTP password and CA file resolve. `[[subscribers]]`: secrets
/// resolve.
fn check_notices(cfg: &Config, r: &mut Report) {
    let n = &cfg.notices;
    if n.mail_enabled() {
        let what = format!(
            "notices (SMTP {}:{}, templates in {})",
            n.smtp_host,
            n.port(),
            n.templates_dir.display()
        );
        let templates = crate::notices::render::Templates::new(&n.templates_dir);
        let events: Vec<&str> = n.events.iter().map(String::as_str).collect();
        let mut problems = templates.check(&events, &n.languages);
        if !n.departments.is_empty() {
            problems.extend(templates.check(
                &[crate::config::DEPARTMENT_NOTICE],
                &[n.default_language().to_string()],
            ));
        }
        if let Err(e) = crate::notices::mail::Smtp::new(n) {
            problems.push(e);
        }
        if cfg.http.listen.is_empty() && n.events.iter().any(|e| e == "delivered") {
            problems.push(
                "http.listen is empty, so the delivered e-mail's feedback link and the status \
                 page have no server"
                    .into(),
            );
        }
        if problems.is_empty() {
            r.ok(&what);
        }
        for p in problems {
            r.fail(&what, p);
        }
    }
    for s in &cfg.subscribers {
        let what = format!("subscriber {} ({})", s.name, s.events.join(", "));
        match s.secret.resolve() {
            Ok(_) => r.ok(&what),
            Err(e) => r.fail(&what, e),
        }
    }
}

/// A marketplace connector: its definition loads, its format has a mapping, its credentials
/// resolve; with `--connect`, one authenticated request.
async fn check_marketplace(
    cfg: &Config,
    m: &crate::intake::pull::MarketplaceConfig,
    connect: bool,
    r: &mut Report,
) {
    let what = format!("connector {} (marketplace {})", m.name, m.platform);
    let def = match crate::partner::definition::load(&m.definitions, &m.platform) {
        Ok(d) => d,
        Err(e) => return r.fail(&what, e),
    };
    let mapping = cfg.mappings.dir.join(format!("{}.order.jq", def.format));
    if !mapping.is_file() {
        return r.fail(
            &what,
            format!(
                "no mapping {} for format {:?}",
                mapping.display(),
                def.format
            ),
        );
    }
    for (name, secret) in &m.credentials {
        if let Err(e) = secret.resolve() {
            return r.fail(&what, format!("credential {name}: {e}"));
        }
    }
    if m.pushback != crate::config::PushbackPolicy::Never {
        // The push-back is built as the stage builds it: its section, templates and auth.
        match crate::outbound::pushback::Pusher::from_definition(m, def.clone()) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return r.fail(
                    &what,
                    format!(
                        "pushback = {:?} but definition {} has no [pushback] section",
                        m.pushback, m.platform
                    ),
                )
            }
            Err(e) => return r.fail(&what, format!("push-back: {e}")),
        }
    }
    if connect {
        match crate::intake::pull::connector::probe(m).await {
            Ok(n) => r.ok(&format!(
                "{what}: authenticated request answered ({n} order(s))"
            )),
            Err(e) => r.fail(&what, e),
        }
    } else {
        r.ok(&what);
    }
}

/// A warehouse: its definition loads, its credentials resolve, its callbacks can be
/// verified and received; with `--connect`, one stock query.
async fn check_warehouse(
    cfg: &Config,
    w: &crate::config::WarehouseConfig,
    connect: bool,
    r: &mut Report,
) {
    use crate::outbound::warehouse::{build, callback};
    let what = format!("warehouse {} ({})", w.name, w.definition);
    match callback::CallbackEndpoint::new(w) {
        Err(e) => return r.fail(&what, e),
        Ok(Some(_)) if cfg.http.listen.is_empty() => {
            return r.fail(
                &what,
                "http.listen is empty, so nothing receives the warehouse's callbacks",
            )
        }
        Ok(_) => {}
    }
    let mut probe = w.clone();
    probe.max_retries = 0;
    let warehouse = match build::build(&probe, &tokio_util::sync::CancellationToken::new()) {
        Ok(built) => built,
        Err(e) => return r.fail(&what, e),
    };
    if !connect {
        return r.ok(&what);
    }
    let sku = "ordergate-check".to_string();
    match warehouse.stock(std::slice::from_ref(&sku)).await {
        Ok(stock) => r.ok(&format!(
            "{what}: stock query answered ({} SKU(s))",
            stock.len()
        )),
        Err(e) => r.fail(&what, e),
    }
}

/// Carriers build (definition, credentials), every transport rule's mode fits its carrier's
/// kind (express: an API; own vehicle, freight: dispatch), the delivery-note template compiles
/// and its font loads.
fn check_transport(cfg: &Config, r: &mut Report) {
    use crate::outbound::carrier::{build, CarrierKind};
    use crate::rules::transport::Mode;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut kinds = std::collections::BTreeMap::new();
    for c in &cfg.carriers {
        let what = format!("carrier {} ({})", c.name, c.definition);
        match build::build(c, &shutdown) {
            Ok((kind, _)) => {
                kinds.insert(c.name.as_str(), kind);
                r.ok(&what);
            }
            Err(e) => r.fail(&what, e),
        }
    }
    for rule in &cfg.transport.rules {
        let Some(kind) = kinds.get(rule.carrier.as_str()) else {
            continue;
        };
        let api = *kind != CarrierKind::Dispatch;
        if api != (rule.mode == Mode::Express) {
            r.fail(
                &format!("transport rule {}", rule.name),
                format!(
                    "mode {} does not fit carrier {} of kind {}",
                    rule.mode.as_str(),
                    rule.carrier,
                    kind.as_str()
                ),
            );
        } else {
            r.ok(&format!("transport rule {}", rule.name));
        }
    }
    let note = &cfg.transport.delivery_note;
    if note.enabled {
        match crate::outbound::delivery_note::Renderer::new(note) {
            Ok(renderer) => match renderer.check_font() {
                Ok(()) => r.ok("delivery note: template compiles, font loads"),
                Err(e) => r.fail("delivery note", e),
            },
            Err(e) => r.fail("delivery note", e),
        }
    }
}

fn check_mapping_tests(set: &crate::mapping::MappingSet, dir: &Path, r: &mut Report) {
    let outcomes = crate::mapping::testfile::run_tests(set, dir);
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    // Fax documents are read with pdftotext: without it every fax case fails with a diff that
    // says nothing about why. Say what to install instead.
    let pdftotext = crate::normalize::email::tools::Tools::default().pdftotext;
    let no_pdftotext = !on_path(&pdftotext);
    if no_pdftotext && outcomes.iter().any(|o| o.mapping.starts_with("fax")) {
        r.fail(
            "fax mapping tests",
            format!(
                "{pdftotext} not found: install poppler-utils (Debian/Ubuntu: apt-get install \
                 poppler-utils; tesseract-ocr too for faxes without a text layer) or set \
                 ORDERGATE_PDFTOTEXT"
            ),
        );
    }
    let explained =
        |o: &&crate::mapping::testfile::CaseOutcome| no_pdftotext && o.mapping.starts_with("fax");
    for o in outcomes.iter().filter(|o| !o.passed() && !explained(o)) {
        r.fail(
            &format!("mapping test {} / {}", o.mapping, o.case),
            o.failure.as_deref().unwrap_or("failed"),
        );
    }
    if passed == outcomes.len() {
        r.ok(&format!("{passed} mapping test case(s) pass"));
    }
}

/// A new private folder under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "ordergate-shadow-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `ordergate report …`
async fn report(
    cfg: &Config,
    config: Option<&Path>,
    command: ReportCommand,
) -> anyhow::Result<ExitCode> {
    let store = existing_store(cfg, config).await?;
    let range = |from: Option<String>, to: Option<String>| {
        crate::http::reports_range(from.as_deref(), to.as_deref()).map_err(anyhow::Error::msg)
    };
    match command {
        ReportCommand::Kpi {
            from,
            to,
            period,
            by,
            failed,
            group,
            format,
        } => {
            let (from, to) = range(from, to)?;
            let q = crate::kpi::KpiQuery {
                from,
                to,
                period,
                by,
                now: chrono::Utc::now(),
            };
            match failed {
                Some(rate) => {
                    let orders = crate::kpi::failing_orders(
                        &store,
                        &cfg.kpi,
                        &q,
                        rate,
                        group.as_deref(),
                        100_000,
                    )
                    .await?;
                    print!("{}", crate::kpi::format::failed(&orders, format));
                }
                None => {
                    let report = crate::kpi::report(&store, &cfg.kpi, &q).await?;
                    print!("{}", crate::kpi::format::kpi(&report, format));
                }
            }
        }
        ReportCommand::Exceptions { from, to, format } => {
            let (from, to) = range(from, to)?;
            let lines = crate::kpi::exceptions_report(&store, from, to, chrono::Utc::now()).await?;
            print!("{}", crate::kpi::format::exceptions(&lines, format));
        }
        ReportCommand::Rebuild => {
            let done = crate::kpi::rebuild(&store).await?;
            println!(
                "KPI rollup rebuilt: {} orders, through event {}",
                done.orders, done.through_seq
            );
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
