//! The service manager's notification protocol (`sd_notify`): `READY=1` once the node
//! serves its API and the agent has its first view, `WATCHDOG=1` from the agent's loop,
//! `STOPPING=1` on the way down. Outside systemd (no `NOTIFY_SOCKET`) nothing is sent.
//!
//! The protocol is one datagram per message to the socket systemd names; the unit
//! (`packaging/pequod.service`) sets `Type=notify` and `WatchdogSec=`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

/// The variable systemd sets to the socket it listens on.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tells systemd the node is up: the API listens and the agent has decided once.
pub fn ready() {
    notify("READY=1");
}

/// Tells systemd the node is stopping (it releases the master's duties meanwhile).
pub fn stopping() {
    notify("STOPPING=1");
}

/// A watchdog fed from a loop: pets at most every quarter of systemd's `WatchdogSec`
/// (so a cycle busy for up to three quarters of it, a promotion or a fast stop of the
/// database, is no hang), never when systemd asked for no watchdog (or asked another
/// process).
#[derive(Debug)]
pub struct Watchdog {
    every: Option<Duration>,
    last: Option<Instant>,
}

impl Watchdog {
    /// The watchdog systemd configured for this process, from `WATCHDOG_USEC` and
    /// `WATCHDOG_PID`.
    pub fn from_env() -> Self {
        Self {
            every: watchdog_interval(
                std::env::var("WATCHDOG_USEC").ok().as_deref(),
                std::env::var("WATCHDOG_PID").ok().as_deref(),
                std::process::id(),
            ),
            last: None,
        }
    }

    /// Called on every turn of the loop; sends `WATCHDOG=1` when one is due.
    pub fn pet(&mut self, now: Instant) {
        let Some(every) = self.every else { return };
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < every)
        {
            return;
        }
        self.last = Some(now);
        notify("WATCHDOG=1");
    }
}

/// How often to pet: a quarter of the timeout systemd gave, when it gave one to this
/// process.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok()? != own_pid
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 4))
}

fn notify(state: &str) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    if let Err(err) = send(&socket, state) {
        tracing::warn!(
            error = %err,
            socket = %socket.to_string_lossy(),
            state,
            "could not notify systemd"
        );
    }
}

/// Sends one notification to `socket`: a path, or an abstract name written `@name`.
pub fn send(socket: &OsStr, state: &str) -> std::io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    match socket.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sender.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            sender.send_to(state.as_bytes(), Path::new(socket))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pets_at_a_quarter_of_the_timeout_of_its_own_watchdog() {
        assert_eq!(
            watchdog_interval(Some("10000000"), None, 7),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            watchdog_interval(Some("10000000"), Some("7"), 7),
            Some(Duration::from_millis(2500))
        );
        // Another process's watchdog, none at all, or nonsense: no petting.
        assert_eq!(watchdog_interval(Some("10000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
    }

    #[test]
    fn a_notification_reaches_the_socket_as_one_datagram() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path)?;
        send(path.as_os_str(), "READY=1")?;
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"READY=1");
        Ok(())
    }

    #[test]
    fn an_abstract_socket_name_is_understood() -> anyhow::Result<()> {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("pequod-test-notify-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let listener = UnixDatagram::bind_addr(&addr)?;
        send(OsStr::new(&format!("@{name}")), "WATCHDOG=1")?;
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        Ok(())
    }
}
