//! What the phones see: a watch that asks "who has the cluster IP?" from the phone's
//! namespace every [`ArpWatch::INTERVAL`] for the whole of a test and records every MAC
//! that answers each request. Two MACs answering one request means two machines
//! hold the cluster IP at once, the failure a cluster manager exists to prevent.
//!
//! The requests are ARP probes (`arping -D`, sender address 0.0.0.0), so the replies
//! to them are told apart from the replies to the phone kernel's own requests (those
//! carry the phone's address). A packet socket on the phone's side receives every
//! reply, also those `arping` no longer waits for.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sched::{CloneFlags, setns};

use crate::lab::{Lab, Ns};
pub use crate::packet::Mac;
use crate::packet::reply_socket;

/// One probe and the MACs that answered it.
#[derive(Debug, Clone)]
pub struct ArpSample {
    /// When the probe was sent, from the start of the watch.
    pub at: Duration,
    pub macs: BTreeSet<Mac>,
}

#[derive(Default)]
struct Shared {
    samples: Vec<ArpSample>,
    error: Option<String>,
}

/// The phone-side ARP watch; see the module documentation. Stopped on drop; call
/// [`ArpWatch::finish`] to judge it.
pub struct ArpWatch {
    target: Ipv4Addr,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ArpWatch {
    /// Time between two probes: shorter than any two-holder window worth catching
    /// (a heartbeat interval and an agent cycle), long enough for a small machine.
    pub const INTERVAL: Duration = Duration::from_millis(50);

    /// Starts watching `target` (normally [`Lab::VIP`]) from the phone.
    pub fn start(lab: &Lab, target: Ipv4Addr) -> Result<ArpWatch> {
        anyhow::ensure!(
            crate::lab::is_lab_addr(target),
            "{target} is not a lab address"
        );
        let phone = lab.mac(Ns::Phone, Lab::TELEPHONY_IF)?;
        let netns = File::open(format!("/run/netns/{}", lab.ns(Ns::Phone)))
            .context("opening the phone's namespace")?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                let socket = setns(&netns, CloneFlags::CLONE_NEWNET)
                    .context("entering the phone's namespace")
                    .and_then(|()| reply_socket());
                match socket {
                    Ok(socket) => {
                        let _ = ready_tx.send(Ok(()));
                        if let Err(e) = watch(&socket, target, phone, &shared, &stop) {
                            lock(&shared).error = Some(format!("{e:#}"));
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
        };
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the ARP watch thread ended at once"))??;
        Ok(ArpWatch {
            target,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<ArpSample> {
        lock(&self.shared).samples.clone()
    }

    /// The MACs that answered the newest answered probe, if any was answered.
    pub fn latest_answer(&self) -> Option<BTreeSet<Mac>> {
        lock(&self.shared)
            .samples
            .iter()
            .rev()
            .find(|s| !s.macs.is_empty())
            .map(|s| s.macs.clone())
    }

    /// Fails when some probe so far got answers from two MACs, or the watch broke.
    pub fn check(&self) -> Result<()> {
        let shared = lock(&self.shared);
        if let Some(error) = &shared.error {
            bail!("the ARP watch failed: {error}");
        }
        let doubles: Vec<String> = shared
            .samples
            .iter()
            .filter(|s| s.macs.len() > 1)
            .map(|s| format!("at {} ms: {:?}", s.at.as_millis(), s.macs))
            .collect();
        if !doubles.is_empty() {
            bail!(
                "the phone saw two holders of {}: {} of {} probes were answered by more than one MAC ({})",
                self.target,
                doubles.len(),
                shared.samples.len(),
                doubles.join("; ")
            );
        }
        Ok(())
    }

    /// Stops the watch and judges it (see [`ArpWatch::check`]); also fails when the
    /// watch took no sample at all, for then it proved nothing. Returns the samples.
    pub fn finish(mut self) -> Result<Vec<ArpSample>> {
        self.stop_thread();
        self.check()?;
        let samples = self.samples();
        anyhow::ensure!(
            samples.iter().any(|s| !s.macs.is_empty()),
            "the ARP watch never heard an answer for {} in {} probes",
            self.target,
            samples.len()
        );
        Ok(samples)
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ArpWatch {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends a probe every interval and files each probe reply under the newest probe.
fn watch(
    socket: &UdpSocket,
    target: Ipv4Addr,
    phone: Mac,
    shared: &Mutex<Shared>,
    stop: &AtomicBool,
) -> Result<()> {
    let started = Instant::now();
    let mut probes: Vec<Child> = Vec::new();
    let mut next_probe = Instant::now();
    let mut buf = [0u8; 2048];
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if Instant::now() >= next_probe {
            probes.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
            // -D: an ARP probe, so the answer names 0.0.0.0 as its target; -w 1: an
            // unanswered probe gives up after a second (the watch goes on meanwhile).
            let child = Command::new("arping")
                .args(["-q", "-D", "-c", "1", "-w", "1", "-I", "eth0"])
                .arg(target.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match child {
                Ok(child) => probes.push(child),
                Err(e) => break Err(anyhow!("running arping (iputils-arping): {e}")),
            }
            lock(shared).samples.push(ArpSample {
                at: started.elapsed(),
                macs: BTreeSet::new(),
            });
            // After a stall, go on from now rather than fire the missed probes at once.
            next_probe = (next_probe + ArpWatch::INTERVAL).max(Instant::now());
        }
        match socket.recv(&mut buf) {
            Ok(len) => {
                if let Some(mac) = probe_reply(&buf[..len.min(buf.len())], target, phone) {
                    let mut shared = lock(shared);
                    if let Some(sample) = shared.samples.last_mut() {
                        sample.macs.insert(mac);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => break Err(anyhow!("reading the packet socket: {e}")),
        }
    };
    for mut child in probes {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

/// The sender MAC of an Ethernet frame that is an ARP reply for `target` to a probe
/// of the phone (target protocol address 0.0.0.0, target MAC the phone's).
fn probe_reply(frame: &[u8], target: Ipv4Addr, phone: Mac) -> Option<Mac> {
    // Ethernet: dst 6, src 6, type 2; ARP: htype 2, ptype 2, hlen 1, plen 1, op 2,
    // sha 6, spa 4, tha 6, tpa 4.
    let arp = frame.get(14..42)?;
    let is_arp = frame.get(12..14)? == [0x08, 0x06];
    let ethernet_ipv4 = arp[0..6] == [0x00, 0x01, 0x08, 0x00, 6, 4];
    let reply = arp[6..8] == [0x00, 0x02];
    let from_target = arp[14..18] == target.octets();
    let to_probe = arp[18..24] == phone.0 && arp[24..28] == [0, 0, 0, 0];
    if !(is_arp && ethernet_ipv4 && reply && from_target && to_probe) {
        return None;
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&arp[8..14]);
    Some(Mac(mac))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frame(op: u8, spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0, op]);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&tpa);
        f
    }

    #[test]
    fn only_replies_to_probes_for_the_target_count() {
        let vip = Ipv4Addr::new(10, 77, 0, 10);
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        let phone = Mac([2, 0, 0, 0, 0, 2]);
        let reply = |frame: &[u8]| probe_reply(frame, vip, phone);
        assert_eq!(reply(&frame(2, vip.octets(), [0; 4])), Some(mac));
        // The reply to the phone's own request, a request, another address, another
        // prober, a cut frame.
        assert_eq!(reply(&frame(2, vip.octets(), [10, 77, 0, 100])), None);
        assert_eq!(reply(&frame(1, vip.octets(), [0; 4])), None);
        assert_eq!(reply(&frame(2, [10, 77, 0, 11], [0; 4])), None);
        assert_eq!(probe_reply(&frame(2, vip.octets(), [0; 4]), vip, mac), None);
        assert_eq!(reply(&frame(2, vip.octets(), [0; 4])[..30]), None);
        assert_eq!(Mac::parse("02:00:00:00:00:01").unwrap(), mac);
        assert_eq!(mac.to_string(), "02:00:00:00:00:01");
    }
}
