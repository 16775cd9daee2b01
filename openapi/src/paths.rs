//! Every path of the API, written once: the commander builds its requests from these,
//! and a test holds them against the committed OpenAPI document, so a path renamed on
//! one side fails the build's tests instead of a person's click.

use std::fmt;

/// The HTTP methods the API answers, spelled as the OpenAPI document keys them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    /// The key of the operation below its path in the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_ascii_uppercase())
    }
}

/// Declares each path as a constant (the template exactly as the OpenAPI document
/// writes it) and lists them all, with the methods sent to them, in [`ENDPOINTS`].
macro_rules! paths {
    ($($(#[$doc:meta])* $name:ident = $path:literal: [$($method:ident),+];)*) => {
        $($(#[$doc])* pub const $name: &str = $path;)*

        /// Every path above with the methods Pequod's clients send to it.
        pub const ENDPOINTS: &[(&str, &[Method])] = &[$(($path, &[$(Method::$method),+])),*];
    };
}

paths! {
    /// Trade a user name and password for a bearer token; needs no token itself.
    LOGIN = "/api/v1/auth/login": [Post];
    /// The audit log, a page at a time.
    AUDIT = "/api/v1/audit": [Get];
    /// Who the token belongs to.
    ME = "/api/v1/auth/me": [Get];
    /// Change one's own password; every older token of the user ends.
    PASSWORD = "/api/v1/auth/password": [Post];
    /// The cluster as this node sees it; `POST` is Configure master.
    CLUSTER = "/api/v1/cluster": [Get, Post];
    /// Manual failover.
    FAILOVER = "/api/v1/cluster/failover": [Post];
    /// Server-sent events; an `EventSource` passes the token as `access_token`.
    EVENTS = "/api/v1/events": [Get];
    /// The job log, a page at a time.
    JOBS = "/api/v1/jobs": [Get];
    /// One job; build it with [`job`].
    JOB = "/api/v1/jobs/{id}": [Get];
    /// A person has seen a failed job; build it with [`job_acknowledge`].
    JOB_ACKNOWLEDGE = "/api/v1/jobs/{id}/acknowledge": [Post];
    /// Every node this node knows.
    NODES = "/api/v1/nodes": [Get];
    /// The node answering; `PATCH` changes its host name.
    NODE_SELF = "/api/v1/nodes/self": [Get, Patch];
    /// The answering node's network interfaces.
    NODE_SELF_INTERFACES = "/api/v1/nodes/self/interfaces": [Get];
    /// Prepare slave.
    PREPARE_SLAVE = "/api/v1/nodes/self/prepare-slave": [Post];
    /// The notification address and the mail queue; `PATCH` sets the address.
    NOTIFICATIONS = "/api/v1/notifications": [Get, Patch];
    /// Send a test mail.
    NOTIFICATIONS_TEST = "/api/v1/notifications/test": [Post];
    /// The managed services.
    SERVICES = "/api/v1/services": [Get];
    /// The slave and removed ones; `POST` is Add slave.
    SLAVES = "/api/v1/slaves": [Get, Post];
    /// `DELETE` is Remove; build it with [`slave`].
    SLAVE = "/api/v1/slaves/{hostname}": [Delete];
    /// Add again; build it with [`slave_readd`].
    SLAVE_READD = "/api/v1/slaves/{hostname}/readd": [Post];
    /// The checks this node runs.
    CHECKS = "/api/v1/checks": [Get];
    /// One check with its recent results; build it with [`check`].
    CHECK = "/api/v1/checks/{id}": [Get];
    /// Run a check now; build it with [`check_run`].
    CHECK_RUN = "/api/v1/checks/{id}/run": [Post];
    /// The users; `POST` creates one.
    USERS = "/api/v1/users": [Get, Post];
    /// One user: `PATCH` changes the role or password, `DELETE` removes it; build it
    /// with [`user`].
    USER = "/api/v1/users/{username}": [Patch, Delete];
    /// The API tokens; `POST` creates one.
    TOKENS = "/api/v1/tokens": [Get, Post];
    /// `DELETE` revokes a token; build it with [`token`].
    TOKEN = "/api/v1/tokens/{name}": [Delete];
    /// The data sync: database replication and the file mirror.
    SYNC = "/api/v1/sync": [Get];
    /// Liveness for load balancers and the service manager; needs no token.
    HEALTHZ = "/healthz": [Get];
    /// Prometheus metrics.
    METRICS = "/metrics": [Get];
}

/// `/api/v1/jobs/{id}`.
pub fn job(id: i64) -> String {
    fill(JOB, "{id}", &id.to_string())
}

/// `/api/v1/jobs/{id}/acknowledge`.
pub fn job_acknowledge(id: i64) -> String {
    fill(JOB_ACKNOWLEDGE, "{id}", &id.to_string())
}

/// `/api/v1/slaves/{hostname}`.
pub fn slave(hostname: &str) -> String {
    fill(SLAVE, "{hostname}", hostname)
}

/// `/api/v1/slaves/{hostname}/readd`.
pub fn slave_readd(hostname: &str) -> String {
    fill(SLAVE_READD, "{hostname}", hostname)
}

/// `/api/v1/checks/{id}`.
pub fn check(id: &str) -> String {
    fill(CHECK, "{id}", id)
}

/// `/api/v1/checks/{id}/run`.
pub fn check_run(id: &str) -> String {
    fill(CHECK_RUN, "{id}", id)
}

/// `/api/v1/users/{username}`.
pub fn user(username: &str) -> String {
    fill(USER, "{username}", username)
}

/// `/api/v1/tokens/{name}`.
pub fn token(name: &str) -> String {
    fill(TOKEN, "{name}", name)
}

fn fill(template: &str, parameter: &str, value: &str) -> String {
    template.replacen(parameter, &segment(value), 1)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for one path
/// segment or query value. Host names, check ids and tokens are URL-safe by
/// construction; this is the safety net.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::API_PREFIX;

    #[test]
    fn parameters_fill_their_templates() {
        assert_eq!(job(7), "/api/v1/jobs/7");
        assert_eq!(job_acknowledge(7), "/api/v1/jobs/7/acknowledge");
        assert_eq!(slave("node2"), "/api/v1/slaves/node2");
        assert_eq!(slave_readd("node2"), "/api/v1/slaves/node2/readd");
        assert_eq!(check("vip-held"), "/api/v1/checks/vip-held");
        assert_eq!(check_run("vip-held"), "/api/v1/checks/vip-held/run");
        assert_eq!(user("ops"), "/api/v1/users/ops");
        assert_eq!(token("ci"), "/api/v1/tokens/ci");
    }

    #[test]
    fn parameters_are_percent_encoded() {
        assert_eq!(segment("node-2"), "node-2");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(slave("a/../b"), "/api/v1/slaves/a%2F..%2Fb");
    }

    #[test]
    fn api_paths_sit_below_the_prefix() {
        for (path, _) in ENDPOINTS {
            assert!(
                path.starts_with(&format!("{API_PREFIX}/")) || [HEALTHZ, METRICS].contains(path),
                "{path}"
            );
        }
    }

    #[test]
    fn each_path_is_listed_once_with_distinct_methods() {
        for (i, (path, methods)) in ENDPOINTS.iter().enumerate() {
            assert!(!methods.is_empty(), "{path}");
            assert!(
                ENDPOINTS[i + 1..].iter().all(|(other, _)| other != path),
                "{path} is listed twice"
            );
            for (j, method) in methods.iter().enumerate() {
                assert!(!methods[j + 1..].contains(method), "{method} {path}");
            }
        }
    }
}
