//! Telephony reachability: the node pings the configured gateway(s) out of its
//! telephony interface. The Network Failover rule compares both nodes' answers. Until
//! the probe has an answer, the node does not know; without a gateway it cannot know.

use std::net::IpAddr;
use std::time::Duration;

use pequod_api::cluster::GatewayState;
use tokio::process::Command;
use tokio::sync::watch;

/// What this node knows about the telephony network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reachability {
    /// Not judged yet: no gateway answered so far, and fewer rounds than allowed
    /// failed. Blocks what needs the network (a takeover, resuming as master).
    #[default]
    Unknown,
    /// A gateway answered within the last rounds allowed to fail.
    Reachable,
    /// No gateway answered in as many rounds as allowed to fail.
    Unreachable,
    /// No gateway in the configuration: the node cannot judge the telephony network,
    /// so it never moves the services because of it.
    NotConfigured,
}

impl Reachability {
    /// The bit the heartbeats carry: false only for a known outage, so the peer never
    /// fails over on a guess (not probed yet, or nothing to probe).
    pub fn heartbeat_bit(self) -> bool {
        self != Reachability::Unreachable
    }
}

impl From<Reachability> for GatewayState {
    fn from(reachability: Reachability) -> Self {
        match reachability {
            Reachability::Unknown => GatewayState::Unknown,
            Reachability::Reachable => GatewayState::Reachable,
            Reachability::Unreachable => GatewayState::Unreachable,
            Reachability::NotConfigured => GatewayState::NotConfigured,
        }
    }
}

/// One ICMP echo; true when the gateway answered within `timeout`.
pub async fn ping(interface: &str, gateway: IpAddr, timeout: Duration) -> bool {
    let wait = format!("{:.3}", timeout.as_secs_f64());
    Command::new("ping")
        .args(["-n", "-q", "-c", "1", "-W", &wait, "-I", interface])
        .arg(gateway.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        // A ping that cannot run is no answer.
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Counts the probe rounds into a verdict: reachable as soon as a gateway answers,
/// unreachable once `misses` rounds in a row went unanswered, unknown before either.
#[derive(Debug, Clone)]
struct Verdict {
    misses: u32,
    failed_rounds: u32,
    state: Reachability,
}

impl Verdict {
    fn new(misses: u32) -> Self {
        Self {
            misses: misses.max(1),
            failed_rounds: 0,
            state: Reachability::Unknown,
        }
    }

    fn round(&mut self, answered: bool) -> Reachability {
        if answered {
            self.failed_rounds = 0;
            self.state = Reachability::Reachable;
        } else {
            self.failed_rounds = self.failed_rounds.saturating_add(1);
            if self.failed_rounds >= self.misses {
                self.state = Reachability::Unreachable;
            }
        }
        self.state
    }
}

/// Probes the gateways at once and then every `every`; the receiver holds the latest
/// verdict (unknown until the rounds tell, not configured without gateways).
pub fn spawn(
    interface: String,
    gateways: Vec<IpAddr>,
    every: Duration,
    misses: u32,
) -> (watch::Receiver<Reachability>, tokio::task::JoinHandle<()>) {
    if gateways.is_empty() {
        let (tx, rx) = watch::channel(Reachability::NotConfigured);
        // The sender lives as long as the task, so the receiver keeps its value.
        let task = tokio::spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await;
        });
        return (rx, task);
    }
    let (tx, rx) = watch::channel(Reachability::Unknown);
    let task = tokio::spawn(async move {
        let mut verdict = Verdict::new(misses);
        // The first tick completes at once: the first round starts with the probe.
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let mut answered = false;
            for gateway in &gateways {
                if ping(&interface, *gateway, every).await {
                    answered = true;
                    break;
                }
            }
            let now = verdict.round(answered);
            let before = tx.send_replace(now);
            if before != now {
                tracing::warn!(
                    interface,
                    reachability = ?now,
                    "telephony gateway reachability changed"
                );
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_until_an_answer_or_enough_misses() {
        let mut verdict = Verdict::new(2);
        assert_eq!(verdict.state, Reachability::Unknown);
        assert_eq!(verdict.round(false), Reachability::Unknown);
        assert_eq!(verdict.round(false), Reachability::Unreachable);
        assert_eq!(verdict.round(true), Reachability::Reachable);
        assert_eq!(verdict.round(false), Reachability::Reachable);
        assert_eq!(verdict.round(false), Reachability::Unreachable);

        let mut first_answer = Verdict::new(3);
        assert_eq!(first_answer.round(true), Reachability::Reachable);
    }

    #[test]
    fn the_heartbeat_reports_no_outage_it_does_not_know_of() {
        assert!(Reachability::Reachable.heartbeat_bit());
        assert!(Reachability::NotConfigured.heartbeat_bit());
        assert!(Reachability::Unknown.heartbeat_bit());
        assert!(!Reachability::Unreachable.heartbeat_bit());
    }

    #[tokio::test]
    async fn no_gateway_is_not_configured_rather_than_reachable() {
        let (rx, task) = spawn("lo".into(), Vec::new(), Duration::from_millis(50), 2);
        assert_eq!(*rx.borrow(), Reachability::NotConfigured);
        task.abort();
    }

    #[tokio::test]
    async fn a_silent_gateway_starts_unknown_and_becomes_unreachable() {
        // 192.0.2.0/24 is TEST-NET-1: nothing answers there, and `lo` has no route to it.
        let (mut rx, task) = spawn(
            "lo".into(),
            vec!["192.0.2.1".parse().expect("address")],
            Duration::from_millis(50),
            2,
        );
        assert_eq!(*rx.borrow(), Reachability::Unknown);
        let verdict = tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|r| *r != Reachability::Unknown),
        )
        .await
        .expect("a verdict within 10 s")
        .map(|r| *r)
        .expect("the probe runs");
        assert_eq!(verdict, Reachability::Unreachable);
        task.abort();
    }
}
