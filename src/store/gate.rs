//! The SQLite write gate: one write transaction of the process at a time, handed over in turn.
//!
//! SQLite has one writer. Without a gate, writers that find the lock taken poll for it in
//! SQLite's busy handler, sleeping up to 100 ms between tries, and those sleeps set the latency
//! of whatever waits on a write (a webhook's 202). With the gate, a writer waits on an
//! in-process queue and is woken the moment the previous transaction ends. Urgent writes (intake,
//! which a caller outside is waiting on) are handed the lock before ordinary ones (stage units),
//! so a burst of pipeline work cannot queue in front of intake. `busy_timeout` stays as the
//! fallback for writers outside the gate (another process, a plain pool statement).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

/// Who goes first when both wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Someone outside waits on this write (intake): served before ordinary writes.
    Urgent,
    /// Pipeline work, cleanup.
    Ordinary,
}

#[derive(Debug, Default)]
struct State {
    held: bool,
    urgent: VecDeque<oneshot::Sender<()>>,
    ordinary: VecDeque<oneshot::Sender<()>>,
}

/// The gate; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct WriteGate {
    state: Arc<Mutex<State>>,
}

/// The right to write until dropped.
#[derive(Debug)]
pub struct WriteTurn {
    gate: WriteGate,
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl WriteGate {
    /// Waits for the turn to write, at most `limit`.
    pub async fn acquire(&self, urgency: Urgency, limit: Duration) -> Result<WriteTurn, String> {
        let rx = {
            let mut s = self.lock();
            if !s.held {
                s.held = true;
                return Ok(WriteTurn { gate: self.clone() });
            }
            let (tx, rx) = oneshot::channel();
            match urgency {
                Urgency::Urgent => s.urgent.push_back(tx),
                Urgency::Ordinary => s.ordinary.push_back(tx),
            }
            rx
        };
        // If this future is dropped (or times out) after the turn was handed to it, the turn
        // must go on to the next writer, or the gate would stay shut.
        let mut waiting = Waiting {
            rx: Some(rx),
            gate: self,
        };
        let Some(rx) = waiting.rx.as_mut() else {
            return Err("the store write gate lost a waiting writer".to_string());
        };
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(())) => {
                waiting.rx = None;
                Ok(WriteTurn { gate: self.clone() })
            }
            // The sender is only dropped unsent by `release` skipping a closed receiver; ours
            // is open, so this is unreachable, but say so rather than panic.
            Ok(Err(_)) => Err("the store write gate dropped a waiting writer".to_string()),
            Err(_) => Err(format!(
                "waited {} s for the store's write lock",
                limit.as_secs()
            )),
        }
    }

    /// Whether an urgent writer waits for the turn (one that gave up may still count).
    pub fn urgent_waiting(&self) -> bool {
        !self.lock().urgent.is_empty()
    }

    /// Hands the turn to the next live waiter, urgent first, or opens the gate.
    fn release(&self) {
        let mut s = self.lock();
        loop {
            let next = match s.urgent.pop_front() {
                Some(tx) => Some(tx),
                None => s.ordinary.pop_front(),
            };
            match next {
                None => {
                    s.held = false;
                    return;
                }
                // A waiter that gave up has closed its receiver: skip it.
                Some(tx) => {
                    if tx.send(()).is_ok() {
                        return;
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a flag and two queues, consistent after every statement: a panic
        // elsewhere while holding the lock leaves nothing half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A waiter's receiver; on drop, gives back a turn that was handed over but not taken.
struct Waiting<'a> {
    rx: Option<oneshot::Receiver<()>>,
    gate: &'a WriteGate,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn one_turn_at_a_time_and_urgent_writers_go_first() {
        let gate = WriteGate::default();
        let first = gate.acquire(Urgency::Ordinary, LONG).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, urgency) in [
            ("ordinary-1", Urgency::Ordinary),
            ("ordinary-2", Urgency::Ordinary),
            ("urgent-1", Urgency::Urgent),
            ("urgent-2", Urgency::Urgent),
        ] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let turn = gate.acquire(urgency, LONG).await.unwrap();
                order.lock().unwrap().push(name);
                tokio::task::yield_now().await;
                drop(turn);
            }));
            // Queue them in this order.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody writes while the turn is held"
        );
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["urgent-1", "urgent-2", "ordinary-1", "ordinary-2"]
        );
    }

    #[tokio::test]
    async fn a_writer_that_gives_up_does_not_keep_the_gate_shut() {
        let gate = WriteGate::default();
        let held = gate.acquire(Urgency::Ordinary, LONG).await.unwrap();
        let e = gate
            .acquire(Urgency::Urgent, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(e.contains("write lock"), "{e}");
        // A waiter cancelled while queued.
        let g = gate.clone();
        let cancelled = tokio::spawn(async move { g.acquire(Urgency::Urgent, LONG).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        cancelled.abort();
        let _ = cancelled.await;
        drop(held);
        let again = tokio::time::timeout(
            Duration::from_secs(1),
            gate.acquire(Urgency::Ordinary, LONG),
        )
        .await
        .expect("the gate opened again")
        .unwrap();
        drop(again);
    }

    #[test]
    fn a_turn_handed_to_a_dropped_waiter_goes_on() {
        let gate = WriteGate::default();
        gate.lock().held = true;
        let (tx, rx) = oneshot::channel();
        gate.lock().urgent.push_back(tx);
        // Handed over (held stays true) ...
        gate.release();
        assert!(gate.lock().held);
        // ... and the waiter is dropped before it looked: the gate must open.
        drop(Waiting {
            rx: Some(rx),
            gate: &gate,
        });
        assert!(!gate.lock().held);
    }
}
