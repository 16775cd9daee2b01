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
pub struct Hostname(String);

impl Hostname {
    pub const MAX_LEN: usize = 63;
    /// The schema's pattern: exactly what [`Hostname::parse_exact`] accepts.
    pub const PATTERN: &'static str = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

    /// A host name as typed in a form: trimmed, then [`Hostname::parse_exact`].
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_exact(raw.trim())
    }

    /// A host name as the API reads it: no white space around it; upper case is
    /// accepted and lowered.
    pub fn parse_exact(value: &str) -> Result<Self, InvalidValue> {
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
        Self::parse_exact(&value)
    }
}

#[cfg(feature = "schema")]
impl utoipa::PartialSchema for Hostname {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        text_schema(Hostname::PATTERN)
            .description(Some(
                "A node's host name: one RFC 1123 label (1–63 letters, digits or hyphens, not \
                 starting or ending with a hyphen). The two nodes of a cluster must differ in it.",
            ))
            .examples(["node1"])
            .into()
    }
}

#[cfg(feature = "schema")]
impl utoipa::ToSchema for Hostname {}

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
        // Digits only, no leading zero: `u8::from_str` alone would take "+24" and "024".
        let prefix_len: u8 = Some(prefix)
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0'))
            .and_then(|p| p.parse().ok())
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

impl ClusterIp {
    /// The schema's pattern: exactly what [`ClusterIp::parse`] accepts.
    pub fn pattern() -> String {
        let any = OCTET;
        // 1–126, 128–223, 240–254: neither loopback nor multicast, nor the first octet
        // of the unspecified or the broadcast address.
        let first =
            "([1-9][0-9]?|1[01][0-9]|12[0-689]|1[3-9][0-9]|2[01][0-9]|22[0-3]|24[0-9]|25[0-4])";
        let nonzero = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]?)";
        let below_255 = "(25[0-4]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
        let address = [
            format!(r"{first}\.{any}\.{any}\.{any}"),
            format!(r"0\.({nonzero}\.{any}\.{any}|0\.{nonzero}\.{any}|0\.0\.{nonzero})"),
            format!(
                r"255\.({below_255}\.{any}\.{any}|255\.{below_255}\.{any}|255\.255\.{below_255})"
            ),
        ]
        .join("|");
        format!("^({address})/([89]|[12][0-9]|3[0-2])$")
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

/// One IPv4 octet as Rust's `Ipv4Addr` parser reads it: 0–255 without leading zeros.
const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";

/// An IPv4 address as `Ipv4Addr::from_str` reads it, unanchored.
fn ipv4_body() -> String {
    format!(r"{OCTET}\.{OCTET}\.{OCTET}\.{OCTET}")
}

/// The pattern of an IPv4 or IPv6 address: exactly what `IpAddr::from_str` (and so
/// [`check_ip_address`]) accepts, spelled out group by group because a pattern has
/// no way to count the groups around a `::`.
pub fn ip_address_pattern() -> String {
    let h = "[0-9A-Fa-f]{1,4}";
    let v4 = format!("({})", ipv4_body());
    let mut forms = vec![format!("{h}(:{h}){{7}}"), format!("{h}(:{h}){{5}}:{v4}")];
    // `k` groups before the `::`, at most 7 in all (an embedded IPv4 counts as two).
    for k in 0..=7usize {
        let head = match k {
            0 => String::new(),
            1 => h.to_owned(),
            _ => format!("{h}(:{h}){{{}}}", k - 1),
        };
        let mut tails = Vec::new();
        if k < 7 {
            tails.push(format!("{h}(:{h}){{0,{}}}", 6 - k));
        }
        if k <= 5 {
            tails.push(format!("({h}:){{0,{}}}{v4}", 5 - k));
        }
        forms.push(if tails.is_empty() {
            format!("{head}::")
        } else {
            format!("{head}::({})?", tails.join("|"))
        });
    }
    format!("^({v4}|{})$", forms.join("|"))
}

/// An IPv4 or IPv6 address exactly as given (no white space around it).
pub fn check_ip_address(text: &str) -> Result<std::net::IpAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an IP address"))
}

/// A string schema with `pattern`, for the fields and types whose rule it states.
#[cfg(feature = "schema")]
pub(crate) fn text_schema(pattern: impl Into<String>) -> utoipa::openapi::ObjectBuilder {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(pattern))
}

/// Like [`text_schema`], for an optional field that may also be `null`.
#[cfg(feature = "schema")]
pub(crate) fn nullable_text_schema(pattern: impl Into<String>) -> utoipa::openapi::ObjectBuilder {
    use utoipa::openapi::schema::{SchemaType, Type};
    text_schema(pattern).schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// Request fields kept as `String` (the commander builds them from form text) but read
/// by the API exactly as sent: a text its rule rejects, or one with white space around
/// it, is a 422 naming the field (`gateways[1]` for an item) before anything runs.
pub(crate) mod exact {
    use std::marker::PhantomData;

    use serde::{Deserialize, Deserializer, de::Error};

    /// What a field's text must pass, untrimmed.
    pub trait Rule {
        fn check(text: &str) -> Result<(), String>;
    }

    /// A text that passed `R` (deserialised through this, a list's items are named by
    /// their index).
    pub struct Checked<R>(pub String, PhantomData<R>);

    impl<'de, R: Rule> Deserialize<'de> for Checked<R> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            R::check(&text).map_err(D::Error::custom)?;
            Ok(Checked(text, PhantomData))
        }
    }

    pub fn text<'de, D: Deserializer<'de>, R: Rule>(d: D) -> Result<String, D::Error> {
        Checked::<R>::deserialize(d).map(|c| c.0)
    }

    pub fn optional<'de, D: Deserializer<'de>, R: Rule>(d: D) -> Result<Option<String>, D::Error> {
        Option::<Checked<R>>::deserialize(d).map(|c| c.map(|c| c.0))
    }

    pub fn list<'de, D: Deserializer<'de>, R: Rule>(d: D) -> Result<Vec<String>, D::Error> {
        Vec::<Checked<R>>::deserialize(d).map(|items| items.into_iter().map(|c| c.0).collect())
    }

    pub struct IpAddress;
    impl Rule for IpAddress {
        fn check(text: &str) -> Result<(), String> {
            super::check_ip_address(text).map(drop)
        }
    }

    pub struct ClusterIp;
    impl Rule for ClusterIp {
        fn check(text: &str) -> Result<(), String> {
            super::ClusterIp::parse(text).map(drop)
        }
    }

    pub struct Email;
    impl Rule for Email {
        fn check(text: &str) -> Result<(), String> {
            crate::email::EmailAddress::parse_exact(text).map(drop)
        }
    }

    pub struct InterfaceName;
    impl Rule for InterfaceName {
        fn check(text: &str) -> Result<(), String> {
            crate::nodes::check_interface_name(text)
        }
    }

    pub struct Ed25519Key;
    impl Rule for Ed25519Key {
        fn check(text: &str) -> Result<(), String> {
            crate::nodes::check_ed25519_key(text)
        }
    }
}

/// Helpers for the tests that hold each schema pattern against the parser it mirrors.
#[cfg(test)]
pub(crate) mod pattern_tests {
    /// `pattern` compiled as the schema's validators read it (no multi-line mode).
    pub fn compile(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("the pattern compiles")
    }

    /// Asserts the pattern and the parser agree on every input, naming the first that
    /// they do not.
    pub fn agree<'a>(
        pattern: &str,
        accepts: impl Fn(&str) -> bool,
        inputs: impl IntoIterator<Item = &'a str>,
    ) {
        let regex = compile(pattern);
        for input in inputs {
            assert_eq!(
                regex.is_match(input),
                accepts(input),
                "pattern and parser disagree on {input:?}"
            );
        }
    }

    /// `count` strings of up to `max_len` characters drawn from `alphabet` by a fixed
    /// xorshift sequence, so a failure repeats.
    pub fn random_texts(alphabet: &str, max_len: usize, count: usize) -> Vec<String> {
        let chars: Vec<char> = alphabet.chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = (next() % (max_len as u64 + 1)) as usize;
                (0..len)
                    .map(|_| chars[(next() % chars.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod schema_pattern_tests {
    use super::pattern_tests::{agree, random_texts};
    use super::*;

    #[test]
    fn the_hostname_pattern_is_the_parsers_rule() {
        let long = "x".repeat(63);
        let too_long = "x".repeat(64);
        let table = [
            "node1", "a", "PBX-2", "0", "a-b-c", &long, "", " node1", "node1 ", "node1\n", "-a",
            "a-", "a_b", "a.b", "é", &too_long, "a b",
        ];
        agree(
            Hostname::PATTERN,
            |t| Hostname::parse_exact(t).is_ok(),
            table,
        );
        let random = random_texts("aZ09-_. \n", 66, 20_000);
        agree(
            Hostname::PATTERN,
            |t| Hostname::parse_exact(t).is_ok(),
            random.iter().map(String::as_str),
        );
        // The API reads host names exactly: white space around one is refused.
        assert!(serde_json::from_str::<Hostname>("\" node1\"").is_err());
        assert_eq!(
            serde_json::from_str::<Hostname>("\"Node1\"")
                .map(String::from)
                .ok(),
            Some("node1".into())
        );
    }

    #[test]
    fn the_cluster_ip_pattern_is_the_parsers_rule() {
        let table = [
            "10.77.0.10/24",
            "192.0.2.10/8",
            "1.2.3.4/32",
            "0.0.0.1/24",
            "0.1.0.0/8",
            "255.255.255.254/24",
            "255.0.0.0/8",
            "240.0.0.1/24",
            "223.255.255.255/16",
            "126.0.0.1/8",
            "128.0.0.1/8",
            "0.0.0.0/24",
            "255.255.255.255/24",
            "127.0.0.1/8",
            "127.255.0.1/16",
            "224.0.0.1/8",
            "239.255.255.255/8",
            "10.0.0.1/7",
            "10.0.0.1/33",
            "10.0.0.1/0",
            "10.0.0.1/+24",
            "10.0.0.1/024",
            "10.0.0.1/08",
            "010.0.0.1/24",
            "10.0.0.256/24",
            "10.0.0.1",
            "10.0.0.1/",
            " 10.0.0.1/24",
            "10.0.0.1/24 ",
            "10.0.0.1/24\n",
            "10.0.0/24",
            "10.0.0.1.1/24",
            "::1/64",
            "10.0.0.1/24/24",
        ];
        agree(
            &ClusterIp::pattern(),
            |t| ClusterIp::parse(t).is_ok(),
            table,
        );
        let random = random_texts("0125349./+ ", 20, 50_000);
        agree(
            &ClusterIp::pattern(),
            |t| ClusterIp::parse(t).is_ok(),
            random.iter().map(String::as_str),
        );
        let octets = random_texts("0125", 3, 400);
        let mut built = Vec::new();
        for (i, a) in octets.iter().enumerate() {
            let b = &octets[(i * 7 + 1) % octets.len()];
            let prefix = ["8", "24", "32", "7", "33", "16"][i % 6];
            built.push(format!("{a}.{b}.{b}.{a}/{prefix}"));
            built.push(format!("{a}.0.0.0/{prefix}"));
            built.push(format!("255.255.255.{a}/{prefix}"));
            built.push(format!("0.0.{a}.0/{prefix}"));
        }
        agree(
            &ClusterIp::pattern(),
            |t| ClusterIp::parse(t).is_ok(),
            built.iter().map(String::as_str),
        );
    }

    #[test]
    fn the_ip_address_pattern_is_rusts_parser() {
        let table = [
            "10.77.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "2001:db8::1",
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6::8",
            "::ffff:10.0.0.1",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "::1.2.3.4",
            "1::2:3.4.5.6",
            "ABCD:ef01::",
            "0000:0000::00",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6::1.2.3.4",
            "1.2.3.4::",
            "12345::",
            ":1::",
            "1:::2",
            "1::2::3",
            "01.2.3.4",
            "1.2.3",
            "256.1.1.1",
            "::1.2.3",
            "fe80::1%eth0",
            " 10.0.0.1",
            "10.0.0.1 ",
            "",
            "g::",
            "::ffff:01.2.3.4",
        ];
        let parses = |t: &str| check_ip_address(t).is_ok();
        agree(&ip_address_pattern(), parses, table);
        let random = random_texts("0129aF:.", 24, 100_000);
        agree(
            &ip_address_pattern(),
            parses,
            random.iter().map(String::as_str),
        );
        let groups = random_texts("0f:", 12, 20_000);
        let built: Vec<String> = groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| {
                [
                    format!("{g}::{}", groups[(i + 3) % groups.len()]),
                    format!("{g}:1.2.3.4"),
                    format!("::{g}"),
                ]
            })
            .collect();
        agree(
            &ip_address_pattern(),
            parses,
            built.iter().map(String::as_str),
        );
    }
}
