//! Mutex locking that survives a poisoned mutex.
//!
//! Every mutex here guards plain data (log lines, pattern lists) that stays
//! consistent even if a holder panicked half way (the worst case is one line
//! or one pattern change lost), and the thread catches its own panics: so a
//! poisoned lock is taken over rather than propagated.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, taking over a poisoned lock.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
