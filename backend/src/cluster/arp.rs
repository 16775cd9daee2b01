//! ARP for the cluster IP, answered by Pequod itself rather than by the kernel.
//!
//! A kernel that holds an address answers ARP for it whatever happens to the process
//! that put it there: a `pequod` paused (SIGSTOP, a hung machine), or a master cut off
//! and healed before it heard that the slave took over, would go on answering for the
//! cluster IP beside the new master, and the phones would see two holders. So the
//! cluster IP is added with host scope, the telephony interface is told not to answer
//! ARP for host-scoped addresses (`arp_ignore = 3`) nor to use them as the source of
//! its own requests (`arp_announce = 2`), and a thread of this process answers the
//! requests for the cluster IP, but only while the agent keeps the gate open: a
//! settled master whose loop ran on time within the last moments. A paused or crashed
//! process answers nothing; the node's own address is answered by the kernel as before.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::TryStreamExt;
use netlink_packet_route::link::LinkAttribute;
use nix::sys::socket::{LinkAddr, MsgFlags, recvfrom, sendto};
use socket2::{Domain, Protocol, Socket, Type};

const ETH_P_ARP: u16 = 0x0806;
const ETH_HEADER: usize = 14;
const ARP_PAYLOAD: usize = 28;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
/// `PACKET_OUTGOING`: a frame this host sent, looped back to packet sockets.
const PACKET_OUTGOING: u8 = 4;
/// How long a blocked read waits before the thread looks at its stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// Until when the responder may answer. Opened by the agent for a short while after
/// each cycle that keeps a master's duties, so it closes by itself when the agent stops
/// running, and at once when the agent closes it.
#[derive(Debug, Default)]
pub struct ArpGate {
    open_until: Mutex<Option<Instant>>,
}

impl ArpGate {
    pub fn open_until(&self, until: Instant) {
        if let Ok(mut open) = self.open_until.lock() {
            *open = Some(until);
        }
    }

    pub fn close(&self) {
        if let Ok(mut open) = self.open_until.lock() {
            *open = None;
        }
    }

    /// A poisoned lock reads as closed: when in doubt, silence.
    pub fn is_open(&self, now: Instant) -> bool {
        self.open_until
            .lock()
            .map(|open| open.is_some_and(|until| now < until))
            .unwrap_or(false)
    }
}

/// The telephony interface as the responder needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Port {
    index: u32,
    mac: [u8; 6],
}

/// The thread answering ARP for the cluster IP on the telephony interface; stops when
/// dropped.
pub struct ArpResponder {
    gate: Arc<ArpGate>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl ArpResponder {
    /// Sets the interface's ARP sysctls and starts answering for `address` (while the
    /// gate is open). An error means the kernel would have to answer instead.
    pub async fn start(interface: &str, address: Ipv4Addr) -> anyhow::Result<Self> {
        quiet_kernel(interface)?;
        let port = port_of(interface).await?;
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(ETH_P_ARP.to_be()))),
        )
        .context("opening a packet socket for ARP (needs CAP_NET_RAW)")?;
        socket
            .set_read_timeout(Some(READ_TIMEOUT))
            .context("setting the ARP socket's timeout")?;
        let fd = OwnedFd::from(socket);
        let gate = Arc::new(ArpGate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("pequod-arp".into())
            .spawn({
                let (gate, stop, answered) = (gate.clone(), stop.clone(), answered.clone());
                move || serve(fd, port, address, &gate, &stop, &answered)
            })
            .context("starting the ARP responder thread")?;
        tracing::info!(interface, %address, "answering ARP for the cluster IP");
        Ok(Self {
            gate,
            stop,
            answered,
            thread: Some(thread),
        })
    }

    pub fn gate(&self) -> &ArpGate {
        &self.gate
    }

    /// Requests answered since the start.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

impl Drop for ArpResponder {
    fn drop(&mut self) {
        self.gate.close();
        self.stop.store(true, Ordering::Relaxed);
        // Not joined: the thread sees the flag within its read timeout, and a drop
        // inside the async runtime must not block on it.
        drop(self.thread.take());
    }
}

/// `arp_ignore = 3`: no kernel answer for host-scoped addresses (the cluster IP), the
/// node's own address still answered. `arp_announce = 2`: the kernel's own requests
/// carry the interface's address, never the cluster IP.
fn quiet_kernel(interface: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !interface.is_empty() && !interface.contains('/') && interface != "." && interface != "..",
        "{interface:?} is not an interface name"
    );
    for (name, value) in [("arp_ignore", "3"), ("arp_announce", "2")] {
        let path = format!("/proc/sys/net/ipv4/conf/{interface}/{name}");
        std::fs::write(&path, value).with_context(|| format!("setting {path} to {value}"))?;
    }
    Ok(())
}

async fn port_of(interface: &str) -> anyhow::Result<Port> {
    super::vip::with_handle(|handle| async move {
        let link = handle
            .link()
            .get()
            .match_name(interface.to_string())
            .execute()
            .try_next()
            .await
            .with_context(|| format!("looking up interface {interface}"))?
            .with_context(|| format!("interface {interface} does not exist"))?;
        let mac = link
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
                _ => None,
            })
            .with_context(|| format!("interface {interface} has no Ethernet address"))?;
        Ok(Port {
            index: link.header.index,
            mac,
        })
    })
    .await
}

fn serve(
    fd: OwnedFd,
    port: Port,
    address: Ipv4Addr,
    gate: &ArpGate,
    stop: &AtomicBool,
    answered: &AtomicU64,
) {
    let mut buf = [0u8; 1514];
    let mut last_error: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut buf) {
            Ok(received) => received,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(err) => {
                let error = err.to_string();
                if last_error.as_ref() != Some(&error) {
                    tracing::error!(error, "reading ARP requests");
                    last_error = Some(error);
                }
                std::thread::sleep(READ_TIMEOUT);
                continue;
            }
        };
        let Some(from) = from else { continue };
        if from.ifindex() != port.index as usize || from.pkttype() == PACKET_OUTGOING {
            continue;
        }
        let Some(reply) = reply_to(&buf[..len.min(buf.len())], port.mac, address) else {
            continue;
        };
        // The gate is read after the request arrived: a request queued while the
        // process was paused is judged by the time it is read, not when it came.
        if !gate.is_open(Instant::now()) {
            continue;
        }
        match sendto(fd.as_raw_fd(), &reply, &from, MsgFlags::empty()) {
            Ok(_) => {
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                let error = err.to_string();
                if last_error.as_ref() != Some(&error) {
                    tracing::error!(error, "answering an ARP request for the cluster IP");
                    last_error = Some(error);
                }
            }
        }
    }
}

/// The reply to `frame` when it is an Ethernet/IPv4 ARP request for `address` (a
/// probe from 0.0.0.0 included, as duplicate-address detection sends it), addressed
/// back to the asker as the kernel would.
fn reply_to(frame: &[u8], mac: [u8; 6], address: Ipv4Addr) -> Option<Vec<u8>> {
    if frame.len() < ETH_HEADER + ARP_PAYLOAD {
        return None;
    }
    let u16_at = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    let arp = ETH_HEADER;
    let is_request = u16_at(12) == ETH_P_ARP
        && u16_at(arp) == 1
        && u16_at(arp + 2) == 0x0800
        && frame[arp + 4] == 6
        && frame[arp + 5] == 4
        && u16_at(arp + 6) == ARP_REQUEST;
    if !is_request || frame[arp + 24..arp + 28] != address.octets() {
        return None;
    }
    let asker_mac = &frame[arp + 8..arp + 14];
    let asker_ip = &frame[arp + 14..arp + 18];
    let mut reply = Vec::with_capacity(ETH_HEADER + ARP_PAYLOAD);
    reply.extend_from_slice(asker_mac);
    reply.extend_from_slice(&mac);
    reply.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    reply.extend_from_slice(&frame[arp..arp + 6]);
    reply.extend_from_slice(&ARP_REPLY.to_be_bytes());
    reply.extend_from_slice(&mac);
    reply.extend_from_slice(&address.octets());
    reply.extend_from_slice(asker_mac);
    reply.extend_from_slice(asker_ip);
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
    const OURS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const PHONE: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

    fn request(sender_ip: [u8; 4], target: Ipv4Addr, op: u16) -> Vec<u8> {
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&PHONE);
        frame.extend_from_slice(&ETH_P_ARP.to_be_bytes());
        frame.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        frame.extend_from_slice(&op.to_be_bytes());
        frame.extend_from_slice(&PHONE);
        frame.extend_from_slice(&sender_ip);
        frame.extend_from_slice(&[0; 6]);
        frame.extend_from_slice(&target.octets());
        frame
    }

    #[test]
    fn a_request_for_the_cluster_ip_gets_a_reply_addressed_to_the_asker() {
        let reply =
            reply_to(&request([10, 77, 0, 50], VIP, ARP_REQUEST), OURS, VIP).expect("a reply");
        assert_eq!(&reply[0..6], &PHONE, "Ethernet destination: the asker");
        assert_eq!(&reply[6..12], &OURS);
        assert_eq!(u16::from_be_bytes([reply[20], reply[21]]), ARP_REPLY);
        assert_eq!(&reply[22..28], &OURS, "sender: our MAC");
        assert_eq!(&reply[28..32], &VIP.octets(), "for the cluster IP");
        assert_eq!(&reply[32..38], &PHONE);
        assert_eq!(&reply[38..42], &[10, 77, 0, 50]);
    }

    #[test]
    fn a_duplicate_address_probe_is_answered_too() {
        let reply = reply_to(&request([0; 4], VIP, ARP_REQUEST), OURS, VIP).expect("a reply");
        assert_eq!(&reply[38..42], &[0; 4]);
    }

    #[test]
    fn other_addresses_replies_and_short_frames_are_not_answered() {
        let other = Ipv4Addr::new(10, 77, 0, 11);
        assert!(reply_to(&request([10, 77, 0, 50], other, ARP_REQUEST), OURS, VIP).is_none());
        assert!(reply_to(&request([10, 77, 0, 50], VIP, ARP_REPLY), OURS, VIP).is_none());
        let frame = request([10, 77, 0, 50], VIP, ARP_REQUEST);
        assert!(reply_to(&frame[..40], OURS, VIP).is_none());
    }

    #[test]
    fn the_gate_closes_by_itself_and_when_closed() {
        let gate = ArpGate::default();
        let now = Instant::now();
        assert!(!gate.is_open(now), "closed until opened");
        gate.open_until(now + Duration::from_millis(300));
        assert!(gate.is_open(now));
        assert!(!gate.is_open(now + Duration::from_millis(300)), "expired");
        gate.open_until(now + Duration::from_secs(5));
        gate.close();
        assert!(!gate.is_open(now));
    }
}
