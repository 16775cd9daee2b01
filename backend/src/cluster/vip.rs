//! The cluster IP on the telephony interface: added and removed over rtnetlink in the
//! process's network namespace, announced with gratuitous ARP so phones and switches
//! learn the new MAC at once, and probed (ARP duplicate detection) before a claim.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::Context;
use futures_util::TryStreamExt;
use tokio::process::Command;

pub use pequod_api::ClusterIp;

/// Where `arping` comes from (gratuitous ARP, duplicate address detection).
const ARPING_PACKAGE: &str = "iputils-arping";

/// The interface's index, or `None` when the kernel knows no interface of that name.
async fn link_index(handle: &rtnetlink::Handle, interface: &str) -> anyhow::Result<Option<u32>> {
    let mut links = handle
        .link()
        .get()
        .match_name(interface.to_string())
        .execute();
    match links.try_next().await {
        Ok(link) => Ok(link.map(|link| link.header.index)),
        Err(err) if is_no_device(&err) => Ok(None),
        Err(err) => Err(err).with_context(|| format!("looking up interface {interface}")),
    }
}

/// Whether netlink answered with this error kind.
fn kernel_says(err: &rtnetlink::Error, kind: std::io::ErrorKind) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(message) if message.to_io().kind() == kind)
}

/// ENODEV: the interface does not exist.
fn is_no_device(err: &rtnetlink::Error) -> bool {
    const ENODEV: i32 = 19;
    matches!(err, rtnetlink::Error::NetlinkError(message) if message.raw_code().abs() == ENODEV)
}

async fn existing_link(handle: &rtnetlink::Handle, interface: &str) -> anyhow::Result<u32> {
    link_index(handle, interface)
        .await?
        .with_context(|| format!("interface {interface} does not exist"))
}

/// Runs `f` with a netlink connection of its own, closed when it is done.
pub(super) async fn with_handle<T, F, Fut>(f: F) -> anyhow::Result<T>
where
    F: FnOnce(rtnetlink::Handle) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (connection, handle, _) =
        rtnetlink::new_connection().context("opening a netlink socket")?;
    let task = tokio::spawn(connection);
    let result = f(handle).await;
    task.abort();
    result
}

/// Whether the address is configured on the interface right now, and who answers ARP
/// for it as it is configured (an interface that does not exist holds no address). An
/// error means the node cannot tell.
pub async fn held(interface: &str, ip: ClusterIp) -> anyhow::Result<Option<Answered>> {
    use netlink_packet_route::address::AddressScope;

    with_handle(|handle| async move {
        let Some(index) = link_index(&handle, interface).await? else {
            return Ok(None);
        };
        let present = read(&handle, Some(index), ip).await?;
        if present.is_empty() {
            return Ok(None);
        }
        // One kernel-answered copy is enough for the kernel to answer.
        let by_kernel = present.iter().any(|m| m.header.scope != AddressScope::Host);
        Ok(Some(if by_kernel {
            Answered::ByKernel
        } else {
            Answered::ByPequod
        }))
    })
    .await
}

/// Who answers ARP for the cluster IP once it is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// Pequod's own responder (`cluster/arp.rs`): the address is added as a host-scoped
    /// /32, which the interface's `arp_ignore = 3` keeps the kernel from answering.
    ByPequod,
    /// The kernel, as for any address: only when the responder cannot run.
    ByKernel,
}

/// Adds the cluster IP to the interface (no error when it is already there; an
/// address there with the other scope is replaced).
pub async fn add(interface: &str, ip: ClusterIp, answered: Answered) -> anyhow::Result<()> {
    use netlink_packet_route::address::AddressScope;

    with_handle(|handle| async move {
        let index = existing_link(&handle, interface).await?;
        let (prefix_len, scope) = match answered {
            Answered::ByPequod => (32, AddressScope::Host),
            Answered::ByKernel => (ip.prefix_len, AddressScope::Universe),
        };
        let present = read(&handle, Some(index), ip).await?;
        let fits = |m: &netlink_packet_route::address::AddressMessage| {
            m.header.prefix_len == prefix_len && m.header.scope == scope
        };
        let fitting = present.iter().any(fits);
        // Any other copy goes, also beside a fitting one: a kernel-answered copy
        // would answer ARP whatever the responder does.
        for message in present.into_iter().filter(|m| !fits(m)) {
            delete(&handle, message, interface, ip).await?;
        }
        if fitting {
            return Ok(());
        }
        let mut request = handle
            .address()
            .add(index, IpAddr::V4(ip.address), prefix_len)
            .replace();
        request.message_mut().header.scope = scope;
        request
            .execute()
            .await
            .with_context(|| format!("adding {ip} to {interface}"))
    })
    .await
}

/// The copies of the cluster IP on one interface, or on every interface of the
/// machine when `index` is `None`.
async fn read(
    handle: &rtnetlink::Handle,
    index: Option<u32>,
    ip: ClusterIp,
) -> anyhow::Result<Vec<netlink_packet_route::address::AddressMessage>> {
    let mut request = handle.address().get();
    if let Some(index) = index {
        request = request.set_link_index_filter(index);
    }
    let mut addresses = request.set_address_filter(IpAddr::V4(ip.address)).execute();
    let mut found = Vec::new();
    while let Some(message) = addresses
        .try_next()
        .await
        .context("reading the addresses")?
    {
        found.push(message);
    }
    Ok(found)
}

async fn delete(
    handle: &rtnetlink::Handle,
    message: netlink_packet_route::address::AddressMessage,
    interface: &str,
    ip: ClusterIp,
) -> anyhow::Result<()> {
    match handle.address().del(message).execute().await {
        Ok(()) => Ok(()),
        Err(err) if kernel_says(&err, std::io::ErrorKind::AddrNotAvailable) => Ok(()),
        Err(err) => Err(err).with_context(|| format!("removing {ip} from {interface}")),
    }
}

/// Removes the cluster IP from the interface. Idempotent: an address already gone (or
/// gone between the listing and the removal), or an interface that does not exist, is
/// no error, so releasing "to be sure" never fails a node over.
pub async fn remove(interface: &str, ip: ClusterIp) -> anyhow::Result<()> {
    with_handle(|handle| async move {
        let Some(index) = link_index(&handle, interface).await? else {
            return Ok(());
        };
        let present = read(&handle, Some(index), ip)
            .await
            .with_context(|| format!("reading the addresses of {interface}"))?;
        for message in present {
            delete(&handle, message, interface, ip).await?;
        }
        Ok(())
    })
    .await
}

/// Gratuitous ARP: tells every host on the segment that the cluster IP now lives at
/// this interface's MAC address.
pub async fn announce(interface: &str, ip: ClusterIp) -> anyhow::Result<()> {
    let status = crate::tool::status(
        Command::new("arping")
            .args(["-q", "-U", "-c", "2", "-w", "1", "-I", interface])
            .arg(ip.address.to_string())
            .kill_on_drop(true),
        ARPING_PACKAGE,
    )
    .await?;
    // iputils arping exits 1 in -U mode when nobody replies, which is the normal case.
    anyhow::ensure!(status.code().is_some(), "arping was killed");
    Ok(())
}

/// ARP duplicate address detection: true when another host answers for the address.
pub async fn in_use(interface: &str, address: Ipv4Addr, wait: Duration) -> anyhow::Result<bool> {
    let seconds = wait.as_secs().max(1).to_string();
    let status = crate::tool::status(
        Command::new("arping")
            .args(["-q", "-D", "-c", "2", "-w", &seconds, "-I", interface])
            .arg(address.to_string())
            .kill_on_drop(true),
        ARPING_PACKAGE,
    )
    .await?;
    // -D: exit 0 when no reply came (the address is free), 1 when someone answered.
    match status.code() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        other => anyhow::bail!("arping failed with {other:?}"),
    }
}

/// What [`release_leftover`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// No cluster is configured: there is no cluster IP to look for.
    NoCluster,
    /// The cluster IP is on none of this machine's interfaces.
    Absent(ClusterIp),
    /// The cluster IP was on these interfaces and has been removed from them.
    Removed {
        ip: ClusterIp,
        interfaces: Vec<String>,
    },
}

/// A crash is not a death: a `pequod` killed on a live machine leaves the cluster IP
/// on its interface, where the kernel keeps answering ARP for it, a second holder
/// beside the new master. This removes the stored cluster IP from every interface of
/// the machine that carries it (whatever the stored role: a stored master claims it
/// again only after its start-up grace), and confirms it is gone. Run at every start
/// before the agent, and by `pequod release-vip`, the service unit's stop hook.
pub async fn release_leftover(store: &dyn crate::storage::Store) -> anyhow::Result<Leftover> {
    use netlink_packet_route::link::LinkAttribute;

    let Some(config) = store
        .load_cluster()
        .await
        .context("reading the stored cluster configuration")?
    else {
        return Ok(Leftover::NoCluster);
    };
    let ip = config.cluster_ip;
    let interfaces = with_handle(|handle| async move {
        let mut interfaces = Vec::new();
        for message in read(&handle, None, ip).await? {
            let index = message.header.index;
            let mut links = handle.link().get().match_index(index).execute();
            let name = match links.try_next().await {
                Ok(Some(link)) => link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(name) => Some(name.clone()),
                    _ => None,
                }),
                _ => None,
            }
            .unwrap_or_else(|| format!("interface #{index}"));
            handle
                .address()
                .del(message)
                .execute()
                .await
                .with_context(|| format!("removing {ip} from {name}"))?;
            interfaces.push(name);
        }
        // Success only once a fresh read shows it gone: a false "released" would
        // leave a second holder answering ARP.
        let left = read(&handle, None, ip).await?;
        anyhow::ensure!(
            left.is_empty(),
            "{ip} is still on this machine after removing it"
        );
        Ok(interfaces)
    })
    .await?;
    Ok(if interfaces.is_empty() {
        Leftover::Absent(ip)
    } else {
        Leftover::Removed { ip, interfaces }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_interface_that_does_not_exist_holds_nothing_and_releases_without_error() {
        let ip = ClusterIp::parse("192.0.2.10/24").expect("address");
        let missing = "pq-missing0";
        assert_eq!(
            held(missing, ip)
                .await
                .expect("a missing interface is read"),
            None
        );
        remove(missing, ip)
            .await
            .expect("nothing to remove is no error");
        // An address that is not there is removed without error too.
        assert_eq!(held("lo", ip).await.expect("lo is read"), None);
        remove("lo", ip).await.expect("removing an absent address");
    }

    #[test]
    fn cluster_ips_need_a_sensible_address_and_prefix() {
        assert_eq!(
            ClusterIp::parse("10.77.0.10/24"),
            Ok(ClusterIp {
                address: Ipv4Addr::new(10, 77, 0, 10),
                prefix_len: 24
            })
        );
        for (bad, why) in [
            ("10.77.0.10", "prefix length"),
            ("10.77.0/24", "not an IPv4"),
            ("10.77.0.10/33", "between 8 and 32"),
            ("0.0.0.0/24", "cannot be"),
            ("127.0.0.1/8", "cannot be"),
        ] {
            let err = ClusterIp::parse(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
