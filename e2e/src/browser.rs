//! A real browser for the commander's end-to-end tests: Debian's `chromedriver` driving a
//! headless Chromium over WebDriver (fantoccini), on loopback only.
//!
//! Tests start with `let Some(ui_dir) = require_browser() else { return };`, then
//! [`Browser::start`]; every wait has a deadline and polls a condition, never sleeps blind.

use std::fs::{self, File};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Debian's `chromium` package.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver` package; always the same version as [`CHROMIUM`].
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any one wait may take. Generous: a loaded CI machine loading the WASM bundle
/// must not make a correct test fail, and a passing wait returns as soon as it can.
pub const DEADLINE: Duration = Duration::from_secs(20);

const POLL: Duration = Duration::from_millis(50);

/// Chromium's switches: headless, quiet (no update, sync or other traffic of its own),
/// and root-friendly (`--no-sandbox`: the tests may run as root in a container).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,800",
];

/// The built commander, as `scripts/build-frontend` leaves it.
pub fn ui_dir() -> PathBuf {
    repo_dir().join("frontend").join("dist")
}

/// Where [`Browser::screenshot`] saves its pictures (gitignored).
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots")
}

/// The workspace's root directory (the checkout).
pub fn repo_dir() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
    e2e.parent().unwrap_or(e2e).to_path_buf()
}

/// Whether the browser tests can run here: Chromium, chromedriver and the built commander
/// are all present. Returns the commander's directory. Without them a test is skipped,
/// except under CI, where a test that cannot run must fail rather than pass unseen.
#[expect(
    clippy::panic,
    reason = "in CI a missing browser or UI build must fail the tests, not skip them"
)]
pub fn require_browser() -> Option<PathBuf> {
    let in_ci = std::env::var_os("CI").is_some();
    if !Path::new(CHROMIUM).is_file() || !Path::new(CHROMEDRIVER).is_file() {
        if in_ci {
            panic!(
                "the browser tests need {CHROMIUM} and {CHROMEDRIVER}, and CI is set: \
                 run scripts/setup (Debian packages chromium and chromium-driver)"
            );
        }
        eprintln!("skipping: chromium/chromedriver not installed (scripts/setup installs them)");
        return None;
    }
    let ui = ui_dir();
    if !ui.join("index.html").is_file() {
        if in_ci {
            panic!(
                "the browser tests need the built commander in {}, and CI is set: \
                 run scripts/build-frontend first (scripts/test does)",
                ui.display()
            );
        }
        eprintln!(
            "skipping: the commander is not built ({} is missing; scripts/build-frontend builds it)",
            ui.join("index.html").display()
        );
        return None;
    }
    Some(ui)
}

/// A headless Chromium with a fresh profile, driven through its own chromedriver.
/// Call [`Browser::close`] at the end; dropping it kills driver and browser regardless.
pub struct Browser {
    client: Client,
    // Declared after `client` and before `profile`: the browser is gone before its
    // profile directory is removed.
    driver: Driver,
    profile: TempDir,
}

impl Browser {
    pub async fn start() -> Result<Self> {
        Self::launch(&[]).await
    }

    /// A browser that accepts a server certificate it cannot verify only when its
    /// public key is this one: `spki_sha256_base64` is the base64 of the SHA-256 of the
    /// certificate's SubjectPublicKeyInfo DER (several: comma-separated). Any other
    /// certificate error still fails.
    pub async fn start_pinning(spki_sha256_base64: &str) -> Result<Self> {
        Self::launch(&[format!(
            "--ignore-certificate-errors-spki-list={spki_sha256_base64}"
        )])
        .await
    }

    async fn launch(extra_args: &[String]) -> Result<Self> {
        let profile = tempfile::Builder::new()
            .prefix("pequod-browser-")
            .tempdir()
            .context("creating a temporary directory for the browser profile")?;
        let driver = Driver::start(profile.path())?;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| (*arg).to_owned()).collect();
        // The SPKI pin takes effect only with a user data directory of its own.
        args.push(format!(
            "--user-data-dir={}",
            profile.path().join("chromium").display()
        ));
        args.extend(extra_args.iter().cloned());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            bail!("the capabilities are not a JSON object");
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "starting {CHROMIUM} through chromedriver; its log: {}",
                    driver.log_tail()
                )
            })?;
        Ok(Self {
            client,
            driver,
            profile,
        })
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// Reloads the page, as a person pressing F5 does.
    pub async fn reload(&self) -> Result<()> {
        self.client.refresh().await.context("reloading the page")
    }

    /// Whether an element matching `css` is on the page right now.
    pub async fn is_present(&self, css: &str) -> Result<bool> {
        let found = self
            .client
            .find_all(Locator::Css(css))
            .await
            .with_context(|| format!("looking for `{css}`"))?;
        Ok(!found.is_empty())
    }

    /// The first element matching `css`, once there is one.
    pub async fn wait_for(&self, css: &str) -> Result<Element> {
        poll(&format!("`{css}` to appear"), async || {
            self.client
                .find(Locator::Css(css))
                .await
                .map_err(|_| "it is not on the page".to_owned())
        })
        .await
    }

    /// The element matching `css` once its text, trimmed, is exactly `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> Result<Element> {
        poll(&format!("`{css}` to read {expected:?}"), async || {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .map_err(|_| "it is not on the page".to_owned())?;
            let text = element.text().await.map_err(|e| e.to_string())?;
            if text.trim() == expected {
                Ok(element)
            } else {
                Err(format!("it reads {:?}", text.trim()))
            }
        })
        .await
    }

    /// The element matching `css` once `class` is among its classes.
    pub async fn wait_for_class(&self, css: &str, class: &str) -> Result<Element> {
        poll(
            &format!("`{css}` to have the class {class:?}"),
            async || {
                let element = self
                    .client
                    .find(Locator::Css(css))
                    .await
                    .map_err(|_| "it is not on the page".to_owned())?;
                let classes = element
                    .attr("class")
                    .await
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default();
                if classes.split_whitespace().any(|c| c == class) {
                    Ok(element)
                } else {
                    Err(format!("its classes are {classes:?}"))
                }
            },
        )
        .await
    }

    /// Replaces the value of the input matching `css` by typing `text`, so the page sees
    /// the same input events a person's typing makes.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let input = self.wait_for(css).await?;
        input
            .clear()
            .await
            .with_context(|| format!("clearing `{css}`"))?;
        input
            .send_keys(text)
            .await
            .with_context(|| format!("typing into `{css}`"))
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.wait_for(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// Chooses the option with `value` in the `<select>` matching `css`, as a person
    /// picking it from the list does (the page sees a change event).
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        self.wait_for(css)
            .await?
            .select_by_value(value)
            .await
            .with_context(|| format!("choosing {value:?} in `{css}`"))
    }

    /// Like [`Browser::wait_for_text`], for waits that may take longer than [`DEADLINE`]
    /// (a job on a lab node); `expected` is found within the trimmed text.
    pub async fn wait_for_text_within(
        &self,
        css: &str,
        expected: &str,
        timeout: Duration,
    ) -> Result<Element> {
        poll_within(
            &format!("`{css}` to contain {expected:?}"),
            timeout,
            async || {
                let element = self
                    .client
                    .find(Locator::Css(css))
                    .await
                    .map_err(|_| "it is not on the page".to_owned())?;
                let text = element.text().await.map_err(|e| e.to_string())?;
                if text.contains(expected) {
                    Ok(element)
                } else {
                    Err(format!("it reads {:?}", text.trim()))
                }
            },
        )
        .await
    }

    /// The trimmed text of the first element matching `css`, once there is one.
    pub async fn text(&self, css: &str) -> Result<String> {
        let text = self
            .wait_for(css)
            .await?
            .text()
            .await
            .with_context(|| format!("reading the text of `{css}`"))?;
        Ok(text.trim().to_owned())
    }

    /// Waits until no element matches `css`.
    pub async fn wait_until_gone(&self, css: &str) -> Result<()> {
        poll(&format!("`{css}` to disappear"), async || {
            let found = self
                .client
                .find_all(Locator::Css(css))
                .await
                .map_err(|e| e.to_string())?;
            if found.is_empty() {
                Ok(())
            } else {
                Err(format!("{} still match", found.len()))
            }
        })
        .await
    }

    /// Resizes the window, e.g. to a phone's 390 px width.
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.client
            .set_window_size(width, height)
            .await
            .with_context(|| format!("resizing the window to {width}×{height}"))
    }

    /// The current value of the input matching `css`.
    pub async fn value(&self, css: &str) -> Result<String> {
        let value = self
            .wait_for(css)
            .await?
            .prop("value")
            .await
            .with_context(|| format!("reading the value of `{css}`"))?;
        Ok(value.unwrap_or_default())
    }

    /// An item of the page's `sessionStorage`.
    pub async fn session_storage(&self, key: &str) -> Result<Option<String>> {
        let value = self
            .client
            .execute(
                "return window.sessionStorage.getItem(arguments[0]);",
                vec![json!(key)],
            )
            .await
            .with_context(|| format!("reading sessionStorage[{key:?}]"))?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Saves what the browser shows as `e2e/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self
            .client
            .screenshot()
            .await
            .context("taking a screenshot")?;
        let dir = screenshots_dir();
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Ends the WebDriver session (Chromium quits), then stops chromedriver.
    pub async fn close(self) -> Result<()> {
        let Self {
            client,
            driver,
            profile,
        } = self;
        let closed = client.close().await.context("closing the browser");
        drop(driver);
        drop(profile);
        closed
    }
}

/// Tries `probe` every [`POLL`] until it succeeds or [`DEADLINE`] passes; `probe` says
/// what it saw when it did not succeed, and the last such answer goes into the error.
async fn poll<T>(what: &str, probe: impl AsyncFnMut() -> Result<T, String>) -> Result<T> {
    poll_within(what, DEADLINE, probe).await
}

async fn poll_within<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> Result<T> {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let seen = match probe().await {
            Ok(found) => return Ok(found),
            Err(seen) => seen,
        };
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "waited {:.1} s for {what}, but {seen}",
                (now - started).as_secs_f64()
            );
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}

/// A `chromedriver` on a free loopback port, in a process group of its own so that
/// dropping it kills the Chromium it started as well.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn start(dir: &Path) -> Result<Self> {
        let log = dir.join("chromedriver.log");
        let port = free_port()?;
        let output = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(CHROMEDRIVER)
            // Without --allowed-ips chromedriver accepts local connections only.
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().context("sharing the chromedriver log")?)
            .stderr(output)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let mut driver = Self { child, port, log };
        driver.wait_until_listening()?;
        Ok(driver)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_listening(&mut self) -> Result<()> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + DEADLINE;
        loop {
            if TcpStream::connect_timeout(&address, POLL).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().context("watching chromedriver")? {
                bail!(
                    "chromedriver exited ({status}); its log: {}",
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "chromedriver did not listen on {address} within {} s; its log: {}",
                    DEADLINE.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The end of chromedriver's output, for error messages.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            "(empty)".to_owned()
        } else {
            tail
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is chromedriver's own (process_group(0)): it and the browser it started.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now. Chromedriver binds it a moment later; on this machine's
/// loopback nothing else races for it in practice, and a lost race fails loudly.
fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Lets the host's browser reach a lab node's API, which listens on 127.0.0.1 inside the
/// node's network namespace: listens on a free host loopback port and, per connection,
/// opens the upstream connection from a thread that joined the namespace (a socket keeps
/// its namespace afterwards), then copies bytes both ways: the TLS session is the
/// browser's with the node. Dropping it stops listening and cuts the open connections.
pub struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Forwards to `127.0.0.1:upstream_port` in the network namespace `netns`.
    pub fn start(netns: &str, upstream_port: u16) -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("listening on a free loopback port")?;
        listener
            .set_nonblocking(true)
            .context("making the forwarder's listener non-blocking")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, streams, netns) = (stop.clone(), streams.clone(), netns.to_owned());
            std::thread::spawn(move || {
                accept_loop(&listener, &netns, upstream_port, &stop, &streams)
            })
        };
        Ok(Self {
            port,
            stop,
            streams,
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:<port>` followed by `path` (the lab's nodes serve HTTPS).
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for stream in streams.iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    netns: &str,
    upstream_port: u16,
    stop: &AtomicBool,
    streams: &Mutex<Vec<TcpStream>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(_) => continue,
        };
        let upstream = crate::lab::in_named_netns(netns, || {
            TcpStream::connect((Ipv4Addr::LOCALHOST, upstream_port))
        });
        let (Ok(Ok(upstream)), Ok(())) = (upstream, client.set_nonblocking(false)) else {
            // The node is not listening (yet, or any more): the browser sees a reset.
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        if let (Ok(c), Ok(u), Ok(mut list)) =
            (client.try_clone(), upstream.try_clone(), streams.lock())
        {
            list.push(c);
            list.push(u);
        }
        pipe(&client, &upstream);
        pipe(&upstream, &client);
    }
}

/// Copies `from` to `to` on a thread of its own until `from` ends, then ends `to`'s
/// sending side so the other end sees the close.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}
