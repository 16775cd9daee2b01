//! Value types that reject bad input when they are built ("parse, don't validate").
//! The backend and the UI share them, so a form shows the same message the API would.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Why a value was rejected, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A node's host name: one RFC 1123 label (1–63 letters, digits or hyphens, not
/// starting or ending with a hyphen). The two nodes of a cluster must differ in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "schema",
    schema(value_type = String, example = "node1", pattern = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
)]
pub struct Hostname(String);

impl Hostname {
    pub const MAX_LEN: usize = 63;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(InvalidValue("must not be empty".into()));
        }
        if value.len() > Self::MAX_LEN {
            return Err(InvalidValue(format!(
                "must be at most {} characters long, this one has {}",
                Self::MAX_LEN,
                value.len()
            )));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(InvalidValue(format!(
                "may contain only letters a–z, digits and '-', not {bad:?}"
            )));
        }
        if value.starts_with('-') || value.ends_with('-') {
            return Err(InvalidValue("must not start or end with '-'".into()));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Hostname {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Hostname> for String {
    fn from(value: Hostname) -> Self {
        value.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node's identity, generated once at its first start and kept in its store. Ties
/// between two masters of equal epoch are broken by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", schema(value_type = String, format = Uuid))]
pub struct NodeId(pub uuid::Uuid);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_follow_rfc_1123_labels() {
        for good in ["node1", "a", "PBX-2", &"x".repeat(63)] {
            assert!(Hostname::parse(good).is_ok(), "{good} should be accepted");
        }
        for (bad, why) in [
            ("", "empty"),
            ("-node", "start"),
            ("node-", "end"),
            ("node_1", "'_'"),
            ("node.example", "'.'"),
            (&"x".repeat(64), "at most 63"),
        ] {
            let err = Hostname::parse(bad).expect_err(bad);
            assert!(
                err.0.contains(why) || (why == "empty" && err.0.contains("empty")),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn hostnames_are_normalised_to_lower_case() {
        assert_eq!(
            Hostname::parse(" Node1 ").map(String::from),
            Ok("node1".into())
        );
    }

    #[test]
    fn hostname_deserialisation_rejects_bad_labels() {
        let err = serde_json::from_str::<Hostname>("\"bad name\"").expect_err("must fail");
        assert!(err.to_string().contains("may contain only"), "{err}");
    }
}

/// An IPv4 cluster address with its prefix, e.g. `10.77.0.10/24`; stored and sent as
/// that text, checked by [`ClusterIp::parse`] whenever it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterIp {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
}

impl ClusterIp {
    /// `address/prefix`: an IPv4 address phones can reach (not loopback, multicast,
    /// broadcast or unspecified) and a prefix length from 8 to 32.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} needs a prefix length, e.g. 192.0.2.10/24"))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{address:?} is not an IPv4 address"))?;
        let prefix_len: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=32).contains(p))
            .ok_or_else(|| format!("the prefix length must be between 8 and 32, not {prefix:?}"))?;
        if address.is_unspecified()
            || address.is_broadcast()
            || address.is_multicast()
            || address.is_loopback()
        {
            return Err(format!("{address} cannot be a cluster IP"));
        }
        Ok(Self {
            address,
            prefix_len,
        })
    }
}

impl TryFrom<String> for ClusterIp {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<ClusterIp> for String {
    fn from(ip: ClusterIp) -> String {
        ip.to_string()
    }
}

impl fmt::Display for ClusterIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}
