//! The OpenAPI document, collected from the handlers by utoipa-actix-web (paths are
//! never listed by hand). `pequod openapi` prints it; `openapi/openapi.json` is the
//! committed copy and a test fails when the two differ.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, UtoipaApp};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pequod",
        description = "High-availability cluster manager for PBX appliances. Every call below \
            `/api/v1` except the login needs `Authorization: Bearer <token>`: a login's token \
            or an API token. Reading needs the `viewer` role; failover, Add slave, Remove \
            slave and Add again `operator`; configuration (Prepare slave included), users and \
            tokens `admin`; a lower role gets 403. Long operations answer `202 Accepted` with \
            a job; errors are `application/problem+json` (RFC 9457).",
        license(name = "Apache-2.0")
    ),
    components(schemas(pequod_api::Problem, pequod_api::FieldError, pequod_api::events::Event)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Logging in"),
        (name = "cluster", description = "The cluster, its roles and the status lamp"),
        (name = "nodes", description = "The nodes, this node's settings and interfaces"),
        (name = "slaves", description = "The slave as the master knows it"),
        (name = "checks", description = "Failover and notify checks"),
        (name = "services", description = "The managed telephony services"),
        (name = "sync", description = "Database replication and file sync to the slave"),
        (name = "notifications", description = "Notification e-mails and the mail queue"),
        (name = "jobs", description = "The job log and the event stream"),
        (name = "audit", description = "Who changed what, from where, and how it went"),
        (name = "users", description = "Users, their roles, and API tokens for automation"),
        (name = "health", description = "Liveness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The token from POST /api/v1/auth/login, or an API token (pqd_…)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The routes that make up the documented API, with the document collected from them.
pub fn documented_app() -> UtoipaApp<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(routes::health::healthz)
        .service(routes::health::metrics)
        .service(routes::api_v1())
}

pub fn spec() -> utoipa::openapi::OpenApi {
    documented_app().split_for_parts().1
}

/// The document as committed in `openapi/openapi.json`.
pub fn spec_json() -> anyhow::Result<String> {
    Ok(spec().to_pretty_json()? + "\n")
}
