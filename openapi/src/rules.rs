//! The field rules of the cluster operations, applied by the API before a job starts
//! and by the commander before it sends, so both name the same fields with the same
//! words. Each rule is pure: it gets what it needs (the node's interfaces, the
//! master's addresses) and answers the typed values or every rejected field at once.

use std::net::{IpAddr, Ipv4Addr};

use crate::cluster::ConfigureMaster;
use crate::domain::{ClusterIp, Hostname};
use crate::email::EmailAddress;
use crate::nodes::Interface;
use crate::problem::FieldError;

/// A Configure master request that passed every rule, with the values it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMaster {
    /// The new host name; none keeps the current one.
    pub hostname: Option<Hostname>,
    pub cluster_ip: ClusterIp,
    pub telephony_interface: String,
    /// The node's own address on the telephony network (its interface's first IPv4).
    pub telephony_ip: Ipv4Addr,
    pub cluster_interface: String,
    /// The node's own address on the cluster network (its interface's first IPv4).
    pub sync_ip: Ipv4Addr,
    pub gateways: Vec<IpAddr>,
    pub notification_email: EmailAddress,
}

/// Configure master: the cluster IP, the two interfaces of this node (which must exist,
/// differ and have an IPv4 address each), the e-mail address and each gateway
/// (`gateways[i]`). The cluster IP must not be the node's own telephony address.
pub fn configure_master(
    request: &ConfigureMaster,
    interfaces: &[Interface],
) -> Result<ValidMaster, Vec<FieldError>> {
    let mut errors = Vec::new();
    let cluster_ip = ClusterIp::parse(request.cluster_ip.trim())
        .map_err(|message| errors.push(FieldError::new("cluster_ip", message)))
        .ok();
    let telephony_ip = interface_ipv4(
        interfaces,
        "telephony_interface",
        &request.telephony_interface,
        &mut errors,
    );
    let sync_ip = interface_ipv4(
        interfaces,
        "cluster_interface",
        &request.cluster_interface,
        &mut errors,
    );
    if request.telephony_interface == request.cluster_interface {
        errors.push(FieldError::new(
            "cluster_interface",
            "must be another interface than the telephony network's",
        ));
    }
    let notification_email = EmailAddress::parse(&request.notification_email)
        .map_err(|message| errors.push(FieldError::new("notification_email", message)))
        .ok();
    let mut gateways = Vec::new();
    for (i, gateway) in request.gateways.iter().enumerate() {
        match ip_address(&format!("gateways[{i}]"), gateway) {
            Ok(ip) => gateways.push(ip),
            Err(error) => errors.push(error),
        }
    }
    if let (Some(cluster_ip), Some(own)) = (cluster_ip, telephony_ip)
        && cluster_ip.address == own
    {
        errors.push(FieldError::new(
            "cluster_ip",
            "must differ from the node's own address on the telephony network",
        ));
    }
    match (cluster_ip, telephony_ip, sync_ip, notification_email) {
        (Some(cluster_ip), Some(telephony_ip), Some(sync_ip), Some(notification_email))
            if errors.is_empty() =>
        {
            Ok(ValidMaster {
                hostname: request.hostname.clone(),
                cluster_ip,
                telephony_interface: request.telephony_interface.clone(),
                telephony_ip,
                cluster_interface: request.cluster_interface.clone(),
                sync_ip,
                gateways,
                notification_email,
            })
        }
        _ => Err(errors),
    }
}

/// The first IPv4 address of the interface called `name`, or why there is none.
fn interface_ipv4(
    interfaces: &[Interface],
    field: &str,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Ipv4Addr> {
    let Some(interface) = interfaces.iter().find(|i| i.name == name) else {
        let names: Vec<&str> = interfaces
            .iter()
            .filter(|i| !i.loopback)
            .map(|i| i.name.as_str())
            .collect();
        let known = if names.is_empty() {
            "none besides loopback".to_owned()
        } else {
            names.join(", ")
        };
        errors.push(FieldError::new(
            field,
            format!("this node has no interface {name:?} (it has: {known})"),
        ));
        return None;
    };
    let ip = interface
        .addresses
        .iter()
        .find_map(|a| a.address.parse::<Ipv4Addr>().ok());
    if ip.is_none() {
        errors.push(FieldError::new(
            field,
            format!("{name} has no IPv4 address: configure it first"),
        ));
    }
    ip
}

/// What a slave must not reuse: the master's host name and addresses. A part left
/// unknown (`None`) is not compared; the side that knows it checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterAddresses {
    pub hostname: Option<Hostname>,
    pub telephony_ip: Option<IpAddr>,
    pub sync_ip: Option<IpAddr>,
}

impl MasterAddresses {
    /// All three known, as the master itself has them.
    pub fn known(hostname: Hostname, telephony_ip: IpAddr, sync_ip: IpAddr) -> Self {
        Self {
            hostname: Some(hostname),
            telephony_ip: Some(telephony_ip),
            sync_ip: Some(sync_ip),
        }
    }
}

/// A slave's data that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSlave {
    /// The host name, for Add slave; none for Add again, whose name is fixed.
    pub hostname: Option<Hostname>,
    pub telephony_ip: IpAddr,
    pub sync_ip: IpAddr,
}

/// Add slave (with a host name) and Add again (without): the host name differs from
/// the master's; both addresses are IP addresses, differ from each other and from
/// the master's own.
pub fn slave(
    hostname: Option<&str>,
    telephony_ip: &str,
    sync_ip: &str,
    master: &MasterAddresses,
) -> Result<ValidSlave, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = hostname.map(|text| {
        Hostname::parse(text)
            .map_err(|e| errors.push(FieldError::new("hostname", e.0)))
            .ok()
    });
    if let (Some(Some(name)), Some(master_name)) = (&name, &master.hostname)
        && name == master_name
    {
        errors.push(FieldError::new(
            "hostname",
            format!("must differ from the master's host name ({master_name})"),
        ));
    }
    let telephony = ip_address("telephony_ip", telephony_ip)
        .map_err(|e| errors.push(e))
        .ok();
    let sync = ip_address("sync_ip", sync_ip)
        .map_err(|e| errors.push(e))
        .ok();
    if let (Some(t), Some(s)) = (telephony, sync) {
        if t == s {
            errors.push(FieldError::new(
                "sync_ip",
                "must be the slave's address on the cluster network, not its telephony address",
            ));
        }
        if Some(t) == master.telephony_ip {
            errors.push(FieldError::new(
                "telephony_ip",
                "is the master's own address",
            ));
        }
        if Some(s) == master.sync_ip {
            errors.push(FieldError::new("sync_ip", "is the master's own address"));
        }
    }
    match (name, telephony, sync) {
        (None, Some(telephony_ip), Some(sync_ip)) if errors.is_empty() => Ok(ValidSlave {
            hostname: None,
            telephony_ip,
            sync_ip,
        }),
        (Some(Some(hostname)), Some(telephony_ip), Some(sync_ip)) if errors.is_empty() => {
            Ok(ValidSlave {
                hostname: Some(hostname),
                telephony_ip,
                sync_ip,
            })
        }
        _ => Err(errors),
    }
}

fn ip_address(field: &str, text: &str) -> Result<IpAddr, FieldError> {
    text.trim()
        .parse()
        .map_err(|_| FieldError::new(field, format!("{text:?} is not an IP address")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::InterfaceAddress;

    fn interface(name: &str, addresses: &[&str], loopback: bool) -> Interface {
        Interface {
            index: 1,
            name: name.into(),
            mac: None,
            up: true,
            running: true,
            mtu: Some(1500),
            loopback,
            addresses: addresses
                .iter()
                .map(|a| InterfaceAddress {
                    address: (*a).into(),
                    prefix_len: 24,
                })
                .collect(),
        }
    }

    fn lab_interfaces() -> Vec<Interface> {
        vec![
            interface("lo", &["127.0.0.1"], true),
            interface("eth0", &["fe80::1", "10.77.0.11"], false),
            interface("eth1", &["10.78.0.1"], false),
            interface("eth2", &["fe80::2"], false),
        ]
    }

    fn good_master() -> ConfigureMaster {
        ConfigureMaster {
            hostname: Hostname::parse("node1").ok(),
            cluster_ip: " 10.77.0.10/24 ".into(),
            telephony_interface: "eth0".into(),
            cluster_interface: "eth1".into(),
            notification_email: " pbx-admin@example.org ".into(),
            gateways: vec!["10.77.0.1".into(), " 2001:db8::1 ".into()],
        }
    }

    fn message<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    #[test]
    fn a_good_master_request_gives_its_typed_values() {
        let valid = configure_master(&good_master(), &lab_interfaces()).expect("valid");
        assert_eq!(valid.hostname.as_ref().map(Hostname::as_str), Some("node1"));
        assert_eq!(valid.cluster_ip.to_string(), "10.77.0.10/24");
        assert_eq!(valid.telephony_ip, Ipv4Addr::new(10, 77, 0, 11));
        assert_eq!(valid.sync_ip, Ipv4Addr::new(10, 78, 0, 1));
        assert_eq!(valid.telephony_interface, "eth0");
        assert_eq!(valid.cluster_interface, "eth1");
        assert_eq!(
            valid.gateways,
            [
                IpAddr::from([10, 77, 0, 1]),
                "2001:db8::1".parse::<IpAddr>().unwrap()
            ]
        );
        assert_eq!(valid.notification_email.as_str(), "pbx-admin@example.org");

        let bare = ConfigureMaster {
            hostname: None,
            gateways: Vec::new(),
            ..good_master()
        };
        let valid = configure_master(&bare, &lab_interfaces()).expect("valid");
        assert!(valid.hostname.is_none() && valid.gateways.is_empty());
    }

    #[test]
    fn every_bad_master_field_is_named_at_once() {
        let request = ConfigureMaster {
            hostname: None,
            cluster_ip: "10.0.0.300/24".into(),
            telephony_interface: "nosuch0".into(),
            cluster_interface: "nosuch0".into(),
            notification_email: "admin".into(),
            gateways: vec!["10.0.0.1".into(), "not-an-ip".into()],
        };
        let errors = configure_master(&request, &lab_interfaces()).expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "cluster_ip",
                "telephony_interface",
                "cluster_interface",
                "cluster_interface",
                "notification_email",
                "gateways[1]",
            ]
        );
        assert_eq!(
            message(&errors, "cluster_ip"),
            Some("\"10.0.0.300\" is not an IPv4 address")
        );
        assert_eq!(
            message(&errors, "telephony_interface"),
            Some("this node has no interface \"nosuch0\" (it has: eth0, eth1, eth2)")
        );
        assert_eq!(
            errors[3].message,
            "must be another interface than the telephony network's"
        );
        assert_eq!(
            message(&errors, "notification_email"),
            Some("\"admin\" is not an e-mail address (like ops@example.net)")
        );
        assert_eq!(
            message(&errors, "gateways[1]"),
            Some("\"not-an-ip\" is not an IP address")
        );
    }

    #[test]
    fn the_interfaces_need_an_ipv4_address_and_the_cluster_ip_another_one() {
        let request = ConfigureMaster {
            cluster_ip: "10.77.0.11/24".into(),
            cluster_interface: "eth2".into(),
            ..good_master()
        };
        let errors = configure_master(&request, &lab_interfaces()).expect_err("invalid");
        assert_eq!(
            message(&errors, "cluster_interface"),
            Some("eth2 has no IPv4 address: configure it first")
        );
        assert_eq!(
            message(&errors, "cluster_ip"),
            Some("must differ from the node's own address on the telephony network")
        );
        let errors = configure_master(&good_master(), &[]).expect_err("no interfaces");
        assert_eq!(
            message(&errors, "telephony_interface"),
            Some("this node has no interface \"eth0\" (it has: none besides loopback)")
        );
    }

    #[test]
    fn cluster_ips_need_a_prefix_and_an_address_phones_can_reach() {
        for (cluster_ip, why) in [
            ("10.77.0.10", "needs a prefix length"),
            ("10.77.0.10/33", "between 8 and 32"),
            ("10.77.0.10/4", "between 8 and 32"),
            ("127.0.0.1/8", "cannot be a cluster IP"),
            ("224.0.0.1/8", "cannot be a cluster IP"),
            ("0.0.0.0/8", "cannot be a cluster IP"),
        ] {
            let request = ConfigureMaster {
                cluster_ip: cluster_ip.into(),
                ..good_master()
            };
            let errors = configure_master(&request, &lab_interfaces()).expect_err(cluster_ip);
            assert!(
                message(&errors, "cluster_ip").is_some_and(|m| m.contains(why)),
                "{cluster_ip}: {errors:?}"
            );
        }
    }

    fn master() -> MasterAddresses {
        MasterAddresses::known(
            Hostname::parse("node1").unwrap(),
            IpAddr::from([10, 77, 0, 11]),
            IpAddr::from([10, 78, 0, 1]),
        )
    }

    #[test]
    fn a_good_slave_gives_its_typed_values() {
        let valid = slave(Some(" Node2 "), " 10.77.0.12", "10.78.0.2 ", &master()).expect("valid");
        assert_eq!(valid.hostname.as_ref().map(Hostname::as_str), Some("node2"));
        assert_eq!(valid.telephony_ip, IpAddr::from([10, 77, 0, 12]));
        assert_eq!(valid.sync_ip, IpAddr::from([10, 78, 0, 2]));
        let again = slave(None, "10.77.0.12", "10.78.0.2", &master()).expect("valid");
        assert_eq!(again.hostname, None);
    }

    #[test]
    fn a_slave_must_not_reuse_the_masters_name_or_addresses() {
        let errors = slave(Some("NODE1"), "10.77.0.11", "10.78.0.1", &master()).expect_err("");
        assert_eq!(
            message(&errors, "hostname"),
            Some("must differ from the master's host name (node1)")
        );
        assert_eq!(
            message(&errors, "telephony_ip"),
            Some("is the master's own address")
        );
        assert_eq!(
            message(&errors, "sync_ip"),
            Some("is the master's own address")
        );
        let errors = slave(None, "10.77.0.12", "10.77.0.12", &master()).expect_err("");
        assert!(
            message(&errors, "sync_ip").is_some_and(|m| m.contains("cluster network")),
            "{errors:?}"
        );
        assert!(message(&errors, "hostname").is_none());
    }

    #[test]
    fn bad_slave_fields_are_named_at_once() {
        let errors = slave(Some("bad_name"), "ten", "", &master()).expect_err("");
        assert!(
            message(&errors, "hostname").is_some_and(|m| m.contains("may contain only")),
            "{errors:?}"
        );
        assert_eq!(
            message(&errors, "telephony_ip"),
            Some("\"ten\" is not an IP address")
        );
        assert_eq!(
            message(&errors, "sync_ip"),
            Some("\"\" is not an IP address")
        );
        let errors = slave(Some(""), "10.77.0.12", "10.78.0.2", &master()).expect_err("");
        assert_eq!(message(&errors, "hostname"), Some("must not be empty"));
    }

    #[test]
    fn an_unknown_master_is_not_compared() {
        let unknown = MasterAddresses::default();
        assert!(slave(Some("node1"), "10.77.0.11", "10.78.0.1", &unknown).is_ok());
    }
}
