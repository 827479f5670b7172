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
