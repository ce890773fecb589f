//! `aconnect`: listing the sequencer's clients and ports, connecting and
//! disconnecting them, as a patchbay does.

use alsa::seq::Addr;

use super::tool::run_ok;

/// One port in `aconnect -l`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPort {
    /// Port number.
    pub id: u32,
    /// Port name, trailing padding removed.
    pub name: String,
    /// Addresses this port sends to ("Connecting To").
    pub connecting_to: Vec<String>,
    /// Addresses this port receives from ("Connected From").
    pub connected_from: Vec<String>,
}

/// One client in `aconnect -l` (what the kernel lists, not a client of ours).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedClient {
    /// Client number.
    pub id: u32,
    /// Client name.
    pub name: String,
    /// The bracketed attributes, e.g. `type=kernel,card=0` or `type=user,pid=42`.
    pub attrs: String,
    /// Its ports.
    pub ports: Vec<ListedPort>,
}

impl ListedClient {
    /// True for kernel clients (`type=kernel`).
    pub fn is_kernel(&self) -> bool {
        self.attrs.split(',').any(|a| a == "type=kernel")
    }
}

/// The text of `aconnect -l`.
pub fn aconnect_list() -> String {
    run_ok("aconnect", &["-l"])
}

/// Does `aconnect -l` show a client with this number and name?
pub fn client_listed(client: i32, name: &str) -> bool {
    aconnect_list()
        .lines()
        .any(|l| l.starts_with(&format!("client {client}: '{name}'")))
}

/// Every sequencer client and port, from `aconnect -l`.
pub fn seq_clients() -> Vec<ListedClient> {
    parse_aconnect_list(&aconnect_list())
}

/// Parse the text of `aconnect -l`.
pub fn parse_aconnect_list(text: &str) -> Vec<ListedClient> {
    let addrs = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|a| a.trim().split('[').next().unwrap_or("").to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };
    let mut clients: Vec<ListedClient> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("client ") {
            let Some((id, rest)) = rest.split_once(": '") else {
                continue;
            };
            let Some((name, rest)) = rest.rsplit_once('\'') else {
                continue;
            };
            let attrs = rest.trim().trim_start_matches('[').trim_end_matches(']');
            if let Ok(id) = id.parse() {
                clients.push(ListedClient {
                    id,
                    name: name.to_string(),
                    attrs: attrs.to_string(),
                    ports: Vec::new(),
                });
            }
            continue;
        }
        let Some(client) = clients.last_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(a) = t.strip_prefix("Connecting To:") {
            if let Some(p) = client.ports.last_mut() {
                p.connecting_to.extend(addrs(a));
            }
        } else if let Some(a) = t.strip_prefix("Connected From:") {
            if let Some(p) = client.ports.last_mut() {
                p.connected_from.extend(addrs(a));
            }
        } else if let Some((id, name)) = t.split_once(" '") {
            if let Ok(id) = id.parse() {
                client.ports.push(ListedPort {
                    id,
                    name: name.trim_end_matches('\'').trim_end().to_string(),
                    connecting_to: Vec::new(),
                    connected_from: Vec::new(),
                });
            }
        }
    }
    clients
}

/// `aconnect SENDER DEST` (addresses like `16:0`).
pub fn aconnect(sender: &str, dest: &str) {
    run_ok("aconnect", &[sender, dest]);
}

/// `aconnect -d SENDER DEST`.
pub fn aconnect_disconnect(sender: &str, dest: &str) {
    run_ok("aconnect", &["-d", sender, dest]);
}

/// `aconnect SENDER DEST` for two sequencer addresses.
pub fn aconnect_addr(from: Addr, to: Addr) {
    aconnect(
        &format!("{}:{}", from.client, from.port),
        &format!("{}:{}", to.client, to.port),
    );
}
