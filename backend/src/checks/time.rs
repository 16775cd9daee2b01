//! Time: asks an NTP server for the time with one SNTP request (RFC 4330) and
//! compares it with the local clock. A cluster whose clocks drift apart writes
//! confusing logs, breaks TLS and call records; the offset is what is judged.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pequod_api::checks::CheckState;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::result::{CheckResult, Perfdata, Unit, state_label};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Allowed clock offset, in milliseconds either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeThresholds {
    pub warning_ms: u64,
    pub critical_ms: u64,
}

impl Default for TimeThresholds {
    /// A second is noticeable in logs and call records; five seconds breaks
    /// token lifetimes and confuses the replication lag check.
    fn default() -> Self {
        Self {
            warning_ms: 1_000,
            critical_ms: 5_000,
        }
    }
}

/// An NTP timestamp: 32.32 fixed point seconds since 1900, era ignored; differences
/// are taken with wrapping arithmetic so the 2036 rollover does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    pub fn from_system(time: SystemTime) -> Self {
        let since_unix = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
        Self((seconds << 32) | fraction)
    }

    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// `self - earlier` in seconds, correct across an era boundary.
    fn seconds_since(self, earlier: Self) -> f64 {
        self.0.wrapping_sub(earlier.0) as i64 as f64 / 4_294_967_296.0
    }

    fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    fn read(packet: &[u8], at: usize) -> Self {
        let mut bytes = [0u8; 8];
        if let Some(slice) = packet.get(at..at + 8) {
            bytes.copy_from_slice(slice);
        }
        Self(u64::from_be_bytes(bytes))
    }
}

/// A client request: LI 0, version 4, mode 3 (client); the transmit timestamp is the
/// only field set, and the server echoes it back as the originate timestamp.
pub fn client_request(transmit: NtpTimestamp) -> [u8; 48] {
    let mut packet = [0u8; 48];
    packet[0] = (4 << 3) | 3;
    packet[40..48].copy_from_slice(&transmit.to_bytes());
    packet
}

/// What one exchange measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Server clock minus local clock, in seconds.
    pub offset: f64,
    /// Round trip minus the server's processing time, in seconds.
    pub delay: f64,
    pub stratum: u8,
}

/// Checks a server reply against our request (RFC 4330 section 5) and computes
/// offset = ((T2 - T1) + (T3 - T4)) / 2 and delay = (T4 - T1) - (T3 - T2).
pub fn measure(
    reply: &[u8],
    sent: NtpTimestamp,
    received: NtpTimestamp,
) -> Result<Measurement, String> {
    if reply.len() < 48 {
        return Err(format!("short reply ({} bytes)", reply.len()));
    }
    let leap = reply[0] >> 6;
    let version = (reply[0] >> 3) & 0b111;
    let mode = reply[0] & 0b111;
    let stratum = reply[1];
    if mode != 4 && mode != 5 {
        return Err(format!("reply has mode {mode}, not server"));
    }
    if !(1..=4).contains(&version) {
        return Err(format!("reply has NTP version {version}"));
    }
    if NtpTimestamp::read(reply, 24) != sent {
        return Err("reply does not answer our request".into());
    }
    if stratum == 0 {
        let code = String::from_utf8_lossy(&reply[12..16])
            .trim_end_matches('\0')
            .to_string();
        return Err(format!("server sent kiss-o'-death {code:?}"));
    }
    if leap == 3 {
        return Err("server clock is not synchronised".into());
    }
    let t2 = NtpTimestamp::read(reply, 32);
    let t3 = NtpTimestamp::read(reply, 40);
    if t3.0 == 0 {
        return Err("reply has no transmit timestamp".into());
    }
    let offset = (t2.seconds_since(sent) + t3.seconds_since(received)) / 2.0;
    let delay = received.seconds_since(sent) - t3.seconds_since(t2);
    Ok(Measurement {
        offset,
        delay,
        stratum,
    })
}

/// The Time check: one SNTP exchange with `server`, judged by `thresholds`.
#[tracing::instrument]
pub async fn check_time(
    server: SocketAddr,
    thresholds: TimeThresholds,
    timeout: Duration,
) -> CheckResult {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return CheckResult::unknown(format!("cannot open a UDP socket: {e}")),
    };
    if let Err(e) = socket.connect(server).await {
        return CheckResult::unknown(format!("TIME UNKNOWN - cannot reach {server}: {e}"));
    }
    let deadline = Instant::now() + timeout;
    let sent = NtpTimestamp::now();
    if let Err(e) = socket.send(&client_request(sent)).await {
        return CheckResult::unknown(format!("TIME UNKNOWN - cannot send to {server}: {e}"));
    }

    let mut buf = [0u8; 512];
    let mut last_problem = None;
    loop {
        let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                return CheckResult::unknown(format!(
                    "TIME UNKNOWN - no answer from {server}: {e}"
                ));
            }
            Err(_) => {
                // The local clock cannot be judged without a server: UNKNOWN, not
                // CRITICAL, since nothing is known to be wrong with it.
                let why = last_problem
                    .map(|p| format!("; last reply: {p}"))
                    .unwrap_or_default();
                return CheckResult::unknown(format!(
                    "TIME UNKNOWN - no answer within {} ms from {server}{why}",
                    timeout.as_millis()
                ));
            }
        };
        let received = NtpTimestamp::now();
        match measure(&buf[..n], sent, received) {
            Ok(m) => return verdict(server, m, thresholds),
            // A stale or forged datagram: keep waiting for the real answer.
            Err(problem) => last_problem = Some(problem),
        }
    }
}

fn verdict(server: SocketAddr, m: Measurement, thresholds: TimeThresholds) -> CheckResult {
    let offset_ms = m.offset.abs() * 1000.0;
    let state = if offset_ms >= thresholds.critical_ms as f64 {
        CheckState::Critical
    } else if offset_ms >= thresholds.warning_ms as f64 {
        CheckState::Warning
    } else {
        CheckState::Ok
    };
    let round = |s: f64| (s * 1_000_000.0).round() / 1_000_000.0;
    let warn = thresholds.warning_ms as f64 / 1000.0;
    let crit = thresholds.critical_ms as f64 / 1000.0;
    CheckResult::new(
        state,
        format!(
            "TIME {} - offset {:+.3} s from {server} (stratum {})",
            state_label(state),
            m.offset,
            m.stratum
        ),
    )
    .with_perfdata(Perfdata::new("offset", round(m.offset), Unit::Seconds).thresholds(warn, crit))
    .with_perfdata(Perfdata::new("delay", round(m.delay), Unit::Seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    enum Server {
        /// Answers with its clock shifted by this many milliseconds.
        Shifted(i64),
        /// First a reply to someone else's request, then the real one.
        StaleThenShifted(i64),
        KissOfDeath,
        Nothing,
    }

    /// A minimal SNTP server on loopback (RFC 4330 section 6): stratum 2, copies the
    /// client's transmit timestamp into originate, and stamps receive and transmit
    /// times from the local clock plus the configured shift.
    async fn sntp_server(behaviour: Server) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                assert_eq!(n, 48);
                assert_eq!(buf[0] & 0b111, 3, "client mode");
                let shifted = |ms: i64| {
                    let now = SystemTime::now();
                    let at = if ms >= 0 {
                        now + Duration::from_millis(ms as u64)
                    } else {
                        now - Duration::from_millis((-ms) as u64)
                    };
                    NtpTimestamp::from_system(at)
                };
                let reply = |ms: i64, originate: [u8; 8], stratum: u8| {
                    let mut r = [0u8; 48];
                    r[0] = (4 << 3) | 4;
                    r[1] = stratum;
                    r[12..16].copy_from_slice(if stratum == 0 { b"RATE" } else { b"LOCL" });
                    r[24..32].copy_from_slice(&originate);
                    r[32..40].copy_from_slice(&shifted(ms).to_bytes());
                    r[40..48].copy_from_slice(&shifted(ms).to_bytes());
                    r
                };
                let mut originate = [0u8; 8];
                originate.copy_from_slice(&buf[40..48]);
                match behaviour {
                    Server::Shifted(ms) => {
                        socket
                            .send_to(&reply(ms, originate, 2), from)
                            .await
                            .unwrap();
                    }
                    Server::StaleThenShifted(ms) => {
                        socket
                            .send_to(&reply(-60_000, [7; 8], 2), from)
                            .await
                            .unwrap();
                        socket
                            .send_to(&reply(ms, originate, 2), from)
                            .await
                            .unwrap();
                    }
                    Server::KissOfDeath => {
                        socket.send_to(&reply(0, originate, 0), from).await.unwrap();
                    }
                    Server::Nothing => {}
                }
            }
        });
        addr
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn correct_time_is_ok() {
        let addr = sntp_server(Server::Shifted(0)).await;
        let result = check_time(addr, TimeThresholds::default(), WAIT).await;
        assert_eq!(result.state, CheckState::Ok, "{}", result.output);
        assert!(
            result.output.starts_with("TIME OK - offset "),
            "{}",
            result.output
        );
        let offset = result.perfdata[0].value.unwrap();
        assert!(offset.abs() < 0.5, "offset {offset}");
        assert_eq!(
            result.perfdata[0]
                .to_string()
                .split(';')
                .skip(1)
                .collect::<Vec<_>>(),
            ["1", "5"]
        );
    }

    #[tokio::test]
    async fn ten_seconds_off_is_critical() {
        let addr = sntp_server(Server::Shifted(10_000)).await;
        let result = check_time(addr, TimeThresholds::default(), WAIT).await;
        assert_eq!(result.state, CheckState::Critical, "{}", result.output);
        let offset = result.perfdata[0].value.unwrap();
        assert!((offset - 10.0).abs() < 0.5, "offset {offset}");

        let addr = sntp_server(Server::Shifted(-10_000)).await;
        let result = check_time(addr, TimeThresholds::default(), WAIT).await;
        assert_eq!(result.state, CheckState::Critical, "{}", result.output);
        assert!(result.output.contains("offset -10.0"), "{}", result.output);
    }

    #[tokio::test]
    async fn between_thresholds_is_warning() {
        let addr = sntp_server(Server::Shifted(2_500)).await;
        let result = check_time(addr, TimeThresholds::default(), WAIT).await;
        assert_eq!(result.state, CheckState::Warning, "{}", result.output);
    }

    #[tokio::test]
    async fn stale_replies_are_ignored() {
        let addr = sntp_server(Server::StaleThenShifted(0)).await;
        let result = check_time(addr, TimeThresholds::default(), WAIT).await;
        assert_eq!(result.state, CheckState::Ok, "{}", result.output);
    }

    #[tokio::test]
    async fn no_answer_is_unknown() {
        let addr = sntp_server(Server::Nothing).await;
        let result = check_time(addr, TimeThresholds::default(), Duration::from_millis(300)).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert_eq!(
            result.output,
            format!("TIME UNKNOWN - no answer within 300 ms from {addr}")
        );

        // The kiss-o'-death arrives at once; the deadline only has to outlast it.
        let addr = sntp_server(Server::KissOfDeath).await;
        let result = check_time(addr, TimeThresholds::default(), Duration::from_millis(2000)).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert!(
            result
                .output
                .ends_with("last reply: server sent kiss-o'-death \"RATE\""),
            "{}",
            result.output
        );
    }

    #[test]
    fn offset_and_delay_formula() {
        // T1 = 100, T2 = 110.1, T3 = 110.2, T4 = 100.3: the server is 10 s ahead,
        // 0.1 s each way on the wire, 0.1 s spent in the server.
        let ts = |s: f64| NtpTimestamp((s * 4_294_967_296.0) as u64);
        let mut reply = [0u8; 48];
        reply[0] = (4 << 3) | 4;
        reply[1] = 1;
        reply[24..32].copy_from_slice(&ts(100.0).to_bytes());
        reply[32..40].copy_from_slice(&ts(110.1).to_bytes());
        reply[40..48].copy_from_slice(&ts(110.2).to_bytes());
        let m = measure(&reply, ts(100.0), ts(100.3)).unwrap();
        assert!((m.offset - 10.0).abs() < 1e-6, "{m:?}");
        assert!((m.delay - 0.2).abs() < 1e-6, "{m:?}");

        reply[0] = (3 << 6) | (4 << 3) | 4;
        assert_eq!(
            measure(&reply, ts(100.0), ts(100.3)),
            Err("server clock is not synchronised".into())
        );
        assert!(measure(&reply[..40], ts(100.0), ts(100.3)).is_err());
    }

    #[test]
    fn era_rollover_does_not_matter() {
        // 2036-02-07: the 32-bit seconds wrap to 0.
        let before = NtpTimestamp(u64::MAX - (1 << 32) + 1); // one second before the wrap
        let after = NtpTimestamp(1 << 32); // one second after
        assert!((after.seconds_since(before) - 2.0).abs() < 1e-9);
        assert!((before.seconds_since(after) + 2.0).abs() < 1e-9);
    }

    #[test]
    fn request_layout() {
        let t = NtpTimestamp::now();
        let packet = client_request(t);
        assert_eq!(packet[0], 0x23, "LI 0, VN 4, mode 3");
        assert_eq!(NtpTimestamp::read(&packet, 40), t);
        assert!(packet[..40].iter().skip(1).all(|&b| b == 0));
    }
}
