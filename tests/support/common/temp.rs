//! Unique temp file names for the files handed to external tools.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A unique path in the temp directory (the file is not created).
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("phasorsync-test-{}-{n}-{name}", std::process::id()))
}
