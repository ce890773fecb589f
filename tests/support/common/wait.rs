//! Waiting for something the kernel or a thread delivers, with a deadline.

use std::time::{Duration, Instant};

/// Default limit for waiting on something the kernel delivers. Generous:
/// under the VM's software emulation a busy host slows everything down.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Poll `f` every 2 ms until it holds; false if `timeout` passed first.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
