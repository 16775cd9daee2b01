//! One typed async function per REST endpoint, built on the wire types of `pequod-api`.
//! Every failure becomes an [`ApiError`] whose message a person can read; deciding what a
//! 401 means (log out) is left to the caller, see `session::authed_resource`.

use gloo_net::http::{Request, RequestBuilder, Response};
use pequod_api::API_PREFIX;
use pequod_api::Problem;
use pequod_api::auth::{LoginRequest, LoginResponse, Me};
use pequod_api::cluster::Cluster;
use pequod_api::jobs::{Job, JobPage};
use pequod_api::nodes::{Interface, Node};
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

fn url(path: &str) -> String {
    format!("{API_PREFIX}{path}")
}

fn get(path: &str, token: &str) -> RequestBuilder {
    Request::get(&url(path)).header("Authorization", &bearer(token))
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

/// `POST /auth/login`: trade a user name and password for a bearer token.
pub async fn login(body: &LoginRequest) -> Result<LoginResponse, ApiError> {
    let request = Request::post(&url("/auth/login"))
        .json(body)
        .map_err(|e| ApiError::Network(e.to_string()))?;
    json(request).await
}

/// `GET /auth/me`: who the token belongs to.
#[allow(dead_code)] // not shown yet; kept so every endpoint has its typed call
pub async fn me(token: &str) -> Result<Me, ApiError> {
    fetch(get("/auth/me", token)).await
}

/// `GET /cluster`: mode, role, epoch, cluster IP and the lamp.
pub async fn cluster(token: &str) -> Result<Cluster, ApiError> {
    fetch(get("/cluster", token)).await
}

/// `GET /nodes`: every node this node knows, itself included.
pub async fn nodes(token: &str) -> Result<Vec<Node>, ApiError> {
    fetch(get("/nodes", token)).await
}

/// `GET /nodes/self`: the node answering.
pub async fn node_self(token: &str) -> Result<Node, ApiError> {
    fetch(get("/nodes/self", token)).await
}

/// `GET /nodes/self/interfaces`: this node's network interfaces.
pub async fn interfaces(token: &str) -> Result<Vec<Interface>, ApiError> {
    fetch(get("/nodes/self/interfaces", token)).await
}

/// `GET /jobs?page=&per_page=`: one page of the job log, newest first.
pub async fn jobs(token: &str, page: u32, per_page: u32) -> Result<JobPage, ApiError> {
    let page = page.to_string();
    let per_page = per_page.to_string();
    fetch(get("/jobs", token).query([("page", page.as_str()), ("per_page", per_page.as_str())]))
        .await
}

/// `GET /jobs/{id}`: one job with its steps and log lines.
pub async fn job(token: &str, id: i64) -> Result<Job, ApiError> {
    fetch(get(&format!("/jobs/{id}"), token)).await
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
    fn paths_sit_below_the_api_prefix() {
        assert_eq!(url("/cluster"), "/api/v1/cluster");
        assert_eq!(bearer("abc"), "Bearer abc");
    }
}
