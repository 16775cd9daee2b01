//! Telephony reachability: the node pings the configured gateway(s) out of its
//! telephony interface. The Network Failover rule compares both nodes' answers.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::process::Command;

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
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Probes the gateways every `every`; reachable while any answered in the last
/// `misses` rounds. Starts optimistic so a fresh start does not look like an outage.
pub fn spawn(
    interface: String,
    gateways: Vec<IpAddr>,
    every: Duration,
    misses: u32,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let reachable = Arc::new(AtomicBool::new(true));
    let flag = reachable.clone();
    let task = tokio::spawn(async move {
        let mut failed_rounds = 0u32;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let mut answered = gateways.is_empty();
            for gateway in &gateways {
                if ping(&interface, *gateway, every).await {
                    answered = true;
                    break;
                }
            }
            failed_rounds = if answered {
                0
            } else {
                failed_rounds.saturating_add(1)
            };
            let now = failed_rounds < misses;
            if flag.swap(now, Ordering::Relaxed) != now {
                tracing::warn!(
                    interface,
                    reachable = now,
                    "telephony gateway reachability changed"
                );
            }
        }
    });
    (reachable, task)
}
