//! Asterisk SIP: sends a SIP OPTIONS request over UDP and waits for a final answer.
//! Any final response up to 4xx proves the SIP stack is alive (a 404 or 401 is still
//! an answer); 5xx/6xx or silence mean it is not serving calls.

use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use rand::distributions::Alphanumeric;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::result::{CheckResult, Perfdata, Unit};

/// RFC 3261 timers for a non-INVITE request over UDP: retransmit after T1, doubling
/// up to T2, so one lost datagram does not fail the check.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// The SIP check against `target` (usually the cluster IP, port 5060).
#[tracing::instrument]
pub async fn check_sip(target: SocketAddr, timeout: Duration) -> CheckResult {
    let bind: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return CheckResult::unknown(format!("cannot open a UDP socket: {e}")),
    };
    // Connected, so the kernel drops datagrams from anyone else and reports ICMP
    // port-unreachable as an error instead of silence.
    if let Err(e) = socket.connect(target).await {
        return CheckResult::critical(format!("SIP CRITICAL - cannot reach {target}: {e}"));
    }
    let local = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => return CheckResult::unknown(format!("cannot read the local address: {e}")),
    };
    let call_id = token(24);
    let request = options_request(target, local, &call_id);

    let started = Instant::now();
    let deadline = started + timeout;
    let mut next_send = started;
    let mut interval = T1;
    let mut buf = vec![0u8; 65_535];
    loop {
        let now = Instant::now();
        if now >= next_send {
            if let Err(e) = socket.send(request.as_bytes()).await {
                return refused_or(target, &e, "cannot send to");
            }
            next_send = now + interval;
            interval = (interval * 2).min(T2);
        }
        let wake = next_send.min(deadline);
        match tokio::time::timeout_at(wake, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                let Some(status) = parse_response(&buf[..n], &call_id) else {
                    continue; // not ours, or not SIP: keep listening
                };
                if status.code < 200 {
                    continue; // 100 Trying and friends: the final answer follows
                }
                return verdict(target, status, started.elapsed(), timeout);
            }
            Ok(Err(e)) => return refused_or(target, &e, "no answer from"),
            Err(_) if wake >= deadline => {
                return CheckResult::critical(format!(
                    "SIP CRITICAL - no answer within {} ms from {target}",
                    timeout.as_millis()
                ));
            }
            Err(_) => {} // time to retransmit
        }
    }
}

fn refused_or(target: SocketAddr, e: &std::io::Error, what: &str) -> CheckResult {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        CheckResult::critical(format!(
            "SIP CRITICAL - {target} refused the request (nothing listens on that port)"
        ))
    } else {
        CheckResult::critical(format!("SIP CRITICAL - {what} {target}: {e}"))
    }
}

fn verdict(target: SocketAddr, status: Status, took: Duration, timeout: Duration) -> CheckResult {
    let line = format!("{} {}", status.code, status.reason);
    let time =
        Perfdata::new("time", round_ms(took), Unit::Seconds).range(0.0, timeout.as_secs_f64());
    if status.code < 500 {
        CheckResult::ok(format!(
            "SIP OK - {line} from {target} in {} ms",
            took.as_millis()
        ))
        .with_perfdata(time)
    } else {
        CheckResult::critical(format!("SIP CRITICAL - {line} from {target}")).with_perfdata(time)
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A minimal RFC 3261 OPTIONS request; `rport` asks the server to answer to the
/// address it saw, which matters behind NAT.
fn options_request(target: SocketAddr, local: SocketAddr, call_id: &str) -> String {
    let branch = token(16);
    let tag = token(10);
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:pequod@{local}>;tag={tag}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:pequod@{local}>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: Pequod health check\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[derive(Debug, PartialEq)]
struct Status {
    code: u16,
    reason: String,
}

/// The status of a response to our request, or `None` for anything else.
fn parse_response(datagram: &[u8], call_id: &str) -> Option<Status> {
    let text = std::str::from_utf8(datagram).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("SIP/2.0 ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok().filter(|c| (100..700).contains(c))?;
    let ours = lines.take_while(|l| !l.is_empty()).any(|header| {
        header.split_once(':').is_some_and(|(name, value)| {
            let name = name.trim();
            (name.eq_ignore_ascii_case("call-id") || name == "i") && value.trim() == call_id
        })
    });
    ours.then(|| Status {
        code,
        reason: reason.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use pequod_api::checks::CheckState;

    use super::*;

    #[derive(Clone, Copy)]
    enum Answer {
        /// Provisional 100 first, then this final code.
        Status(u16, &'static str),
        /// A stray datagram with another Call-ID, then this final code.
        StrayThen(u16, &'static str),
        Nothing,
    }

    /// A tiny SIP endpoint on loopback: answers each request as RFC 3261 says a UAS
    /// does, copying Via, From, To, Call-ID and CSeq.
    async fn responder(answer: Answer) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                let request = std::str::from_utf8(&buf[..n]).unwrap().to_string();
                assert!(
                    request.starts_with(&format!("OPTIONS sip:{addr} SIP/2.0\r\n")),
                    "{request}"
                );
                assert!(request.ends_with("\r\n\r\n"));
                let copied: String = request
                    .split("\r\n")
                    .filter(|l| {
                        ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                            .iter()
                            .any(|h| l.starts_with(h))
                    })
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                let reply = |code: u16, reason: &str, headers: &str| {
                    format!("SIP/2.0 {code} {reason}\r\n{headers}Content-Length: 0\r\n\r\n")
                };
                match answer {
                    Answer::Status(code, reason) => {
                        socket
                            .send_to(reply(100, "Trying", &copied).as_bytes(), from)
                            .await
                            .unwrap();
                        socket
                            .send_to(reply(code, reason, &copied).as_bytes(), from)
                            .await
                            .unwrap();
                    }
                    Answer::StrayThen(code, reason) => {
                        let stray = copied
                            .split("\r\n")
                            .map(|l| {
                                if l.starts_with("Call-ID:") {
                                    "Call-ID: someone-else"
                                } else {
                                    l
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("\r\n");
                        socket
                            .send_to(reply(200, "OK", &stray).as_bytes(), from)
                            .await
                            .unwrap();
                        socket.send_to(b"\xff\xfe not sip", from).await.unwrap();
                        socket
                            .send_to(reply(code, reason, &copied).as_bytes(), from)
                            .await
                            .unwrap();
                    }
                    Answer::Nothing => {}
                }
            }
        });
        addr
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn final_answers_up_to_4xx_are_alive() {
        for (code, reason) in [(200, "OK"), (404, "Not Found"), (401, "Unauthorized")] {
            let addr = responder(Answer::Status(code, reason)).await;
            let result = check_sip(addr, WAIT).await;
            assert_eq!(result.state, CheckState::Ok, "{}", result.output);
            assert!(
                result
                    .output
                    .starts_with(&format!("SIP OK - {code} {reason} from {addr} in ")),
                "{}",
                result.output
            );
            assert_eq!(result.perfdata[0].label, "time");
        }
    }

    #[tokio::test]
    async fn server_errors_are_critical() {
        for (code, reason) in [(503, "Service Unavailable"), (603, "Decline")] {
            let addr = responder(Answer::Status(code, reason)).await;
            let result = check_sip(addr, WAIT).await;
            assert_eq!(result.state, CheckState::Critical, "{}", result.output);
            assert_eq!(
                result.output,
                format!("SIP CRITICAL - {code} {reason} from {addr}")
            );
        }
    }

    #[tokio::test]
    async fn foreign_datagrams_are_ignored() {
        let addr = responder(Answer::StrayThen(503, "Service Unavailable")).await;
        let result = check_sip(addr, WAIT).await;
        assert_eq!(
            result.state,
            CheckState::Critical,
            "the stray 200 must not count: {}",
            result.output
        );
    }

    #[tokio::test]
    async fn silence_is_critical_after_the_timeout() {
        let addr = responder(Answer::Nothing).await;
        let started = std::time::Instant::now();
        let result = check_sip(addr, Duration::from_millis(1200)).await;
        assert!(started.elapsed() >= Duration::from_millis(1200));
        assert_eq!(result.state, CheckState::Critical);
        assert_eq!(
            result.output,
            format!("SIP CRITICAL - no answer within 1200 ms from {addr}")
        );
    }

    #[tokio::test]
    async fn closed_port_is_critical() {
        // Bind and drop to get a port nobody listens on.
        let addr = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let result = check_sip(addr, WAIT).await;
        assert_eq!(result.state, CheckState::Critical, "{}", result.output);
        assert!(result.output.contains("refused"), "{}", result.output);
    }

    #[test]
    fn response_parsing() {
        let ok = "SIP/2.0 200 OK\r\nCall-ID: abc\r\n\r\n".as_bytes();
        assert_eq!(
            parse_response(ok, "abc"),
            Some(Status {
                code: 200,
                reason: "OK".into()
            })
        );
        let compact = "SIP/2.0 486 Busy Here\r\ni: abc\r\n\r\n".as_bytes();
        assert_eq!(parse_response(compact, "abc").map(|s| s.code), Some(486));
        for garbage in [
            &b"SIP/2.0 200 OK\r\nCall-ID: other\r\n\r\n"[..],
            b"SIP/2.0 999 Huh\r\nCall-ID: abc\r\n\r\n",
            b"OPTIONS sip:x SIP/2.0\r\nCall-ID: abc\r\n\r\n",
            b"SIP/2.0 abc\r\nCall-ID: abc\r\n",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(
                parse_response(garbage, "abc"),
                None,
                "{:?}",
                String::from_utf8_lossy(garbage)
            );
        }
    }
}
