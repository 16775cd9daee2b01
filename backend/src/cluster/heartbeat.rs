//! Heartbeats: small UDP datagrams each node sends on both links every
//! `heartbeat_interval`, carrying who it is, its role and epoch, and whether it reaches
//! the telephony network. Each is signed with the cluster secret (HMAC-SHA256), and a
//! replay guard drops anything older than what the sender already said.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use pequod_api::NodeId;
use pequod_api::cluster::Role;
use sha2::Sha256;

use crate::sync::advert::DatabaseAdvert;
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, watch};

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8; 4] = b"PQHB";
const VERSION: u8 = 2;
const MAC_LEN: usize = 32;
/// Everything before the host name.
const FIXED_LEN: usize = 4 + 1 + 1 + 1 + 1 + 16 + 8 + 8 + 8 + 8 + 8 + 1;

/// The two links between the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    Telephony,
    Cluster,
}

impl Link {
    fn code(self) -> u8 {
        match self {
            Link::Telephony => 1,
            Link::Cluster => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Link::Telephony),
            2 => Some(Link::Cluster),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Link::Telephony => "telephony",
            Link::Cluster => "cluster",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub node_id: NodeId,
    pub hostname: String,
    /// Random per process start, so a restarted sender's sequence may begin again.
    pub boot_id: u64,
    pub seq: u64,
    /// Sender's wall clock in ms since the epoch; orders packets across restarts.
    pub sent_at_ms: u64,
    pub link: Link,
    pub role: Role,
    pub epoch: u64,
    pub reaches_telephony: bool,
    pub holds_vip: bool,
    /// The master's database: whether commits wait for the slave, and how far they
    /// have been acknowledged (`None` from a node that runs no primary).
    pub database: Option<DatabaseAdvert>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    #[error("not a Pequod heartbeat")]
    NotAHeartbeat,
    #[error("heartbeat version {0} is not supported")]
    Version(u8),
    #[error("the signature does not match the cluster secret")]
    Forged,
    #[error("malformed heartbeat: {0}")]
    Malformed(&'static str),
    #[error("replayed or stale heartbeat")]
    Replayed,
}

fn role_code(role: Role) -> u8 {
    match role {
        Role::Standalone => 0,
        Role::Master => 1,
        Role::Slave => 2,
        Role::Standby => 3,
    }
}

fn role_from_code(code: u8) -> Option<Role> {
    match code {
        0 => Some(Role::Standalone),
        1 => Some(Role::Master),
        2 => Some(Role::Slave),
        3 => Some(Role::Standby),
        _ => None,
    }
}

#[allow(clippy::expect_used)] // HMAC accepts keys of any length: this cannot fail.
fn mac(secret: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length")
}

impl Heartbeat {
    pub fn encode(&self, secret: &[u8]) -> Vec<u8> {
        let name = self.hostname.as_bytes();
        let name = &name[..name.len().min(63)];
        let mut out = Vec::with_capacity(FIXED_LEN + name.len() + MAC_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.link.code());
        out.push(role_code(self.role));
        out.push(
            u8::from(self.reaches_telephony)
                | (u8::from(self.holds_vip) << 1)
                | (u8::from(self.database.is_some()) << 2)
                | (u8::from(self.database.is_some_and(|d| d.waits_for_slave)) << 3),
        );
        out.extend_from_slice(self.node_id.0.as_bytes());
        out.extend_from_slice(&self.boot_id.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.sent_at_ms.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.database.map_or(0, |d| d.acknowledged).to_be_bytes());
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        let mut mac = mac(secret);
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        out
    }

    pub fn decode(bytes: &[u8], secret: &[u8]) -> Result<Self, HeartbeatError> {
        if bytes.len() < 5 || &bytes[..4] != MAGIC {
            return Err(HeartbeatError::NotAHeartbeat);
        }
        if bytes[4] != VERSION {
            return Err(HeartbeatError::Version(bytes[4]));
        }
        if bytes.len() < FIXED_LEN + MAC_LEN {
            return Err(HeartbeatError::Malformed("too short"));
        }
        let (body, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut mac = mac(secret);
        mac.update(body);
        mac.verify_slice(tag).map_err(|_| HeartbeatError::Forged)?;

        let u64_at = |at: usize| -> u64 {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(&body[at..at + 8]);
            u64::from_be_bytes(buf)
        };
        let name_len = usize::from(body[FIXED_LEN - 1]);
        if body.len() != FIXED_LEN + name_len {
            return Err(HeartbeatError::Malformed("length"));
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&body[8..24]);
        Ok(Heartbeat {
            link: Link::from_code(body[5]).ok_or(HeartbeatError::Malformed("link"))?,
            role: role_from_code(body[6]).ok_or(HeartbeatError::Malformed("role"))?,
            reaches_telephony: body[7] & 1 != 0,
            holds_vip: body[7] & 2 != 0,
            node_id: NodeId(uuid::Uuid::from_bytes(id)),
            boot_id: u64_at(24),
            seq: u64_at(32),
            sent_at_ms: u64_at(40),
            epoch: u64_at(48),
            database: (body[7] & 4 != 0).then(|| DatabaseAdvert {
                waits_for_slave: body[7] & 8 != 0,
                acknowledged: u64_at(56),
            }),
            hostname: String::from_utf8_lossy(&body[FIXED_LEN..]).into_owned(),
        })
    }
}

/// Remembers the newest heartbeat of each sender and link: within one boot the
/// sequence must grow; a new boot must carry a later send time.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    newest: HashMap<(NodeId, Link), (u64, u64, u64)>,
}

impl ReplayGuard {
    pub fn accept(&mut self, hb: &Heartbeat) -> Result<(), HeartbeatError> {
        let key = (hb.node_id, hb.link);
        if let Some(&(boot, seq, sent_at)) = self.newest.get(&key) {
            let fresh = if boot == hb.boot_id {
                hb.seq > seq
            } else {
                hb.sent_at_ms > sent_at
            };
            if !fresh {
                return Err(HeartbeatError::Replayed);
            }
        }
        self.newest.insert(key, (hb.boot_id, hb.seq, hb.sent_at_ms));
        Ok(())
    }
}

/// What this node says about itself in its heartbeats.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnState {
    pub hostname: String,
    pub role: Role,
    pub epoch: u64,
    pub reaches_telephony: bool,
    pub holds_vip: bool,
    pub database: Option<DatabaseAdvert>,
}

/// One link's sockets: our address on it, and the peer's.
#[derive(Debug, Clone, Copy)]
pub struct LinkEndpoints {
    pub link: Link,
    pub local: IpAddr,
    pub peer: IpAddr,
}

/// The peer as the receiver saw it last.
#[derive(Debug, Clone, Default)]
pub struct PeerLinks {
    pub last_seen: HashMap<Link, Instant>,
    pub latest: Option<Heartbeat>,
}

impl PeerLinks {
    /// Whether any heartbeat of the peer arrived since listening began. A peer not
    /// heard yet has no known role, epoch or reachability, and is never healthy.
    pub fn heard(&self) -> bool {
        self.latest.is_some()
    }

    /// Whether a heartbeat arrived on `link` within `dead_after`. Before the first
    /// one, the peer gets `dead_after` from `since` (when listening began) to show up:
    /// a freshly paired or restarted node must not mistake "not yet" for "dead" (nor,
    /// see `heard`, for "healthy").
    pub fn alive(&self, link: Link, dead_after: Duration, now: Instant, since: Instant) -> bool {
        let seen = self.last_seen.get(&link).copied().unwrap_or(since);
        now.saturating_duration_since(seen) < dead_after
    }
}

/// Counters for packets that were dropped, readable by metrics and tests.
#[derive(Debug, Default)]
pub struct HeartbeatStats {
    pub received: AtomicU64,
    pub forged: AtomicU64,
    pub replayed: AtomicU64,
    pub malformed: AtomicU64,
}

/// The running heartbeat service: a sender and a receiver per link.
pub struct Heartbeats {
    pub peer: Arc<Mutex<PeerLinks>>,
    /// When listening began.
    pub started: Instant,
    pub stats: Arc<HeartbeatStats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Heartbeats {
    /// Stops sending and receiving and waits until the sockets are closed, so the
    /// port can be bound again at once.
    pub async fn stop(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Binds `port` on our address of each link and starts sending every `interval`.
    pub async fn start(
        node_id: NodeId,
        secret: Vec<u8>,
        links: &[LinkEndpoints],
        port: u16,
        interval: Duration,
        own: watch::Receiver<OwnState>,
    ) -> anyhow::Result<Self> {
        let secret: Arc<[u8]> = secret.into();
        let peer = Arc::new(Mutex::new(PeerLinks::default()));
        let stats = Arc::new(HeartbeatStats::default());
        let guard = Arc::new(Mutex::new(ReplayGuard::default()));
        let boot_id: u64 = rand::random();
        // Built before the sockets: when one link's socket cannot be bound, the tasks
        // already started for the others are stopped and their sockets closed, rather
        // than left running with the port held (a later start would find it in use).
        let mut heartbeats = Self {
            peer: peer.clone(),
            stats: stats.clone(),
            tasks: Vec::new(),
            started: Instant::now(),
        };
        for endpoints in links {
            let socket = match UdpSocket::bind(SocketAddr::new(endpoints.local, port)).await {
                Ok(socket) => Arc::new(socket),
                Err(e) => {
                    heartbeats.stop().await;
                    anyhow::bail!(
                        "binding the {} heartbeat socket on {}:{port}: {e}",
                        endpoints.link.as_str(),
                        endpoints.local
                    );
                }
            };
            heartbeats.tasks.push(tokio::spawn(receive(
                socket.clone(),
                endpoints.peer,
                secret.clone(),
                node_id,
                guard.clone(),
                peer.clone(),
                stats.clone(),
            )));
            heartbeats.tasks.push(tokio::spawn(send(
                socket,
                *endpoints,
                SocketAddr::new(endpoints.peer, port),
                secret.clone(),
                node_id,
                boot_id,
                interval,
                own.clone(),
            )));
        }
        heartbeats.started = Instant::now();
        Ok(heartbeats)
    }
}

#[allow(clippy::too_many_arguments)]
async fn send(
    socket: Arc<UdpSocket>,
    endpoints: LinkEndpoints,
    to: SocketAddr,
    secret: Arc<[u8]>,
    node_id: NodeId,
    boot_id: u64,
    interval: Duration,
    own: watch::Receiver<OwnState>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    loop {
        ticker.tick().await;
        seq += 1;
        let state = own.borrow().clone();
        let hb = Heartbeat {
            node_id,
            hostname: state.hostname,
            boot_id,
            seq,
            sent_at_ms: u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0),
            link: endpoints.link,
            role: state.role,
            epoch: state.epoch,
            reaches_telephony: state.reaches_telephony,
            holds_vip: state.holds_vip,
            database: state.database,
        };
        // A down link makes sends fail; the receiver side notices the silence.
        if let Err(err) = socket.send_to(&hb.encode(&secret), to).await {
            tracing::trace!(link = endpoints.link.as_str(), error = %err, "heartbeat not sent");
        }
    }
}

async fn receive(
    socket: Arc<UdpSocket>,
    peer_ip: IpAddr,
    secret: Arc<[u8]>,
    own_id: NodeId,
    guard: Arc<Mutex<ReplayGuard>>,
    peer: Arc<Mutex<PeerLinks>>,
    stats: Arc<HeartbeatStats>,
) {
    let mut buf = [0u8; 512];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let counted = match Heartbeat::decode(&buf[..len], &secret) {
            Ok(hb) if hb.node_id == own_id || from.ip() != peer_ip => {
                Err(HeartbeatError::Malformed("sender"))
            }
            Ok(hb) => match guard.lock().await.accept(&hb) {
                Ok(()) => Ok(hb),
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
        match counted {
            Ok(hb) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                let mut peer = peer.lock().await;
                peer.last_seen.insert(hb.link, Instant::now());
                peer.latest = Some(hb);
            }
            Err(HeartbeatError::Forged) => {
                stats.forged.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%from, "dropped a heartbeat with a wrong signature");
            }
            Err(HeartbeatError::Replayed) => {
                stats.replayed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%from, "dropped a replayed heartbeat");
            }
            Err(_) => {
                stats.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn beat(seq: u64) -> Heartbeat {
        Heartbeat {
            node_id: NodeId(uuid::Uuid::from_u128(7)),
            hostname: "node1".into(),
            boot_id: 42,
            seq,
            sent_at_ms: 1_000 + seq,
            link: Link::Cluster,
            role: Role::Master,
            epoch: 3,
            reaches_telephony: true,
            holds_vip: true,
            database: None,
        }
    }

    #[test]
    fn a_heartbeat_survives_the_round_trip() {
        let hb = beat(9);
        assert_eq!(Heartbeat::decode(&hb.encode(SECRET), SECRET), Ok(hb));
        for waits_for_slave in [false, true] {
            let hb = Heartbeat {
                database: Some(DatabaseAdvert {
                    waits_for_slave,
                    acknowledged: 0x16_B374_D848,
                }),
                ..beat(10)
            };
            assert_eq!(Heartbeat::decode(&hb.encode(SECRET), SECRET), Ok(hb));
        }
    }

    #[test]
    fn a_wrong_secret_or_a_flipped_bit_is_forged() {
        let bytes = beat(1).encode(SECRET);
        assert_eq!(
            Heartbeat::decode(&bytes, b"another secret"),
            Err(HeartbeatError::Forged)
        );
        for index in 5..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[index] ^= 0x01;
            assert_eq!(
                Heartbeat::decode(&tampered, SECRET),
                Err(HeartbeatError::Forged),
                "byte {index}"
            );
        }
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        for junk in [&b""[..], b"PQHB", b"PQHB\x01", b"hello world", &[0u8; 200]] {
            assert!(Heartbeat::decode(junk, SECRET).is_err());
        }
        let mut bytes = beat(1).encode(SECRET);
        bytes[4] = 9;
        assert_eq!(
            Heartbeat::decode(&bytes, SECRET),
            Err(HeartbeatError::Version(9))
        );
    }

    #[test]
    fn a_peer_not_heard_yet_gets_dead_after_to_show_up() {
        let start = Instant::now();
        let dead_after = Duration::from_millis(600);
        let mut links = PeerLinks::default();
        assert!(!links.heard());
        assert!(links.alive(
            Link::Cluster,
            dead_after,
            start + Duration::from_millis(500),
            start
        ));
        assert!(!links.alive(
            Link::Cluster,
            dead_after,
            start + Duration::from_millis(700),
            start
        ));
        links
            .last_seen
            .insert(Link::Cluster, start + Duration::from_millis(650));
        assert!(links.alive(
            Link::Cluster,
            dead_after,
            start + Duration::from_millis(700),
            start
        ));
        assert!(!links.alive(
            Link::Telephony,
            dead_after,
            start + Duration::from_millis(700),
            start
        ));
    }

    #[test]
    fn replays_and_old_boots_are_dropped() {
        let mut guard = ReplayGuard::default();
        assert!(guard.accept(&beat(1)).is_ok());
        assert!(guard.accept(&beat(2)).is_ok());
        assert_eq!(guard.accept(&beat(2)), Err(HeartbeatError::Replayed));
        assert_eq!(guard.accept(&beat(1)), Err(HeartbeatError::Replayed));
        // A restarted sender: new boot, sequence from 1, later clock.
        let restarted = Heartbeat {
            boot_id: 43,
            seq: 1,
            sent_at_ms: 5_000,
            ..beat(1)
        };
        assert!(guard.accept(&restarted).is_ok());
        // A packet of the old boot replayed afterwards.
        assert_eq!(guard.accept(&beat(3)), Err(HeartbeatError::Replayed));
        // The other link has its own sequence.
        assert!(
            guard
                .accept(&Heartbeat {
                    link: Link::Telephony,
                    ..beat(1)
                })
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_start_that_cannot_bind_one_link_frees_the_port_of_the_other() {
        let own = OwnState {
            hostname: "a".into(),
            role: Role::Slave,
            epoch: 1,
            reaches_telephony: true,
            holds_vip: false,
            database: None,
        };
        let (first, second): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
        let taken = std::net::UdpSocket::bind((second, 0)).expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let (_tx, rx) = watch::channel(own);
        let links = [
            LinkEndpoints {
                link: Link::Telephony,
                local: first,
                peer: second,
            },
            LinkEndpoints {
                link: Link::Cluster,
                local: second,
                peer: first,
            },
        ];
        let failed = Heartbeats::start(
            NodeId(uuid::Uuid::from_u128(1)),
            SECRET.to_vec(),
            &links,
            port,
            Duration::from_millis(20),
            rx,
        )
        .await;
        let error = failed.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("cluster heartbeat socket"), "{error}");
        // The telephony link's socket was bound first; it must be closed again.
        assert!(
            std::net::UdpSocket::bind((first, port)).is_ok(),
            "the port of the link that did bind is still held"
        );
    }

    #[tokio::test]
    async fn two_services_hear_each_other_and_forgeries_are_counted() {
        let own = |name: &str| OwnState {
            hostname: name.into(),
            role: Role::Master,
            epoch: 1,
            reaches_telephony: true,
            holds_vip: false,
            database: None,
        };
        let a_ip: IpAddr = [127, 0, 0, 1].into();
        let b_ip: IpAddr = [127, 0, 0, 2].into();
        let port = {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let (_a_tx, a_rx) = watch::channel(own("a"));
        let (_b_tx, b_rx) = watch::channel(own("b"));
        let a_id = NodeId(uuid::Uuid::from_u128(1));
        let b_id = NodeId(uuid::Uuid::from_u128(2));
        let interval = Duration::from_millis(20);
        let a = Heartbeats::start(
            a_id,
            SECRET.to_vec(),
            &[LinkEndpoints {
                link: Link::Cluster,
                local: a_ip,
                peer: b_ip,
            }],
            port,
            interval,
            a_rx,
        )
        .await
        .expect("a starts");
        let b = Heartbeats::start(
            b_id,
            SECRET.to_vec(),
            &[LinkEndpoints {
                link: Link::Cluster,
                local: b_ip,
                peer: a_ip,
            }],
            port,
            interval,
            b_rx,
        )
        .await
        .expect("b starts");

        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let heard_b = a.peer.lock().await.latest.clone();
            let b_hears_a = b.peer.lock().await.last_seen.contains_key(&Link::Cluster);
            if let (Some(hb), true) = (heard_b, b_hears_a) {
                assert_eq!(hb.node_id, b_id);
                assert_eq!(hb.hostname, "b");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the two services never heard each other"
            );
            tokio::time::sleep(interval).await;
        }

        // A forger with the wrong secret, sending from b's address.
        let forger = UdpSocket::bind((b_ip, 0)).await.expect("forger");
        let forged = Heartbeat {
            node_id: b_id,
            seq: u64::MAX,
            ..beat(1)
        }
        .encode(b"wrong secret");
        forger.send_to(&forged, (a_ip, port)).await.expect("send");
        let deadline = Instant::now() + Duration::from_secs(5);
        while a.stats.forged.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "the forgery was not counted");
            tokio::time::sleep(interval).await;
        }
        assert_eq!(
            a.peer
                .lock()
                .await
                .latest
                .as_ref()
                .map(|hb| hb.seq == u64::MAX),
            Some(false)
        );
    }
}
