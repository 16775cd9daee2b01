//! The lab: network namespaces made and torn down by the tests themselves.
//!
//! Topology (every name below lives inside a namespace of the lab; nothing is
//! created in the root namespace):
//!
//! ```text
//!                       {p}-lan: bridge br0
//!         ┌──────────────┬──────┴───────┬──────────────┐
//!        n1             n2             ph             gw        (veth ends in lan)
//!         │              │              │              │
//!   {p}-node1 eth0  {p}-node2 eth0  {p}-phone eth0  {p}-gateway eth0
//!   10.77.0.11/24   10.77.0.12/24   10.77.0.100/24  10.77.0.1/24
//!   {p}-node1 eth1 ─────────── {p}-node2 eth1      (cluster link)
//!   10.78.0.1/30               10.78.0.2/30
//! ```
//!
//! The cluster IP ([`Lab::VIP`], 10.77.0.10/24) is reserved for the tests and
//! never assigned by the lab. Only addresses inside the lab (10.77/16, 10.78/16)
//! or 127.0.0.1 are ever used; the helpers that send traffic refuse anything
//! else (see [`is_lab_addr`]).

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};
use nix::sys::prctl::set_child_subreaper;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Every lab namespace name starts with this, then `{pid}x{counter}-{role}`.
const PREFIX_TAG: &str = "pq";

/// Labs made by this process so far; makes the prefix unique per lab.
static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Serialises `ip netns add/del` and the stale-namespace sweep inside this
/// process (parallel tests share it).
static NETNS_LOCK: Mutex<()> = Mutex::new(());

/// How often [`Lab::sip_options`] retransmits its request.
const SIP_RETRANSMIT: Duration = Duration::from_millis(100);

/// How long [`Lab::start_kamailio`] waits for Kamailio to answer.
const KAMAILIO_START_TIMEOUT: Duration = Duration::from_secs(10);

/// The namespaces of a lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ns {
    /// Holds the telephony bridge `br0`.
    Lan,
    /// First cluster node.
    Node1,
    /// Second cluster node.
    Node2,
    /// A SIP phone.
    Phone,
    /// The SIP gateway / trunk side.
    Gateway,
}

impl Ns {
    /// All namespaces, in creation order.
    pub const ALL: [Ns; 5] = [Ns::Lan, Ns::Node1, Ns::Node2, Ns::Phone, Ns::Gateway];

    /// The hosts attached to the telephony bridge.
    pub const HOSTS: [Ns; 4] = [Ns::Node1, Ns::Node2, Ns::Phone, Ns::Gateway];

    /// The role name, used as the suffix of the namespace name.
    pub const fn role(self) -> &'static str {
        match self {
            Ns::Lan => "lan",
            Ns::Node1 => "node1",
            Ns::Node2 => "node2",
            Ns::Phone => "phone",
            Ns::Gateway => "gateway",
        }
    }

    /// The address on the telephony network (`eth0`), if the namespace has one.
    pub const fn telephony_ip(self) -> Option<Ipv4Addr> {
        match self {
            Ns::Lan => None,
            Ns::Node1 => Some(Lab::NODE1_IP),
            Ns::Node2 => Some(Lab::NODE2_IP),
            Ns::Phone => Some(Lab::PHONE_IP),
            Ns::Gateway => Some(Lab::GATEWAY_IP),
        }
    }

    /// The address on the cluster link (`eth1`), for the two nodes.
    pub const fn cluster_ip(self) -> Option<Ipv4Addr> {
        match self {
            Ns::Node1 => Some(Lab::NODE1_CLUSTER_IP),
            Ns::Node2 => Some(Lab::NODE2_CLUSTER_IP),
            _ => None,
        }
    }

    /// Name of the bridge-side veth end in the `lan` namespace.
    const fn bridge_port(self) -> Option<&'static str> {
        match self {
            Ns::Lan => None,
            Ns::Node1 => Some("n1"),
            Ns::Node2 => Some("n2"),
            Ns::Phone => Some("ph"),
            Ns::Gateway => Some("gw"),
        }
    }
}

impl std::fmt::Display for Ns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.role())
    }
}

/// A process started by the lab.
struct Tracked {
    pid: u32,
    label: String,
    child: Child,
}

/// One lab: its namespaces, the processes started in them and a temp dir.
///
/// Torn down by [`Lab::shutdown`] or on drop.
pub struct Lab {
    name: String,
    prefix: String,
    dir: Option<tempfile::TempDir>,
    /// Namespaces created so far (full names), in creation order.
    created: Vec<String>,
    procs: Mutex<Vec<Tracked>>,
    shut_down: bool,
}

impl Lab {
    /// The telephony network, 10.77.0.0/24.
    pub const TELEPHONY_NET: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 0);
    /// Prefix length of the telephony network.
    pub const TELEPHONY_PREFIX_LEN: u8 = 24;
    /// The gateway's telephony address.
    pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    /// The cluster IP reserved for the tests (not assigned by the lab).
    pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
    /// Node 1's telephony address.
    pub const NODE1_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
    /// Node 2's telephony address.
    pub const NODE2_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);
    /// The phone's telephony address.
    pub const PHONE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
    /// The cluster link, 10.78.0.0/30.
    pub const CLUSTER_NET: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 0);
    /// Prefix length of the cluster link.
    pub const CLUSTER_PREFIX_LEN: u8 = 30;
    /// Node 1's cluster-link address.
    pub const NODE1_CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
    /// Node 2's cluster-link address.
    pub const NODE2_CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
    /// Telephony interface in node1, node2, phone and gateway.
    pub const TELEPHONY_IF: &'static str = "eth0";
    /// Cluster-link interface in node1 and node2.
    pub const CLUSTER_IF: &'static str = "eth1";
    /// The bridge in the `lan` namespace.
    pub const BRIDGE: &'static str = "br0";
    /// The SIP port Kamailio listens on.
    pub const SIP_PORT: u16 = 5060;

    /// Builds a new lab. `name` only labels the temp dir and messages.
    ///
    /// First removes namespaces left by earlier crashed runs (see
    /// [`remove_stale_namespaces`]). Makes this process a child subreaper
    /// (`PR_SET_CHILD_SUBREAPER`) so the workers of killed lab processes can
    /// be reaped instead of lingering as zombies.
    pub fn new(name: &str) -> Result<Lab> {
        become_subreaper();
        if let Err(e) = remove_stale_namespaces() {
            eprintln!("lab {name}: could not sweep stale namespaces: {e:#}");
        }
        let prefix = format!(
            "{PREFIX_TAG}{}x{}",
            std::process::id(),
            LAB_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("pequod-lab-{prefix}-"))
            .tempdir()
            .context("creating the lab's temp dir")?;
        let mut lab = Lab {
            name: name.to_owned(),
            prefix,
            dir: Some(dir),
            created: Vec::new(),
            procs: Mutex::new(Vec::new()),
            shut_down: false,
        };
        // On error `lab` is dropped here, which tears down what was built.
        lab.build()
            .with_context(|| format!("building lab {name} ({})", lab.prefix))?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<()> {
        {
            let _guard = netns_lock();
            for ns in Ns::ALL {
                let name = self.ns(ns);
                run("ip", &["netns", "add", &name])?;
                self.created.push(name);
            }
        }
        for ns in Ns::ALL {
            let name = self.ns(ns);
            // No IPv6: keeps the links quiet (no DAD, RS, MLD).
            self.in_netns(ns, || -> Result<()> {
                for conf in ["all", "default"] {
                    let path = format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6");
                    if Path::new(&path).exists() {
                        fs::write(&path, "1").with_context(|| format!("writing {path}"))?;
                    }
                }
                Ok(())
            })??;
            run("ip", &["-n", &name, "link", "set", "lo", "up"])?;
        }

        let lan = self.ns(Ns::Lan);
        run(
            "ip",
            &[
                "-n",
                &lan,
                "link",
                "add",
                Self::BRIDGE,
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ],
        )?;
        run("ip", &["-n", &lan, "link", "set", Self::BRIDGE, "up"])?;

        for host in Ns::HOSTS {
            let (Some(port), Some(ip)) = (host.bridge_port(), host.telephony_ip()) else {
                continue;
            };
            let name = self.ns(host);
            run(
                "ip",
                &[
                    "-n",
                    &lan,
                    "link",
                    "add",
                    port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    Self::TELEPHONY_IF,
                    "netns",
                    &name,
                ],
            )?;
            run(
                "ip",
                &[
                    "-n",
                    &lan,
                    "link",
                    "set",
                    port,
                    "master",
                    Self::BRIDGE,
                    "up",
                ],
            )?;
            let cidr = format!("{ip}/{}", Self::TELEPHONY_PREFIX_LEN);
            run(
                "ip",
                &["-n", &name, "addr", "add", &cidr, "dev", Self::TELEPHONY_IF],
            )?;
            run(
                "ip",
                &["-n", &name, "link", "set", Self::TELEPHONY_IF, "up"],
            )?;
        }

        let node1 = self.ns(Ns::Node1);
        let node2 = self.ns(Ns::Node2);
        run(
            "ip",
            &[
                "-n",
                &node1,
                "link",
                "add",
                Self::CLUSTER_IF,
                "type",
                "veth",
                "peer",
                "name",
                Self::CLUSTER_IF,
                "netns",
                &node2,
            ],
        )?;
        for (name, ip) in [
            (&node1, Self::NODE1_CLUSTER_IP),
            (&node2, Self::NODE2_CLUSTER_IP),
        ] {
            let cidr = format!("{ip}/{}", Self::CLUSTER_PREFIX_LEN);
            run(
                "ip",
                &["-n", name, "addr", "add", &cidr, "dev", Self::CLUSTER_IF],
            )?;
            run("ip", &["-n", name, "link", "set", Self::CLUSTER_IF, "up"])?;
        }
        Ok(())
    }

    /// The label given to [`Lab::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The unique prefix of this lab's namespaces, e.g. `pq1234x0`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full namespace name, e.g. `pq1234x0-node1`.
    pub fn ns(&self, ns: Ns) -> String {
        format!("{}-{}", self.prefix, ns.role())
    }

    /// All namespace names of this lab.
    pub fn namespaces(&self) -> Vec<String> {
        Ns::ALL.iter().map(|&ns| self.ns(ns)).collect()
    }

    /// The lab's temp dir (configs, logs); removed on teardown.
    pub fn dir(&self) -> Result<&Path> {
        self.dir
            .as_ref()
            .map(tempfile::TempDir::path)
            .ok_or_else(|| anyhow!("lab {} is shut down", self.name))
    }

    /// A `Command` that runs `program` inside `ns` (`ip netns exec`, so
    /// `/sys` and `/etc/netns` match the namespace too). Add arguments and
    /// stdio, then run it with [`Lab::spawn`] or `.output()`.
    pub fn command(&self, ns: Ns, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.arg("netns").arg("exec").arg(self.ns(ns)).arg(program);
        cmd
    }

    /// Runs `program args…` in `ns` to completion and returns its output,
    /// whatever its exit status.
    pub fn exec(&self, ns: Ns, program: &str, args: &[&str]) -> Result<Output> {
        let mut cmd = self.command(ns, program);
        cmd.args(args).stdin(Stdio::null());
        cmd.output()
            .with_context(|| format!("running {program} {args:?} in {}", self.ns(ns)))
    }

    /// Like [`Lab::exec`], but fails unless the program exits 0; returns stdout.
    pub fn exec_ok(&self, ns: Ns, program: &str, args: &[&str]) -> Result<String> {
        let out = self.exec(ns, program, args)?;
        ensure!(
            out.status.success(),
            "{program} {args:?} in {} failed ({}): {}",
            self.ns(ns),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Spawns `cmd` (usually made by [`Lab::command`]) in its own process
    /// group and tracks it: it is SIGKILLed (the whole group) and reaped on
    /// teardown. Returns its pid, the handle for [`Lab::kill`],
    /// [`Lab::pause`], [`Lab::resume`] and [`Lab::is_running`].
    pub fn spawn(&self, mut cmd: Command) -> Result<u32> {
        ensure!(!self.shut_down, "lab {} is shut down", self.name);
        cmd.process_group(0);
        let label = format!("{cmd:?}");
        let child = cmd.spawn().with_context(|| format!("spawning {label}"))?;
        let pid = child.id();
        self.procs().push(Tracked { pid, label, child });
        Ok(pid)
    }

    /// SIGKILLs the process group of a tracked process, reaps it and stops
    /// tracking it.
    pub fn kill(&self, pid: u32) -> Result<()> {
        let mut procs = self.procs();
        let idx = procs
            .iter()
            .position(|p| p.pid == pid)
            .ok_or_else(|| anyhow!("pid {pid} is not a process of lab {}", self.name))?;
        let mut tracked = procs.swap_remove(idx);
        drop(procs);
        kill_and_reap(&mut tracked)
    }

    /// SIGSTOPs the process group of a tracked process.
    pub fn pause(&self, pid: u32) -> Result<()> {
        self.signal_group(pid, Signal::SIGSTOP)
    }

    /// SIGCONTs the process group of a tracked process.
    pub fn resume(&self, pid: u32) -> Result<()> {
        self.signal_group(pid, Signal::SIGCONT)
    }

    /// Whether a tracked process is still running (not exited).
    pub fn is_running(&self, pid: u32) -> bool {
        self.procs()
            .iter_mut()
            .find(|p| p.pid == pid)
            .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    fn signal_group(&self, pid: u32, signal: Signal) -> Result<()> {
        let procs = self.procs();
        ensure!(
            procs.iter().any(|p| p.pid == pid),
            "pid {pid} is not a process of lab {}",
            self.name
        );
        killpg(to_pid(pid)?, signal).with_context(|| format!("sending {signal} to group {pid}"))
    }

    fn procs(&self) -> MutexGuard<'_, Vec<Tracked>> {
        self.procs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `ip link set ifname down` in `ns`.
    pub fn link_down(&self, ns: Ns, ifname: &str) -> Result<()> {
        run("ip", &["-n", &self.ns(ns), "link", "set", ifname, "down"])
    }

    /// `ip link set ifname up` in `ns`.
    pub fn link_up(&self, ns: Ns, ifname: &str) -> Result<()> {
        run("ip", &["-n", &self.ns(ns), "link", "set", ifname, "up"])
    }

    /// Captures, in `ns`, the payload of the next UDP datagram from `from` to port
    /// `port` (a packet socket sees it even while a process holds the port), as the
    /// bytes on the wire. Fails when none passes within `timeout`.
    pub fn capture_udp(
        &self,
        ns: Ns,
        from: Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        ensure!(is_lab_addr(from), "{from} is not a lab address");
        self.in_netns(ns, move || -> Result<Vec<u8>> {
            let socket = crate::packet::reply_socket()?;
            let deadline = Instant::now() + timeout;
            let mut buf = [0u8; 2048];
            while Instant::now() < deadline {
                let len = match socket.recv(&mut buf) {
                    Ok(len) => len.min(buf.len()),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(e) => return Err(e).context("reading the packet socket"),
                };
                if let Some(payload) = udp_payload(&buf[..len], from, port) {
                    return Ok(payload.to_vec());
                }
            }
            bail!("no UDP datagram from {from} to port {port} within {timeout:?}")
        })?
    }

    /// The MAC address of `ifname` in `ns`.
    pub fn mac(&self, ns: Ns, ifname: &str) -> Result<crate::packet::Mac> {
        let out = self.exec_ok(ns, "ip", &["-o", "link", "show", "dev", ifname])?;
        let mac = out
            .split("link/ether ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("no MAC address for {ifname} in {}", self.ns(ns)))?;
        crate::packet::Mac::parse(mac)
    }

    /// Replaces the root qdisc of `ifname` in `ns` by `netem args…`
    /// (e.g. `&["delay", "200ms"]`, `&["loss", "100%"]`).
    pub fn netem(&self, ns: Ns, ifname: &str, args: &[&str]) -> Result<()> {
        let name = self.ns(ns);
        let mut all = vec![
            "-n", &name, "qdisc", "replace", "dev", ifname, "root", "netem",
        ];
        all.extend_from_slice(args);
        run("tc", &all)
    }

    /// Removes the root qdisc set by [`Lab::netem`].
    pub fn clear_netem(&self, ns: Ns, ifname: &str) -> Result<()> {
        run(
            "tc",
            &["-n", &self.ns(ns), "qdisc", "del", "dev", ifname, "root"],
        )
    }

    /// Runs `f` on a fresh thread that has joined the network namespace `ns`,
    /// so sockets it creates live there; returns what `f` returns. A panic in
    /// `f` is propagated.
    pub fn in_netns<T, F>(&self, ns: Ns, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        in_named_netns(&self.ns(ns), f)
    }

    /// One ping (`ping -c1 -W1`) from `ns` to `ip`; whether it was answered.
    pub fn ping(&self, ns: Ns, ip: Ipv4Addr) -> Result<bool> {
        ensure!(is_lab_addr(ip), "{ip} is not a lab address");
        let out = self.exec(ns, "ping", &["-n", "-q", "-c1", "-W1", &ip.to_string()])?;
        Ok(out.status.success())
    }

    /// Sends a SIP OPTIONS request over UDP from `ns` to `target`,
    /// retransmitting every 100 ms, and returns the status code of the first
    /// final (>= 200) response. Fails if none arrives within `timeout`.
    pub fn sip_options(&self, ns: Ns, target: SocketAddrV4, timeout: Duration) -> Result<u16> {
        ensure!(is_lab_addr(*target.ip()), "{target} is not a lab address");
        self.in_netns(ns, move || sip_options_here(target, timeout))?
            .with_context(|| format!("SIP OPTIONS from {} to {target}", self.ns(ns)))
    }

    /// Whether a TCP connection from `ns` to `addr` succeeds within `timeout`.
    pub fn tcp_connect(&self, ns: Ns, addr: SocketAddrV4, timeout: Duration) -> bool {
        if !is_lab_addr(*addr.ip()) {
            eprintln!("lab {}: refusing to connect to {addr}", self.name);
            return false;
        }
        self.in_netns(ns, move || {
            TcpStream::connect_timeout(&SocketAddr::V4(addr), timeout).is_ok()
        })
        .unwrap_or(false)
    }

    /// Starts Kamailio in `ns` (UDP 0.0.0.0:5060, OPTIONS → 200, anything
    /// else → 404), tracked by the lab, and waits until it answers OPTIONS
    /// on 127.0.0.1 from inside `ns`. Returns its pid. Its log is
    /// `{dir}/kamailio-{role}.log`.
    pub fn start_kamailio(&self, ns: Ns) -> Result<u32> {
        let dir = self.dir()?;
        let role = ns.role();
        let run_dir = dir.join(format!("kamailio-{role}"));
        fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let cfg = dir.join(format!("kamailio-{role}.cfg"));
        fs::write(&cfg, KAMAILIO_CFG).with_context(|| format!("writing {}", cfg.display()))?;
        let log_path = dir.join(format!("kamailio-{role}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log.try_clone().context("cloning the log file handle")?;

        let mut cmd = self.command(ns, "kamailio");
        cmd.arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "16", "-M", "4"])
            .arg("-Y")
            .arg(&run_dir)
            .arg("-P")
            .arg(run_dir.join("kamailio.pid"))
            .arg("-w")
            .arg(&run_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let pid = self
            .spawn(cmd)
            .context("starting kamailio (is it installed? run scripts/setup)")?;

        let local = SocketAddrV4::new(Ipv4Addr::LOCALHOST, Self::SIP_PORT);
        let deadline = Instant::now() + KAMAILIO_START_TIMEOUT;
        loop {
            if !self.is_running(pid) {
                let _ = self.kill(pid);
                bail!(
                    "kamailio in {} exited at startup; log:\n{}",
                    self.ns(ns),
                    log_tail(&log_path)
                );
            }
            if let Ok(200) = self.sip_options(ns, local, Duration::from_millis(300)) {
                return Ok(pid);
            }
            if Instant::now() >= deadline {
                let _ = self.kill(pid);
                bail!(
                    "kamailio in {} did not answer OPTIONS within {KAMAILIO_START_TIMEOUT:?}; log:\n{}",
                    self.ns(ns),
                    log_tail(&log_path)
                );
            }
        }
    }

    /// Tears the lab down: kills the tracked processes (and anything else
    /// left in its namespaces), deletes the namespaces, removes the temp dir.
    /// Idempotent; also done on drop.
    pub fn shutdown(&mut self) -> Result<()> {
        if self.shut_down {
            return Ok(());
        }
        self.shut_down = true;
        let mut errors = Vec::new();

        let tracked: Vec<Tracked> = self.procs().drain(..).collect();
        for mut t in tracked {
            if let Err(e) = kill_and_reap(&mut t) {
                errors.push(format!("{e:#}"));
            }
        }

        {
            let _guard = netns_lock();
            for name in self.created.drain(..).rev() {
                if let Err(e) = delete_namespace(&name) {
                    errors.push(format!("{e:#}"));
                }
            }
        }

        if let Some(dir) = self.dir.take() {
            let path = dir.path().display().to_string();
            if let Err(e) = dir.close() {
                errors.push(format!("removing {path}: {e}"));
            }
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "tearing down lab {} ({}): {}",
                self.name,
                self.prefix,
                errors.join("; ")
            ))
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("{e:#}");
        }
    }
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

/// The Kamailio configuration of [`Lab::start_kamailio`]: stateless, no DB,
/// no DNS, no TCP.
pub const KAMAILIO_CFG: &str = r#"#!KAMAILIO
# Written by the Pequod lab (e2e/src/lab.rs).
debug=2
log_stderror=yes
children=2
listen=udp:0.0.0.0:5060
disable_tcp=yes
disable_sctp=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off

loadmodule "sl.so"

request_route {
    if (method=="OPTIONS") {
        sl_send_reply("200", "OK");
        exit;
    }
    if (method!="ACK") {
        sl_send_reply("404", "Not Here");
    }
    exit;
}
"#;

/// The UDP payload of an Ethernet frame carrying IPv4/UDP from `from` to `port`.
fn udp_payload(frame: &[u8], from: Ipv4Addr, port: u16) -> Option<&[u8]> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let header_len = usize::from(ip.first()? & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if ip.first()? >> 4 != 4 || *ip.get(9)? != 17 || ip.get(12..16)? != from.octets() {
        return None;
    }
    let udp = ip.get(header_len..total_len)?;
    if udp.get(2..4)? != port.to_be_bytes() {
        return None;
    }
    udp.get(8..)
}

/// Whether the lab may send traffic to `ip`: the telephony and cluster
/// networks (10.77/16, 10.78/16) or 127.0.0.1.
pub fn is_lab_addr(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    (a == 10 && (b == 77 || b == 78)) || ip == Ipv4Addr::LOCALHOST
}

/// Whether the lab can run (root). When not root: panics if env `CI` is set,
/// otherwise prints a skip notice to stderr and returns false. Tests start
/// with `if !require_root() { return; }`.
#[expect(
    clippy::panic,
    reason = "in CI a missing root must fail the tests, not skip them"
)]
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the lab needs root (network namespaces), and CI is set: run the e2e tests as root");
    }
    eprintln!("skipping: the lab needs root (network namespaces)");
    false
}

/// Polls `cond` every 50 ms until it is true (returns true) or `timeout`
/// passes (returns false). `cond` is always tried at least once.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(deadline - now));
    }
}

/// Runs `f` on a fresh thread that has joined the network namespace named
/// `name` (`/run/netns/{name}`); see [`Lab::in_netns`].
pub fn in_named_netns<T, F>(name: &str, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let path = Path::new(NETNS_DIR).join(name);
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || -> Result<T> {
            setns(&file, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("setns into {}", path.display()))?;
            Ok(f())
        });
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Removes namespaces named like a lab's (`pq{pid}x{n}-{role}`) whose
/// process is gone, after SIGKILLing whatever still runs in them.
pub fn remove_stale_namespaces() -> Result<()> {
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context(format!("listing {NETNS_DIR}")),
    };
    let _guard = netns_lock();
    let mut errors = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {NETNS_DIR}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = lab_owner_pid(&name) else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if let Err(e) = delete_namespace(&name) {
            errors.push(format!("{e:#}"));
        }
    }
    ensure!(errors.is_empty(), "{}", errors.join("; "));
    Ok(())
}

/// The pid of the process that made the namespace `name`, if it is named
/// like a lab namespace.
fn lab_owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX_TAG)?;
    let (prefix, role) = rest.split_once('-')?;
    let (pid, counter) = prefix.split_once('x')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(pid) || !all_digits(counter) || !Ns::ALL.iter().any(|ns| ns.role() == role) {
        return None;
    }
    pid.parse().ok()
}

/// SIGKILLs every process in namespace `name`, then deletes it.
fn delete_namespace(name: &str) -> Result<()> {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            if let Ok(raw) = to_pid(pid) {
                let _ = kill(raw, Signal::SIGKILL);
            }
            reap(pid);
        }
    }
    run("ip", &["netns", "del", name])
}

/// SIGKILLs the process group of `t`, reaps `t` and, since this process is a
/// child subreaper, the other members of the group (they are reparented to us
/// when `t` dies; otherwise they would linger as zombies under a PID 1 that
/// does not reap).
fn kill_and_reap(t: &mut Tracked) -> Result<()> {
    let members = group_members(t.pid);
    if let Ok(pid) = to_pid(t.pid) {
        match killpg(pid, Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => eprintln!("killing group {} ({}): {e}", t.pid, t.label),
        }
    }
    // In case the group is gone but the child somehow is not.
    let _ = t.child.kill();
    let reaped = t
        .child
        .wait()
        .map(drop)
        .with_context(|| format!("reaping {} ({})", t.pid, t.label));
    for member in members.into_iter().filter(|&m| m != t.pid) {
        reap(member);
    }
    reaped
}

/// Waits for `pid` if it is our child (ECHILD otherwise, ignored).
fn reap(pid: u32) {
    if let Ok(pid) = to_pid(pid) {
        let _ = waitpid(pid, None);
    }
}

/// The pids whose process group is `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // After the command name: state ppid pgrp …
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(2)?.parse::<u32>().ok()
                })
                == Some(pgid)
        })
        .collect()
}

/// Makes this process a child subreaper, once, so that [`kill_and_reap`]
/// can reap the orphaned workers of the processes it kills.
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = set_child_subreaper(true) {
            eprintln!("lab: could not become a child subreaper: {e}");
        }
    });
}

fn to_pid(pid: u32) -> Result<Pid> {
    let raw = i32::try_from(pid).with_context(|| format!("pid {pid} out of range"))?;
    Ok(Pid::from_raw(raw))
}

fn netns_lock() -> MutexGuard<'static, ()> {
    NETNS_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a command to completion; fails with its stderr unless it exits 0.
fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program} {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "{program} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn log_tail(path: &PathBuf) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A token unique enough for SIP tags and Call-IDs.
fn token() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// [`Lab::sip_options`], from the current thread's namespace.
fn sip_options_here(target: SocketAddrV4, timeout: Duration) -> Result<u16> {
    let deadline = Instant::now() + timeout;
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).context("binding a UDP socket")?;
    sock.connect(target)
        .with_context(|| format!("connecting the UDP socket to {target}"))?;
    let local = sock.local_addr().context("reading the local address")?;
    let call_id = format!("{}@pequod-lab", token());
    let request = format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:lab@{ip}>;tag={tag}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:lab@{local}>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: pequod-lab\r\n\
         Content-Length: 0\r\n\r\n",
        branch = token(),
        ip = local.ip(),
        tag = token(),
    );
    let mut buf = vec![0u8; 65_535];
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            bail!("no final response within {timeout:?}");
        }
        if now >= next_send {
            match sock.send(request.as_bytes()) {
                Ok(_) => {}
                // ICMP port unreachable from an earlier send: nobody listens yet.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e).context("sending OPTIONS"),
            }
            next_send = now + SIP_RETRANSMIT;
        }
        let wait = next_send.min(deadline).saturating_duration_since(now);
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .context("setting the read timeout")?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                if let Some(code) = parse_status(&buf[..n.min(buf.len())], &call_id)
                    && code >= 200
                {
                    return Ok(code);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e).context("receiving the response"),
        }
    }
}

/// The status code of a SIP response carrying `call_id`, if `msg` is one.
fn parse_status(msg: &[u8], call_id: &str) -> Option<u16> {
    let text = std::str::from_utf8(msg).ok()?;
    let status_line = text.lines().next()?;
    let code = status_line
        .strip_prefix("SIP/2.0 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let matches_call = text.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            let name = name.trim();
            (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
                && value.trim() == call_id
        })
    });
    matches_call.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_owner_pid_parses_only_lab_names() {
        assert_eq!(lab_owner_pid("pq123x0-node1"), Some(123));
        assert_eq!(lab_owner_pid("pq123x45-lan"), Some(123));
        assert_eq!(lab_owner_pid("pq123x0-other"), None);
        assert_eq!(lab_owner_pid("pq123-node1"), None);
        assert_eq!(lab_owner_pid("pqx0-node1"), None);
        assert_eq!(lab_owner_pid("ns1"), None);
    }

    #[test]
    fn lab_addresses() {
        assert!(is_lab_addr(Lab::VIP));
        assert!(is_lab_addr(Lab::NODE2_CLUSTER_IP));
        assert!(is_lab_addr(Ipv4Addr::LOCALHOST));
        assert!(!is_lab_addr(Ipv4Addr::new(10, 79, 0, 1)));
        assert!(!is_lab_addr(Ipv4Addr::new(8, 8, 8, 8)));
        assert!(!is_lab_addr(Ipv4Addr::new(127, 0, 0, 2)));
    }

    #[test]
    fn finds_the_udp_payload_of_a_frame() {
        let from = Ipv4Addr::new(10, 78, 0, 1);
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0, 0, 20 + 8 + 3, 0, 0, 0, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&from.octets());
        frame.extend_from_slice(&[10, 78, 0, 2]);
        frame.extend_from_slice(&[0x9c, 0x40, 0x1c, 0xed, 0, 11, 0, 0]);
        frame.extend_from_slice(b"abc");
        // Ethernet padding after the IP packet is not part of the payload.
        frame.extend_from_slice(&[0; 4]);
        assert_eq!(udp_payload(&frame, from, 7405), Some(&b"abc"[..]));
        assert_eq!(udp_payload(&frame, from, 7406), None);
        assert_eq!(udp_payload(&frame, Ipv4Addr::new(10, 78, 0, 2), 7405), None);
        assert_eq!(udp_payload(&frame[..30], from, 7405), None);
    }

    #[test]
    fn parses_sip_status() {
        let msg = b"SIP/2.0 200 OK\r\nVia: x\r\nCall-ID: abc@lab\r\n\r\n";
        assert_eq!(parse_status(msg, "abc@lab"), Some(200));
        assert_eq!(parse_status(msg, "other"), None);
        let compact = b"SIP/2.0 404 Not Here\r\ni: abc@lab\r\n\r\n";
        assert_eq!(parse_status(compact, "abc@lab"), Some(404));
        assert_eq!(parse_status(b"OPTIONS sip:x SIP/2.0\r\n", "x"), None);
    }
}
