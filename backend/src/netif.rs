//! The node's network interfaces and addresses, read from the kernel over rtnetlink in
//! the network namespace the process runs in.

use std::collections::BTreeMap;

use anyhow::Context;
use futures_util::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlag};
use pequod_api::nodes::{Interface, InterfaceAddress};

/// Every interface with its addresses, ordered by interface index.
#[tracing::instrument]
pub async fn list_interfaces() -> anyhow::Result<Vec<Interface>> {
    let (connection, handle, _) =
        rtnetlink::new_connection().context("opening a netlink socket")?;
    let task = tokio::spawn(connection);
    let result = async {
        let mut interfaces = BTreeMap::new();
        let mut links = handle.link().get().execute();
        while let Some(link) = links.try_next().await.context("listing links")? {
            let mut interface = Interface {
                index: link.header.index,
                name: String::new(),
                mac: None,
                up: link.header.flags.contains(&LinkFlag::Up),
                running: link.header.flags.contains(&LinkFlag::Running),
                mtu: None,
                loopback: link.header.flags.contains(&LinkFlag::Loopback),
                addresses: Vec::new(),
            };
            for attribute in &link.attributes {
                match attribute {
                    LinkAttribute::IfName(name) => interface.name = name.clone(),
                    LinkAttribute::Address(bytes) if !bytes.is_empty() => {
                        interface.mac = Some(
                            bytes
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect::<Vec<_>>()
                                .join(":"),
                        );
                    }
                    LinkAttribute::Mtu(mtu) => interface.mtu = Some(*mtu),
                    _ => {}
                }
            }
            interfaces.insert(interface.index, interface);
        }
        let mut addresses = handle.address().get().execute();
        while let Some(message) = addresses.try_next().await.context("listing addresses")? {
            // IFA_LOCAL is the node's own address on point-to-point links; IFA_ADDRESS
            // otherwise. Prefer the local one when both are present.
            let mut chosen = None;
            for attribute in &message.attributes {
                match attribute {
                    AddressAttribute::Local(ip) => chosen = Some(*ip),
                    AddressAttribute::Address(ip) if chosen.is_none() => chosen = Some(*ip),
                    _ => {}
                }
            }
            if let (Some(ip), Some(interface)) = (chosen, interfaces.get_mut(&message.header.index))
            {
                interface.addresses.push(InterfaceAddress {
                    address: ip.to_string(),
                    prefix_len: message.header.prefix_len,
                });
            }
        }
        anyhow::Ok(interfaces.into_values().collect())
    }
    .await;
    task.abort();
    result
}
