//! The durable store (sqlx): SQLite by default, PostgreSQL by URL, one schema written in each
//! dialect (`migrations/sqlite`, `migrations/postgres`), one code path through sqlx's `Any`
//! driver. Times are stored as Unix milliseconds so both dialects compare them the same way.
//!
//! Writes that belong together go through one [`Tx`]; on SQLite it is opened with
//! `BEGIN IMMEDIATE` so two writers queue for the lock instead of failing half-way, and the
//! process's write transactions take turns at an in-process gate (`gate`), intake first, so
//! none sleeps in SQLite's busy handler while the lock is free.

mod carrier;
mod catalog;
mod connectors;
pub mod exceptions;
mod fulfilments;
pub(crate) mod gate;
pub(crate) mod group;
mod orders;
mod outbox;
mod parked;
mod pushbacks;
mod raw;
mod review;
mod shipments;
mod subscriptions;
mod unattached;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};

pub use carrier::{LabelRecord, NewDocument, OrderDocument};
pub use connectors::{ConnectorHealth, ConnectorState};
pub use exceptions::{
    ExceptionEvent, ExceptionFilter, ExceptionRecord, ExceptionUpdate, NewException, Severity,
};
pub use fulfilments::{Backorder, Fulfilment, FulfilmentState};
pub use group::GroupError;
pub use orders::{
    OrderEvent, OrderSummary, StoredOrder, TransitionError, UpsertOutcome, STATE_RECEIVED,
};
pub use outbox::OutboxRow;
pub use parked::ParkedMessage;
pub use pushbacks::{Claim, Pushback};
pub use raw::{NewRawDocument, RawBody, RawDocument, RawInsert};
pub use review::ChangeRecord;
pub use shipments::{
    tracking_number_key, NewShipment, NewShipmentEvent, Recorded, Shipment, ShipmentEvent,
    ShipmentProgress,
};
pub use subscriptions::{DuePoll, Subscription};
pub use unattached::UnattachedUpdate;

/// A store write transaction. It derefs to the connection to write with; on SQLite it also holds
/// the process's turn to write (see `gate`) until it commits, rolls back or is dropped.
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<gate::WriteTurn>,
}

impl Tx {
    /// Commits; the write turn passes on once the commit is done.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Tx { inner, _turn } = self;
        inner.commit().await
    }

    /// Rolls back; the write turn passes on once the rollback is done.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let Tx { inner, _turn } = self;
        inner.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// How long a writer waits for its turn (as SQLite's own `busy_timeout`).
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// Why a store operation failed. Always transient from a stage's point of view except
/// [`StoreError::Migrate`] and [`StoreError::Url`], which stop start-up.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {0:?} is neither sqlite:// nor postgres://")]
    Url(String),
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A grouped write (see `group`) failed; the message is the database's.
    #[error("store: {0}")]
    Grouped(group::GroupError),
    /// No turn to write came within the wait (SQLite's one writer is busy).
    #[error("store: {0}")]
    Busy(String),
    #[error("stored {what} is not valid JSON: {source}")]
    Corrupt {
        what: String,
        source: serde_json::Error,
    },
    /// Stored bytes that cannot be read back as they were received.
    #[error("stored {what} is damaged: {reason}")]
    Damaged { what: String, reason: String },
}

impl StoreError {
    /// Whether the write failed because the store's disk is full (SQLite's `SQLITE_FULL`,
    /// PostgreSQL's `disk_full`): nothing was written, and trying again once space returns
    /// works.
    ///
    /// Decided on the error's code, never its text: SQLite's code comes as the *extended*
    /// result code, whose low byte is the primary one (`SQLITE_FULL` = 13); a grouped write
    /// carries the flag of the error it stands for.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Db(e) => db_disk_full(e),
            StoreError::Grouped(g) => g.disk_full,
            _ => false,
        }
    }
}

/// SQLite's primary result code for "database or disk is full".
const SQLITE_FULL: i64 = 13;
/// PostgreSQL's SQLSTATE `disk_full`.
const PG_DISK_FULL: &str = "53100";

fn db_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let Some(code) = d.code() else { return false };
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i64>().is_ok_and(|c| c & 0xff == SQLITE_FULL)
            } else {
                code == PG_DISK_FULL
            }
        }
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

/// Which SQL dialect is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of a connection (inside a transaction, where only the connection is at
    /// hand).
    pub fn of(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// The store: a pool and its dialect. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run: on SQLite one connection of its own (see
    /// [`Store::connect`]), on PostgreSQL the pool.
    writes: AnyPool,
    dialect: Dialect,
    /// SQLite's write transactions of this process, one at a time, urgent ones first.
    gate: gate::WriteGate,
    /// Deletes of published outbox rows, grouped into one transaction per batch.
    outbox_deletes: Arc<outbox::OutboxDeletes>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stored millisecond time as a UTC time.
pub fn ms_to_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects (creating a SQLite file if missing) and brings the schema up to date.
    /// `sqlite_synchronous` is `full` or `normal` (see the config docs).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        sqlite_synchronous: &str,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Url(redact_url(url)));
        };
        // A fresh install has no data directory yet: make the file's folder.
        if let Some(parent) = sqlite_file(url)
            .as_deref()
            .and_then(std::path::Path::parent)
        {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Db(sqlx::Error::Configuration(
                        format!("cannot create {}: {e}", parent.display()).into(),
                    ))
                })?;
            }
        }
        let url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let synchronous = if sqlite_synchronous == "normal" {
            "PRAGMA synchronous = NORMAL"
        } else {
            "PRAGMA synchronous = FULL"
        };
        let pool = pool_options(dialect, max_connections.max(1), synchronous, READ_CACHE)
            .connect_with(options.clone())
            .await?;
        // SQLite's write transactions take turns at the gate, so one connection serves them
        // all. Kept apart from the readers, it is the only connection that changes the file:
        // its page cache stays valid from one transaction to the next, where a pooled
        // connection finds the file changed by another and starts from an empty cache (every
        // index page read again from the file, under the write lock).
        let writes = match dialect {
            Dialect::Sqlite if sqlite_file(&url).is_some() => {
                pool_options(dialect, 1, synchronous, WRITE_CACHE)
                    .connect_with(options)
                    .await?
            }
            _ => pool.clone(),
        };
        let gate = gate::WriteGate::default();
        let store = Self {
            outbox_deletes: Arc::new(outbox::outbox_deletes(
                writes.clone(),
                dialect,
                gate.clone(),
            )),
            pool,
            writes,
            dialect,
            gate,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations of the store's dialect.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATOR.run(&self.pool).await?,
            Dialect::Postgres => POSTGRES_MIGRATOR.run(&self.pool).await?,
        }
        Ok(())
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The SQL dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction (on SQLite, taking the write lock up front).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        begin_on(
            &self.writes,
            self.dialect,
            &self.gate,
            gate::Urgency::Ordinary,
        )
        .await
    }

    /// Starts a write transaction that someone outside is waiting on (intake before its answer):
    /// on SQLite it gets the write lock before ordinary writers that wait too.
    pub async fn begin_urgent(&self) -> Result<Tx, StoreError> {
        begin_on(
            &self.writes,
            self.dialect,
            &self.gate,
            gate::Urgency::Urgent,
        )
        .await
    }

    /// Whether an urgent write (intake) waits for SQLite's writer: a long write transaction
    /// should then end at its next natural boundary. Always false on PostgreSQL.
    pub fn urgent_writers_waiting(&self) -> bool {
        self.dialect == Dialect::Sqlite && self.gate.urgent_waiting()
    }

    /// Cheap reachability check for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool (waits for connections in use).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writes.close().await;
    }
}

/// Page cache of a reading connection (SQLite's default, 2 MiB).
const READ_CACHE: i64 = 2 << 10;

/// Page cache of SQLite's one writing connection, in KiB: the indexes every write goes
/// through stay in it.
const WRITE_CACHE: i64 = 64 << 10;

/// The pool settings of both dialects: on SQLite WAL, the durability asked for and a page cache
/// of `cache_kib`; on PostgreSQL a statement timeout.
fn pool_options(
    dialect: Dialect,
    max_connections: u32,
    synchronous: &'static str,
    cache_kib: i64,
) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if dialect == Dialect::Sqlite {
                    // WAL lets readers run beside the one writer; busy_timeout makes a
                    // second writer wait for the lock instead of failing.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute(synchronous).await?;
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    // Only a constant is interpolated.
                    let cache = format!("PRAGMA cache_size = -{cache_kib}");
                    conn.execute(sqlx::AssertSqlSafe(cache)).await?;
                } else {
                    // No statement may hang a stage forever.
                    conn.execute("SET statement_timeout = '60s'").await?;
                }
                Ok(())
            })
        })
        .after_release(move |conn, _meta| {
            Box::pin(async move {
                // A COMMIT that failed after SQLite had rolled the transaction back by
                // itself (a full disk, an I/O error) leaves sqlx counting a transaction
                // that is gone: its ROLLBACK fails too, and every later BEGIN on the
                // connection would fail ("non-zero transaction depth") long after space
                // returned. Such a connection is closed, not reused. A committed one is
                // at depth 0 at once; a dropped transaction's rollback is queued, so the
                // ping lets it run before the depth is read again.
                if dialect != Dialect::Sqlite || !conn.is_in_transaction() {
                    return Ok(true);
                }
                conn.ping().await?;
                Ok(!conn.is_in_transaction())
            })
        })
}

/// Starts a write transaction on a pool (on SQLite, waiting for the process's turn at `gate`,
/// then taking the write lock up front).
pub(crate) async fn begin_on(
    pool: &AnyPool,
    dialect: Dialect,
    gate: &gate::WriteGate,
    urgency: gate::Urgency,
) -> Result<Tx, StoreError> {
    let tx = match dialect {
        Dialect::Sqlite => {
            let turn = gate
                .acquire(urgency, WRITE_WAIT)
                .await
                .map_err(StoreError::Busy)?;
            Tx {
                inner: pool.begin_with("BEGIN IMMEDIATE").await?,
                _turn: Some(turn),
            }
        }
        Dialect::Postgres => Tx {
            inner: pool.begin().await?,
            _turn: None,
        },
    };
    Ok(tx)
}

/// Most rows one multi-row statement carries (well under both dialects' bound-parameter limits).
pub(crate) const ROWS_PER_STATEMENT: usize = 100;

/// `rows` groups of `cols` numbered placeholders for a multi-row `VALUES` list:
/// `($1, $2), ($3, $4)`.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * cols + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// The database file of a `sqlite:` URL (`None` for PostgreSQL and in-memory databases).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// A URL with any password replaced, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_install_gets_its_sqlite_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("var/lib/ordergate/og.sqlite");
        let store = Store::connect(&format!("sqlite://{}", file.display()), 1, "full")
            .await
            .unwrap();
        store.ping().await.unwrap();
        assert!(file.exists());
    }

    #[test]
    fn value_rows_numbers_placeholders_row_by_row() {
        assert_eq!(value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(value_rows(1, 1), "($1)");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://og:secret@db:5432/og"),
            "postgres://og:***@db:5432/og"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            sqlite_file("sqlite:///var/lib/og.sqlite?mode=rwc"),
            Some(std::path::PathBuf::from("/var/lib/og.sqlite"))
        );
        assert_eq!(
            sqlite_file("sqlite://og.sqlite"),
            Some(std::path::PathBuf::from("og.sqlite"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }
}
