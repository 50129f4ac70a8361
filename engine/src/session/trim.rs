//! Handing memory freed by a finished phase back to the operating system.
//!
//! Reading a large manifest builds temporaries on several threads (the parallel parse), and
//! glibc's allocator keeps what they freed in those threads' arenas, where the run that follows
//! (on other threads) cannot reuse it: a run's peak memory was the parse's peak plus its own.
//! `malloc_trim` returns the free pages of every arena at once. Elsewhere it is not needed or
//! not available, and this does nothing.

/// Returns memory freed so far to the operating system, where the allocator keeps it.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointer of ours is
    // involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
