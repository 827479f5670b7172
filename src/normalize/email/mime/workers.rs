//! The threads MIME parsing runs on: a large stack (mail-parser recurses into attached
//! messages), a deadline the caller waits no longer than, and a panic that fails only its own
//! message. Threads are kept and reused: starting a thread with a 16 MiB stack for every message
//! cost more than parsing it.
//!
//! A job is handed to an idle thread if there is one, else to a new thread. A job that runs past
//! its deadline keeps its thread busy until it ends (the caller has already given up on it);
//! the thread is then reused or, when enough are idle, ends. So a stream of hostile messages
//! costs at most one thread per message still being parsed, never more.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

/// Stack of each parser thread.
const STACK_BYTES: usize = 16 * 1024 * 1024;

/// Most idle threads kept for reuse; more end when their job is done.
const MAX_IDLE: usize = 4;

/// Name of the threads (as seen in `/proc/<pid>/task/*/comm` and in panic messages).
pub const THREAD_NAME: &str = "mime-parse";

type Job = Box<dyn FnOnce() + Send>;

/// The inboxes of the idle threads.
static IDLE: Mutex<Vec<mpsc::Sender<Job>>> = Mutex::new(Vec::new());

/// Why a job gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It ran past its deadline; it may still be running.
    Timeout,
    /// It panicked.
    Panicked,
    /// No thread could be started for it.
    NoThread(String),
}

/// Runs `work` on a parser thread and waits at most `timeout` for its result.
pub fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
    timeout: Duration,
) -> Result<T, Failure> {
    let (tx, rx) = mpsc::sync_channel(1);
    let mut job: Job = Box::new(move || {
        // `None` tells the caller it panicked; a caller that gave up is not there to hear.
        let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(work)).ok());
    });
    loop {
        let idle = IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(inbox) => match inbox.send(job) {
                Ok(()) => break,
                // That thread is gone; try the next.
                Err(mpsc::SendError(back)) => job = back,
            },
            None => {
                start(job).map_err(|e| Failure::NoThread(e.to_string()))?;
                break;
            }
        }
    }
    match rx.recv_timeout(timeout) {
        Ok(Some(out)) => Ok(out),
        Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::Panicked),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::Timeout),
    }
}

/// Starts a thread that runs `first`, then serves jobs while it is needed.
fn start(first: Job) -> std::io::Result<()> {
    let (inbox, jobs) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let mut next = Some(first);
            while let Some(job) = next.take() {
                job();
                {
                    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
                    if idle.len() >= MAX_IDLE {
                        return;
                    }
                    idle.push(inbox.clone());
                }
                next = jobs.recv().ok();
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn threads_are_reused() {
        let ids: HashSet<_> = (0..40)
            .map(|_| run(|| std::thread::current().id(), Duration::from_secs(5)).unwrap())
            .collect();
        // Other tests may hold a thread for a moment; a thread per job would give 40.
        assert!(
            ids.len() <= MAX_IDLE + 4,
            "{} threads for 40 jobs",
            ids.len()
        );
        assert!(!ids.contains(&std::thread::current().id()));
    }

    #[test]
    fn runs_on_a_large_stack() {
        fn depth(n: u32) -> u32 {
            let pad = std::hint::black_box([0u8; 1024]);
            if n == 0 {
                u32::from(pad[0])
            } else {
                depth(n - 1) + 1
            }
        }
        // ~8 MiB of frames: more than a default 2 MiB thread stack holds.
        assert_eq!(run(|| depth(8_000), Duration::from_secs(5)), Ok(8_000));
    }

    #[test]
    fn a_slow_job_times_out_and_a_panic_fails_only_its_job() {
        let slow = run(
            || std::thread::sleep(Duration::from_millis(500)),
            Duration::from_millis(20),
        );
        assert_eq!(slow, Err(Failure::Timeout));
        let panicked = run(|| -> u8 { panic!("hostile input") }, Duration::from_secs(5));
        assert_eq!(panicked, Err(Failure::Panicked));
        assert_eq!(run(|| 7, Duration::from_secs(5)), Ok(7));
    }
}
