//! Group commit for small independent writes (received documents, outbox deletes, embedded-bus
//! publishes and acks).
//!
//! Callers hand their item to one task per kind of write; the task takes whatever queued while
//! its previous batch ran (and, for [`Grouped::in_transaction`], while its transaction opened)
//! and writes it all in one transaction, then answers every caller. Under
//! load, N concurrent acks cost one commit (one fsync) instead of N; a lone caller pays one
//! channel hop. Every caller still returns only after its own write committed, so what a caller
//! may rely on is unchanged.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

/// What a batch run returns: one result per item, in order, or one error for all.
pub(crate) type BatchFuture<R> = Pin<Box<dyn Future<Output = Result<Vec<R>, GroupError>> + Send>>;

/// A write transaction being opened for the next batch.
pub(crate) type OpenFuture = Pin<Box<dyn Future<Output = Result<super::Tx, GroupError>> + Send>>;

/// How a batch is written.
enum Run<C, T, R> {
    /// `run(ctx, items)` does it all.
    Plain(fn(C, Vec<T>) -> BatchFuture<R>),
    /// `open(ctx)` first, then `run(ctx, tx, items)` with whatever queued meanwhile: on SQLite
    /// the wait for the write turn is when the rest of a burst arrives, so the batch that
    /// follows it carries the burst instead of its first request alone.
    InTx(
        fn(C) -> OpenFuture,
        fn(C, super::Tx, Vec<T>) -> BatchFuture<R>,
    ),
}

impl<C, T, R> Clone for Run<C, T, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C, T, R> Copy for Run<C, T, R> {}

type Reply<R> = oneshot::Sender<Result<R, GroupError>>;

/// Why a grouped write failed, as every caller of its batch gets it: the database's message,
/// and whether the disk was full — the one cause a caller answers differently (intake tells
/// the sender "disk full, retry later"), which the message alone would not say reliably.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GroupError {
    /// What failed.
    pub message: String,
    /// The store's disk is full ([`super::StoreError::is_disk_full`]).
    pub disk_full: bool,
}

impl From<super::StoreError> for GroupError {
    fn from(e: super::StoreError) -> Self {
        let disk_full = e.is_disk_full();
        // `StoreError::Grouped` says "store: " itself.
        let message = match e {
            super::StoreError::Db(e) => e.to_string(),
            other => other.to_string(),
        };
        Self { message, disk_full }
    }
}

impl From<sqlx::Error> for GroupError {
    fn from(e: sqlx::Error) -> Self {
        super::StoreError::Db(e).into()
    }
}

impl From<String> for GroupError {
    fn from(message: String) -> Self {
        Self {
            message,
            disk_full: false,
        }
    }
}

/// One kind of grouped write: `run(ctx, items)` writes a batch.
pub(crate) struct Grouped<C, T, R> {
    ctx: C,
    /// Most items per batch.
    max: usize,
    run: Run<C, T, R>,
    /// Started on first use, inside the caller's runtime.
    tx: OnceLock<mpsc::UnboundedSender<(T, Reply<R>)>>,
}

impl<C, T, R> std::fmt::Debug for Grouped<C, T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped").field("max", &self.max).finish()
    }
}

impl<C, T, R> Grouped<C, T, R>
where
    C: Clone + Send + 'static,
    T: Send + 'static,
    R: Send + 'static,
{
    /// `ctx` must not own this `Grouped` (the task would keep itself alive).
    pub fn new(ctx: C, max: usize, run: fn(C, Vec<T>) -> BatchFuture<R>) -> Self {
        Self {
            ctx,
            max: max.max(1),
            run: Run::Plain(run),
            tx: OnceLock::new(),
        }
    }

    /// A grouped write that opens its transaction (`open`) before it takes the queued items,
    /// then writes them in it (`run`, which commits).
    pub fn in_transaction(
        ctx: C,
        max: usize,
        open: fn(C) -> OpenFuture,
        run: fn(C, super::Tx, Vec<T>) -> BatchFuture<R>,
    ) -> Self {
        Self {
            ctx,
            max: max.max(1),
            run: Run::InTx(open, run),
            tx: OnceLock::new(),
        }
    }

    /// Writes `item` with whatever else is waiting; returns once that write committed.
    pub async fn submit(&self, item: T) -> Result<R, GroupError> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer(self.ctx.clone(), self.max, self.run, rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let stopped = || GroupError::from("the grouped writer has stopped".to_string());
        tx.send((item, reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Runs batches until every sender is gone.
async fn writer<C: Clone, T, R>(
    ctx: C,
    max: usize,
    run: Run<C, T, R>,
    mut rx: mpsc::UnboundedReceiver<(T, Reply<R>)>,
) {
    while let Some(first) = rx.recv().await {
        let opened = match run {
            Run::Plain(_) => None,
            Run::InTx(open, _) => Some(open(ctx.clone()).await),
        };
        let mut items = vec![first];
        while items.len() < max {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let (values, replies): (Vec<T>, Vec<Reply<R>>) = items.into_iter().unzip();
        let n = replies.len();
        let written = match (run, opened) {
            (Run::Plain(run), _) => run(ctx.clone(), values).await,
            (Run::InTx(_, run), Some(Ok(tx))) => run(ctx.clone(), tx, values).await,
            (Run::InTx(..), Some(Err(error))) => Err(error),
            (Run::InTx(..), None) => Err(GroupError::from(
                "a grouped write lost its transaction".to_string(),
            )),
        };
        match written {
            Ok(results) if results.len() == n => {
                for (result, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(Ok(result));
                }
            }
            Ok(results) => {
                let error = GroupError::from(format!(
                    "a batch of {n} writes gave {} results",
                    results.len()
                ));
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(store: super::super::Store) -> OpenFuture {
        Box::pin(async move { Ok(store.begin_urgent().await?) })
    }

    /// Each caller learns how many items its batch carried.
    fn run(_: super::super::Store, tx: super::super::Tx, items: Vec<u32>) -> BatchFuture<usize> {
        Box::pin(async move {
            tx.commit().await?;
            Ok(vec![items.len(); items.len()])
        })
    }

    /// A burst that arrives while another writer has SQLite's turn is written in one batch once
    /// the turn comes: the writer takes the queued items after its transaction is open, not
    /// its first item alone before waiting for the turn.
    #[tokio::test]
    async fn a_burst_behind_a_busy_writer_is_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.sqlite").display());
        let store = super::super::Store::connect(&url, 2, "normal")
            .await
            .unwrap();
        let grouped = std::sync::Arc::new(Grouped::in_transaction(store.clone(), 64, open, run));
        let busy = store.begin().await.unwrap();
        let mut callers = Vec::new();
        for i in 0..10u32 {
            let grouped = grouped.clone();
            callers.push(tokio::spawn(
                async move { grouped.submit(i).await.unwrap() },
            ));
            // The first one is taken by the writer before the others come.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(busy);
        for caller in callers {
            assert_eq!(caller.await.unwrap(), 10);
        }
        store.close().await;
    }
}
