//! The scratch directory of one VM run.

use anyhow::{Context, Result};
use std::fs;
use std::path::PathBuf;

/// A scratch directory under `target/vm/` for one VM run (initramfs,
/// status file, scripts), removed on drop unless `PHASORSYNC_VM_KEEP` is set.
/// It lives on this machine's disk so the VM sees it through 9p.
pub struct JobDir {
    /// Absolute path of the directory.
    pub path: PathBuf,
}

impl JobDir {
    /// Create `target/vm/job-<pid>` (per process: several runs may overlap).
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn create() -> Result<Self> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::workspace_root().join("target"));
        let path = target
            .join("vm")
            .join(format!("job-{}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        let path = fs::canonicalize(&path)?;
        Ok(Self { path })
    }
}

impl Drop for JobDir {
    fn drop(&mut self) {
        if std::env::var_os("PHASORSYNC_VM_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
