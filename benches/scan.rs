//! How long a host's plugin scan of the bundle takes: a fresh process loads
//! `PhasorSync.clap` (dlopen, `clap_entry.init`), reads the factory and the
//! descriptor, and exits, against the same process exiting without loading
//! anything. The difference is the scan; hosts want it well under 100 ms.
//!
//! `cargo bench --bench scan` (needs the bundle: `cargo xtask bundle phasorsync --release`).

#[path = "../tests/support/clap_host/mod.rs"]
mod clap_host;

use clack_host::factory::plugin::PluginFactory;
use criterion::Criterion;
use std::process::Command;

/// Set in the child: what to do instead of benchmarking.
const CHILD: &str = "PHASORSYNC_SCAN_CHILD";

fn child(mode: &str) {
    if mode == "scan" {
        let entry = clap_host::load_entry();
        let factory = entry.get_factory::<PluginFactory>().expect("factory");
        let d = factory.plugin_descriptor(0).expect("descriptor");
        assert_eq!(d.name(), Some(c"PhasorSync"));
    }
}

fn spawn(mode: &str) {
    let status = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, mode)
        .status()
        .expect("spawning the child");
    assert!(status.success(), "the {mode} child failed");
}

fn main() {
    if let Ok(mode) = std::env::var(CHILD) {
        child(&mode);
        return;
    }
    // Fail early, with the command to run, if the bundle is missing.
    clap_host::bundle_path();
    let mut c = Criterion::default().configure_from_args().sample_size(30);
    let mut group = c.benchmark_group("scan_in_a_fresh_process");
    group.bench_function("exit_only", |b| b.iter(|| spawn("none")));
    group.bench_function("load_factory_descriptor", |b| b.iter(|| spawn("scan")));
    group.finish();
    c.final_summary();
}
