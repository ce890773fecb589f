//! Auto-connection: PhasorSync subscribes its input port to every source port
//! whose name matches a user pattern, now and whenever such a port appears.
//!
//! # Patterns
//! A pattern list is a set of patterns separated by commas or newlines; blank
//! entries and lines starting with `#` are ignored. Matching is
//! case-insensitive, against the client name, the port name, and
//! `"client:port"`. A pattern with `*` (any run of characters) or `?` (one
//! character) must match one of those names whole; a pattern without them
//! matches when it appears anywhere in one of them (so `launchkey` matches
//! `Launchkey Mini MK3:Launchkey Mini MK3 MIDI 1`).
//!
//! # Where patterns come from
//! The union of: the plugin state ([`crate::backend::alsa_seq::AlsaEngine::set_connect_patterns`]),
//! the environment variable [`ENV_VAR`], and the file [`config_file_path`]
//! (`$XDG_CONFIG_HOME/phasorsync/connect`, else `~/.config/phasorsync/connect`).
//!
//! # What is connected
//! Only ports that can be read by subscription (`READ|SUBS_READ`, not
//! `NO_EXPORT`), never PhasorSync's own ports and never the system client.
//! Connections made here are remembered; when the patterns change, those that
//! no longer match are removed. Connections made by the user with a patchbay
//! are never touched. A device that goes away takes its connection with it (the
//! kernel removes the subscription); nothing else changes, and the port is
//! connected again if it comes back.

use std::collections::HashSet;
use std::path::PathBuf;

use alsa::seq::{Addr, ClientIter, PortCap, PortIter, PortSubscribe, Seq};

/// Environment variable holding a pattern list.
pub const ENV_VAR: &str = "PHASORSYNC_CONNECT";

/// A parsed pattern list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patterns(Vec<String>);

impl Patterns {
    /// Parses a list (see the module docs for the syntax).
    pub fn parse(text: &str) -> Self {
        let mut p = Self::default();
        p.extend_from(text);
        p
    }

    /// Adds the patterns of another list.
    pub fn extend_from(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            for pat in line.split(',') {
                let pat = pat.trim();
                if !pat.is_empty() && !self.0.iter().any(|p| p == &pat.to_lowercase()) {
                    self.0.push(pat.to_lowercase());
                }
            }
        }
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The patterns, lower-cased.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Does a port with these client and port names match?
    pub fn matches(&self, client: &str, port: &str) -> bool {
        let client = client.to_lowercase();
        let port = port.to_lowercase();
        let full = format!("{client}:{port}");
        self.0.iter().any(|pat| {
            let names = [client.as_str(), port.as_str(), full.as_str()];
            if pat.contains(['*', '?']) {
                names.iter().any(|n| glob(pat.as_bytes(), n.as_bytes()))
            } else {
                names.iter().any(|n| n.contains(pat.as_str()))
            }
        })
    }
}

/// Whole-string glob with `*` and `?` (iterative, no allocation, linear-ish).
fn glob(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// `$XDG_CONFIG_HOME/phasorsync/connect`, else `$HOME/.config/phasorsync/connect`.
pub fn config_file_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("phasorsync").join("connect"))
}

/// The patterns from the environment and the config file (either may be absent).
pub fn patterns_from_environment() -> Patterns {
    let mut p = Patterns::default();
    if let Ok(v) = std::env::var(ENV_VAR) {
        p.extend_from(&v);
    }
    if let Some(text) = config_file_path().and_then(|f| std::fs::read_to_string(f).ok()) {
        p.extend_from(&text);
    }
    p
}

/// The thread's side: which sources it connected, and how to (dis)connect.
#[derive(Debug)]
pub struct AutoConnector {
    patterns: Patterns,
    /// Our input port.
    dest: Addr,
    connected: HashSet<Addr>,
}

/// What one [`AutoConnector`] action did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Sources connected, as "client:port (name)".
    pub connected: Vec<String>,
    /// Sources disconnected.
    pub disconnected: Vec<String>,
    /// Failures, as text.
    pub failed: Vec<String>,
}

impl AutoConnector {
    /// A connector for our input port `dest`.
    pub fn new(patterns: Patterns, dest: Addr) -> Self {
        Self {
            patterns,
            dest,
            connected: HashSet::new(),
        }
    }

    /// Sources currently connected by us.
    pub fn connected(&self) -> &HashSet<Addr> {
        &self.connected
    }

    /// Connects every existing matching source.
    pub fn scan(&mut self, seq: &Seq) -> Changes {
        let mut ch = Changes::default();
        let clients: Vec<i32> = ClientIter::new(seq).map(|c| c.get_client()).collect();
        for c in clients {
            let ports: Vec<Addr> = PortIter::new(seq, c).map(|p| p.addr()).collect();
            for a in ports {
                self.consider(seq, a, &mut ch);
            }
        }
        ch
    }

    /// A port appeared (announce PORT_START): connect it if it matches.
    pub fn port_started(&mut self, seq: &Seq, addr: Addr) -> Changes {
        let mut ch = Changes::default();
        self.consider(seq, addr, &mut ch);
        ch
    }

    /// A port went away (announce PORT_EXIT / CLIENT_EXIT): forget it. The kernel
    /// already removed the subscription.
    pub fn port_exited(&mut self, addr: Addr) {
        self.connected.remove(&addr);
    }

    /// A client went away: forget all its ports.
    pub fn client_exited(&mut self, client: i32) {
        self.connected.retain(|a| a.client != client);
    }

    /// New patterns: disconnect ours that no longer match, connect new matches.
    pub fn set_patterns(&mut self, seq: &Seq, patterns: Patterns) -> Changes {
        self.patterns = patterns;
        let mut ch = Changes::default();
        let ours: Vec<Addr> = self.connected.iter().copied().collect();
        for a in ours {
            let keep = names(seq, a).is_some_and(|(c, p)| self.patterns.matches(&c, &p));
            if !keep {
                self.connected.remove(&a);
                match seq.unsubscribe_port(a, self.dest) {
                    Ok(()) => ch.disconnected.push(format!("{}:{}", a.client, a.port)),
                    Err(e) => ch
                        .failed
                        .push(format!("disconnecting {}:{}: {e}", a.client, a.port)),
                }
            }
        }
        let more = self.scan(seq);
        ch.connected = more.connected;
        ch.failed.extend(more.failed);
        ch
    }

    fn consider(&mut self, seq: &Seq, addr: Addr, ch: &mut Changes) {
        if self.patterns.is_empty()
            || addr.client == self.dest.client
            || addr.client == 0
            || self.connected.contains(&addr)
        {
            return;
        }
        let Ok(info) = seq.get_any_port_info(addr) else {
            return;
        };
        let caps = info.get_capability();
        if !caps.contains(PortCap::READ | PortCap::SUBS_READ) || caps.contains(PortCap::NO_EXPORT) {
            return;
        }
        let Some((cname, pname)) = names(seq, addr) else {
            return;
        };
        if !self.patterns.matches(&cname, &pname) {
            return;
        }
        let label = format!("{}:{} ({cname}:{pname})", addr.client, addr.port);
        let sub = match PortSubscribe::empty() {
            Ok(s) => s,
            Err(e) => {
                ch.failed.push(format!("connecting {label}: {e}"));
                return;
            }
        };
        sub.set_sender(addr);
        sub.set_dest(self.dest);
        match seq.subscribe_port(&sub) {
            Ok(()) => {
                self.connected.insert(addr);
                ch.connected.push(label);
            }
            // Already connected (e.g. by the user): fine, but it is not ours.
            Err(e) if e.errno() == libc::EBUSY => {}
            Err(e) => ch.failed.push(format!("connecting {label}: {e}")),
        }
    }
}

/// Client and port names of a port.
fn names(seq: &Seq, addr: Addr) -> Option<(String, String)> {
    let port = seq.get_any_port_info(addr).ok()?;
    let client = seq.get_any_client_info(addr.client).ok()?;
    Some((
        client.get_name().ok()?.to_string(),
        port.get_name().ok()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_and_glob() {
        let p = Patterns::parse("launchkey, *through*\n# comment\nvirmidi ?-0");
        assert_eq!(p.as_slice().len(), 3);
        assert!(p.matches("Launchkey Mini MK3", "Launchkey Mini MK3 MIDI 1"));
        assert!(p.matches("Midi Through", "Midi Through Port-0"));
        assert!(p.matches("Virtual Raw MIDI 0-0", "VirMIDI 0-0"));
        assert!(!p.matches("Virtual Raw MIDI 0-1", "VirMIDI 0-12"));
        assert!(!p.matches("Keystation", "Port 1"));
    }

    #[test]
    fn glob_must_match_whole() {
        let p = Patterns::parse("key*");
        assert!(p.matches("Keystation", "x"));
        assert!(!p.matches("My Keystation", "x"));
        assert!(!p.matches("a", "b"));
        let any = Patterns::parse("*");
        assert!(any.matches("", ""));
    }

    #[test]
    fn empty_list_matches_nothing() {
        let p = Patterns::parse(" , \n#x\n");
        assert!(p.is_empty());
        assert!(!p.matches("anything", "at all"));
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b*c", b"axxbyy"));
        assert!(glob(b"??", b"ab"));
        assert!(!glob(b"??", b"abc"));
        assert!(glob(b"**", b""));
    }
}
