//! One typed async function per REST endpoint, built on the wire types of `pequod-api`.
//! Every failure becomes an [`ApiError`] whose message a person can read; deciding what a
//! 401 means (log out) is left to the caller, see `session::authed_resource`.

use gloo_net::http::{Request, RequestBuilder, Response};
use pequod_api::Problem;
use pequod_api::audit::AuditPage;
use pequod_api::auth::{LoginRequest, LoginResponse, Me, PasswordChange};
use pequod_api::checks::{Check, CheckDetail, CheckKind, CheckState};
use pequod_api::cluster::{Cluster, ConfigureMaster};
use pequod_api::jobs::{Job, JobAccepted, JobPage};
use pequod_api::nodes::{Interface, Node, NodePatch, PrepareSlave};
use pequod_api::notifications::{Mail, Notifications, NotificationsPatch};
use pequod_api::paths;
use pequod_api::services::ManagedService;
use pequod_api::slaves::{AddSlave, ReaddSlave, Slave};
use pequod_api::sync::SyncStatus;
use pequod_api::users::{
    ApiTokenList, CreatedApiToken, NewApiToken, NewUser, User, UserList, UserPatch,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call did not return what the contract promises.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server answered with an error status and (usually) a problem body.
    Problem(Problem),
    /// No answer at all: the server is down or the network is.
    Network(String),
    /// A success status whose body does not match the contract.
    Decode(String),
}

impl ApiError {
    /// The token is missing, expired or revoked: the person has to log in again.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Problem(problem) if problem.status == 401)
    }

    /// The server's field errors, to show next to the fields, and the message for
    /// everything else (none when every problem belongs to a field).
    pub fn field_errors(&self) -> (crate::validation::FieldErrors, Option<String>) {
        match self {
            ApiError::Problem(problem) if !problem.errors.is_empty() => {
                (problem.errors.clone().into(), None)
            }
            other => (Default::default(), Some(other.message())),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Problem(problem) => problem.message(),
            ApiError::Network(cause) => format!("Cannot reach the Pequod server: {cause}"),
            ApiError::Decode(cause) => {
                format!("The server sent an answer the commander does not understand: {cause}")
            }
        }
    }
}

/// The problem to show for an error status: the server's own problem body when it sent
/// one, otherwise one made up from the status line so the page never stays blank.
pub fn problem_from_body(status: u16, status_text: &str, body: &str) -> Problem {
    if let Ok(problem) = serde_json::from_str::<Problem>(body) {
        return problem;
    }
    let title = if status_text.is_empty() {
        format!("The server answered with status {status}")
    } else {
        format!("{status_text} (status {status})")
    };
    Problem {
        kind: "about:blank".to_owned(),
        title,
        status,
        detail: None,
        instance: None,
        errors: Vec::new(),
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn get(path: &str, token: &str) -> RequestBuilder {
    Request::get(path).header("Authorization", &bearer(token))
}

fn post(path: &str, token: &str) -> RequestBuilder {
    Request::post(path).header("Authorization", &bearer(token))
}

fn patch(path: &str, token: &str) -> RequestBuilder {
    Request::patch(path).header("Authorization", &bearer(token))
}

fn delete(path: &str, token: &str) -> RequestBuilder {
    Request::delete(path).header("Authorization", &bearer(token))
}

/// Sends `builder` with `body` as JSON and decodes the answer.
async fn with_body<T: DeserializeOwned>(
    builder: RequestBuilder,
    body: &impl Serialize,
) -> Result<T, ApiError> {
    let request = builder
        .json(body)
        .map_err(|e| ApiError::Network(e.to_string()))?;
    json(request).await
}

async fn send(request: Request) -> Result<Response, ApiError> {
    let response = request
        .send()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    if response.ok() {
        return Ok(response);
    }
    // An unreadable body still has a status worth reporting.
    let body = response.text().await.unwrap_or_default();
    Err(ApiError::Problem(problem_from_body(
        response.status(),
        &response.status_text(),
        &body,
    )))
}

async fn json<T: DeserializeOwned>(request: Request) -> Result<T, ApiError> {
    send(request)
        .await?
        .json::<T>()
        .await
        .map_err(|e| ApiError::Decode(e.to_string()))
}

async fn fetch<T: DeserializeOwned>(builder: RequestBuilder) -> Result<T, ApiError> {
    let request = builder
        .build()
        .map_err(|e| ApiError::Network(e.to_string()))?;
    json(request).await
}

/// Sends a request whose success (204) has no body.
async fn no_content(builder: RequestBuilder) -> Result<(), ApiError> {
    let request = builder
        .build()
        .map_err(|e| ApiError::Network(e.to_string()))?;
    send(request).await.map(|_| ())
}

/// `POST /auth/login`: trade a user name and password for a bearer token.
pub async fn login(body: &LoginRequest) -> Result<LoginResponse, ApiError> {
    let request = Request::post(paths::LOGIN)
        .json(body)
        .map_err(|e| ApiError::Network(e.to_string()))?;
    json(request).await
}

/// `POST /auth/password`: change one's own password; every older token ends and the
/// answer carries a new one for this session.
pub async fn change_password(
    token: &str,
    body: &PasswordChange,
) -> Result<LoginResponse, ApiError> {
    with_body(post(paths::PASSWORD, token), body).await
}

/// `GET /auth/me`: who the token belongs to, and the role it has.
pub async fn me(token: &str) -> Result<Me, ApiError> {
    fetch(get(paths::ME, token)).await
}

/// `GET /cluster`: mode, role, epoch, cluster IP and the lamp.
pub async fn cluster(token: &str) -> Result<Cluster, ApiError> {
    fetch(get(paths::CLUSTER, token)).await
}

/// `GET /nodes`: every node this node knows, itself included.
pub async fn nodes(token: &str) -> Result<Vec<Node>, ApiError> {
    fetch(get(paths::NODES, token)).await
}

/// `GET /nodes/self`: the node answering.
pub async fn node_self(token: &str) -> Result<Node, ApiError> {
    fetch(get(paths::NODE_SELF, token)).await
}

/// `GET /nodes/self/interfaces`: this node's network interfaces.
pub async fn interfaces(token: &str) -> Result<Vec<Interface>, ApiError> {
    fetch(get(paths::NODE_SELF_INTERFACES, token)).await
}

/// `GET /jobs?page=&per_page=`: one page of the job log, newest first.
pub async fn jobs(token: &str, page: u32, per_page: u32) -> Result<JobPage, ApiError> {
    let page = page.to_string();
    let per_page = per_page.to_string();
    fetch(get(paths::JOBS, token).query([("page", page.as_str()), ("per_page", per_page.as_str())]))
        .await
}

/// `GET /audit?page=&per_page=&action=&outcome=`: one page of the audit log, newest
/// first; an empty filter matches all.
pub async fn audit(
    token: &str,
    page: u32,
    per_page: u32,
    action: &str,
    outcome: &str,
) -> Result<AuditPage, ApiError> {
    let page = page.to_string();
    let per_page = per_page.to_string();
    let mut query = vec![("page", page.as_str()), ("per_page", per_page.as_str())];
    if !action.is_empty() {
        query.push(("action", action));
    }
    if !outcome.is_empty() {
        query.push(("outcome", outcome));
    }
    fetch(get(paths::AUDIT, token).query(query)).await
}

/// `GET /jobs/{id}`: one job with its steps and log lines.
pub async fn job(token: &str, id: i64) -> Result<Job, ApiError> {
    fetch(get(&paths::job(id), token)).await
}

/// `POST /cluster`: Configure master (a job).
pub async fn configure_master(
    token: &str,
    body: &ConfigureMaster,
) -> Result<JobAccepted, ApiError> {
    with_body(post(paths::CLUSTER, token), body).await
}

/// `POST /cluster/failover`: hand the master's duties to the slave (a job).
pub async fn manual_failover(token: &str) -> Result<JobAccepted, ApiError> {
    fetch(post(paths::FAILOVER, token)).await
}

/// `PATCH /nodes/self`: change this node's host name.
pub async fn patch_node_self(token: &str, body: &NodePatch) -> Result<Node, ApiError> {
    with_body(patch(paths::NODE_SELF, token), body).await
}

/// `POST /nodes/self/prepare-slave`: trust the master's key (a job).
pub async fn prepare_slave(token: &str, body: &PrepareSlave) -> Result<JobAccepted, ApiError> {
    with_body(post(paths::PREPARE_SLAVE, token), body).await
}

/// `GET /slaves`: the slave, and removed ones with their cached data.
pub async fn slaves(token: &str) -> Result<Vec<Slave>, ApiError> {
    fetch(get(paths::SLAVES, token)).await
}

/// `POST /slaves`: Add slave (a job).
pub async fn add_slave(token: &str, body: &AddSlave) -> Result<JobAccepted, ApiError> {
    with_body(post(paths::SLAVES, token), body).await
}

/// `DELETE /slaves/{hostname}`: Remove (a job).
pub async fn remove_slave(token: &str, hostname: &str) -> Result<JobAccepted, ApiError> {
    fetch(delete(&paths::slave(hostname), token)).await
}

/// `POST /slaves/{hostname}/readd`: Add again (a job), optionally with new addresses.
pub async fn readd_slave(
    token: &str,
    hostname: &str,
    body: &ReaddSlave,
) -> Result<JobAccepted, ApiError> {
    with_body(post(&paths::slave_readd(hostname), token), body).await
}

/// `POST /jobs/{id}/acknowledge`: a person has seen this failed job.
pub async fn acknowledge_job(token: &str, id: i64) -> Result<Job, ApiError> {
    fetch(post(&paths::job_acknowledge(id), token)).await
}

/// `GET /checks?state=&kind=`: the checks this node runs, optionally filtered.
pub async fn checks(
    token: &str,
    state: Option<CheckState>,
    kind: Option<CheckKind>,
) -> Result<Vec<Check>, ApiError> {
    let mut query = Vec::new();
    if let Some(state) = state {
        query.push(("state", crate::format::check_state_label(state)));
    }
    if let Some(kind) = kind {
        query.push(("kind", crate::format::check_kind_label(kind)));
    }
    fetch(get(paths::CHECKS, token).query(query)).await
}

/// `GET /checks/{id}`: one check with its recent results.
#[allow(dead_code)] // the list shows what the page needs; kept so every endpoint has its call
pub async fn check(token: &str, id: &str) -> Result<CheckDetail, ApiError> {
    fetch(get(&paths::check(id), token)).await
}

/// `POST /checks/{id}/run`: run a check now; answers its new state.
pub async fn run_check(token: &str, id: &str) -> Result<Check, ApiError> {
    fetch(post(&paths::check_run(id), token)).await
}

/// `GET /services`: the managed services and their state on this node.
pub async fn services(token: &str) -> Result<Vec<ManagedService>, ApiError> {
    fetch(get(paths::SERVICES, token)).await
}

/// `GET /sync`: the database replication and the file mirror as this node sees them.
pub async fn sync(token: &str) -> Result<SyncStatus, ApiError> {
    fetch(get(paths::SYNC, token)).await
}

/// `GET /notifications`: the notification address and the recent mails.
pub async fn notifications(token: &str) -> Result<Notifications, ApiError> {
    fetch(get(paths::NOTIFICATIONS, token)).await
}

/// `PATCH /notifications`: set the notification address.
pub async fn patch_notifications(
    token: &str,
    body: &NotificationsPatch,
) -> Result<Notifications, ApiError> {
    with_body(patch(paths::NOTIFICATIONS, token), body).await
}

/// `POST /notifications/test`: send a test mail; answers it after its first attempt.
pub async fn test_notification(token: &str) -> Result<Mail, ApiError> {
    fetch(post(paths::NOTIFICATIONS_TEST, token)).await
}

/// `GET /users`: every user with its role.
pub async fn users(token: &str) -> Result<UserList, ApiError> {
    fetch(get(paths::USERS, token)).await
}

/// `POST /users`: create a user (201, the user).
pub async fn create_user(token: &str, body: &NewUser) -> Result<User, ApiError> {
    with_body(post(paths::USERS, token), body).await
}

/// `PATCH /users/{username}`: a new role, a new password, or both.
pub async fn patch_user(token: &str, username: &str, body: &UserPatch) -> Result<User, ApiError> {
    with_body(patch(&paths::user(username), token), body).await
}

/// `DELETE /users/{username}` (204); the last admin cannot go (409).
pub async fn delete_user(token: &str, username: &str) -> Result<(), ApiError> {
    no_content(delete(&paths::user(username), token)).await
}

/// `GET /tokens`: every API token, never a secret.
pub async fn api_tokens(token: &str) -> Result<ApiTokenList, ApiError> {
    fetch(get(paths::TOKENS, token)).await
}

/// `POST /tokens`: create an API token (201); the answer carries its secret, once.
pub async fn create_api_token(
    token: &str,
    body: &NewApiToken,
) -> Result<CreatedApiToken, ApiError> {
    with_body(post(paths::TOKENS, token), body).await
}

/// `DELETE /tokens/{name}` (204): revoke an API token at once.
pub async fn revoke_api_token(token: &str, name: &str) -> Result<(), ApiError> {
    no_content(delete(&paths::token(name), token)).await
}

/// The URL of `GET /events` for an `EventSource`, which cannot send headers.
pub fn events_url(token: &str) -> String {
    format!("{}?access_token={}", paths::EVENTS, paths::segment(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_body_is_used_as_sent() {
        let body = r#"{"type":"about:blank","title":"Too Many Requests","status":429,
            "detail":"too many failed logins; try again in 60 seconds"}"#;
        let problem = problem_from_body(429, "Too Many Requests", body);
        assert_eq!(problem.status, 429);
        assert_eq!(
            ApiError::Problem(problem).message(),
            "too many failed logins; try again in 60 seconds"
        );
    }

    #[test]
    fn a_body_that_is_no_problem_still_gives_a_message() {
        let problem = problem_from_body(502, "Bad Gateway", "<html>proxy error</html>");
        assert_eq!(problem.status, 502);
        assert_eq!(problem.message(), "Bad Gateway (status 502)");
        let problem = problem_from_body(500, "", "");
        assert_eq!(problem.message(), "The server answered with status 500");
    }

    #[test]
    fn only_401_means_logged_out() {
        let unauthorized = ApiError::Problem(problem_from_body(401, "Unauthorized", ""));
        assert!(unauthorized.is_unauthorized());
        let forbidden = ApiError::Problem(problem_from_body(403, "Forbidden", ""));
        assert!(!forbidden.is_unauthorized());
        assert!(!ApiError::Network("connection refused".into()).is_unauthorized());
    }

    #[test]
    fn the_event_stream_carries_its_token_encoded() {
        assert_eq!(events_url("x.y"), "/api/v1/events?access_token=x.y");
        assert_eq!(events_url("a+b"), "/api/v1/events?access_token=a%2Bb");
        assert_eq!(bearer("abc"), "Bearer abc");
    }
}
