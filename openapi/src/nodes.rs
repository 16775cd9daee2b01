//! The nodes of the cluster and this node's own settings and network interfaces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cluster::Role;
use crate::domain::{Hostname, NodeId, exact};

/// A node as this node knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Node {
    pub id: NodeId,
    pub hostname: Hostname,
    /// The `pequod` version the node runs.
    pub version: String,
    pub role: Role,
    /// True for the node answering this request.
    pub is_self: bool,
    /// The node's SSH public key in OpenSSH format (`ssh-ed25519 AAAA… pequod@node1`).
    /// "Prepare slave" on the other node needs the master's.
    pub public_key: String,
    /// SHA-256 fingerprint of the certificate the node's API serves, as browsers show
    /// it (`AB:CD:…`, upper-case hex); none over plain HTTP, and for the peer.
    pub tls_fingerprint: Option<String>,
    /// Last heartbeat received from this node; none for the node itself.
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The epoch the node reports (its own for this node).
    pub epoch: u64,
    /// Its addresses on the telephony and the cluster network, once in a cluster.
    pub telephony_ip: Option<String>,
    pub sync_ip: Option<String>,
    /// For the peer: whether its heartbeats arrive on each link.
    pub links: Option<LinkStates>,
    /// Whether the node holds the cluster IP.
    pub holds_vip: bool,
}

/// Whether heartbeats arrive on each of the two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct LinkStates {
    pub telephony: bool,
    pub cluster: bool,
}

/// "Prepare slave": this node will accept the master with this SSH key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PrepareSlave {
    /// The master's public key as `GET /api/v1/nodes/self` on the master shows it.
    #[serde(deserialize_with = "exact::text::<_, exact::Ed25519Key>")]
    #[cfg_attr(feature = "schema", schema(schema_with = master_public_key_schema))]
    pub master_public_key: String,
}

/// Changes to this node. Fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NodePatch {
    /// The new host name; the two nodes of a cluster must have different ones.
    #[serde(default)]
    pub hostname: Option<Hostname>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct InterfaceAddress {
    /// IPv4 or IPv6 address.
    pub address: String,
    pub prefix_len: u8,
}

/// A network interface of this node as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// Link-layer address, e.g. `02:00:00:00:00:01`.
    pub mac: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// Carrier present (cable plugged, peer up).
    pub running: bool,
    pub mtu: Option<u32>,
    pub loopback: bool,
    pub addresses: Vec<InterfaceAddress>,
}

#[cfg(feature = "schema")]
fn master_public_key_schema() -> utoipa::openapi::Object {
    crate::domain::text_schema(ED25519_KEY_PATTERN)
        .description(Some(
            "The master's public key as `GET /api/v1/nodes/self` on the master shows it.",
        ))
        .examples([
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti pequod@node1",
        ])
        .build()
}

/// The schema's pattern of an interface name: exactly what [`check_interface_name`]
/// accepts. Everything but `.`, `..` and 1–15 printable ASCII characters other than
/// `/` and `:` (the kernel's own rule, less what no appliance uses).
pub const INTERFACE_NAME_PATTERN: &str = r"^([\x21-\x2e\x30-\x39\x3b-\x7e]{3,15}|[\x21-\x2d\x30-\x39\x3b-\x7e][\x21-\x2e\x30-\x39\x3b-\x7e]?|\.[\x21-\x2d\x30-\x39\x3b-\x7e])$";

/// The most bytes of an interface name (the kernel's `IFNAMSIZ` less its NUL).
pub const INTERFACE_NAME_MAX_LEN: usize = 15;

/// Whether `name` can name a network interface (whether this node has it is another
/// matter): 1–15 printable ASCII characters, no `/` or `:`, not `.` or `..`.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("choose an interface".into());
    }
    if name.len() > INTERFACE_NAME_MAX_LEN {
        return Err(format!(
            "an interface name has at most {INTERFACE_NAME_MAX_LEN} characters, {name:?} has {}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '/' || *c == ':')
    {
        return Err(format!("an interface name cannot contain {bad:?}"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} cannot name an interface"));
    }
    Ok(())
}

/// The schema's pattern of the master's key: exactly what [`check_ed25519_key`]
/// accepts. The Base64 part is the OpenSSH encoding of `ssh-ed25519` and 32 key bytes,
/// so its first 25 characters are fixed and the 26th holds only 4 free bits.
pub const ED25519_KEY_PATTERN: &str =
    "^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-P][A-Za-z0-9+/]{42}( [ -~]*[!-~])?$";

/// The fixed start of the Base64 data of every ssh-ed25519 public key.
const ED25519_KEY_DATA_START: &str = "AAAAC3NzaC1lZDI1NTE5AAAAI";

/// An OpenSSH ssh-ed25519 public key line exactly as sent: `ssh-ed25519`, one space,
/// the 68 Base64 characters of the key, and optionally a space and a comment of
/// printable ASCII that does not end in a space.
pub fn check_ed25519_key(text: &str) -> Result<(), String> {
    const COPY: &str = "copy it from the master's Cluster Management page";
    let Some(rest) = text.strip_prefix("ssh-ed25519 ") else {
        return Err(match text.split_once(' ') {
            Some((algorithm, _))
                if !algorithm.is_empty() && !algorithm.contains(char::is_whitespace) =>
            {
                format!("must be the master's ssh-ed25519 key, not {algorithm:?}")
            }
            _ => format!("not an OpenSSH public key; {COPY}"),
        });
    };
    let (data, comment) = match rest.split_once(' ') {
        Some((data, comment)) => (data, Some(comment)),
        None => (rest, None),
    };
    let well_formed = data.len() == 68
        && data.starts_with(ED25519_KEY_DATA_START)
        && data[ED25519_KEY_DATA_START.len()..].starts_with(|c: char| ('A'..='P').contains(&c))
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !well_formed {
        return Err(format!(
            "not an OpenSSH public key (the data is not an ssh-ed25519 key's); {COPY}"
        ));
    }
    if let Some(comment) = comment {
        if !comment.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err("the key's comment may hold only printable ASCII characters".into());
        }
        if comment.trim_end_matches(' ').is_empty() || comment.ends_with(' ') {
            return Err(format!("nothing may follow the key but a comment; {COPY}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod pattern_tests {
    use super::*;
    use crate::domain::pattern_tests::{agree, random_texts};

    #[test]
    fn the_interface_name_pattern_is_the_parsers_rule() {
        let table = [
            "eth0",
            "lo",
            "a",
            "br-lan",
            "eth0.100",
            "veth_1@x",
            ".a",
            "a.",
            "...",
            "..a",
            "abcdefghijklmno",
            "",
            ".",
            "..",
            "abcdefghijklmnop",
            "eth/0",
            "eth:0",
            "eth 0",
            " eth0",
            "eth0\n",
            "ethö",
            "\t",
            "~",
            "-",
        ];
        let ok = |t: &str| check_interface_name(t).is_ok();
        agree(INTERFACE_NAME_PATTERN, ok, table);
        let random = random_texts("e0./: \u{7f}-", 17, 50_000);
        agree(
            INTERFACE_NAME_PATTERN,
            ok,
            random.iter().map(String::as_str),
        );
    }

    /// What the backend's parser (ssh-key) takes as the master's key, read exactly.
    fn ssh_key_accepts(text: &str) -> bool {
        text == text.trim()
            && ssh_key::PublicKey::from_openssh(text)
                .is_ok_and(|key| key.algorithm() == ssh_key::Algorithm::Ed25519)
    }

    #[test]
    fn the_ed25519_key_pattern_is_the_parsers_rule() {
        const KEY: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";
        let data = &KEY["ssh-ed25519 ".len()..];
        let mut table: Vec<String> = vec![
            KEY.into(),
            format!("{KEY} pequod@node1"),
            format!("{KEY}  two  spaces"),
            format!("{KEY} ~!"),
            format!("{KEY} "),
            format!("{KEY} x "),
            format!("{KEY}\tx"),
            format!("{KEY} a\nb"),
            format!("{KEY}\n"),
            format!(" {KEY}"),
            format!("{KEY}="),
            format!("{KEY}A"),
            KEY[..KEY.len() - 1].into(),
            format!("ssh-rsa {data}"),
            format!("ssh-ed25519  {data}"),
            data.into(),
            String::new(),
            "ssh-ed25519".into(),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA".into(),
            // The 26th character carries the length's last bits: only A–P keep it 32.
            KEY.replacen("AAAAIL", "AAAAIQ", 1),
            KEY.replacen("AAAAIL", "AAAAIP", 1),
            KEY.replacen("AAAAIL", "AAAAIA", 1),
            KEY.replacen("AAAAIL", "AAAAJL", 1),
            KEY.replacen("C3Nz", "C3Na", 1),
        ];
        for (i, c) in ['A', 'z', '9', '+', '/', '-', '=', '.', '@']
            .into_iter()
            .enumerate()
        {
            let mut bytes = KEY.as_bytes().to_vec();
            let at = KEY.len() - 1 - i * 3;
            bytes[at] = c as u8;
            table.push(String::from_utf8(bytes).expect("ASCII"));
        }
        let ok = |t: &str| check_ed25519_key(t).is_ok();
        agree(ED25519_KEY_PATTERN, ok, table.iter().map(String::as_str));
        // Every key the API lets through, the backend's parser reads as ed25519. (It
        // reads more: any comment, and even a key length of 33, `AAAAIQ…`.)
        for text in table.iter().filter(|t| ok(t)) {
            assert!(ssh_key_accepts(text), "{text:?}");
        }
        assert!(ssh_key_accepts(&format!("{KEY} a\u{7f}é")) && !ok(&format!("{KEY} a\u{7f}é")));
        for comment in random_texts("a ~\t\u{7f}é\n", 6, 5_000) {
            let text = format!("{KEY} {comment}");
            assert_eq!(
                crate::domain::pattern_tests::compile(ED25519_KEY_PATTERN).is_match(&text),
                ok(&text),
                "{text:?}"
            );
        }
    }
}
