//! Connections: the first scan, pattern and memory changes from the engine,
//! patchbay subscriptions heard on the announce port, and their log lines.

use std::sync::atomic::Ordering;

use alsa::seq::{Connect, Seq};

use super::Midi;
use crate::backend::alsa_seq::connect::{AutoConnector, Changes};
use crate::backend::shared::state::Shared;
use crate::backend::shared::sync::lock;
use crate::engine::{LogLevel, News};

impl Midi {
    /// Connects what the patterns (and remembered connections) ask for now.
    pub(super) fn initial_scan(&mut self) {
        let ch = self.connector.scan(&self.seq);
        log_changes(&self.news, &ch);
        self.publish_connected();
    }

    /// Publishes how many ports we connected.
    pub(super) fn publish_connected(&self) {
        self.news
            .counters
            .auto_connected
            .store(self.connector.connected() as u64, Ordering::Relaxed);
    }

    /// Applies new patterns or remembered connections from the engine.
    pub(super) fn apply_pending_patterns(&mut self) {
        if let Some(p) = lock(&self.shared.pending_patterns).take() {
            let ch = self.connector.set_patterns(&self.seq, p);
            log_changes(&self.news, &ch);
        }
        if self.shared.remembered_pending.swap(false, Ordering::AcqRel) {
            let r = lock(&self.shared.remembered).clone();
            let ch = self.connector.set_remembered(&self.seq, r);
            log_changes(&self.news, &ch);
        }
        self.publish_connected();
    }

    /// The announce subscription failed: no hot-plug, no patchbay memory.
    /// Logged once per engine.
    pub(super) fn hotplug_off(&self, why: &str) {
        if !self
            .shared
            .hotplug_failure_logged
            .swap(true, Ordering::Relaxed)
        {
            self.news.log(
                LogLevel::Warning,
                format!(
                    "subscribing to the system announce port failed ({why}): devices plugged in \
                     later are not connected automatically, held notes are not released when a \
                     device goes, and patchbay connections are not remembered; MIDI input works"
                ),
            );
        }
    }
}

/// A subscription was made or removed somewhere (announce): the connector
/// decides whether it is a patchbay connection of ours to remember or
/// forget; the engine's copy of the memory follows.
pub(super) fn follow_patchbay(
    seq: &Seq,
    shared: &Shared,
    news: &News,
    connector: &mut AutoConnector,
    conn: Connect,
    subscribed: bool,
) {
    let ch = if subscribed {
        connector.subscribed(seq, conn)
    } else {
        connector.unsubscribed(seq, conn)
    };
    if ch.memory_changed() {
        let mut mem = lock(&shared.remembered);
        // A memory given by the engine meanwhile wins (applied at the wake-up).
        if !shared.remembered_pending.load(Ordering::Acquire) {
            *mem = connector.remembered().clone();
        }
    }
    log_changes(news, &ch);
}

/// Log lines for what a connector action did.
pub(super) fn log_changes(news: &News, ch: &Changes) {
    let lines = [
        (LogLevel::Info, "auto-connected", &ch.connected),
        (LogLevel::Info, "auto-disconnected", &ch.disconnected),
        (LogLevel::Warning, "auto-connect failed:", &ch.failed),
        (
            LogLevel::Info,
            "remembered patchbay connection",
            &ch.remembered,
        ),
        (LogLevel::Info, "forgot patchbay connection", &ch.forgotten),
    ];
    for (level, what, items) in lines {
        for c in items {
            news.log(level, format!("{what} {c}"));
        }
    }
}
