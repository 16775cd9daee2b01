//! The Debian package: `scripts/package` builds it from the workspace's debug build,
//! its contents are unpacked into a temporary root, and the installed `pequod` is
//! started with the installed configuration, as systemd would start it: READY and the
//! watchdog go to a notification socket this test listens on. The unit passes
//! `systemd-analyze verify`.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

const DEADLINE: Duration = Duration::from_secs(30);

use pequod_e2e::browser::repo_dir;

/// The package is made of the debug build and the built commander; without them the
/// test is skipped, except under CI, where it must fail rather than pass unseen.
#[expect(
    clippy::panic,
    reason = "in CI a missing build must fail the test, not skip it"
)]
fn require_builds() -> bool {
    let binary = pequod_e2e::cluster::pequod_binary();
    let ui = repo_dir().join("frontend/dist/index.html");
    let missing = match (&binary, ui.is_file()) {
        (Ok(_), true) => return true,
        (Err(err), _) => format!("{err:#}"),
        (Ok(_), false) => format!("{} is missing: run scripts/build-frontend", ui.display()),
    };
    if std::env::var_os("CI").is_some() {
        panic!("the package test needs the builds, and CI is set: {missing}");
    }
    eprintln!("skipping: {missing}");
    false
}

fn package(out: &Path) -> Result<PathBuf> {
    let binary = pequod_e2e::cluster::pequod_binary()?;
    let target_dir = binary
        .parent()
        .and_then(Path::parent)
        .context("the binary is not in a target directory")?;
    let output = Command::new(repo_dir().join("scripts/package"))
        .args(["--profile", "debug", "--no-build", "--out"])
        .arg(out)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .context("running scripts/package")?;
    ensure!(
        output.status.success(),
        "scripts/package failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deb = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    ensure!(
        deb.is_file(),
        "scripts/package named no file: {}",
        deb.display()
    );
    Ok(deb)
}

fn dpkg_deb(args: &[&str], deb: &Path) -> Result<String> {
    let output = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .context("running dpkg-deb")?;
    ensure!(
        output.status.success(),
        "dpkg-deb {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Every setting the README's table names (`section.key`), as `key` under `[section]`.
fn readme_settings() -> Result<BTreeSet<(String, String)>> {
    let readme = std::fs::read_to_string(repo_dir().join("README.md"))?;
    let mut settings = BTreeSet::new();
    for line in readme.lines().filter(|line| line.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for name in first.split('`').skip(1).step_by(2) {
            if let Some((section, key)) = name.split_once('.') {
                settings.insert((section.to_string(), key.to_string()));
            }
        }
    }
    ensure!(
        settings.len() > 30,
        "the README's settings table was not found"
    );
    Ok(settings)
}

/// The conffile's settings, commented or not: `(section, key)` for each `key =` line.
fn conffile_settings(conffile: &str) -> BTreeSet<(String, String)> {
    let mut section = String::new();
    let mut settings = BTreeSet::new();
    for line in conffile.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            // An array of tables (`[[cluster.services]]`) is the setting itself.
            if let Some((parent, key)) = name.split_once('.') {
                settings.insert((parent.to_string(), key.to_string()));
            }
            section = name.to_string();
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((key, _)) = line.split_once(" = ")
            && !key.contains(' ')
        {
            settings.insert((section.clone(), key.to_string()));
        }
    }
    settings
}

/// Kills the started node should the test fail before it stops it.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits for one notification on `socket` that satisfies `wanted`, collecting all.
fn await_notification(socket: &UnixDatagram, seen: &mut Vec<String>, wanted: &str) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        socket.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))?;
        match socket.recv(&mut buf) {
            Ok(n) => {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                let found = message.lines().any(|line| line == wanted);
                seen.push(message);
                if found {
                    return Ok(());
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(err) => return Err(err.into()),
        }
    }
    bail!("no {wanted} within {DEADLINE:?}; received {seen:?}")
}

#[test]
fn the_package_installs_and_its_pequod_starts_as_systemd_would_start_it() -> Result<()> {
    if !require_builds() {
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let deb = package(work.path())?;
    let name = deb
        .file_name()
        .and_then(|n| n.to_str())
        .context("no file name")?;
    ensure!(
        name.starts_with("pequod_") && name.ends_with("_amd64.deb"),
        "the package is named {name}"
    );

    // What dpkg would install, and how.
    let contents = dpkg_deb(&["--contents"], &deb)?;
    for (mode, path) in [
        ("-rwxr-xr-x", "./usr/bin/pequod"),
        ("-rw-r--r--", "./usr/share/pequod/commander/index.html"),
        ("-rw-r--r--", "./etc/pequod/pequod.toml"),
        ("-rw-r--r--", "./lib/systemd/system/pequod.service"),
        ("drwx------", "./var/lib/pequod/"),
    ] {
        ensure!(
            contents.lines().any(|line| line.starts_with(mode)
                && line.contains(" root/root ")
                && line.ends_with(path)),
            "the package lacks {path} ({mode} root/root):\n{contents}"
        );
    }
    let control = dpkg_deb(&["--field"], &deb)?;
    for dependency in [
        "iproute2",
        "iputils-arping",
        "iputils-ping",
        "rsync",
        "postgresql",
    ] {
        ensure!(
            control
                .lines()
                .any(|line| line.starts_with("Depends:") && line.contains(dependency)),
            "Depends lacks {dependency}:\n{control}"
        );
    }
    let conffiles = Command::new("dpkg-deb")
        .arg("--info")
        .arg(&deb)
        .arg("conffiles")
        .output()?;
    let conffiles = String::from_utf8_lossy(&conffiles.stdout);
    ensure!(
        conffiles
            .lines()
            .any(|line| line == "/etc/pequod/pequod.toml"),
        "/etc/pequod/pequod.toml is not a conffile: {conffiles:?}"
    );
    let root = work.path().join("root");
    let output = Command::new("dpkg-deb")
        .arg("--extract")
        .arg(&deb)
        .arg(&root)
        .output()?;
    ensure!(output.status.success(), "dpkg-deb --extract failed");
    let state = std::fs::metadata(root.join("var/lib/pequod"))?;
    ensure!(
        state.permissions().mode() & 0o777 == 0o700,
        "/var/lib/pequod is {:o}, not 0700",
        state.permissions().mode() & 0o777
    );

    // The conffile lists every setting the README documents.
    let conffile = std::fs::read_to_string(root.join("etc/pequod/pequod.toml"))?;
    let listed = conffile_settings(&conffile);
    let missing: Vec<_> = readme_settings()?
        .into_iter()
        .filter(|setting| !listed.contains(setting))
        .map(|(section, key)| format!("{section}.{key}"))
        .collect();
    ensure!(
        missing.is_empty(),
        "/etc/pequod/pequod.toml lacks settings the README documents: {missing:?}"
    );

    // The installed binary with the installed configuration; only what must differ
    // in a temporary root (its paths, loopback ports) comes from the environment.
    let notify_path = work.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path)?;
    let port = free_port()?;
    let ssh_port = free_port()?;
    let mut node = Node(
        Command::new(root.join("usr/bin/pequod"))
            .arg("serve")
            .arg("--config")
            .arg(root.join("etc/pequod/pequod.toml"))
            .env("PEQUOD_SERVER__DATA_DIR", root.join("var/lib/pequod"))
            .env(
                "PEQUOD_SERVER__UI_DIR",
                root.join("usr/share/pequod/commander"),
            )
            .env("PEQUOD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            // The lab's ureq has no TLS; the API tests (tls.rs) cover HTTPS.
            .env("PEQUOD_SERVER__TLS", "false")
            .env(
                "PEQUOD_CLUSTER__SSH_LISTEN",
                format!("127.0.0.1:{ssh_port}"),
            )
            .env("PEQUOD_ADMIN_PASSWORD", "package-test-password")
            .env("NOTIFY_SOCKET", &notify_path)
            // A watchdog of 400 ms: petted every 100 ms by the agent's loop.
            .env("WATCHDOG_USEC", "400000")
            .env_remove("WATCHDOG_PID")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the installed pequod")?,
    );
    let mut seen = Vec::new();
    await_notification(&notify, &mut seen, "READY=1")?;
    // READY comes only once the API answers.
    let health = ureq::get(&format!("http://127.0.0.1:{port}/healthz")).call()?;
    ensure!(
        health.status() == 200,
        "healthz answered {}",
        health.status()
    );
    let index = ureq::get(&format!("http://127.0.0.1:{port}/"))
        .call()?
        .into_string()?;
    ensure!(
        index.contains("pequod_commander"),
        "/ is not the installed commander: {index}"
    );
    await_notification(&notify, &mut seen, "WATCHDOG=1")?;
    await_notification(&notify, &mut seen, "WATCHDOG=1")?;

    // A stop says so, and ends cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(node.0.id())?),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    await_notification(&notify, &mut seen, "STOPPING=1")?;
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = node.0.try_wait()? {
            break status;
        }
        ensure!(Instant::now() < deadline, "pequod did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    ensure!(status.success(), "pequod stopped with {status}");
    let mut log = String::new();
    if let Some(mut stderr) = node.0.stderr.take() {
        std::io::Read::read_to_string(&mut stderr, &mut log)?;
    }
    ensure!(
        !log.contains('\u{1b}'),
        "the log (the journal's input) has colour codes:\n{log}"
    );
    Ok(())
}

#[expect(
    clippy::panic,
    reason = "in CI a missing systemd-analyze must fail the test, not skip it"
)]
fn require_systemd_analyze() -> bool {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("systemd-analyze is missing, and CI is set: run scripts/setup test (systemd)");
    }
    eprintln!("skipping: systemd-analyze is not installed");
    false
}

#[test]
fn the_unit_passes_systemd_analyze_verify() -> Result<()> {
    if !require_systemd_analyze() {
        return Ok(());
    }
    // verify checks that the programs exist: point the unit at a stand-in.
    let work = tempfile::tempdir()?;
    let program = work.path().join("pequod");
    std::fs::write(&program, "#!/bin/sh\n")?;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
    let unit = std::fs::read_to_string(repo_dir().join("packaging/pequod.service"))?;
    ensure!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    ensure!(unit.contains("ExecStopPost=/usr/bin/pequod release-vip"));
    let unit = unit.replace("/usr/bin/pequod", &program.to_string_lossy());
    let path = work.path().join("pequod.service");
    std::fs::write(&path, unit)?;
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        output.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    Ok(())
}
