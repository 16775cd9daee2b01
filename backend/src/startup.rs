//! Building and running a node: open the store, make sure the node has its identity,
//! wire the services, bind the listener. Tests build it on port 0.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{HttpResponse, Responder, ResponseError, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{self, AuthService};
use crate::checks::engine::CheckEngine;
use crate::cluster::agent::Agent;
use crate::cluster::operations::Operations;
use crate::cluster::remote::RemoteHandler;
use crate::cluster::ssh::{self, TrustedKeys};
use crate::cluster::ssh_binding::SshBinding;
use crate::error::ApiError;
use crate::events::EventBus;
use crate::identity;
use crate::jobs::JobRunner;
use crate::openapi;
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;
use crate::storage::SqliteStore;

pub const DATABASE_FILE: &str = "pequod.db";

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    ssh_server: ssh::ServerHandle,
    /// Moves the SSH server's socket as the node's state changes (none with a fixed one).
    ssh_binding_task: Option<tokio::task::JoinHandle<()>>,
    checks_task: tokio::task::JoinHandle<()>,
    notify_tasks: Vec<tokio::task::JoinHandle<()>>,
    audit_task: tokio::task::JoinHandle<()>,
}

impl Application {
    #[tracing::instrument(skip_all, fields(listen = %settings.server.listen, data_dir = %settings.server.data_dir.display()))]
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let data_dir = &settings.server.data_dir;
        create_private_dir(data_dir)?;
        let store: Arc<dyn crate::storage::Store> = Arc::new(
            SqliteStore::open(&data_dir.join(DATABASE_FILE))
                .await
                .context("opening the store")?,
        );
        release_leftover_cluster_ip(store.as_ref()).await;
        let node = identity::load_or_create_node(store.as_ref()).await?;
        let public_key =
            identity::load_or_create_ssh_key(data_dir, &format!("pequod@{}", node.hostname))?;
        let token_secret = identity::load_or_create_secret(data_dir)?;
        let tls = crate::tls::load(&settings.server, &node.hostname)?;
        if let Some(password) =
            auth::ensure_admin(store.as_ref(), settings.admin_password.as_ref()).await?
        {
            tracing::warn!(
                "created user {} with the generated password {} (shown only this once; set \
                 {} before the first start to choose it)",
                auth::ADMIN_USER,
                password.expose_secret(),
                crate::settings::ADMIN_PASSWORD_VAR
            );
        }

        let events = EventBus::default();
        let jobs = JobRunner::new(store.clone(), events.clone());
        let interrupted = jobs.interrupt_leftovers().await?;
        if interrupted > 0 {
            tracing::warn!(interrupted, "jobs were interrupted by the last stop");
        }
        let data_sync = crate::sync::DataSync::new(
            settings.database.clone(),
            settings.files.clone(),
            data_dir,
            std::time::Duration::from_millis(settings.cluster.timing().heartbeat_interval_ms),
        );
        let agent = Agent::new(
            store.clone(),
            events.clone(),
            jobs.clone(),
            settings.cluster.clone(),
            node,
            data_sync,
        );
        let trusted_keys = TrustedKeys::new();
        for key in store.trusted_keys().await? {
            trusted_keys.add(&key)?;
        }
        let ssh_listener = match &settings.cluster.ssh_listen {
            Some(fixed) => Some(
                tokio::net::TcpListener::bind(fixed)
                    .await
                    .with_context(|| format!("the SSH server cannot listen on {fixed}"))?,
            ),
            None => None,
        };
        let (ssh_socket, ssh_listening) = ssh::socket(ssh_listener)?;
        let ssh_binding = match settings.cluster.ssh_listen {
            Some(_) => SshBinding::fixed(),
            None => {
                SshBinding::follow(agent.clone(), ssh_socket.clone(), settings.cluster.ssh_port)
            }
        };
        let ssh_server = ssh::serve_on(
            ssh_socket,
            ssh_listening,
            ssh::load_node_key(&data_dir.join(identity::SSH_KEY_FILE))?,
            trusted_keys.clone(),
            Arc::new(RemoteHandler {
                agent: agent.clone(),
                trusted: trusted_keys.clone(),
                public_key: public_key.clone(),
                ssh_binding: ssh_binding.clone(),
            }),
        )?;
        let notifier = crate::notify::Notifier::new(
            store.clone(),
            agent.clone(),
            settings.mail.clone(),
            data_dir,
        )?;
        // Subscribed before the agent and the checks start, so no early event is missed.
        let notify_tasks = notifier.start(&events);
        agent.start().await?;
        let ssh_binding_task = ssh_binding.start().await;
        let checks = CheckEngine::new(
            agent.clone(),
            events.clone(),
            settings.checks.clone(),
            data_dir.join(identity::SSH_KEY_FILE),
        )?;
        let checks_task = checks.start();
        let cluster = Operations {
            agent: agent.clone(),
            store: store.clone(),
            jobs: jobs.clone(),
            trusted_keys,
            ssh_binding,
            key_path: data_dir.join(identity::SSH_KEY_FILE),
            public_key: public_key.clone(),
        };
        let sync_status = agent.data_sync().wire();
        let auth = AuthService::new(&token_secret, &settings.auth);
        auth.reload(store.as_ref()).await?;
        let state = AppState {
            store,
            jobs,
            events,
            auth,
            public_key,
            tls_fingerprint: tls.as_ref().map(|tls| tls.fingerprint.clone()),
            agent,
            checks,
            cluster,
            http: Arc::new(crate::metrics::HttpMetrics::default()),
            notifier,
            sync_status,
        };

        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("listening on {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let spec = openapi::spec();
        let ui_dir = settings.server.ui_dir.clone();
        if !ui_dir.join("index.html").is_file() {
            tracing::warn!(ui_dir = %ui_dir.display(), "the commander UI is not built; run scripts/build-frontend");
        }
        let data = web::Data::new(state.clone());
        let http_metrics = state.http.clone();
        let audit_task = crate::audit::start_purge(state.store.clone(), settings.audit.clone());
        let audit_state = state.clone();
        let server = actix_web::HttpServer::new(move || {
            let (app, _) = openapi::documented_app().split_for_parts();
            let http_metrics = http_metrics.clone();
            let audit_state = audit_state.clone();
            app.app_data(data.clone())
                .app_data(web::PathConfig::default().error_handler(|err, _| {
                    ApiError::BadRequest(format!("the path is not valid: {err}")).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    ApiError::BadRequest(format!("the query string is not valid: {err}")).into()
                }))
                .wrap_fn(move |req, service| {
                    use actix_web::dev::Service as _;
                    let audited = crate::audit::is_change(&req);
                    let response = service.call(req);
                    let state = audit_state.clone();
                    async move {
                        let response = response.await?;
                        if audited {
                            let entry = crate::audit::request_entry(&response, |token| {
                                state.auth.verify(token).ok().map(|p| p.audit_name())
                            });
                            crate::audit::record(state.store.as_ref(), entry).await;
                        }
                        Ok(response)
                    }
                })
                .wrap(tracing_actix_web::TracingLogger::<
                    crate::telemetry::RedactedRootSpan,
                >::new())
                .wrap_fn(move |req, service| {
                    use actix_web::dev::Service as _;
                    let started = std::time::Instant::now();
                    let method = req.method().to_string();
                    let response = service.call(req);
                    let http_metrics = http_metrics.clone();
                    async move {
                        let response = response.await?;
                        let route = crate::metrics::route_label(response.request().match_pattern());
                        http_metrics.observe(
                            &method,
                            &route,
                            response.status().as_u16(),
                            started.elapsed(),
                        );
                        Ok(response)
                    }
                })
                .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", spec.clone()))
                .service(web::redirect("/api/docs", "/api/docs/"))
                .service(web::scope("/api").default_service(web::to(routes::api_not_found)))
                // Their GET routes are above; any other method is a 405, not the UI.
                .service(
                    web::resource([pequod_api::paths::HEALTHZ, pequod_api::paths::METRICS])
                        .to(routes::api_not_found),
                )
                .configure(|cfg| serve_ui(cfg, &ui_dir))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls.config)?,
            None => server.listen(listener)?,
        }
        .run();
        tracing::info!(port, scheme, "pequod is listening");
        Ok(Self {
            port,
            server,
            state,
            ssh_server,
            ssh_binding_task,
            checks_task,
            notify_tasks,
            audit_task,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops the server from another task (SIGTERM and SIGINT stop it by themselves).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or a stop through the handle), then lets go of the
    /// master's duties so the slave can take them over cleanly.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        announce_ready(&self.state.agent.clone()).await;
        let result = self.server.await;
        crate::systemd::stopping();
        self.checks_task.abort();
        self.audit_task.abort();
        if let Some(task) = &self.ssh_binding_task {
            task.abort();
        }
        for task in &self.notify_tasks {
            task.abort();
        }
        self.state.agent.shutdown().await;
        self.ssh_server.shutdown().await;
        tracing::info!("pequod stopped");
        Ok(result?)
    }

    /// The address the SSH server listens on now, if any.
    pub fn ssh_addr(&self) -> Option<std::net::SocketAddr> {
        self.ssh_server.local_addr()
    }
}

/// Tells systemd the node is up once the API listens (it does since `build`) and,
/// in a cluster, the agent has decided once. A first decision that does not come
/// within the wait is logged and the node reported up anyway: it serves its API.
async fn announce_ready(agent: &Agent) {
    if agent.view().cluster_ip.is_some() {
        let wait = std::time::Duration::from_millis(
            agent
                .settings()
                .startup_grace_ms
                .saturating_add(agent.settings().timing().dead_after_ms)
                .saturating_add(5_000),
        );
        if agent
            .wait_for_view(wait, |view| view.last_decision.is_some())
            .await
            .is_none()
        {
            tracing::warn!(?wait, "the cluster agent has not decided yet");
        }
    }
    crate::systemd::ready();
}

/// A crash is not a death: the cluster IP a killed `pequod` left on this machine goes
/// first, before the agent and the API start (see `cluster::vip::release_leftover`).
/// Should the removal fail, the node still starts: as slave or standby its agent
/// releases an address it holds, and a stored master probes for a holder first.
async fn release_leftover_cluster_ip(store: &dyn crate::storage::Store) {
    use crate::cluster::vip::{Leftover, release_leftover};
    match release_leftover(store).await {
        Ok(Leftover::Removed { ip, interfaces }) => tracing::warn!(
            %ip,
            interfaces = interfaces.join(", "),
            "the cluster IP was left on this machine by an earlier run; removed it before starting"
        ),
        Ok(Leftover::Absent(_) | Leftover::NoCluster) => {}
        Err(err) => tracing::error!(
            error = format!("{err:#}"),
            "could not remove a cluster IP left by an earlier run"
        ),
    }
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating the data directory {}", path.display()))
}

/// The commander UI: static files, with `index.html` for every other path so the
/// single-page app can route by itself.
fn serve_ui(cfg: &mut web::ServiceConfig, ui_dir: &Path) {
    let index = ui_dir.join("index.html");
    if !index.is_file() {
        let dir = ui_dir.display().to_string();
        cfg.default_service(web::to(move || {
            let dir = dir.clone();
            async move {
                HttpResponse::ServiceUnavailable()
                    .content_type("text/plain; charset=utf-8")
                    .body(format!(
                        "The commander UI is not built (no index.html in {dir}). Run scripts/build-frontend, \
                         or use the API at /api/v1 (documentation at /api/docs/).\n"
                    ))
            }
        }));
        return;
    }
    // index.html names the bundle with a content hash; it must never be cached itself.
    let serve_index = move |req: actix_web::HttpRequest| {
        let index = index.clone();
        async move {
            match actix_files::NamedFile::open_async(&index).await {
                Ok(file) => file
                    .customize()
                    .insert_header((actix_web::http::header::CACHE_CONTROL, "no-cache"))
                    .respond_to(&req)
                    .map_into_boxed_body(),
                Err(err) => {
                    ApiError::Unexpected(anyhow::Error::new(err).context("reading index.html"))
                        .error_response()
                }
            }
        }
    };
    cfg.route("/", web::get().to(serve_index.clone()))
        .route("/index.html", web::get().to(serve_index.clone()))
        .service(actix_files::Files::new("/", ui_dir).default_handler(web::to(serve_index)));
}
