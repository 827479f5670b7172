//! Backups of the order system (rulebook §4: "the order system is backed up regularly").
//!
//! * SQLite (standalone): [`backup`] takes an online, consistent copy with `VACUUM INTO` — one
//!   read transaction, so the copy is the store as of one instant even while the daemon writes
//!   — into a temporary name, verifies it by opening it read-only, running SQLite's
//!   `quick_check` and counting its rows, and only then renames it into place. [`restore`]
//!   verifies a backup the same way and puts it in place of a stopped daemon's store, keeping
//!   the store it replaces. [`run_schedule`] takes one every `backup.interval_hours` and keeps
//!   the newest `backup.keep`.
//! * PostgreSQL (cluster): the database server's own tools are the right ones (`pg_dump -Fc`,
//!   `pg_restore`); the README gives the procedure and a test runs it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{Connection, Row};
use tokio_util::sync::CancellationToken;

use crate::store::{Dialect, Store};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store is PostgreSQL: use its tools.
    #[error(
        "the store is PostgreSQL: back it up with pg_dump -Fc and restore with pg_restore \
         (README, \"Backups\"); ordergate backup copies SQLite stores"
    )]
    NotSqlite,
    /// The target exists already.
    #[error("{0} exists already: a backup never overwrites a file; choose a new name")]
    Exists(PathBuf),
    /// The backup file is not a usable ordergate store.
    #[error("backup {path} is not usable: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// Reading or writing files.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The database refused.
    #[error("backup: {0}")]
    Sql(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// What a verified backup holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    pub orders: i64,
    pub order_events: i64,
    pub raw_documents: i64,
    pub exceptions: i64,
}

/// The tables counted when a backup is verified.
const COUNTED: [&str; 4] = ["orders", "order_events", "raw_documents", "exceptions"];

/// Copies the SQLite store into `to` (which must not exist), online and consistent, and
/// verifies the copy.
pub async fn backup(store: &Store, to: &Path) -> Result<Verified, BackupError> {
    if store.dialect() != Dialect::Sqlite {
        return Err(BackupError::NotSqlite);
    }
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let partial = partial_name(to);
    let _ = std::fs::remove_file(&partial);
    let target = partial.to_str().ok_or_else(|| BackupError::Invalid {
        path: to.to_path_buf(),
        reason: "the path is not UTF-8".into(),
    })?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(store.pool())
        .await
        .map_err(|e| BackupError::Sql(e.to_string()))?;
    let verified = match verify(&partial).await {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to).map_err(io(to))?;
    Ok(Verified {
        path: to.to_path_buf(),
        ..verified
    })
}

/// Opens `path` read-only, checks its integrity and that it is an ordergate store, and counts
/// its rows.
pub async fn verify(path: &Path) -> Result<Verified, BackupError> {
    let invalid = |reason: String| BackupError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|e| invalid(format!("cannot open it as SQLite: {e}")))?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| invalid(format!("integrity check failed: {e}")))?;
    if check != "ok" {
        return Err(invalid(format!("integrity check: {check}")));
    }
    let mut counts = [0i64; COUNTED.len()];
    for (n, table) in counts.iter_mut().zip(COUNTED) {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table}"
        )))
        .fetch_one(&mut conn)
        .await
        .map_err(|e| invalid(format!("no {table} table, not an ordergate store: {e}")))?;
        *n = row
            .try_get::<i64, _>("n")
            .map_err(|e| invalid(e.to_string()))?;
    }
    let _ = conn.close().await;
    let [orders, order_events, raw_documents, exceptions] = counts;
    Ok(Verified {
        path: path.to_path_buf(),
        bytes,
        orders,
        order_events,
        raw_documents,
        exceptions,
    })
}

/// Puts the verified backup `from` in place of the SQLite store file `store_file` (the daemon
/// must be stopped). The store it replaces, if any, is kept beside it as
/// `<name>.before-restore-<time>`; returns that name.
pub async fn restore(
    from: &Path,
    store_file: &Path,
) -> Result<(Verified, Option<PathBuf>), BackupError> {
    let verified = verify(from).await?;
    if let Some(dir) = store_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let partial = partial_name(store_file);
    std::fs::copy(from, &partial).map_err(io(&partial))?;
    let kept = if store_file.exists() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let old =
            store_file.with_file_name(format!("{}.before-restore-{stamp}", file_name(store_file)));
        std::fs::rename(store_file, &old).map_err(io(store_file))?;
        Some(old)
    } else {
        None
    };
    // The old store's write-ahead log belongs to the old store.
    for suffix in ["-wal", "-shm"] {
        let f = store_file.with_file_name(format!("{}{suffix}", file_name(store_file)));
        let _ = std::fs::remove_file(f);
    }
    std::fs::rename(&partial, store_file).map_err(io(store_file))?;
    Ok((verified, kept))
}

/// Takes a backup into `dir` every `interval` and keeps the newest `keep`, until `shutdown`.
/// A failure is logged and counted (`ordergate_backups_total{result="failed"}`); the next
/// interval tries again.
pub async fn run_schedule(
    store: Store,
    dir: PathBuf,
    interval: Duration,
    keep: usize,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => return,
        }
        let name = format!(
            "ordergate-{}.sqlite",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        );
        match backup(&store, &dir.join(name)).await {
            Ok(v) => {
                metrics::counter!(crate::telemetry::metric::BACKUPS, "result" => "ok").increment(1);
                tracing::info!(path = %v.path.display(), bytes = v.bytes, orders = v.orders, "Backup taken and verified.");
                if let Err(error) = prune(&dir, keep) {
                    tracing::warn!(error = %error, "Cannot remove old backups.");
                }
            }
            Err(error) => {
                metrics::counter!(crate::telemetry::metric::BACKUPS, "result" => "failed")
                    .increment(1);
                tracing::error!(error = %error, "Scheduled backup failed.");
            }
        }
    }
}

/// Removes all but the newest `keep` scheduled backups in `dir` (names sort by time).
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = file_name(p);
            n.starts_with("ordergate-") && n.ends_with(".sqlite")
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for p in &removed {
        std::fs::remove_file(p).map_err(io(p))?;
    }
    Ok(removed)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn partial_name(p: &Path) -> PathBuf {
    p.with_file_name(format!("{}.partial", file_name(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule takes verified backups at its interval and keeps the newest `keep`.
    #[tokio::test]
    async fn the_schedule_backs_up_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("og.sqlite").display());
        let store = Store::connect(&url, 2, "normal").await.unwrap();
        store.migrate().await.unwrap();
        let backups = dir.path().join("backups");
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_schedule(
            store.clone(),
            backups.clone(),
            Duration::from_millis(150),
            2,
            stop.clone(),
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        // Four backups have been taken once the fourth name was used; two are kept.
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "backups taken: {seen:?}"
            );
            if let Ok(d) = std::fs::read_dir(&backups) {
                for e in d.flatten() {
                    let n = file_name(&e.path());
                    if n.ends_with(".sqlite") {
                        seen.insert(n);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        stop.cancel();
        task.await.unwrap();
        let kept: Vec<PathBuf> = std::fs::read_dir(&backups)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| file_name(p).ends_with(".sqlite"))
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        for p in kept {
            let v = verify(&p).await.unwrap();
            assert_eq!(v.orders, 0);
        }
    }

    #[test]
    fn prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for t in ["20260101T000000", "20260102T000000", "20260103T000000"] {
            std::fs::write(dir.path().join(format!("ordergate-{t}.sqlite")), b"x").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let removed = prune(dir.path(), 2).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(file_name(&removed[0]).contains("20260101"));
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
