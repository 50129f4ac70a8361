//! Handing memory freed by a finished phase back to the operating system.
//!
//! Reading a large manifest builds temporaries on several threads (the parallel parse), and
//! glibc's allocator keeps what they freed in those threads' arenas, where the threads of the
//! run that follows do not reuse it. `malloc_trim` returns the free pages of every arena at
//! once (docs/performance.md, "The end of a run"). From then on, for the run, the allocator
//! also gives back the free top of a heap once it passes [`TRIM_THRESHOLD`], instead of a
//! threshold that grows with the largest block freed so far (up to 64 MiB): freeing the
//! planner's large tables would otherwise leave tens of megabytes resident for the whole run.
//! Elsewhere this is not needed or not available, and it does nothing.

/// The free top of a heap, in bytes, that the allocator returns to the system during a run.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 128 * 1024;

/// Returns memory freed so far to the operating system, where the allocator keeps it, and
/// keeps returning it as it is freed from now on.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one of the allocator's tunables and malloc_trim only walks its own
    // free lists; no pointer of ours is involved.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::malloc_trim(0);
    }
}
