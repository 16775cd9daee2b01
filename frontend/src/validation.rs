//! The wizards' field rules: the same checks, and the same words, as the API applies
//! (`backend/src/cluster/flows.rs`, `cluster/vip.rs`, `pequod_api::Hostname`), so a
//! person sees the problem next to the field before anything is sent. The server stays
//! the authority: its field errors are shown the same way.

use std::net::{IpAddr, Ipv4Addr};

use pequod_api::nodes::Interface;
use pequod_api::{ClusterIp, FieldError, Hostname};

/// Field errors by the API's field name (`cluster_ip`, `sync_ip`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first message for `field`. The server names list items `gateways[0]`; they
    /// belong to the `gateways` field.
    pub fn get(&self, field: &str) -> Option<String> {
        self.0
            .iter()
            .find(|e| e.field.split('[').next() == Some(field))
            .map(|e| e.message.clone())
    }

    /// The messages not tied to one of `fields`, so none is lost when the server names a
    /// field the form does not show.
    pub fn others(&self, fields: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .filter(|e| !fields.contains(&e.field.split('[').next().unwrap_or_default()))
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }
}

impl From<Vec<FieldError>> for FieldErrors {
    fn from(errors: Vec<FieldError>) -> Self {
        Self(errors)
    }
}

/// A host name as `Hostname::parse` takes it.
pub fn hostname(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<Hostname> {
    match Hostname::parse(raw) {
        Ok(name) => Some(name),
        Err(e) => {
            errors.push(field, e.0);
            None
        }
    }
}

/// The cluster IP with its prefix, e.g. `192.0.2.10/24`, by the API's own rule.
pub fn cluster_ip(text: &str) -> Result<(Ipv4Addr, u8), String> {
    ClusterIp::parse(text.trim()).map(|ip| (ip.address, ip.prefix_len))
}

pub fn ip(errors: &mut FieldErrors, field: &str, text: &str) -> Option<IpAddr> {
    match text.trim().parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            errors.push(field, format!("{text:?} is not an IP address"));
            None
        }
    }
}

pub fn valid_email(text: &str) -> bool {
    pequod_api::is_email_address(text.trim())
}

pub fn email(errors: &mut FieldErrors, field: &str, text: &str) {
    if !valid_email(text) {
        errors.push(field, format!("{text:?} is not an e-mail address"));
    }
}

/// Gateways as typed in one field: separated by commas or spaces; none is fine.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first IPv4 address of the interface called `name`.
pub fn interface_ipv4(interfaces: &[Interface], name: &str) -> Option<Ipv4Addr> {
    interfaces
        .iter()
        .find(|i| i.name == name)?
        .addresses
        .iter()
        .filter_map(|a| a.address.parse::<Ipv4Addr>().ok())
        .next()
}

/// What the Configure master form holds, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterForm {
    pub hostname: String,
    pub cluster_ip: String,
    pub telephony_interface: String,
    pub cluster_interface: String,
    pub notification_email: String,
    pub gateways: String,
}

pub fn configure_master(form: &MasterForm, interfaces: &[Interface]) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if !form.hostname.trim().is_empty() {
        hostname(&mut errors, "hostname", &form.hostname);
    }
    let cluster = match cluster_ip(&form.cluster_ip) {
        Ok(ip) => Some(ip),
        Err(message) => {
            errors.push("cluster_ip", message);
            None
        }
    };
    let telephony_ip = interface_field(
        &mut errors,
        "telephony_interface",
        &form.telephony_interface,
        interfaces,
    );
    interface_field(
        &mut errors,
        "cluster_interface",
        &form.cluster_interface,
        interfaces,
    );
    if !form.telephony_interface.is_empty() && form.telephony_interface == form.cluster_interface {
        errors.push(
            "cluster_interface",
            "must be another interface than the telephony network's",
        );
    }
    email(&mut errors, "notification_email", &form.notification_email);
    for gateway in split_list(&form.gateways) {
        ip(&mut errors, "gateways", &gateway);
    }
    if let (Some((address, _)), Some(own)) = (cluster, telephony_ip)
        && address == own
    {
        errors.push(
            "cluster_ip",
            "must differ from the node's own address on the telephony network",
        );
    }
    errors
}

fn interface_field(
    errors: &mut FieldErrors,
    field: &str,
    name: &str,
    interfaces: &[Interface],
) -> Option<Ipv4Addr> {
    if name.is_empty() {
        errors.push(field, "choose an interface");
        return None;
    }
    if !interfaces.iter().any(|i| i.name == name) {
        errors.push(field, format!("this node has no interface {name:?}"));
        return None;
    }
    let ip = interface_ipv4(interfaces, name);
    if ip.is_none() {
        errors.push(
            field,
            format!("{name} has no IPv4 address: configure it first"),
        );
    }
    ip
}

/// Prepare slave: the master's OpenSSH ed25519 public key, not this node's own.
pub fn master_key(text: &str, own_key: &str) -> FieldErrors {
    let mut errors = FieldErrors::default();
    let field = "master_public_key";
    let mut parts = text.split_whitespace();
    let (algorithm, data) = (parts.next(), parts.next());
    match (algorithm, data) {
        (None, _) => errors.push(
            field,
            "paste the master's public key from its Cluster Management page",
        ),
        (Some(_), None) => errors.push(
            field,
            "not an OpenSSH public key; copy it from the master's Cluster Management page",
        ),
        (Some(algorithm), Some(_)) if algorithm != "ssh-ed25519" => {
            errors.push(field, "must be the master's ssh-ed25519 key");
        }
        (Some(_), Some(data)) if own_key.split_whitespace().nth(1) == Some(data) => {
            errors.push(field, "this is this node's own key; paste the master's");
        }
        _ => {}
    }
    errors
}

/// The master's own addresses and name, which a slave must not reuse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterAddresses {
    pub hostname: String,
    pub telephony_ip: Option<IpAddr>,
    pub sync_ip: Option<IpAddr>,
}

/// Add slave, and Add again (whose host name is fixed).
pub fn slave(
    hostname_text: Option<&str>,
    telephony_text: &str,
    sync_text: &str,
    master: &MasterAddresses,
) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if let Some(text) = hostname_text
        && let Some(name) = hostname(&mut errors, "hostname", text)
        && name.as_str() == master.hostname
    {
        errors.push(
            "hostname",
            format!(
                "must differ from the master's host name ({})",
                master.hostname
            ),
        );
    }
    let telephony = ip(&mut errors, "telephony_ip", telephony_text);
    let sync = ip(&mut errors, "sync_ip", sync_text);
    if let (Some(t), Some(s)) = (telephony, sync) {
        if t == s {
            errors.push(
                "sync_ip",
                "must be the slave's address on the cluster network, not its telephony address",
            );
        }
        if Some(t) == master.telephony_ip {
            errors.push("telephony_ip", "is the master's own address");
        }
        if Some(s) == master.sync_ip {
            errors.push("sync_ip", "is the master's own address");
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use pequod_api::nodes::InterfaceAddress;

    use super::*;

    fn interface(name: &str, address: Option<&str>) -> Interface {
        Interface {
            index: 1,
            name: name.into(),
            mac: None,
            up: true,
            running: true,
            mtu: Some(1500),
            loopback: false,
            addresses: address
                .map(|a| InterfaceAddress {
                    address: a.into(),
                    prefix_len: 24,
                })
                .into_iter()
                .collect(),
        }
    }

    fn lab_interfaces() -> Vec<Interface> {
        vec![
            interface("eth0", Some("10.77.0.11")),
            interface("eth1", Some("10.78.0.1")),
            interface("eth2", None),
        ]
    }

    fn good_master() -> MasterForm {
        MasterForm {
            hostname: "node1".into(),
            cluster_ip: "10.77.0.10/24".into(),
            telephony_interface: "eth0".into(),
            cluster_interface: "eth1".into(),
            notification_email: "pbx-admin@example.org".into(),
            gateways: "10.77.0.1".into(),
        }
    }

    #[test]
    fn a_good_master_form_passes() {
        assert!(configure_master(&good_master(), &lab_interfaces()).is_empty());
        let no_gateways = MasterForm {
            gateways: " ".into(),
            hostname: String::new(),
            ..good_master()
        };
        assert!(configure_master(&no_gateways, &lab_interfaces()).is_empty());
    }

    #[test]
    fn cluster_ips_need_a_sane_prefix_and_address() {
        assert_eq!(
            cluster_ip(" 192.0.2.10/24 "),
            Ok(("192.0.2.10".parse().unwrap(), 24))
        );
        assert!(
            cluster_ip("192.0.2.10")
                .unwrap_err()
                .contains("needs a prefix length")
        );
        assert!(
            cluster_ip("192.0.2.300/24")
                .unwrap_err()
                .contains("not an IPv4 address")
        );
        assert!(
            cluster_ip("192.0.2.10/33")
                .unwrap_err()
                .contains("between 8 and 32")
        );
        assert!(
            cluster_ip("192.0.2.10/4")
                .unwrap_err()
                .contains("between 8 and 32")
        );
        assert!(
            cluster_ip("127.0.0.1/8")
                .unwrap_err()
                .contains("cannot be a cluster IP")
        );
        assert!(
            cluster_ip("224.0.0.1/8")
                .unwrap_err()
                .contains("cannot be a cluster IP")
        );
    }

    #[test]
    fn master_form_errors_land_on_their_fields() {
        let form = MasterForm {
            hostname: "node_1".into(),
            cluster_ip: "10.77.0.11/24".into(),
            telephony_interface: "eth0".into(),
            cluster_interface: "eth0".into(),
            notification_email: "nobody".into(),
            gateways: "10.77.0.1, gateway".into(),
        };
        let errors = configure_master(&form, &lab_interfaces());
        assert!(errors.get("hostname").unwrap().contains("may contain only"));
        assert_eq!(
            errors.get("cluster_ip").as_deref(),
            Some("must differ from the node's own address on the telephony network")
        );
        assert_eq!(
            errors.get("cluster_interface").as_deref(),
            Some("must be another interface than the telephony network's")
        );
        assert_eq!(
            errors.get("notification_email").as_deref(),
            Some("\"nobody\" is not an e-mail address")
        );
        assert_eq!(
            errors.get("gateways").as_deref(),
            Some("\"gateway\" is not an IP address")
        );
    }

    #[test]
    fn interfaces_must_be_chosen_and_addressed() {
        let form = MasterForm {
            telephony_interface: String::new(),
            cluster_interface: "eth2".into(),
            ..good_master()
        };
        let errors = configure_master(&form, &lab_interfaces());
        assert_eq!(
            errors.get("telephony_interface").as_deref(),
            Some("choose an interface")
        );
        assert_eq!(
            errors.get("cluster_interface").as_deref(),
            Some("eth2 has no IPv4 address: configure it first")
        );
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(valid_email("a@b.c"));
        assert!(valid_email(" pbx-admin@example.org "));
        for bad in ["", "a", "@b.c", "a@b", "a@.b", "a@b.", "a b@c.d"] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn gateway_lists_split_on_commas_and_spaces() {
        assert_eq!(
            split_list("10.0.0.1, 10.0.0.2 10.0.0.3"),
            ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        );
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn master_keys_must_be_ed25519_and_not_our_own() {
        let own = "ssh-ed25519 AAAAown pequod@node2";
        assert!(master_key("ssh-ed25519 AAAAmaster pequod@node1", own).is_empty());
        let field = |text: &str| master_key(text, own).get("master_public_key");
        assert!(field("").unwrap().contains("paste"));
        assert!(
            field("AAAAmaster")
                .unwrap()
                .contains("not an OpenSSH public key")
        );
        assert_eq!(
            field("ssh-rsa AAAAB3").as_deref(),
            Some("must be the master's ssh-ed25519 key")
        );
        assert!(
            field("ssh-ed25519 AAAAown other-comment")
                .unwrap()
                .contains("own key")
        );
    }

    #[test]
    fn slave_addresses_follow_the_apis_rules() {
        let master = MasterAddresses {
            hostname: "node1".into(),
            telephony_ip: "10.77.0.11".parse().ok(),
            sync_ip: "10.78.0.1".parse().ok(),
        };
        assert!(slave(Some("node2"), "10.77.0.12", "10.78.0.2", &master).is_empty());
        let errors = slave(Some("Node1"), "10.77.0.11", "10.78.0.1", &master);
        assert_eq!(
            errors.get("hostname").as_deref(),
            Some("must differ from the master's host name (node1)")
        );
        assert_eq!(
            errors.get("telephony_ip").as_deref(),
            Some("is the master's own address")
        );
        assert_eq!(
            errors.get("sync_ip").as_deref(),
            Some("is the master's own address")
        );
        let errors = slave(None, "10.77.0.12", "10.77.0.12", &master);
        assert!(errors.get("sync_ip").unwrap().contains("cluster network"));
        assert!(errors.get("hostname").is_none());
        let errors = slave(Some(""), "ten", "", &master);
        assert_eq!(errors.get("hostname").as_deref(), Some("must not be empty"));
        assert_eq!(
            errors.get("telephony_ip").as_deref(),
            Some("\"ten\" is not an IP address")
        );
        assert!(errors.get("sync_ip").is_some());
    }

    #[test]
    fn server_errors_on_list_items_belong_to_the_list() {
        let errors = FieldErrors::from(vec![
            FieldError {
                field: "gateways[1]".into(),
                message: "bad".into(),
            },
            FieldError {
                field: "body".into(),
                message: "unknown field".into(),
            },
        ]);
        assert_eq!(errors.get("gateways").as_deref(), Some("bad"));
        assert_eq!(errors.others(&["gateways"]), ["body: unknown field"]);
    }
}
