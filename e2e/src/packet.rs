//! What the lab reads off the wire: MAC addresses, and a packet socket that sees every
//! frame of the namespace it is opened in (the ARP watch, the capture of a datagram).

use std::fmt;
use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};

/// A MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `aa:bb:cc:dd:ee:ff`.
    pub fn parse(text: &str) -> Result<Mac> {
        let mut out = [0u8; 6];
        let parts: Vec<&str> = text.trim().split(':').collect();
        anyhow::ensure!(parts.len() == 6, "{text:?} is not a MAC address");
        for (byte, part) in out.iter_mut().zip(parts) {
            *byte = u8::from_str_radix(part, 16)
                .with_context(|| format!("{text:?} is not a MAC address"))?;
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A packet socket for every frame in the current namespace (both directions, every
/// interface). std's socket type gives it read timeouts and `recv` without unsafe code.
pub(crate) fn reply_socket() -> Result<UdpSocket> {
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .context("opening a packet socket")?;
    let socket = UdpSocket::from(fd);
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .context("setting the packet socket's timeout")?;
    Ok(socket)
}
