//! Logs and metrics. Logs are `tracing` events, as text or one JSON object per line; metrics
//! are Prometheus, rendered at `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Metric names, in one place.
pub mod metric {
    /// Messages a stage took from its queue (`stage`).
    pub const MESSAGES_IN: &str = "ordergate_messages_in_total";
    /// Events a stage published (`stage`).
    pub const MESSAGES_OUT: &str = "ordergate_messages_out_total";
    /// Messages a stage parked (`stage`).
    pub const PARKED: &str = "ordergate_messages_parked_total";
    /// Messages a stage scheduled for a retry (`stage`).
    pub const RETRIED: &str = "ordergate_messages_retried_total";
    /// Redelivered messages recognised as already applied (`stage`).
    pub const DUPLICATES: &str = "ordergate_messages_duplicate_total";
    /// Raw documents a connector stored (`connector`).
    pub const DOCUMENTS: &str = "ordergate_documents_ingested_total";
    /// Messages waiting in a queue (`queue`).
    pub const QUEUE_DEPTH: &str = "ordergate_queue_depth";
    /// Events committed but not yet published.
    pub const OUTBOX_PENDING: &str = "ordergate_outbox_pending";
    /// Documents and requests a connector refused (`connector`, `reason`: `too_large`,
    /// `unreadable`, `malformed`, `unauthenticated`); each is also an exception.
    pub const DOCUMENTS_REFUSED: &str = "ordergate_documents_refused_total";
    /// Connector health: 2 up, 1 degraded, 0 down (`connector`).
    /// Backups taken, by result (`ok`, `failed`).
    pub const BACKUPS: &str = "ordergate_backups_total";
    pub const CONNECTOR_HEALTH: &str = "ordergate_connector_health";
}

/// The environment variable naming the folder the test suite collects every process's logs
/// in (`deploy/dev/test.sh` sets it). When set, each process also writes its log lines, as
/// JSON, to `<folder>/<program>-<pid>.jsonl`, which the suite's last step scans for secrets
/// and personal data (`tests/security.rs`, `log_scan`).
pub const TEST_LOG_DIR: &str = "ORDERGATE_TEST_LOG_DIR";

/// This process's log copy in [`TEST_LOG_DIR`], opened on first use; `None` when the variable
/// is unset or the file cannot be created.
pub fn test_log_file() -> Option<std::sync::Arc<std::fs::File>> {
    static FILE: OnceLock<Option<std::sync::Arc<std::fs::File>>> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::path::PathBuf::from(std::env::var_os(TEST_LOG_DIR)?);
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "ordergate".into());
        let path = dir.join(format!("{program}-{}.jsonl", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(std::sync::Arc::new)
    })
    .clone()
}

/// Sets up logging once per process: `format` text or JSON, filter from `RUST_LOG` or `level`;
/// also to [`test_log_file`] when the test suite asks for it.
pub fn init_logging(format: LogFormat, level: &str) {
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let writer = match test_log_file() {
        Some(file) => BoxMakeWriter::new(std::io::stderr.and(file)),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && test_log_file().is_none())
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// For test processes: when [`TEST_LOG_DIR`] is set, logs at `level` (or `RUST_LOG`) go as
/// JSON to [`test_log_file`] only (nothing on the terminal). Does nothing when the variable is
/// unset or the process already has a subscriber.
pub fn capture_test_logs(level: &str) {
    let Some(file) = test_log_file() else {
        return;
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(file)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .try_init();
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests embedding the daemon); then this
        // handle renders nothing new, which only affects /metrics in that process.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
