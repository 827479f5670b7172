//! Memory allocation for the `ordergate` binary (and the benchmark suite).
//!
//! The binaries use mimalloc as their global allocator: a normalize run allocates and frees many
//! small values, and mimalloc's per-thread free lists make that markedly cheaper than glibc
//! malloc (measured by the N1/N2/P1 benchmarks). Each binary declares it itself:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
//! ```
//!
//! and calls [`tune`] first thing in `main`.

/// Process-wide memory settings, called once at start.
///
/// Transparent huge pages are turned off for this process: mimalloc asks the kernel for huge
/// pages on its arenas where the system allows it (`madvise` mode), and a 2 MiB page per
/// thread-local heap multiplies resident memory for a daemon whose working set is a few MiB.
/// Failure (an old kernel, a seccomp filter) only costs memory, so it is ignored.
pub fn tune() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Size from which a document is large enough that the memory it took is handed back to the
/// system as soon as it is processed (see [`release`]).
pub const LARGE_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Returns the memory freed so far to the system now, rather than after mimalloc's purge
/// delay, which only runs when the thread allocates again: a daemon idle after one large
/// document otherwise stays at its peak. Costs a walk of mimalloc's arenas, so it is called
/// after large pieces of work only. Where mimalloc is not the global allocator (tests) it
/// finds nothing to return.
pub fn release() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
