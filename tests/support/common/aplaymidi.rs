//! `aplaymidi`: playing a Standard MIDI File (see [`super::smf`]) to a port
//! on the sequencer's own schedule.

use std::path::Path;
use std::time::Duration;

use super::tool::run_ok_within;

/// `aplaymidi -p PORT FILE` to completion (within `timeout`); panics on failure.
pub fn aplaymidi(port: &str, file: &Path, timeout: Duration) {
    let file = file.to_str().expect("utf-8 path");
    run_ok_within("aplaymidi", &["-p", port, file], timeout);
}
