//! Auto-connection by name: PhasorSync subscribes its `MIDI in` to every
//! source port whose name matches an input pattern, and its `MIDI out` to
//! every destination port matching an output pattern, now and whenever such a
//! port appears. Connections made from a patchbay while the engine runs are
//! remembered as exact patterns, so they come back on the next start.
//!
//! # Patterns
//! A pattern list is a set of patterns separated by commas or newlines; blank
//! entries and lines starting with `#` are ignored. Matching is
//! case-insensitive, against the client name, the port name, and
//! `"client:port"`.
//! - `launchkey`: no wildcard, matches when it appears anywhere in one of
//!   those names (so it matches `Launchkey Mini MK3:Launchkey Mini MK3 MIDI 1`);
//! - `key*`, `virmidi ?-0`: with `*` (any run) or `?` (one character), must
//!   match one of those names whole;
//! - `=Midi Through:Midi Through Port-0`: `=` first, must equal one of those
//!   names exactly, wildcard characters included. An entry that starts with
//!   `=` (after its prefix) takes the rest of its line, commas included.
//!
//! A pattern is for the input (sources connected to `MIDI in`) unless it
//! starts with `out:` (destinations our `MIDI out` is connected to); `in:`
//! may be written for clarity. Example:
//! ```text
//! launchkey, in:=Midi Through:Midi Through Port-0
//! out:=FLUID Synth (1234):Synth input port (1234:0)
//! ```
//!
//! # Where patterns come from
//! The union of: the plugin state ([`crate::backend::alsa_seq::AlsaEngine::set_connect_patterns`]),
//! the environment variable `ENV_VAR`, the file `config_file_path`
//! (`$XDG_CONFIG_HOME/phasorsync/connect`, else `~/.config/phasorsync/connect`),
//! and the remembered patchbay connections
//! ([`crate::backend::alsa_seq::AlsaEngine::remembered_connections`]).
//!
//! # What is connected
//! Sources must be readable by subscription (`READ|SUBS_READ`), destinations
//! writable (`WRITE|SUBS_WRITE`); never `NO_EXPORT` ports, PhasorSync's own
//! client or the system client. Connections made here are PhasorSync's: when
//! the patterns change, those that no longer match are removed. A device that
//! goes away takes its connections with it (the kernel removes them); they
//! are made again when it comes back.
//!
//! # Patchbay connections
//! The kernel announces every subscription on the system announce port. One
//! to our `MIDI in` or from our `MIDI out` that PhasorSync did not make is the
//! user's: it is remembered as `=client:port` (`out:=client:port`) of the
//! other end, by name because client numbers change from one session to the
//! next. One the user removes is forgotten. The remembered list is plain
//! pattern text, saved with the plugin state and given back on load.

use std::collections::HashSet;
use std::path::PathBuf;

use alsa::seq::{Addr, ClientIter, Connect, PortCap, PortIter, PortSubscribe, Seq};

use crate::backend::raw_midi::patterns::split_raw;

/// Environment variable holding a pattern list.
pub(crate) const ENV_VAR: &str = "PHASORSYNC_CONNECT";

/// Which of our ports a pattern is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Sources connected to our `MIDI in` (the default).
    In,
    /// Destinations our `MIDI out` is connected to (`out:`).
    Out,
}

/// One pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Which of our ports it connects.
    pub side: Side,
    /// `=`: the whole name, no wildcards.
    pub exact: bool,
    /// As written (without prefix and `=`).
    pub text: String,
    lower: String,
}

impl Pattern {
    /// A pattern for `side`.
    pub fn new(side: Side, exact: bool, text: &str) -> Self {
        Self {
            side,
            exact,
            text: text.to_string(),
            lower: text.to_lowercase(),
        }
    }

    /// Parses one entry: `[in:|out:][=]text`. `None` when empty.
    fn parse(entry: &str) -> Option<Self> {
        let (side, rest) = split_side(entry.trim());
        let rest = rest.trim_start();
        let (exact, text) = match rest.strip_prefix('=') {
            Some(t) => (true, t.trim()),
            None => (false, rest.trim()),
        };
        (!text.is_empty()).then(|| Self::new(side, exact, text))
    }

    /// Does it match one of the (lower-cased) names?
    fn matches(&self, names: &[&str]) -> bool {
        let pat = self.lower.as_str();
        if self.exact {
            names.contains(&pat)
        } else if pat.contains(['*', '?']) {
            names.iter().any(|n| glob(pat.as_bytes(), n.as_bytes()))
        } else {
            names.iter().any(|n| n.contains(pat))
        }
    }

    /// The entry as it is written in a list.
    pub fn to_text(&self) -> String {
        let side = match self.side {
            Side::In => "",
            Side::Out => "out:",
        };
        let eq = if self.exact { "=" } else { "" };
        format!("{side}{eq}{}", self.text)
    }
}

/// `out:`/`in:` prefix (any case) and the rest.
fn split_side(s: &str) -> (Side, &str) {
    let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
    if lower(4).as_deref() == Some("out:") {
        (Side::Out, &s[4..])
    } else if lower(3).as_deref() == Some("in:") {
        (Side::In, &s[3..])
    } else {
        (Side::In, s)
    }
}

/// A parsed pattern list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patterns(Vec<Pattern>);

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
            // `raw:` entries are the raw MIDI backend's.
            let line = split_raw(line).0.trim().trim_end_matches(',');
            if line.starts_with('#') {
                continue;
            }
            if split_side(line).1.trim_start().starts_with('=') {
                self.push_entry(line);
            } else {
                for entry in line.split(',') {
                    self.push_entry(entry);
                }
            }
        }
    }

    fn push_entry(&mut self, entry: &str) {
        if let Some(p) = Pattern::parse(entry) {
            self.push(p);
        }
    }

    /// Adds one pattern unless an equal one (ignoring case) is there; true if added.
    pub fn push(&mut self, p: Pattern) -> bool {
        let dup = self
            .0
            .iter()
            .any(|q| q.side == p.side && q.exact == p.exact && q.lower == p.lower);
        if !dup {
            self.0.push(p);
        }
        !dup
    }

    /// Removes the exact patterns of `side` equal to `name`; true if any was.
    pub fn remove_exact(&mut self, side: Side, name: &str) -> bool {
        let name = name.to_lowercase();
        let n = self.0.len();
        self.0
            .retain(|p| !(p.side == side && p.exact && p.lower == name));
        self.0.len() != n
    }

    /// All patterns of both lists.
    pub fn union(&self, other: &Patterns) -> Patterns {
        let mut u = self.clone();
        for p in &other.0 {
            u.push(p.clone());
        }
        u
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many patterns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The patterns.
    pub fn as_slice(&self) -> &[Pattern] {
        &self.0
    }

    /// Any pattern for `side`?
    pub fn has(&self, side: Side) -> bool {
        self.0.iter().any(|p| p.side == side)
    }

    /// Is there an exact (`=`) pattern for `side` naming `name` (any case)?
    pub fn has_exact(&self, side: Side, name: &str) -> bool {
        let name = name.to_lowercase();
        self.0
            .iter()
            .any(|p| p.side == side && p.exact && p.lower == name)
    }

    /// Does a port with these client and port names match a pattern for `side`?
    pub fn matches_side(&self, side: Side, client: &str, port: &str) -> bool {
        let client = client.to_lowercase();
        let port = port.to_lowercase();
        let full = format!("{client}:{port}");
        let names = [client.as_str(), port.as_str(), full.as_str()];
        self.0.iter().any(|p| p.side == side && p.matches(&names))
    }

    /// Does a source with these client and port names match an input pattern?
    pub fn matches(&self, client: &str, port: &str) -> bool {
        self.matches_side(Side::In, client, port)
    }

    /// The list as text, one pattern a line (parses back to the same list).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for p in &self.0 {
            s.push_str(&p.to_text());
            s.push('\n');
        }
        s
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

/// Can a port with these capabilities be connected on `side`: a source
/// readable by subscription for our `MIDI in`, a destination writable by
/// subscription for our `MIDI out`, never a `NO_EXPORT` port.
pub(crate) fn connectable(side: Side, caps: PortCap) -> bool {
    let needs = match side {
        Side::In => PortCap::READ | PortCap::SUBS_READ,
        Side::Out => PortCap::WRITE | PortCap::SUBS_WRITE,
    };
    caps.contains(needs) && !caps.contains(PortCap::NO_EXPORT)
}

/// `$XDG_CONFIG_HOME/phasorsync/connect`, else `$HOME/.config/phasorsync/connect`.
pub(crate) fn config_file_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("phasorsync").join("connect"))
}

/// The patterns from the environment and the config file (either may be absent).
pub fn patterns_from_environment() -> Patterns {
    Patterns::parse(&patterns_from_environment_text())
}

/// The pattern text of the environment, then of the config file (either
/// may be absent), one after the other.
pub fn patterns_from_environment_text() -> String {
    let mut text = std::env::var(ENV_VAR).unwrap_or_default();
    if let Some(file) = config_file_path().and_then(|f| std::fs::read_to_string(f).ok()) {
        text.push('\n');
        text.push_str(&file);
    }
    text
}

/// The thread's side: which ports it connected, how to (dis)connect, and
/// which connections the patchbay made.
#[derive(Debug)]
pub(crate) struct AutoConnector {
    /// The user's patterns.
    patterns: Patterns,
    /// Patchbay connections, as exact patterns.
    remembered: Patterns,
    /// Our `MIDI in` port.
    input: Addr,
    /// Our `MIDI out` port.
    output: Addr,
    /// Sources we connected to `input`.
    sources: HashSet<Addr>,
    /// Destinations we connected `output` to.
    dests: HashSet<Addr>,
}

/// What one [`AutoConnector`] action did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Ports connected, as "client:port (name)".
    pub connected: Vec<String>,
    /// Ports disconnected.
    pub disconnected: Vec<String>,
    /// Failures, as text.
    pub failed: Vec<String>,
    /// Patchbay connections remembered or forgotten, as pattern text.
    pub remembered: Vec<String>,
    /// Forgotten ones.
    pub forgotten: Vec<String>,
}

impl Changes {
    /// Did the remembered list change?
    pub fn memory_changed(&self) -> bool {
        !self.remembered.is_empty() || !self.forgotten.is_empty()
    }
}

impl AutoConnector {
    /// A connector for our `input` and `output` ports.
    pub fn new(patterns: Patterns, remembered: Patterns, input: Addr, output: Addr) -> Self {
        Self {
            patterns,
            remembered,
            input,
            output,
            sources: HashSet::new(),
            dests: HashSet::new(),
        }
    }

    /// Ports currently connected by us (sources and destinations).
    pub fn connected(&self) -> usize {
        self.sources.len() + self.dests.len()
    }

    /// The remembered patchbay connections.
    pub fn remembered(&self) -> &Patterns {
        &self.remembered
    }

    /// Connects every existing matching port.
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

    /// A port went away (announce PORT_EXIT): forget it. The kernel already
    /// removed its subscriptions (without announcing them, so a remembered
    /// connection stays remembered and comes back with the device).
    pub fn port_exited(&mut self, addr: Addr) {
        self.sources.remove(&addr);
        self.dests.remove(&addr);
    }

    /// A client went away: forget all its ports.
    pub fn client_exited(&mut self, client: i32) {
        self.sources.retain(|a| a.client != client);
        self.dests.retain(|a| a.client != client);
    }

    /// New user patterns: disconnect ours that no longer match, connect new matches.
    pub fn set_patterns(&mut self, seq: &Seq, patterns: Patterns) -> Changes {
        self.patterns = patterns;
        self.reapply(seq)
    }

    /// New remembered connections (given back from a saved state).
    pub fn set_remembered(&mut self, seq: &Seq, remembered: Patterns) -> Changes {
        self.remembered = remembered;
        self.reapply(seq)
    }

    /// A subscription was made (announce PORT_SUBSCRIBED). One touching our
    /// ports that we did not make is the patchbay's: remember it.
    pub fn subscribed(&mut self, seq: &Seq, c: Connect) -> Changes {
        let mut ch = Changes::default();
        let (side, other) = match self.other_end(c) {
            Some(x) => x,
            None => return ch,
        };
        let ours = match side {
            Side::In => self.sources.contains(&other),
            Side::Out => self.dests.contains(&other),
        };
        if ours {
            return ch;
        }
        if let Some((cn, pn)) = names(seq, other) {
            let p = Pattern::new(side, true, &format!("{cn}:{pn}"));
            let text = p.to_text();
            if self.remembered.push(p) {
                ch.remembered.push(text);
            }
        }
        ch
    }

    /// A subscription was removed (announce PORT_UNSUBSCRIBED: a patchbay, or
    /// us). One touching our ports is forgotten and no longer ours.
    pub fn unsubscribed(&mut self, seq: &Seq, c: Connect) -> Changes {
        let mut ch = Changes::default();
        let Some((side, other)) = self.other_end(c) else {
            return ch;
        };
        match side {
            Side::In => self.sources.remove(&other),
            Side::Out => self.dests.remove(&other),
        };
        if let Some((cn, pn)) = names(seq, other) {
            let name = format!("{cn}:{pn}");
            if self.remembered.remove_exact(side, &name) {
                ch.forgotten.push(Pattern::new(side, true, &name).to_text());
            }
        }
        ch
    }

    /// Which of our ports a subscription touches, and its other end.
    fn other_end(&self, c: Connect) -> Option<(Side, Addr)> {
        if c.dest == self.input && c.sender.client != self.input.client {
            Some((Side::In, c.sender))
        } else if c.sender == self.output && c.dest.client != self.output.client {
            Some((Side::Out, c.dest))
        } else {
            None
        }
    }

    fn wanted(&self, side: Side, client: &str, port: &str) -> bool {
        self.patterns.matches_side(side, client, port)
            || self.remembered.matches_side(side, client, port)
    }

    /// Disconnect ours that no longer match, connect new matches.
    fn reapply(&mut self, seq: &Seq) -> Changes {
        let mut ch = Changes::default();
        for side in [Side::In, Side::Out] {
            let ours: Vec<Addr> = match side {
                Side::In => self.sources.iter().copied().collect(),
                Side::Out => self.dests.iter().copied().collect(),
            };
            for a in ours {
                let keep = names(seq, a).is_some_and(|(c, p)| self.wanted(side, &c, &p));
                if keep {
                    continue;
                }
                let (from, to) = match side {
                    Side::In => {
                        self.sources.remove(&a);
                        (a, self.input)
                    }
                    Side::Out => {
                        self.dests.remove(&a);
                        (self.output, a)
                    }
                };
                match seq.unsubscribe_port(from, to) {
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
        if addr.client == self.input.client || addr.client == 0 {
            return;
        }
        let any = |side| self.patterns.has(side) || self.remembered.has(side);
        if !any(Side::In) && !any(Side::Out) {
            return;
        }
        let Ok(info) = seq.get_any_port_info(addr) else {
            return;
        };
        let caps = info.get_capability();
        if caps.contains(PortCap::NO_EXPORT) {
            return;
        }
        let Some((cname, pname)) = names(seq, addr) else {
            return;
        };
        if connectable(Side::In, caps)
            && !self.sources.contains(&addr)
            && self.wanted(Side::In, &cname, &pname)
        {
            self.connect(seq, Side::In, addr, &cname, &pname, ch);
        }
        if connectable(Side::Out, caps)
            && !self.dests.contains(&addr)
            && self.wanted(Side::Out, &cname, &pname)
        {
            self.connect(seq, Side::Out, addr, &cname, &pname, ch);
        }
    }

    fn connect(
        &mut self,
        seq: &Seq,
        side: Side,
        addr: Addr,
        cname: &str,
        pname: &str,
        ch: &mut Changes,
    ) {
        let arrow = match side {
            Side::In => "from",
            Side::Out => "to",
        };
        let label = format!("{arrow} {}:{} ({cname}:{pname})", addr.client, addr.port);
        let sub = match PortSubscribe::empty() {
            Ok(s) => s,
            Err(e) => {
                ch.failed.push(format!("connecting {label}: {e}"));
                return;
            }
        };
        let (from, to) = match side {
            Side::In => (addr, self.input),
            Side::Out => (self.output, addr),
        };
        sub.set_sender(from);
        sub.set_dest(to);
        // Recorded first: the kernel's announcement of this subscription
        // must find it ours, not the patchbay's.
        let set = match side {
            Side::In => &mut self.sources,
            Side::Out => &mut self.dests,
        };
        set.insert(addr);
        match seq.subscribe_port(&sub) {
            Ok(()) => ch.connected.push(label),
            // Already connected (e.g. by the user): fine, but it is not ours.
            Err(e) if e.errno() == libc::EBUSY => {
                set.remove(&addr);
            }
            Err(e) => {
                set.remove(&addr);
                ch.failed.push(format!("connecting {label}: {e}"));
            }
        }
    }
}

/// Client and port names of a port.
pub(crate) fn names(seq: &Seq, addr: Addr) -> Option<(String, String)> {
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
        assert_eq!(p.len(), 3);
        assert!(p.matches("Launchkey Mini MK3", "Launchkey Mini MK3 MIDI 1"));
        assert!(p.matches("Midi Through", "Midi Through Port-0"));
        assert!(p.matches("Virtual Raw MIDI 0-0", "VirMIDI 0-0"));
        assert!(!p.matches("Virtual Raw MIDI 0-1", "VirMIDI 0-12"));
        assert!(!p.matches("Keystation", "Port 1"));
    }

    #[test]
    fn raw_entries_are_left_to_the_raw_backend() {
        // `raw:hw:1,0` split at its comma would leave `0`, a substring
        // that matches many port names.
        let p = Patterns::parse("launchkey, raw:hw:1,0\nRAW:VirMIDI\n*through*");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(!p.matches("Virtual Raw MIDI 0-0", "VirMIDI 0-0"));
        assert!(p.matches("Launchkey", "x"));
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

    #[test]
    fn sides_and_exact_names() {
        let p = Patterns::parse(
            "keys, OUT:synth*\nin:=Midi Through:Midi Through Port-0\nout:=Odd, Name*:port 1",
        );
        assert_eq!(p.len(), 4);
        assert!(p.matches_side(Side::In, "Keys", "x"));
        assert!(!p.matches_side(Side::Out, "Keys", "x"));
        assert!(p.matches_side(Side::Out, "Synth", "in"));
        assert!(!p.matches_side(Side::In, "Synth", "in"));
        // Exact: whole name only, no substring.
        assert!(p.matches_side(Side::In, "Midi Through", "Midi Through Port-0"));
        assert!(!p.matches_side(Side::In, "My Midi Through", "Midi Through Port-0"));
        // Commas and wildcards of an exact name are plain characters.
        assert!(p.matches_side(Side::Out, "Odd, Name*", "Port 1"));
        assert!(!p.matches_side(Side::Out, "Odd, Namexx", "Port 1"));
    }

    #[test]
    fn text_round_trips() {
        let mut p = Patterns::default();
        p.push(Pattern::new(
            Side::In,
            true,
            "Midi Through:Midi Through Port-0",
        ));
        p.push(Pattern::new(Side::Out, true, "A, b:c*"));
        p.push(Pattern::new(Side::In, false, "launch*"));
        assert!(!p.push(Pattern::new(
            Side::In,
            true,
            "MIDI THROUGH:midi through port-0"
        )));
        let text = p.to_text();
        assert_eq!(
            text,
            "=Midi Through:Midi Through Port-0\nout:=A, b:c*\nlaunch*\n"
        );
        assert_eq!(Patterns::parse(&text), p);
        assert!(p.remove_exact(Side::Out, "a, B:C*"));
        assert!(!p.remove_exact(Side::Out, "a, B:C*"));
        assert_eq!(p.len(), 2);
    }
}
