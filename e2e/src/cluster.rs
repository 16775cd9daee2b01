//! Pequod nodes in the lab: each node namespace runs its own `pequod` (the real
//! binary, as a separate process) with its own data dir and Kamailio as the managed
//! SIP service. The tests drive them through their REST API from inside the namespaces,
//! over HTTPS, trusting each node's own self-signed certificate by its fingerprint, as
//! an admin pins it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::arp::{ArpWatch, Mac};
use crate::lab::{Lab, Ns};

pub const ADMIN_PASSWORD: &str = "lab admin password";
pub const API_PORT: u16 = 8080;
/// The self-signed certificate a node makes in its data dir on its first start
/// (backend/src/tls.rs `CERT_FILE`).
const CERT_FILE: &str = "tls_cert.pem";
/// Generous: a loaded CI machine must not turn a correct failover into a failure.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The `pequod` binary the lab runs: `PEQUOD_BIN`, else the workspace's debug build.
pub fn pequod_binary() -> Result<PathBuf> {
    workspace_binary("pequod", "PEQUOD_BIN")
}

/// The `pequodctl` binary the lab tests drive the cluster with: `PEQUODCTL_BIN`, else
/// the workspace's debug build.
pub fn pequodctl_binary() -> Result<PathBuf> {
    workspace_binary("pequodctl", "PEQUODCTL_BIN")
}

/// The workspace's target directory: `CARGO_TARGET_DIR`, else `target/`.
fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A command of the Python tools `scripts/setup test` installs (the API fuzzer, the
/// client generator), in its virtual environment below the target directory.
pub fn python_tool(name: &str) -> Result<PathBuf> {
    let path = target_dir().join("python-tools/bin").join(name);
    ensure!(
        path.is_file(),
        "{} is missing: run `scripts/setup test` (scripts/test does)",
        path.display()
    );
    Ok(path)
}

/// A binary of the workspace: the path in `variable`, else its debug build.
fn workspace_binary(name: &str, variable: &str) -> Result<PathBuf> {
    if let Ok(path) = std::env::var(variable) {
        return Ok(PathBuf::from(path));
    }
    let path = target_dir().join("debug").join(name);
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo test --workspace` and scripts/test do)",
        path.display()
    );
    Ok(path)
}

/// One cluster lab at a time: failover timing is what the tests measure, and two
/// labs on a small machine would starve each other into false failovers.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The same rule across test processes (two test binaries, two checkouts): an
/// exclusive `flock` on this file, held as long as the lab lives.
const CROSS_PROCESS_LOCK: &str = "/tmp/pequod-lab.lock";

/// Waits for the machine-wide lab turn; dropping the file gives it back.
fn machine_turn() -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(CROSS_PROCESS_LOCK)
        .with_context(|| format!("opening {CROSS_PROCESS_LOCK}"))?;
    nix::fcntl::flock(file.as_raw_fd(), nix::fcntl::FlockArg::LockExclusive)
        .with_context(|| format!("locking {CROSS_PROCESS_LOCK}"))?;
    Ok(file)
}

/// How a node fails: "a crash is not a death".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The machine dies: links down, processes gone ([`LabCluster::machine_death`]).
    MachineDeath,
    /// pequod and its services are killed on a live machine
    /// ([`LabCluster::process_crash`]).
    ProcessCrash,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fault::MachineDeath => "machine death",
            Fault::ProcessCrash => "process crash",
        })
    }
}

/// Two Pequod nodes, a phone and a gateway.
/// Debian's PostgreSQL client.
const PSQL: &str = "/usr/bin/psql";

/// The phone's database writer; killed when dropped.
pub struct Writer {
    pid: u32,
    acked: PathBuf,
}

impl Writer {
    /// The ids whose commits were acknowledged so far.
    pub fn acknowledged(&self) -> Result<Vec<u64>> {
        let text = fs::read_to_string(&self.acked)?;
        Ok(text
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect())
    }

    pub fn stop(&self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct LabCluster {
    pub lab: Lab,
    _turn: std::sync::MutexGuard<'static, ()>,
    _machine_turn: std::fs::File,
    binary: PathBuf,
    pids: Mutex<Vec<(Ns, u32)>>,
    tokens: Mutex<Vec<(Ns, String)>>,
    /// Each node's certificate as read at its last start: the only one its requests
    /// trust. It changes only when the node's data dir is made anew.
    certificates: Mutex<Vec<(Ns, CertificateDer<'static>)>>,
    /// More TOML for every node's settings (e.g. a `[mail]` section).
    extra_config: Mutex<String>,
    /// Nodes whose machine died: their links come up again on the next start.
    dead_machines: Mutex<Vec<Ns>>,
    /// Each node runs its own PostgreSQL, managed by its pequod.
    database: std::sync::atomic::AtomicBool,
    /// The nodes mirror [`LAB_FILES`].
    files: std::sync::atomic::AtomicBool,
}

/// The synced path of the lab's file sync: the same absolute path on both nodes, each
/// node seeing its own directory there. `ip netns exec` binds
/// `/etc/netns/<namespace>/<entry>` over `/etc/<entry>` in the mount namespace of what
/// it runs, so each node's pequod (and its rsync) sees its own tree at this path.
pub const LAB_FILES: &str = "/etc/pequod-lab-files";

impl Drop for LabCluster {
    fn drop(&mut self) {
        if self.files.load(std::sync::atomic::Ordering::SeqCst) {
            for ns in [Ns::Node1, Ns::Node2] {
                let _ = fs::remove_dir_all(Path::new("/etc/netns").join(self.lab.ns(ns)));
            }
            // Only an empty one, which is what the lab made.
            let _ = fs::remove_dir(LAB_FILES);
        }
    }
}

impl LabCluster {
    pub fn new(name: &str) -> Result<Self> {
        // A test that failed while holding the lab leaves the lock poisoned; the next
        // lab is still good.
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let machine_turn = machine_turn()?;
        let lab = Lab::new(name)?;
        Ok(Self {
            _turn: turn,
            _machine_turn: machine_turn,
            binary: pequod_binary()?,
            lab,
            pids: Mutex::new(Vec::new()),
            tokens: Mutex::new(Vec::new()),
            certificates: Mutex::new(Vec::new()),
            extra_config: Mutex::new(String::new()),
            dead_machines: Mutex::new(Vec::new()),
            database: std::sync::atomic::AtomicBool::new(false),
            files: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// From the next start on, the nodes mirror [`LAB_FILES`] master → slave.
    pub fn with_files(&self) -> Result<()> {
        fs::create_dir_all(LAB_FILES)?;
        for ns in [Ns::Node1, Ns::Node2] {
            fs::create_dir_all(self.node_files(ns))?;
        }
        self.files.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Where the node's [`LAB_FILES`] really are (what the node sees there).
    pub fn node_files(&self, ns: Ns) -> PathBuf {
        Path::new("/etc/netns").join(self.lab.ns(ns)).join(
            Path::new(LAB_FILES)
                .strip_prefix("/etc")
                .unwrap_or(Path::new("files")),
        )
    }

    /// From the next start on, each node's pequod runs its own PostgreSQL (Debian's
    /// server as the `postgres` user), which the phone reaches at the cluster IP.
    pub fn with_database(&self) {
        self.database
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The node's PostgreSQL data directory.
    pub fn database_dir(&self, ns: Ns) -> Result<PathBuf> {
        Ok(self.node_dir(ns)?.join("postgresql"))
    }

    /// Runs the node's PostgreSQL by hand, behind pequod's back (as an administrator
    /// might), reachable over its socket only; `stop` ends it.
    pub fn pg_ctl_by_hand(&self, ns: Ns, action: &str) -> Result<()> {
        let data = self.database_dir(ns)?;
        let mut cmd = std::process::Command::new("runuser");
        cmd.args([
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/pg_ctl",
            action,
            "-w",
            "-s",
        ])
        .arg("-D")
        .arg(&data)
        .current_dir("/");
        if action == "start" {
            cmd.args(["-o", "-c listen_addresses=''"])
                .arg("-l")
                .arg(self.database_socket(ns)?.join("by-hand.log"));
        } else {
            cmd.args(["-m", "fast"]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .context("running pg_ctl")?;
        ensure!(
            out.status.success(),
            "pg_ctl {action} on {ns}: {}; its log: {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            fs::read_to_string(self.database_socket(ns)?.join("by-hand.log")).unwrap_or_default()
        );
        Ok(())
    }

    /// Brings a dead machine's links up again without starting its pequod.
    pub fn boot_without_pequod(&self, ns: Ns) -> Result<()> {
        for ifname in [Lab::TELEPHONY_IF, Lab::CLUSTER_IF] {
            self.lab.link_up(ns, ifname)?;
        }
        Ok(())
    }

    /// Where the node's PostgreSQL puts its socket.
    pub fn database_socket(&self, ns: Ns) -> Result<PathBuf> {
        Ok(self.node_dir(ns)?.join("pgsock"))
    }

    /// Runs SQL as the database superuser on the node's own server (over its socket):
    /// the rows, one per line, fields split by `|`.
    pub fn psql(&self, ns: Ns, sql: &str) -> Result<String> {
        let socket = self.database_socket(ns)?;
        let out = std::process::Command::new(PSQL)
            .args([
                "-X",
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .arg("-h")
            .arg(&socket)
            .args(["-p", "5432", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        ensure!(
            out.status.success(),
            "psql on {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts a writer in the phone's namespace that commits rows with growing ids
    /// through the cluster IP, one transaction each, and notes every id whose commit
    /// was acknowledged (see [`Writer`]).
    pub fn start_writer(&self) -> Result<Writer> {
        let acked = self.lab.dir()?.join("writer-acked");
        fs::write(&acked, "")?;
        let script = format!(
            "i=0; while :; do i=$((i+1)); \
             if {PSQL} -X -qAt -c \"INSERT INTO calls (id) VALUES ($i)\" >/dev/null 2>&1; \
             then echo $i >> {acked}; fi; done",
            acked = acked.display()
        );
        let mut cmd = self.lab.command(Ns::Phone, "/bin/sh");
        cmd.args(["-c", &script])
            .env("PGHOST", Lab::VIP.to_string())
            .env("PGUSER", "pbx")
            .env("PGPASSWORD", "pbx")
            .env("PGDATABASE", "postgres")
            .env("PGCONNECT_TIMEOUT", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let pid = self.lab.spawn(cmd)?;
        Ok(Writer { pid, acked })
    }

    /// Adds TOML to the settings of every node started from now on.
    pub fn add_config(&self, toml: &str) -> Result<()> {
        let mut extra = self
            .extra_config
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        extra.push('\n');
        extra.push_str(toml);
        Ok(())
    }

    fn node_dir(&self, ns: Ns) -> Result<PathBuf> {
        Ok(self.lab.dir()?.join(format!("pequod-{}", ns.role())))
    }

    /// The node's data dir, where it keeps its identity, keys and certificate.
    fn data_dir(&self, ns: Ns) -> Result<PathBuf> {
        Ok(self.node_dir(ns)?.join("data"))
    }

    /// The certificate the node serves, as the lab pinned it at the node's last start.
    pub fn tls_certificate(&self, ns: Ns) -> Result<CertificateDer<'static>> {
        self.certificates
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .iter()
            .find(|(n, _)| *n == ns)
            .map(|(_, cert)| cert.clone())
            .with_context(|| format!("no certificate of {ns} is known: start it first"))
    }

    /// The node's certificate file in its data dir: the whole chain of trust a client
    /// needs for the node's self-signed certificate.
    pub fn tls_certificate_file(&self, ns: Ns) -> Result<PathBuf> {
        Ok(self.data_dir(ns)?.join(CERT_FILE))
    }

    /// SHA-256 of the node's certificate as `GET /api/v1/nodes/self` shows it in
    /// `tls_fingerprint` (what `pequodctl --fingerprint` takes).
    pub fn tls_fingerprint(&self, ns: Ns) -> Result<String> {
        let digest = sha2::Sha256::digest(self.tls_certificate(ns)?.as_ref());
        Ok(pequodctl::tls::show_fingerprint(&digest))
    }

    /// The pin of the node's key for Chromium's `--ignore-certificate-errors-spki-list`:
    /// base64 of the SHA-256 of its certificate's SubjectPublicKeyInfo DER.
    pub fn spki_pin(&self, ns: Ns) -> Result<String> {
        use base64::Engine as _;
        let cert = self.tls_certificate(ns)?;
        let parsed = webpki::EndEntityCert::try_from(&cert)
            .map_err(|e| anyhow::anyhow!("parsing the certificate of {ns}: {e:?}"))?;
        let spki = parsed.subject_public_key_info();
        Ok(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(spki.as_ref())))
    }

    /// The node's certificate file, once the node has written it whole: until then the
    /// reason it is not there yet.
    fn read_certificate(&self, ns: Ns) -> Result<Result<CertificateDer<'static>, String>> {
        let path = self.tls_certificate_file(ns)?;
        Ok(CertificateDer::from_pem_file(&path).map_err(|e| format!("{}: {e}", path.display())))
    }

    pub fn log_path(&self, ns: Ns) -> Result<PathBuf> {
        Ok(self.lab.dir()?.join(format!("pequod-{}.log", ns.role())))
    }

    /// The last lines of a node's log, for failure messages.
    pub fn log_tail(&self, ns: Ns) -> String {
        let text = self
            .log_path(ns)
            .ok()
            .and_then(|p| fs::read_to_string(p).ok())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let mut tail = lines[lines.len().saturating_sub(40)..].join("\n");
        // The node's PostgreSQL says what its pequod cannot.
        if let Ok(log) = self
            .node_dir(ns)
            .and_then(|d| Ok(fs::read_to_string(d.join("postgresql.log"))?))
        {
            let lines: Vec<&str> = log.lines().collect();
            tail.push_str("\n--- its PostgreSQL ---\n");
            tail.push_str(&lines[lines.len().saturating_sub(25)..].join("\n"));
        }
        tail
    }

    /// Writes the node's settings: its API, SSH and heartbeat ports and Kamailio as the
    /// managed service (started and stopped by pequod as the role demands).
    fn write_config(&self, ns: Ns) -> Result<PathBuf> {
        let dir = self.node_dir(ns)?;
        let run = dir.join("kamailio");
        fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
        let kamailio_cfg = self.lab.dir()?.join(format!("kamailio-{}.cfg", ns.role()));
        // Listening on the cluster IP itself makes replies leave from it, as phones
        // expect; the service only starts on the master, after the address is added.
        let listen = format!(
            "listen=udp:{}:{}\nlisten=udp:127.0.0.1:{}",
            Lab::VIP,
            Lab::SIP_PORT,
            Lab::SIP_PORT
        );
        fs::write(
            &kamailio_cfg,
            crate::lab::KAMAILIO_CFG.replace("listen=udp:0.0.0.0:5060", &listen),
        )?;
        let pid_file = run.join("kamailio.pid");
        let config = format!(
            r#"[server]
listen = "0.0.0.0:{API_PORT}"
data_dir = "{data}"
ui_dir = "{ui}"

# Stopped once it has exited: a zombie counts as gone (the lab's test process adopts
# the daemon and reaps it only later, so `kill -0` would wait the full 3 s).
[[cluster.services]]
name = "kamailio"
start = "kamailio -f {cfg} -m 16 -M 4 -Y {run} -P {pid} -w {run}"
stop = "if [ -f {pid} ]; then p=$(cat {pid}); kill $p 2>/dev/null; for i in $(seq 60); do grep -qs '^State:[[:space:]]*[^Z]' /proc/$p/status || break; sleep 0.05; done; kill -9 $p 2>/dev/null; rm -f {pid}; fi"
status = "test -f {pid} && kill -0 $(cat {pid})"

# A failover check the tests can break: CRITICAL while the file {broken} exists.
[[checks.custom]]
id = "lab-disk-array"
name = "Lab disk array"
command = ["/bin/sh", "-c", "if [ -e {broken} ]; then echo 'CRITICAL - disk array degraded'; exit 2; fi; echo 'OK - disk array clean'"]
kind = "failover"
runs_on = "master"
interval_secs = 1
retry_interval_secs = 1
timeout_secs = 1
max_attempts = 2
"#,
            data = self.data_dir(ns)?.display(),
            // The built commander, for the browser tests (none built: the API still works).
            ui = crate::browser::ui_dir().display(),
            cfg = kamailio_cfg.display(),
            run = run.display(),
            pid = pid_file.display(),
            broken = self.broken_disk_marker(ns)?.display(),
        );
        let extra = self
            .extra_config
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        let mut database = String::new();
        if self.database.load(std::sync::atomic::Ordering::SeqCst) {
            // The postgres user must reach its directories inside the lab's.
            use std::os::unix::fs::PermissionsExt;
            for d in [self.lab.dir()?, dir.as_path()] {
                fs::set_permissions(d, fs::Permissions::from_mode(0o711))?;
            }
            database = format!(
                r#"
[database]
data_dir = "{data}"
socket_dir = "{socket}"
listen_addresses = ["0.0.0.0"]
clients = ["{net}/{prefix}"]
lag_threshold_secs = 2.0
"#,
                data = dir.join("postgresql").display(),
                socket = self.database_socket(ns)?.display(),
                net = Lab::TELEPHONY_NET,
                prefix = Lab::TELEPHONY_PREFIX_LEN,
            );
        }
        if self.files.load(std::sync::atomic::Ordering::SeqCst) {
            database.push_str(&format!(
                r#"
[files]
paths = ["{LAB_FILES}"]
debounce_ms = 100
max_delay_ms = 500
full_pass_interval_secs = 3
retry_initial_ms = 200
retry_max_ms = 1000
"#
            ));
        }
        let path = dir.join("pequod.toml");
        fs::write(&path, config + &extra + &database)?;
        Ok(path)
    }

    /// While this file exists, the node's failover check "Lab disk array" is CRITICAL.
    pub fn broken_disk_marker(&self, ns: Ns) -> Result<PathBuf> {
        Ok(self.node_dir(ns)?.join("disk-array-broken"))
    }

    /// Starts (or restarts) the node's `pequod` and waits until its API answers. A
    /// machine that died boots again first: its links come up, without the addresses
    /// added at run time.
    pub fn start(&self, ns: Ns) -> Result<u32> {
        let rebooted = {
            let mut dead = self
                .dead_machines
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            let was_dead = dead.contains(&ns);
            dead.retain(|n| *n != ns);
            was_dead
        };
        if rebooted {
            // A reboot forgets the addresses added at run time, the cluster IP too,
            // whatever its prefix.
            let out = self.lab.exec_ok(
                ns,
                "ip",
                &["-4", "-o", "addr", "show", "dev", Lab::TELEPHONY_IF],
            )?;
            let prefix = format!("{}/", Lab::VIP);
            for vip in out.split_whitespace().filter(|w| w.starts_with(&prefix)) {
                self.lab
                    .exec_ok(ns, "ip", &["addr", "del", vip, "dev", Lab::TELEPHONY_IF])?;
            }
            for ifname in [Lab::TELEPHONY_IF, Lab::CLUSTER_IF] {
                self.lab.link_up(ns, ifname)?;
            }
        }
        let config = self.write_config(ns)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(ns)?)?;
        let mut cmd = self.lab.command(ns, &self.binary);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env("PEQUOD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "info,netlink_packet_route=error")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let pid = self.lab.spawn(cmd)?;
        self.pids
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push((ns, pid));
        // The node writes its certificate (kept from an earlier start, else made now)
        // before it listens: pinned as soon as it is there, whole.
        let deadline = Instant::now() + DEADLINE;
        let mut pinned = false;
        let mut last = String::new();
        loop {
            if !pinned {
                match self.read_certificate(ns)? {
                    Ok(cert) => {
                        let mut certificates = self
                            .certificates
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?;
                        certificates.retain(|(n, _)| *n != ns);
                        certificates.push((ns, cert));
                        pinned = true;
                    }
                    Err(missing) => last = missing,
                }
            }
            if pinned {
                match self.request(ns, "GET", "/healthz", None, None) {
                    Ok(_) => return Ok(pid),
                    Err(e) => last = format!("{e:#}"),
                }
            }
            if !self.lab.is_running(pid) || Instant::now() > deadline {
                bail!(
                    "pequod in {ns} did not start ({last}); log:\n{}",
                    self.log_tail(ns)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The machine dies: its links go down (eth0 and eth1 in its namespace) together
    /// with `kill -9` of everything on it. Nothing of it answers any more, ARP for the
    /// cluster IP included. [`LabCluster::start`] brings the links up again.
    pub fn machine_death(&self, ns: Ns) -> Result<()> {
        for ifname in [Lab::TELEPHONY_IF, Lab::CLUSTER_IF] {
            self.lab.link_down(ns, ifname)?;
        }
        self.dead_machines
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(ns);
        self.kill_processes(ns)
    }

    /// Injects `fault` on the node.
    pub fn fail(&self, ns: Ns, fault: Fault) -> Result<()> {
        match fault {
            Fault::MachineDeath => self.machine_death(ns),
            Fault::ProcessCrash => self.process_crash(ns),
        }
    }

    /// The process crashes on a live machine: `kill -9` of pequod and its services,
    /// the links stay up, and what pequod added stays too: the kernel keeps answering
    /// ARP for a cluster IP left on eth0, until [`LabCluster::release_vip`] (the service
    /// unit's stop hook) or the next start of pequod removes it.
    pub fn process_crash(&self, ns: Ns) -> Result<()> {
        self.kill_processes(ns)
    }

    /// `pequod release-vip` in the node's namespace with the node's settings, as the
    /// service unit runs it after every stop: its output, whatever its exit status.
    pub fn release_vip(&self, ns: Ns) -> Result<std::process::Output> {
        let config = self.node_dir(ns)?.join("pequod.toml");
        let mut cmd = self.lab.command(ns, &self.binary);
        cmd.arg("release-vip")
            .arg("--config")
            .arg(&config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd.output()
            .with_context(|| format!("running pequod release-vip in {ns}"))
    }

    /// Starts the phone's ARP watch on the cluster IP (see [`ArpWatch`]).
    pub fn arp_watch(&self) -> Result<ArpWatch> {
        ArpWatch::start(&self.lab, Lab::VIP)
    }

    /// The MAC of a node's telephony interface, as the phone sees it answer.
    pub fn telephony_mac(&self, ns: Ns) -> Result<Mac> {
        self.lab.mac(ns, Lab::TELEPHONY_IF)
    }

    /// `kill -9` of everything on the node (pequod and its services).
    fn kill_processes(&self, ns: Ns) -> Result<()> {
        let pids: Vec<u32> = self
            .pids
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .iter()
            .filter(|(n, _)| *n == ns)
            .map(|(_, p)| *p)
            .collect();
        for pid in pids {
            if self.lab.is_running(pid) {
                self.lab.kill(pid)?;
            }
        }
        let listed = std::process::Command::new("ip")
            .args(["netns", "pids", &self.lab.ns(ns)])
            .output()?;
        for pid in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
            let Ok(pid) = pid.parse::<i32>() else {
                continue;
            };
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            // Daemons of the node were re-parented to this (subreaper) process: reap
            // them, or their zombies would still look alive to `kill -0`.
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        self.tokens
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .retain(|(n, _)| *n != ns);
        Ok(())
    }

    /// `kill -9` of every process called `name` on the node, as when a service crashes.
    /// The killed daemons are reaped (this process is their subreaper), so that they do
    /// not linger as zombies that still look alive to `kill -0`.
    pub fn crash_service(&self, ns: Ns, name: &str) -> Result<usize> {
        let listed = std::process::Command::new("ip")
            .args(["netns", "pids", &self.lab.ns(ns)])
            .output()?;
        let mut killed = 0;
        for pid in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let Ok(pid) = pid.parse::<i32>() else {
                continue;
            };
            if comm.trim() == name {
                let pid = nix::unistd::Pid::from_raw(pid);
                nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL)?;
                let _ = nix::sys::wait::waitpid(pid, None);
                killed += 1;
            }
        }
        Ok(killed)
    }

    /// The pequod process of a node, for SIGSTOP/SIGCONT.
    pub fn pid(&self, ns: Ns) -> Option<u32> {
        self.pids
            .lock()
            .ok()?
            .iter()
            .rev()
            .find(|(n, p)| *n == ns && self.lab.is_running(*p))
            .map(|(_, p)| *p)
    }

    /// A call on a node with the given bearer token (or none): status and JSON body.
    pub fn request(
        &self,
        ns: Ns,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("https://127.0.0.1:{API_PORT}{path}");
        let pin: [u8; 32] = sha2::Sha256::digest(self.tls_certificate(ns)?.as_ref()).into();
        let tls = Arc::new(pequodctl::tls::client_config(Some(pin))?);
        let method = method.to_string();
        let token = token.map(str::to_string);
        let body = body.cloned();
        self.lab.in_netns(ns, move || -> Result<(u16, Value)> {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .tls_config(tls)
                .build();
            let mut request = agent.request(&method, &url);
            if let Some(token) = &token {
                request = request.set("Authorization", &format!("Bearer {token}"));
            }
            let response = match body {
                Some(body) => request.send_json(body),
                None => request.call(),
            };
            let response = match response {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => return Err(anyhow::anyhow!("{method} {url}: {e}")),
            };
            let status = response.status();
            let text = response.into_string()?;
            let value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            Ok((status, value))
        })?
    }

    fn token(&self, ns: Ns) -> Result<String> {
        if let Some((_, token)) = self
            .tokens
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .iter()
            .find(|(n, _)| *n == ns)
        {
            return Ok(token.clone());
        }
        let (status, body) = self.request(
            ns,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({ "username": "admin", "password": ADMIN_PASSWORD })),
        )?;
        ensure!(status == 200, "login on {ns} failed: {status} {body}");
        let token = body["token"].as_str().context("token")?.to_string();
        self.tokens
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push((ns, token.clone()));
        Ok(token)
    }

    /// An authenticated API call on a node: status and JSON body.
    pub fn api(
        &self,
        ns: Ns,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let token = self.token(ns)?;
        self.request(ns, method, path, Some(&token), body.as_ref())
    }

    pub fn get(&self, ns: Ns, path: &str) -> Result<Value> {
        let (status, body) = self.api(ns, "GET", path, None)?;
        ensure!(status == 200, "GET {path} on {ns}: {status} {body}");
        Ok(body)
    }

    /// Starts a job (expects 202) and waits until it has ended; fails unless it succeeded.
    pub fn run_job(&self, ns: Ns, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, accepted) = self.api(ns, method, path, body)?;
        ensure!(
            status == 202,
            "{method} {path} on {ns}: {status} {accepted}\nlog:\n{}",
            self.log_tail(ns)
        );
        let id = accepted["job"]["id"].as_i64().context("job id")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.get(ns, &format!("/api/v1/jobs/{id}"))?;
            match job["state"].as_str() {
                Some("succeeded") => return Ok(job),
                Some("failed") | Some("interrupted") => bail!(
                    "job {path} on {ns} failed: {job:#}\nlog:\n{}",
                    self.log_tail(ns)
                ),
                _ => {}
            }
            ensure!(
                Instant::now() < deadline,
                "job {path} on {ns} did not end: {job:#}\n--- node1 ---\n{}\n--- node2 ---\n{}",
                self.log_tail(Ns::Node1),
                self.log_tail(Ns::Node2)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The old master after a failover: started again, standby, then added again as
    /// the slave of `master` (the job is returned).
    pub fn readd_old_master(&self, old: Ns, master: Ns) -> Result<Value> {
        self.start(old)?;
        self.add_again(old, master)
    }

    /// Once `old` is standby, Add again on `master` makes it the slave (the job is
    /// returned).
    pub fn add_again(&self, old: Ns, master: Ns) -> Result<Value> {
        self.wait_for("the old master to be standby", DEADLINE, || {
            Ok(self.role(old)? == "standby")
        })?;
        self.run_job(
            master,
            "POST",
            &format!("/api/v1/slaves/{}/readd", old.role()),
            None,
        )
    }

    /// Role of a node as it reports itself.
    pub fn role(&self, ns: Ns) -> Result<String> {
        Ok(self.get(ns, "/api/v1/cluster")?["role"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Whether the cluster IP is configured on the node's telephony interface.
    pub fn holds_vip(&self, ns: Ns) -> Result<bool> {
        let out = self.lab.exec_ok(
            ns,
            "ip",
            &["-4", "-o", "addr", "show", "dev", Lab::TELEPHONY_IF],
        )?;
        Ok(out.contains(&format!("{}/", Lab::VIP)))
    }

    /// Checks that `master` is master and holds the cluster IP while `other` has
    /// `other_role` and does not hold it: after a fault that must not fail over.
    pub fn expect_roles(&self, master: Ns, other: Ns, other_role: &str) -> Result<()> {
        let (master_role, found_role) = (self.role(master)?, self.role(other)?);
        ensure!(
            master_role == "master",
            "{master} is {master_role}, not master"
        );
        ensure!(
            found_role == other_role,
            "{other} is {found_role}, not {other_role}"
        );
        ensure!(
            self.holds_vip(master)?,
            "{master} does not hold the cluster IP"
        );
        ensure!(!self.holds_vip(other)?, "{other} holds the cluster IP too");
        Ok(())
    }

    /// Whether SIP OPTIONS to the cluster IP get a 200 right now (one short try).
    pub fn sip_answers(&self) -> Result<bool> {
        Ok(self.sip_at_vip(Duration::from_millis(300)).ok() == Some(200))
    }

    /// SIP OPTIONS from the phone to the cluster IP: the status, or an error.
    pub fn sip_at_vip(&self, timeout: Duration) -> Result<u16> {
        self.lab.sip_options(
            Ns::Phone,
            std::net::SocketAddrV4::new(Lab::VIP, Lab::SIP_PORT),
            timeout,
        )
    }

    /// Configure master on `ns` (node1's addresses, the lab's gateway, the VIP).
    pub fn configure_master(&self, ns: Ns) -> Result<Value> {
        self.run_job(
            ns,
            "POST",
            "/api/v1/cluster",
            Some(json!({
                "hostname": ns.role(),
                "cluster_ip": format!("{}/{}", Lab::VIP, Lab::TELEPHONY_PREFIX_LEN),
                "telephony_interface": Lab::TELEPHONY_IF,
                "cluster_interface": Lab::CLUSTER_IF,
                "notification_email": "pbx-admin@example.org",
                "gateways": [Lab::GATEWAY_IP.to_string()],
            })),
        )
    }

    /// Starts both nodes and makes node1 master and node2 its slave.
    pub fn start_paired(&self) -> Result<()> {
        self.start(Ns::Node1).context("node1 starts")?;
        self.start(Ns::Node2).context("node2 starts")?;
        self.configure_master(Ns::Node1)
            .context("configure master")?;
        self.pair(Ns::Node1, Ns::Node2).context("pairing")
    }

    /// Prepare slave on `slave` with the master's key, then Add slave on `master`.
    pub fn pair(&self, master: Ns, slave: Ns) -> Result<()> {
        self.prepare_slave(master, slave)?;
        self.add_slave(master, slave)
    }

    /// Names `slave` after its role and runs Prepare slave on it with `master`'s key.
    pub fn prepare_slave(&self, master: Ns, slave: Ns) -> Result<()> {
        let key = self.get(master, "/api/v1/nodes/self")?["public_key"]
            .as_str()
            .context("the master's key")?
            .to_string();
        let (status, body) = self.api(
            slave,
            "PATCH",
            "/api/v1/nodes/self",
            Some(json!({ "hostname": slave.role() })),
        )?;
        ensure!(status == 200, "hostname on {slave}: {status} {body}");
        self.run_job(
            slave,
            "POST",
            "/api/v1/nodes/self/prepare-slave",
            Some(json!({ "master_public_key": key })),
        )?;
        Ok(())
    }

    /// Add slave on `master` for a prepared `slave`, with the lab's addresses.
    pub fn add_slave(&self, master: Ns, slave: Ns) -> Result<()> {
        self.run_job(
            master,
            "POST",
            "/api/v1/slaves",
            Some(json!({
                "hostname": slave.role(),
                "telephony_ip": slave.telephony_ip().context("telephony ip")?.to_string(),
                "sync_ip": slave.cluster_ip().context("sync ip")?.to_string(),
            })),
        )?;
        Ok(())
    }

    /// A quiet window: `probe` must hold at every look, at least every 50 ms, until
    /// `window` has passed and `settled` holds as well (evidence that the nodes kept
    /// running through the window, e.g. heartbeats counted since it began), at the
    /// latest by `window` + [`DEADLINE`]. Fails at the first look where `probe` fails,
    /// with the nodes' logs.
    pub fn stays(
        &self,
        what: &str,
        window: Duration,
        mut probe: impl FnMut() -> Result<bool>,
        mut settled: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let started = Instant::now();
        let deadline = started + window + DEADLINE;
        loop {
            let held = probe();
            if !matches!(held, Ok(true)) {
                bail!(
                    "{what} stopped holding after {} ms ({})\n--- node1 ---\n{}\n--- node2 ---\n{}",
                    started.elapsed().as_millis(),
                    match held {
                        Err(e) => format!("{e:#}"),
                        _ => "false".to_string(),
                    },
                    self.log_tail(Ns::Node1),
                    self.log_tail(Ns::Node2)
                );
            }
            if started.elapsed() >= window && settled().unwrap_or(false) {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{what}: the window never settled within {:?}",
                window + DEADLINE
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Everything that a wrong failover would change, as one comparable value: each
    /// node's role and epoch and whether it holds the cluster IP.
    pub fn cluster_state(&self) -> Result<Vec<(String, u64, bool)>> {
        [Ns::Node1, Ns::Node2]
            .into_iter()
            .map(|ns| {
                let view = self.get(ns, "/api/v1/cluster")?;
                Ok((
                    view["role"].as_str().unwrap_or_default().to_string(),
                    view["epoch"].as_u64().context("epoch")?,
                    self.holds_vip(ns)?,
                ))
            })
            .collect()
    }

    /// One sample of a node's `/metrics`, by its series (`name{labels}` as written).
    pub fn metric(&self, ns: Ns, series: &str) -> Result<f64> {
        let text = self.get(ns, "/metrics")?;
        let text = text.as_str().context("/metrics is text")?;
        let line = text
            .lines()
            .find(|line| {
                line.strip_prefix(series)
                    .is_some_and(|rest| rest.starts_with(' '))
            })
            .with_context(|| format!("{series} is not in the metrics of {ns}"))?;
        line[series.len()..]
            .trim()
            .parse()
            .with_context(|| format!("{series} on {ns} is not a number"))
    }

    /// Polls `probe` until it holds, failing with the nodes' logs at the deadline.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            match probe() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = format!("{e:#}"),
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out waiting for {what} (last error: {last})\n--- node1 ---\n{}\n--- node2 ---\n{}",
                    self.log_tail(Ns::Node1),
                    self.log_tail(Ns::Node2)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
