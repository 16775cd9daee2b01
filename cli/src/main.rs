//! `pequodctl`: Pequod's REST API from a shell. Every call goes through the client
//! generated from `openapi/openapi.json` ([`pequodctl::client`]); this file only turns
//! the answers into tables a person reads at a glance, or JSON for scripts (`--json`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use pequodctl::client::{Client, Error, types};
use pequodctl::session::{self, Session};
use serde::Serialize;

/// How often a followed job is asked for its progress.
const POLL: Duration = Duration::from_millis(250);
/// How long a followed job's node may be unreachable before `--follow` gives up.
const UNREACHABLE_GRACE: Duration = Duration::from_secs(10);

#[derive(Parser)]
#[command(
    name = "pequodctl",
    version,
    about = "Drive a Pequod cluster from a shell"
)]
struct Cli {
    /// The node's API, e.g. https://192.0.2.10:8080. Default: the one `login` used, else
    /// https://127.0.0.1:8080. Use a node's own address rather than the cluster IP to
    /// follow a failover to its end: the cluster IP moves to the other node.
    #[arg(long, env = "PEQUOD_URL", global = true)]
    url: Option<String>,
    /// Trust exactly the HTTPS certificate with this SHA-256 fingerprint (the node's
    /// self-signed one: `tls_fingerprint` in GET /api/v1/nodes/self, or the node's log
    /// at start). `login` keeps it with the token. Without it, the certificate must be
    /// signed by a public certificate authority.
    #[arg(long, env = "PEQUOD_FINGERPRINT", global = true)]
    fingerprint: Option<String>,
    /// Print the API's answer as JSON (one document) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in and keep the token in the user's config dir (mode 0600).
    Login {
        #[arg(long, default_value = "admin")]
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the kept token.
    Logout,
    #[command(flatten)]
    Api(ApiCommand),
}

/// The commands that call the API with the kept token.
#[derive(Subcommand)]
enum ApiCommand {
    /// Who the kept token belongs to and until when it is valid.
    Whoami,
    /// The cluster at a glance: mode, cluster IP, lamp, both nodes, data sync.
    Status,
    /// Hand the master role to the slave (manual failover) and follow the job.
    Failover {
        /// On the slave, when the master is gone: take over even though commits the
        /// master acknowledged may be missing here. The job says how much may be lost.
        #[arg(long)]
        force: bool,
        /// Print the job's number and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// The slave of this master: list, add, remove, add again.
    #[command(subcommand)]
    Slaves(SlavesCommand),
    /// The job log; with an ID one job and its steps; --follow waits for it to end.
    Jobs {
        /// A job's number.
        id: Option<i64>,
        /// Follow the job (the given one, else the newest) with a progress bar until it
        /// ends; exits non-zero when it fails.
        #[arg(long)]
        follow: bool,
        /// 1-based page number.
        #[arg(long)]
        page: Option<std::num::NonZeroU32>,
        /// Jobs per page (1-100).
        #[arg(long)]
        per_page: Option<std::num::NonZeroU32>,
    },
    /// The failover and notify checks, with their state and output.
    Checks {
        /// Only checks in this state: ok, warning, critical, unknown.
        #[arg(long)]
        state: Option<types::CheckState>,
        /// Only checks of this kind: failover, notify.
        #[arg(long)]
        kind: Option<types::CheckKind>,
    },
    /// The audit log, newest first: logins, changes and failovers with who caused them.
    Audit {
        /// Only actions that start with this, e.g. failover, login, DELETE.
        #[arg(long)]
        action: Option<String>,
        /// Only this user's entries.
        #[arg(long)]
        user: Option<String>,
        /// Only entries with this outcome: success, failure.
        #[arg(long)]
        outcome: Option<types::AuditOutcome>,
        /// 1-based page number.
        #[arg(long)]
        page: Option<std::num::NonZeroU32>,
        /// Entries per page (1-100).
        #[arg(long)]
        per_page: Option<std::num::NonZeroU32>,
    },
    /// The users and their roles (admin only): list, add, change, delete.
    #[command(subcommand)]
    Users(UsersCommand),
    /// API tokens for scripts (admin only): list, create, revoke. A script sends one
    /// in PEQUOD_TOKEN.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Every user with its role.
    List,
    /// Add a user; the password is read from standard input (or asked twice on a
    /// terminal).
    Add {
        username: types::AccountName,
        /// viewer (reads), operator (also failover, add/remove/re-add slave) or admin.
        #[arg(long)]
        role: types::AccessRole,
    },
    /// Give a user another role. The last admin keeps its role.
    SetRole {
        username: types::AccountName,
        role: types::AccessRole,
    },
    /// Set a user's password (read as for `add`); every token of the user ends.
    SetPassword { username: types::AccountName },
    /// Delete a user; its tokens end at once. The last admin cannot go.
    Delete { username: types::AccountName },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Every API token: role, expiry, last use; never a secret.
    List,
    /// Create an API token and print its secret, which cannot be shown again.
    Create {
        name: types::AccountName,
        #[arg(long)]
        role: types::AccessRole,
        /// Days until it expires (1-3650).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Revoke an API token: the next request carrying it is refused.
    Revoke { name: types::AccountName },
}

#[derive(Subcommand)]
enum SlavesCommand {
    /// The slave this master knows, active or removed.
    List,
    /// Add a prepared node as slave (Add slave wizard) and follow the job.
    Add {
        hostname: types::Hostname,
        #[arg(long)]
        telephony_ip: std::net::IpAddr,
        #[arg(long)]
        sync_ip: std::net::IpAddr,
        #[arg(long)]
        no_wait: bool,
    },
    /// Remove the slave from the cluster (its data stays) and follow the job.
    Remove {
        hostname: types::Hostname,
        #[arg(long)]
        no_wait: bool,
    },
    /// Add a removed slave again, optionally at new addresses, and follow the job.
    Readd {
        hostname: types::Hostname,
        #[arg(long)]
        telephony_ip: Option<std::net::IpAddr>,
        #[arg(long)]
        sync_ip: Option<std::net::IpAddr>,
        #[arg(long)]
        no_wait: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pequodctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pequodctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    // A broken token file must not stop `login` and `logout`, which mend it, nor a run
    // that brings its own URL and token: it is an error only where it is needed.
    let kept = session::load();
    let url = cli
        .url
        .clone()
        .or_else(|| {
            kept.as_ref()
                .ok()
                .and_then(|k| k.as_ref())
                .map(|s| s.url.clone())
        })
        .unwrap_or_else(|| "https://127.0.0.1:8080".into());
    let url = url.trim_end_matches('/').to_string();
    let out = Output { json: cli.json };
    // The pin given now; API calls fall back on the one kept with the login to this
    // URL (a broken kept one is an error only there, not for `login` and `logout`).
    let given = cli
        .fingerprint
        .as_deref()
        .map(pequodctl::tls::parse_fingerprint)
        .transpose()?;
    let kept_pin = || {
        kept.as_ref()
            .ok()
            .and_then(|k| k.as_ref())
            .filter(|k| k.url == url)
            .and_then(|k| k.fingerprint.as_deref())
            .map(pequodctl::tls::parse_fingerprint)
            .transpose()
    };
    match cli.command {
        Command::Login {
            user,
            password_stdin,
        } => login(&url, given, &user, password_stdin, out).await,
        Command::Logout => {
            session::forget()?;
            out.show(&serde_json::json!({ "logged_out": true }), || {
                println!("Logged out.")
            })
        }
        Command::Api(command) => {
            let pin = match given {
                Some(pin) => Some(pin),
                None => kept_pin()?,
            };
            api_command(&authorised(&url, pin, kept)?, command, out).await
        }
    }
}

async fn api_command(api: &Client, command: ApiCommand, out: Output) -> Result<()> {
    match command {
        ApiCommand::Whoami => {
            let me = call(api.me().await).await?;
            out.show(&me, || {
                let what = match me.kind {
                    types::PrincipalKind::User => "user",
                    types::PrincipalKind::ApiToken => "API token",
                };
                println!(
                    "{} ({what}, role {}; token valid until {})",
                    me.username, me.role, me.expires_at
                )
            })
        }
        ApiCommand::Users(command) => users(api, command, out).await,
        ApiCommand::Tokens(command) => tokens(api, command, out).await,
        ApiCommand::Status => status(api, out).await,
        ApiCommand::Failover { force, no_wait } => {
            let body = types::ManualFailover { force: Some(force) };
            let accepted = call(api.failover(Some(&body)).await).await?;
            job_started(api, accepted, no_wait, out).await
        }
        ApiCommand::Slaves(command) => slaves(api, command, out).await,
        ApiCommand::Jobs {
            id,
            follow,
            page,
            per_page,
        } => jobs(api, id, follow, page, per_page, out).await,
        ApiCommand::Checks { state, kind } => {
            let checks = call(api.list_checks(kind, state).await).await?;
            out.show(&checks, || print_checks(&checks))
        }
        ApiCommand::Audit {
            action,
            user,
            outcome,
            page,
            per_page,
        } => {
            let entries = call(
                api.list_audit(action.as_deref(), outcome, page, per_page, user.as_deref())
                    .await,
            )
            .await?;
            out.show(&entries, || print_audit(&entries))
        }
    }
}

async fn users(api: &Client, command: UsersCommand, out: Output) -> Result<()> {
    match command {
        UsersCommand::List => {
            let list = call(api.list_users().await).await?;
            out.show(&list, || {
                let mut rows = vec![["USER", "ROLE", "CREATED"].map(String::from).to_vec()];
                for user in &list.users {
                    rows.push(vec![
                        user.username.as_str().to_string(),
                        user.role.to_string(),
                        user.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    ]);
                }
                print_table(&rows);
            })
        }
        UsersCommand::Add { username, role } => {
            let password = new_password(&format!("Password for {}", username.as_str()))?;
            let body = types::NewUser {
                username,
                password: password.try_into().map_err(|e| anyhow!("password: {e}"))?,
                role,
            };
            let user = call(api.create_user(&body).await).await?;
            out.show(&user, || {
                println!("Added {} as {}.", user.username.as_str(), user.role)
            })
        }
        UsersCommand::SetRole { username, role } => {
            let body = types::UserPatch {
                role: Some(role),
                password: None,
            };
            let user = call(api.patch_user(&username, &body).await).await?;
            out.show(&user, || {
                println!("{} is now {}.", user.username.as_str(), user.role)
            })
        }
        UsersCommand::SetPassword { username } => {
            let password = new_password(&format!("New password for {}", username.as_str()))?;
            let body = types::UserPatch {
                role: None,
                password: Some(password.try_into().map_err(|e| anyhow!("password: {e}"))?),
            };
            let user = call(api.patch_user(&username, &body).await).await?;
            out.show(&user, || {
                println!(
                    "The password of {} is set; its older tokens ended.",
                    user.username.as_str()
                )
            })
        }
        UsersCommand::Delete { username } => {
            call(api.delete_user(&username).await).await?;
            out.show(&serde_json::json!({ "deleted": username.as_str() }), || {
                println!("Deleted {}; its tokens ended.", username.as_str())
            })
        }
    }
}

async fn tokens(api: &Client, command: TokensCommand, out: Output) -> Result<()> {
    match command {
        TokensCommand::List => {
            let list = call(api.list_tokens().await).await?;
            out.show(&list, || {
                if list.tokens.is_empty() {
                    println!("No API tokens.");
                    return;
                }
                let mut rows = vec![
                    ["TOKEN", "ROLE", "CREATED BY", "EXPIRES", "LAST USED"]
                        .map(String::from)
                        .to_vec(),
                ];
                let minute = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
                for token in &list.tokens {
                    rows.push(vec![
                        token.name.as_str().to_string(),
                        token.role.to_string(),
                        token.created_by.clone(),
                        minute(token.expires_at),
                        token
                            .last_used_at
                            .map(minute)
                            .unwrap_or_else(|| "never".into()),
                    ]);
                }
                print_table(&rows);
            })
        }
        TokensCommand::Create { name, role, days } => {
            let expires_in_days = std::num::NonZeroU32::new(days)
                .filter(|d| d.get() <= 3650)
                .ok_or_else(|| anyhow!("--days must be between 1 and 3650, not {days}"))?;
            let body = types::NewApiToken {
                name,
                role,
                expires_in_days,
            };
            let created = call(api.create_token(&body).await).await?;
            out.show(&created, || {
                println!(
                    "Created API token {} ({}, expires {}). Its secret, shown only now:\n{}",
                    created.token.name.as_str(),
                    created.token.role,
                    created.token.expires_at,
                    created.secret
                )
            })
        }
        TokensCommand::Revoke { name } => {
            call(api.revoke_token(&name).await).await?;
            out.show(&serde_json::json!({ "revoked": name.as_str() }), || {
                println!("Revoked API token {}.", name.as_str())
            })
        }
    }
}

/// An address clap has read, as the contract's address type (which reads the same).
fn address<T: TryFrom<String, Error: std::fmt::Display>>(ip: std::net::IpAddr) -> Result<T> {
    T::try_from(ip.to_string()).map_err(|e| anyhow!("{ip}: {e}"))
}

/// A new password: the first line of standard input, or typed twice on a terminal.
fn new_password(prompt: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password(format!("{prompt}: ")).context("reading the password")?;
        let again = rpassword::prompt_password(format!("{prompt} (again): "))
            .context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Prints either the value as JSON or, through `table`, for a person.
#[derive(Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    fn show<T: Serialize>(self, value: &T, table: impl FnOnce()) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            table();
        }
        Ok(())
    }
}

fn http(token: Option<&str>, pin: Option<[u8; 32]>) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .use_preconfigured_tls(pequodctl::tls::client_config(pin)?)
        .user_agent(concat!("pequodctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

/// A client carrying the token from `PEQUOD_TOKEN` or the one `login` kept for `url`.
fn authorised(url: &str, pin: Option<[u8; 32]>, kept: Result<Option<Session>>) -> Result<Client> {
    let token = match std::env::var("PEQUOD_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => match kept?.as_ref() {
            Some(kept) if kept.url == url => {
                if kept.expires_at <= Utc::now() {
                    bail!(
                        "the session for {url} ended at {}: run `pequodctl login`",
                        kept.expires_at
                    );
                }
                kept.token.clone()
            }
            Some(kept) => bail!(
                "logged in to {}, not {url}: run `pequodctl --url {url} login`",
                kept.url
            ),
            None => bail!("not logged in: run `pequodctl login` (or set PEQUOD_TOKEN)"),
        },
    };
    Ok(Client::new_with_client(url, http(Some(&token), pin)?))
}

async fn login(
    url: &str,
    pin: Option<[u8; 32]>,
    user: &str,
    password_stdin: bool,
    out: Output,
) -> Result<()> {
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if let Ok(password) = std::env::var("PEQUOD_PASSWORD") {
        password
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Password for {user} at {url}: "))
            .context("reading the password")?
    } else {
        bail!("no password: give --password-stdin, set PEQUOD_PASSWORD or run on a terminal");
    };
    let api = Client::new_with_client(url, http(None, pin)?);
    let body = types::LoginRequest {
        username: user.to_string(),
        password,
    };
    // A refused login needs no hint to log in.
    let answer = explain(api.login(&body).await, false).await?;
    let kept = Session {
        url: url.to_string(),
        token: answer.token.clone(),
        expires_at: answer.expires_at,
        fingerprint: pin.map(|p| pequodctl::tls::show_fingerprint(&p)),
    };
    let path = session::store(&kept)?;
    #[derive(Serialize)]
    struct LoggedIn<'a> {
        url: &'a str,
        username: &'a str,
        expires_at: DateTime<Utc>,
        token_file: String,
    }
    let shown = LoggedIn {
        url,
        username: user,
        expires_at: answer.expires_at,
        token_file: path.display().to_string(),
    };
    out.show(&shown, || {
        println!(
            "Logged in to {url} as {user} until {}; token kept in {}.",
            answer.expires_at,
            path.display()
        )
    })
}

/// The answer's body, or an error that says what the server said: the problem's title,
/// detail and every field it names.
async fn call<T>(
    answer: Result<progenitor_client::ResponseValue<T>, Error<types::Problem>>,
) -> Result<T> {
    explain(answer, true).await
}

/// [`call`], with the hint to log in on a 401 only when `hint_login`.
async fn explain<T>(
    answer: Result<progenitor_client::ResponseValue<T>, Error<types::Problem>>,
    hint_login: bool,
) -> Result<T> {
    match answer {
        Ok(value) => Ok(value.into_inner()),
        Err(Error::ErrorResponse(problem)) => {
            let status = problem.status();
            let problem = problem.into_inner();
            let mut text = format!("{} ({})", problem.title, status.as_u16());
            if let Some(detail) = &problem.detail {
                text.push_str(": ");
                text.push_str(detail);
            }
            for error in &problem.errors {
                text.push_str(&format!("\n  {}: {}", error.field, error.message));
            }
            if hint_login && status == reqwest::StatusCode::UNAUTHORIZED {
                text.push_str("\n  run `pequodctl login`");
            }
            Err(anyhow!(text))
        }
        Err(Error::CommunicationError(e)) => {
            let err = anyhow::Error::new(e).context("cannot reach the node");
            let untrusted = format!("{err:#}").contains("peer certificate");
            if untrusted {
                return Err(err.context(
                    "the node's HTTPS certificate is not trusted: pass --fingerprint with the \
                     node's tls_fingerprint (GET /api/v1/nodes/self, or the node's log at start)",
                ));
            }
            Err(err)
        }
        Err(Error::UnexpectedResponse(response)) => {
            // Not in the contract (a proxy's 502, a server error): whatever it says is
            // the best account there is.
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let said = serde_json::from_str::<types::Problem>(&body)
                .map(|p| match p.detail {
                    Some(detail) => format!("{}: {detail}", p.title),
                    None => p.title,
                })
                .unwrap_or_else(|_| body.trim().chars().take(500).collect());
            Err(anyhow!(
                "the node answered {status}, which the contract does not declare for this call: {said}"
            ))
        }
        Err(e) => Err(anyhow!("{e}")),
    }
}

async fn status(api: &Client, out: Output) -> Result<()> {
    let cluster = call(api.get_cluster().await).await?;
    let nodes = call(api.list_nodes().await).await?;
    // The sync view is a detail: a node too old or too busy to answer it still has a
    // status to show.
    let sync = call(api.get_sync().await).await.ok();
    #[derive(Serialize)]
    struct Status<'a> {
        cluster: &'a types::Cluster,
        nodes: &'a [types::Node],
        sync: Option<&'a types::SyncStatus>,
    }
    let all = Status {
        cluster: &cluster,
        nodes: &nodes,
        sync: sync.as_ref(),
    };
    out.show(&all, || print_status(&cluster, &nodes, sync.as_ref()))
}

fn print_status(cluster: &types::Cluster, nodes: &[types::Node], sync: Option<&types::SyncStatus>) {
    let holder = match (&cluster.cluster_ip, &cluster.vip_holder) {
        (Some(ip), Some(holder)) => format!("cluster IP {ip} held by {holder}"),
        (Some(ip), None) => format!("cluster IP {ip} HELD BY NOBODY"),
        (None, _) => "no cluster IP".into(),
    };
    println!(
        "Cluster  {} mode, {holder}, epoch {}, this node {}",
        cluster.mode, cluster.epoch, cluster.role
    );
    println!("Gateway  {}", cluster.telephony_gateway);
    println!("Lamp     {}", cluster.lamp.to_string().to_uppercase());
    for reason in &cluster.lamp_reasons {
        println!("         - {reason}");
    }
    if let Some(line) = sync.and_then(sync_line) {
        println!("Sync     {line}");
    }
    println!();
    let now = Utc::now();
    let mut rows = vec![
        [
            "",
            "NODE",
            "ROLE",
            "CLUSTER IP",
            "TELEPHONY",
            "CLUSTER LINK",
            "EPOCH",
            "VERSION",
            "HEARD",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for node in nodes {
        let link = |up: Option<bool>| match up {
            Some(true) => "up".to_string(),
            Some(false) => "DOWN".to_string(),
            None => "-".to_string(),
        };
        rows.push(vec![
            if node.is_self { "*" } else { "" }.into(),
            node.hostname.to_string(),
            node.role.to_string(),
            if node.holds_vip { "holds" } else { "-" }.into(),
            link(node.links.as_ref().map(|l| l.telephony)),
            link(node.links.as_ref().map(|l| l.cluster)),
            node.epoch.to_string(),
            if node.version.is_empty() {
                "unknown".into()
            } else {
                node.version.clone()
            },
            match node.last_heartbeat {
                _ if node.is_self => "(this node)".into(),
                Some(at) => ago(now, at),
                None => "never".into(),
            },
        ]);
    }
    print_table(&rows);
}

fn sync_line(sync: &types::SyncStatus) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(db) = &sync.database {
        let mut text = format!("database {} ({})", db.role, db.durability);
        if let Some(why) = &db.degraded {
            text.push_str(&format!(", degraded: {why}"));
        }
        if let Some(standby) = &db.standby {
            let streaming = if db.standby_streaming == Some(true) {
                "streaming"
            } else {
                "NOT streaming"
            };
            text.push_str(&format!(", standby {standby} {streaming}"));
        }
        if let Some(lag) = db.lag_bytes {
            text.push_str(&format!(", lag {lag} B"));
        }
        if let Some(error) = &db.error {
            text.push_str(&format!(", error: {error}"));
        }
        parts.push(text);
    }
    if let Some(files) = &sync.files {
        let mut text = format!("files {}", files.direction);
        match &files.last_pass {
            Some(pass) if pass.error.is_some() => {
                text.push_str(&format!(
                    ", last pass FAILED: {}",
                    pass.error.as_deref().unwrap_or_default()
                ));
            }
            Some(pass) => {
                text.push_str(&format!(", last pass {} ok", ago(Utc::now(), pass.started)))
            }
            None => text.push_str(", no pass yet"),
        }
        if !files.differing_paths.is_empty() {
            text.push_str(&format!(", differ: {}", files.differing_paths.join(" ")));
        }
        parts.push(text);
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let seconds = (now - at).num_milliseconds() as f64 / 1000.0;
    if seconds < 60.0 {
        format!("{:.1} s ago", seconds.max(0.0))
    } else if seconds < 3600.0 {
        format!("{} min ago", (seconds / 60.0).floor())
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// Columns padded to their widest cell; the last one is left ragged.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        let _ = writeln!(stdout, "{}", line.trim_end());
    }
}

async fn slaves(api: &Client, command: SlavesCommand, out: Output) -> Result<()> {
    match command {
        SlavesCommand::List => {
            let slaves = call(api.list_slaves().await).await?;
            out.show(&slaves, || {
                if slaves.is_empty() {
                    println!("No slave.");
                    return;
                }
                let mut rows = vec![
                    ["SLAVE", "STATE", "TELEPHONY IP", "SYNC IP"]
                        .map(String::from)
                        .to_vec(),
                ];
                for slave in &slaves {
                    rows.push(vec![
                        slave.hostname.to_string(),
                        slave.state.to_string(),
                        slave.telephony_ip.clone(),
                        slave.sync_ip.clone(),
                    ]);
                }
                print_table(&rows);
            })
        }
        SlavesCommand::Add {
            hostname,
            telephony_ip,
            sync_ip,
            no_wait,
        } => {
            let body = types::AddSlave {
                hostname,
                telephony_ip: address(telephony_ip)?,
                sync_ip: address(sync_ip)?,
            };
            let accepted = call(api.add_slave(&body).await).await?;
            job_started(api, accepted, no_wait, out).await
        }
        SlavesCommand::Remove { hostname, no_wait } => {
            let accepted = call(api.remove_slave(&hostname).await).await?;
            job_started(api, accepted, no_wait, out).await
        }
        SlavesCommand::Readd {
            hostname,
            telephony_ip,
            sync_ip,
            no_wait,
        } => {
            let body = types::ReaddSlave {
                telephony_ip: telephony_ip.map(address).transpose()?,
                sync_ip: sync_ip.map(address).transpose()?,
            };
            let accepted = call(api.readd_slave(&hostname, Some(&body)).await).await?;
            job_started(api, accepted, no_wait, out).await
        }
    }
}

async fn job_started(
    api: &Client,
    accepted: types::JobAccepted,
    no_wait: bool,
    out: Output,
) -> Result<()> {
    if no_wait {
        return out.show(&accepted, || {
            println!("Job {} started: {}", accepted.job.id, accepted.job.title)
        });
    }
    follow(api, accepted.job.id, out).await
}

async fn jobs(
    api: &Client,
    id: Option<i64>,
    follow_it: bool,
    page: Option<std::num::NonZeroU32>,
    per_page: Option<std::num::NonZeroU32>,
    out: Output,
) -> Result<()> {
    match (id, follow_it) {
        (Some(id), true) => follow(api, id, out).await,
        (None, true) => {
            let newest = call(api.list_jobs(None, Some(std::num::NonZeroU32::MIN)).await).await?;
            let job = newest.items.first().context("the job log is empty")?;
            follow(api, job.id, out).await
        }
        (Some(id), false) => {
            let job = call(api.get_job(id).await).await?;
            out.show(&job, || print_job(&job))
        }
        (None, false) => {
            let page = call(api.list_jobs(page, per_page).await).await?;
            out.show(&page, || print_jobs(&page))
        }
    }
}

fn print_jobs(page: &types::JobPage) {
    if page.items.is_empty() {
        println!("No jobs.");
        return;
    }
    let mut rows = vec![
        ["ID", "STATE", "", "CREATED", "TITLE"]
            .map(String::from)
            .to_vec(),
    ];
    for job in &page.items {
        rows.push(vec![
            job.id.to_string(),
            job.state.to_string(),
            format!("{}%", job.progress),
            job.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            match &job.error {
                Some(error) => format!("{}: {error}", job.title),
                None => job.title.clone(),
            },
        ]);
    }
    print_table(&rows);
    let pages = (page.total + i64::from(page.per_page) - 1) / i64::from(page.per_page.max(1));
    println!(
        "page {} of {}, {} jobs",
        page.page,
        pages.max(1),
        page.total
    );
}

fn print_job(job: &types::Job) {
    println!(
        "Job {}: {} ({}, {}%)",
        job.id, job.title, job.state, job.progress
    );
    for step in &job.steps {
        println!("  [{}] {}", step_mark(&step.state), step.name);
        for line in &step.log {
            println!("        {}", line.message);
        }
    }
    if let Some(error) = &job.error {
        println!("Error: {error}");
    }
}

fn step_mark(state: &types::StepState) -> &'static str {
    match state {
        types::StepState::Pending => " ",
        types::StepState::Running => ">",
        types::StepState::Succeeded => "x",
        types::StepState::Failed => "!",
        types::StepState::Skipped => "-",
    }
}

fn finished(state: &types::JobState) -> bool {
    matches!(
        state,
        types::JobState::Succeeded | types::JobState::Failed | types::JobState::Interrupted
    )
}

/// Follows a job until it ends: a progress bar on a terminal, a line per step change
/// otherwise. Fails (non-zero exit) when the job does not succeed.
async fn follow(api: &Client, id: i64, out: Output) -> Result<()> {
    let bar = !out.json && std::io::stderr().is_terminal();
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut unreachable_since: Option<tokio::time::Instant> = None;
    let job = loop {
        let answer = api.get_job(id).await;
        // A node busy with the very failover being followed may miss an answer or two;
        // only a node silent for longer is reported.
        if let Err(Error::CommunicationError(_)) = &answer {
            let since = *unreachable_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() < UNREACHABLE_GRACE {
                tokio::time::sleep(POLL).await;
                continue;
            }
        }
        unreachable_since = None;
        let job = call(answer)
            .await
            .with_context(|| format!("following job {id}"))?;
        if !out.json {
            for step in &job.steps {
                let seen = (step.name.clone(), step.state.to_string());
                if matches!(step.state, types::StepState::Pending) || shown.contains(&seen) {
                    continue;
                }
                if bar {
                    eprint!("\r\x1b[2K");
                }
                eprintln!("  [{}] {}", step_mark(&step.state), step.name);
                shown.push(seen);
            }
            if bar {
                eprint!("\r\x1b[2K{}", progress_bar(&job));
                let _ = std::io::stderr().flush();
            }
        }
        if finished(&job.state) {
            break job;
        }
        tokio::time::sleep(POLL).await;
    };
    if bar {
        eprintln!();
    }
    out.show(&job, || match &job.error {
        Some(error) => println!("Job {} {}: {error}", job.id, job.state),
        None => println!("Job {} {}: {}", job.id, job.state, job.title),
    })?;
    match job.state {
        types::JobState::Succeeded => Ok(()),
        _ => bail!(
            "job {} {}{}",
            job.id,
            job.state,
            job.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
    }
}

fn progress_bar(job: &types::Job) -> String {
    const WIDTH: usize = 30;
    let percent = usize::try_from(job.progress.clamp(0, 100)).unwrap_or(0);
    let filled = percent * WIDTH / 100;
    let current = job
        .steps
        .iter()
        .find(|s| matches!(s.state, types::StepState::Running))
        .map(|s| s.name.as_str())
        .unwrap_or("");
    format!(
        "[{}{}] {percent:>3}%  {current}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled)
    )
}

fn print_audit(page: &types::AuditPage) {
    if page.items.is_empty() {
        println!("No entries match.");
        return;
    }
    let mut rows = vec![
        ["TIME", "USER", "CLIENT", "ACTION", "OUTCOME", "DETAIL"]
            .map(String::from)
            .to_vec(),
    ];
    for entry in &page.items {
        let outcome = match entry.status {
            Some(status) => format!("{} ({status})", entry.outcome),
            None => entry.outcome.to_string(),
        };
        rows.push(vec![
            entry.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            match (&entry.user, &entry.client) {
                (Some(user), _) => user.clone(),
                (None, None) => "(the node)".into(),
                (None, Some(_)) => "(no valid token)".into(),
            },
            entry.client.clone().unwrap_or_default(),
            entry.action.clone(),
            outcome,
            entry.detail.clone().unwrap_or_else(|| entry.target.clone()),
        ]);
    }
    print_table(&rows);
    println!(
        "page {}: {} of {} entries",
        page.page,
        page.items.len(),
        page.total
    );
}

fn print_checks(checks: &[types::Check]) {
    if checks.is_empty() {
        println!("No checks match.");
        return;
    }
    let now = Utc::now();
    let mut rows = vec![
        ["STATE", "CHECK", "KIND", "RUNS ON", "CHECKED", "OUTPUT"]
            .map(String::from)
            .to_vec(),
    ];
    for check in checks {
        let state = if check.configured {
            check.state.to_string().to_uppercase()
        } else {
            "not configured".into()
        };
        rows.push(vec![
            state,
            check.name.clone(),
            check.kind.to_string(),
            check.runs_on.to_string(),
            check
                .last_check
                .map(|at| ago(now, at))
                .unwrap_or_else(|| "never".into()),
            check.output.lines().next().unwrap_or("").to_string(),
        ]);
    }
    print_table(&rows);
}
