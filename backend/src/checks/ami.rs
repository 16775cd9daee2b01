//! Asterisk AMI: logs in to the Asterisk Manager Interface over TCP, sends a Ping and
//! logs off. Proves Asterisk's core answers, not just that a port is open.
//! The whole conversation shares one deadline, and the output says at which step it ran out.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::result::{CheckResult, Perfdata, Unit};

/// No AMI message we wait for is anywhere near this; more means we are not talking
/// to Asterisk.
const MAX_MESSAGE: usize = 16 * 1024;

/// The manager account the check logs in with (manager.conf).
#[derive(Debug, Clone)]
pub struct AmiLogin {
    pub username: String,
    pub secret: SecretString,
}

/// The AMI check against `addr` (usually 127.0.0.1:5038 on the master).
#[tracing::instrument(skip(login), fields(username = %login.username))]
pub async fn check_ami(addr: SocketAddr, login: &AmiLogin, timeout: Duration) -> CheckResult {
    let started = Instant::now();
    let deadline = started + timeout;
    match converse(addr, login, deadline).await {
        Ok(version) => {
            let took = started.elapsed();
            CheckResult::ok(format!(
                "AMI OK - {version} at {addr} answered Ping in {} ms",
                took.as_millis()
            ))
            .with_perfdata(
                Perfdata::new(
                    "time",
                    (took.as_secs_f64() * 1000.0).round() / 1000.0,
                    Unit::Seconds,
                )
                .range(0.0, timeout.as_secs_f64()),
            )
        }
        Err(Failure::TimedOut(step)) => CheckResult::critical(format!(
            "AMI CRITICAL - no answer within {} ms from {addr} ({step})",
            timeout.as_millis()
        )),
        Err(Failure::Other(message)) => {
            CheckResult::critical(format!("AMI CRITICAL - {addr}: {message}"))
        }
    }
}

enum Failure {
    /// The step the deadline ran out in.
    TimedOut(&'static str),
    Other(String),
}

async fn step<T, F>(deadline: Instant, name: &'static str, work: F) -> Result<T, Failure>
where
    F: Future<Output = Result<T, Failure>>,
{
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or(Err(Failure::TimedOut(name)))
}

fn io(context: &'static str) -> impl Fn(std::io::Error) -> Failure {
    move |e| Failure::Other(format!("{context}: {e}"))
}

/// Runs the login/ping/logoff conversation; returns the banner's version text.
async fn converse(
    addr: SocketAddr,
    login: &AmiLogin,
    deadline: Instant,
) -> Result<String, Failure> {
    let stream = step(deadline, "connecting", async {
        TcpStream::connect(addr).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                Failure::Other("connection refused (is Asterisk running?)".into())
            } else {
                Failure::Other(format!("cannot connect: {e}"))
            }
        })
    })
    .await?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);

    let banner = step(deadline, "waiting for the banner", async {
        let mut line = String::new();
        bounded_line(&mut reader, &mut line).await?;
        Ok(line.trim().to_string())
    })
    .await?;
    if !banner.starts_with("Asterisk Call Manager/") {
        return Err(Failure::Other(format!(
            "unexpected banner {:?}, not Asterisk AMI",
            truncate(&banner)
        )));
    }

    // "Events: off" keeps Asterisk from streaming every call event at us.
    let login_action = format!(
        "Action: Login\r\nActionID: pequod-login\r\nUsername: {}\r\nSecret: {}\r\nEvents: off\r\n\r\n",
        single_line(&login.username),
        single_line(login.secret.expose_secret())
    );
    let reply = step(deadline, "logging in", async {
        write
            .write_all(login_action.as_bytes())
            .await
            .map_err(io("sending Login"))?;
        read_response(&mut reader).await
    })
    .await?;
    if !reply.is("Response", "Success") {
        let message = reply.get("Message").unwrap_or("no reason given");
        return Err(Failure::Other(
            if message.eq_ignore_ascii_case("Authentication failed") {
                format!("Authentication failed for user {:?}", login.username)
            } else {
                format!("login refused: {}", truncate(message))
            },
        ));
    }

    let reply = step(deadline, "waiting for Pong", async {
        write
            .write_all(b"Action: Ping\r\nActionID: pequod-ping\r\n\r\n")
            .await
            .map_err(io("sending Ping"))?;
        read_response(&mut reader).await
    })
    .await?;
    if !(reply.is("Response", "Success") && reply.is("Ping", "Pong")) {
        return Err(Failure::Other(format!(
            "Ping was not answered with Pong: {}",
            truncate(reply.get("Message").unwrap_or("no message"))
        )));
    }

    // A polite logoff keeps Asterisk's log free of "disconnected" noise; its answer
    // does not change the verdict, Asterisk has already proved itself.
    let _ = step(deadline, "logging off", async {
        write
            .write_all(b"Action: Logoff\r\nActionID: pequod-logoff\r\n\r\n")
            .await
            .map_err(io("sending Logoff"))?;
        read_response(&mut reader).await
    })
    .await;

    Ok(banner)
}

/// One AMI message: "Key: Value" lines up to an empty line.
#[derive(Debug, Default)]
struct Message(Vec<(String, String)>);

impl Message {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn is(&self, key: &str, value: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value))
    }
}

/// Reads messages until a response; events that slip through (FullyBooted arrives
/// right after login even with events off) are skipped.
async fn read_response(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<Message, Failure> {
    loop {
        let message = read_message(reader).await?;
        if message.get("Response").is_some() {
            return Ok(message);
        }
    }
}

async fn read_message(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<Message, Failure> {
    let mut message = Message::default();
    let mut size = 0;
    loop {
        let mut line = String::new();
        size += bounded_line(reader, &mut line).await?;
        if size > MAX_MESSAGE {
            return Err(Failure::Other("answer too long, not Asterisk AMI".into()));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if message.0.is_empty() {
                continue; // stray blank line between messages
            }
            return Ok(message);
        }
        if let Some((key, value)) = line.split_once(':') {
            message
                .0
                .push((key.trim().to_string(), value.trim().to_string()));
        }
    }
}

/// Reads one line, refusing to buffer more than `MAX_MESSAGE`; EOF is an error,
/// since every step expects an answer.
async fn bounded_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut String,
) -> Result<usize, Failure> {
    let mut bytes = Vec::new();
    let n = tokio::io::AsyncReadExt::take(&mut *reader, MAX_MESSAGE as u64 + 1)
        .read_until(b'\n', &mut bytes)
        .await
        .map_err(io("reading"))?;
    if n == 0 {
        return Err(Failure::Other("connection closed by Asterisk".into()));
    }
    if n > MAX_MESSAGE {
        return Err(Failure::Other("answer too long, not Asterisk AMI".into()));
    }
    line.push_str(&String::from_utf8_lossy(&bytes));
    Ok(n)
}

/// A CR or LF in a configured value would end the header and inject another one.
fn single_line(value: &str) -> String {
    value.replace(['\r', '\n'], "")
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use pequod_api::checks::CheckState;
    use tokio::net::TcpListener;

    use super::*;

    #[derive(Clone, Copy, PartialEq)]
    enum Behaviour {
        Asterisk,
        WrongBanner,
        Silent,
        /// Accepts the login, then never answers the Ping.
        HangsOnPing,
    }

    /// Asterisk is not packaged in Debian trixie, so this speaks its side of the AMI
    /// protocol as Asterisk 20 does: banner, Login (with the FullyBooted event that
    /// follows a successful one), Ping, Logoff. Credentials: pequod / s3cret.
    async fn fake_asterisk(behaviour: Behaviour) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(stream, behaviour));
            }
        });
        addr
    }

    async fn serve(stream: TcpStream, behaviour: Behaviour) {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        match behaviour {
            Behaviour::Silent => {
                // Hold the connection open without a word until the client gives up.
                let _ = reader.read_line(&mut String::new()).await;
                return;
            }
            Behaviour::WrongBanner => {
                write.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await.unwrap();
                return;
            }
            _ => write
                .write_all(b"Asterisk Call Manager/9.0.0\r\n")
                .await
                .unwrap(),
        }
        let mut logged_in = false;
        while let Ok(action) = read_message(&mut reader).await {
            let id = action.get("ActionID").unwrap_or_default().to_string();
            let answer = match action.get("Action").unwrap_or_default() {
                "Login"
                    if action.is("Username", "pequod")
                        && action.get("Secret") == Some("s3cret") =>
                {
                    assert!(action.is("Events", "off"));
                    logged_in = true;
                    format!(
                        "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
                         Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
                    )
                }
                "Login" => format!(
                    "Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n"
                ),
                "Ping" if !logged_in => {
                    format!(
                        "Response: Error\r\nActionID: {id}\r\nMessage: Permission denied\r\n\r\n"
                    )
                }
                "Ping" if behaviour == Behaviour::HangsOnPing => {
                    let _ = reader.read_line(&mut String::new()).await;
                    return;
                }
                "Ping" => format!(
                    "Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1700000000.000000\r\n\r\n"
                ),
                "Logoff" => {
                    let bye = format!(
                        "Response: Goodbye\r\nActionID: {id}\r\nMessage: Thanks for all the fish.\r\n\r\n"
                    );
                    write.write_all(bye.as_bytes()).await.unwrap();
                    return;
                }
                _ => format!(
                    "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"
                ),
            };
            if write.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn login(secret: &str) -> AmiLogin {
        AmiLogin {
            username: "pequod".into(),
            secret: SecretString::from(secret),
        }
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn login_ping_logoff_is_ok() {
        let addr = fake_asterisk(Behaviour::Asterisk).await;
        let result = check_ami(addr, &login("s3cret"), WAIT).await;
        assert_eq!(result.state, CheckState::Ok, "{}", result.output);
        assert!(
            result.output.starts_with(&format!(
                "AMI OK - Asterisk Call Manager/9.0.0 at {addr} answered Ping in "
            )),
            "{}",
            result.output
        );
    }

    #[tokio::test]
    async fn wrong_secret_is_authentication_failed() {
        let addr = fake_asterisk(Behaviour::Asterisk).await;
        let result = check_ami(addr, &login("guess"), WAIT).await;
        assert_eq!(result.state, CheckState::Critical);
        assert_eq!(
            result.output,
            format!("AMI CRITICAL - {addr}: Authentication failed for user \"pequod\"")
        );
        assert!(
            !result.output.contains("guess"),
            "the secret must not leak into output"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_critical() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let result = check_ami(addr, &login("s3cret"), WAIT).await;
        assert_eq!(result.state, CheckState::Critical);
        assert_eq!(
            result.output,
            format!("AMI CRITICAL - {addr}: connection refused (is Asterisk running?)")
        );
    }

    #[tokio::test]
    async fn a_different_service_is_critical() {
        let addr = fake_asterisk(Behaviour::WrongBanner).await;
        let result = check_ami(addr, &login("s3cret"), WAIT).await;
        assert_eq!(result.state, CheckState::Critical);
        assert!(
            result
                .output
                .contains("unexpected banner \"SSH-2.0-OpenSSH_9.2\""),
            "{}",
            result.output
        );
    }

    #[tokio::test]
    async fn silence_times_out_naming_the_step() {
        let addr = fake_asterisk(Behaviour::Silent).await;
        let result = check_ami(addr, &login("s3cret"), Duration::from_millis(300)).await;
        assert_eq!(result.state, CheckState::Critical);
        assert_eq!(
            result.output,
            format!("AMI CRITICAL - no answer within 300 ms from {addr} (waiting for the banner)")
        );

        // Long enough for the login round trip on a loaded machine; the Ping then
        // hangs for sure.
        let addr = fake_asterisk(Behaviour::HangsOnPing).await;
        let result = check_ami(addr, &login("s3cret"), Duration::from_millis(2000)).await;
        assert_eq!(
            result.output,
            format!("AMI CRITICAL - no answer within 2000 ms from {addr} (waiting for Pong)")
        );
    }

    #[tokio::test]
    async fn header_injection_is_neutralised() {
        let mut reader = BufReader::new(&b"Response: Success\r\nPing: Pong\r\n\r\n"[..]);
        let message = read_message(&mut reader).await.ok().unwrap();
        assert!(message.is("ping", "pong"));
        assert_eq!(
            single_line("pequod\r\nAction: Originate"),
            "pequodAction: Originate"
        );
    }
}
