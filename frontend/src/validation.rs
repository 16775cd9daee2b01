//! The wizards' field checks before anything is sent. The rules themselves live in
//! `pequod_api::rules` and `pequod_api::EmailAddress`, which the API applies too, so a
//! person sees the server's words next to the field; this module turns the forms' text
//! into their input. The server stays the authority: its field errors are shown the
//! same way.

use pequod_api::cluster::ConfigureMaster;
use pequod_api::nodes::Interface;
use pequod_api::rules::{self, MasterAddresses, ValidSlave};
use pequod_api::{EmailAddress, FieldError, Hostname};

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

/// An e-mail address as `EmailAddress::parse` takes it.
pub fn email(errors: &mut FieldErrors, field: &str, text: &str) -> Option<EmailAddress> {
    match EmailAddress::parse(text) {
        Ok(address) => Some(address),
        Err(message) => {
            errors.push(field, message);
            None
        }
    }
}

/// Gateways as typed in one field: separated by commas or spaces; none is fine.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
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

impl MasterForm {
    /// The request the form stands for; a host name that does not parse is left out
    /// (the form's check names it before anything is sent).
    pub fn request(&self) -> ConfigureMaster {
        ConfigureMaster {
            hostname: Hostname::parse(&self.hostname).ok(),
            cluster_ip: self.cluster_ip.trim().to_owned(),
            telephony_interface: self.telephony_interface.clone(),
            cluster_interface: self.cluster_interface.clone(),
            notification_email: self.notification_email.trim().to_owned(),
            gateways: split_list(&self.gateways),
        }
    }
}

/// The API's rules for Configure master, plus what only a form can get wrong: a host
/// name typed but not valid, and an interface not chosen yet.
pub fn configure_master(form: &MasterForm, interfaces: &[Interface]) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if !form.hostname.trim().is_empty() {
        hostname(&mut errors, "hostname", &form.hostname);
    }
    let unchosen: Vec<&str> = [
        ("telephony_interface", &form.telephony_interface),
        ("cluster_interface", &form.cluster_interface),
    ]
    .into_iter()
    .filter(|(_, name)| name.is_empty())
    .map(|(field, _)| field)
    .collect();
    if let Err(found) = rules::configure_master(&form.request(), interfaces) {
        // An empty choice is not a missing interface: say what to do instead.
        errors.0.extend(
            found
                .into_iter()
                .filter(|e| !unchosen.contains(&e.field.as_str())),
        );
    }
    for field in unchosen {
        errors.push(field, "choose an interface");
    }
    errors
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

/// Add slave, and Add again (whose host name is fixed), by the API's rules.
pub fn slave(
    hostname: Option<&str>,
    telephony_ip: &str,
    sync_ip: &str,
    master: &MasterAddresses,
) -> Result<ValidSlave, FieldErrors> {
    rules::slave(hostname, telephony_ip, sync_ip, master).map_err(FieldErrors::from)
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
    fn cluster_ip_errors_are_the_apis() {
        for (text, why) in [
            ("192.0.2.10", "needs a prefix length"),
            ("192.0.2.300/24", "not an IPv4 address"),
            ("192.0.2.10/33", "between 8 and 32"),
            ("127.0.0.1/8", "cannot be a cluster IP"),
        ] {
            let form = MasterForm {
                cluster_ip: text.into(),
                ..good_master()
            };
            let errors = configure_master(&form, &lab_interfaces());
            assert!(
                errors.get("cluster_ip").is_some_and(|m| m.contains(why)),
                "{text}: {errors:?}"
            );
        }
    }

    #[test]
    fn the_form_becomes_the_request_the_api_takes() {
        let form = MasterForm {
            hostname: " Node1 ".into(),
            cluster_ip: " 10.77.0.10/24 ".into(),
            notification_email: " pbx-admin@example.org ".into(),
            gateways: "10.77.0.1, 10.77.0.2".into(),
            ..good_master()
        };
        let request = form.request();
        assert_eq!(request.hostname.map(String::from).as_deref(), Some("node1"));
        assert_eq!(request.cluster_ip, "10.77.0.10/24");
        assert_eq!(request.notification_email, "pbx-admin@example.org");
        assert_eq!(request.gateways, ["10.77.0.1", "10.77.0.2"]);
        let unnamed = MasterForm {
            hostname: " ".into(),
            ..good_master()
        };
        assert_eq!(unnamed.request().hostname, None);
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
            Some("\"nobody\" is not an e-mail address (like ops@example.net)")
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
        let none_chosen = MasterForm {
            telephony_interface: String::new(),
            cluster_interface: String::new(),
            ..good_master()
        };
        let errors = configure_master(&none_chosen, &lab_interfaces());
        assert_eq!(
            errors.get("cluster_interface").as_deref(),
            Some("choose an interface")
        );
        let form = MasterForm {
            telephony_interface: "eth9".into(),
            ..good_master()
        };
        assert_eq!(
            configure_master(&form, &lab_interfaces())
                .get("telephony_interface")
                .as_deref(),
            Some("this node has no interface \"eth9\" (it has: eth0, eth1, eth2)")
        );
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        let check = |text: &str| {
            let mut errors = FieldErrors::default();
            let address = email(&mut errors, "email", text);
            (address.map(String::from), errors.get("email"))
        };
        assert_eq!(check("a@b.c"), (Some("a@b.c".into()), None));
        assert_eq!(
            check(" pbx-admin@example.org "),
            (Some("pbx-admin@example.org".into()), None)
        );
        for bad in ["", "a", "@b.c", "a@b", "a@.b", "a@b.", "a b@c.d"] {
            let (address, message) = check(bad);
            assert!(address.is_none() && message.is_some(), "{bad:?}");
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
            hostname: Hostname::parse("node1").ok(),
            telephony_ip: "10.77.0.11".parse().ok(),
            sync_ip: "10.78.0.1".parse().ok(),
        };
        let valid = slave(Some("node2"), "10.77.0.12", "10.78.0.2", &master).unwrap();
        assert_eq!(valid.hostname.map(String::from).as_deref(), Some("node2"));
        let errors = slave(Some("Node1"), "10.77.0.11", "10.78.0.1", &master).unwrap_err();
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
        let errors = slave(None, "10.77.0.12", "10.77.0.12", &master).unwrap_err();
        assert!(errors.get("sync_ip").unwrap().contains("cluster network"));
        assert!(errors.get("hostname").is_none());
        let errors = slave(Some(""), "ten", "", &master).unwrap_err();
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
