//! The clock map: CLOCK_MONOTONIC to the plugin's sample timeline.
