//! Logging: `tracing` to stderr, filtered by RUST_LOG or the configured level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) {
    // netlink-packet-route warns about every attribute newer than itself on each read.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let filter = match "netlink_packet_route=error".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: journald, a log file or a pipe
        // would keep the escape codes as garbage.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The root span of every request, as `tracing-actix-web`'s default one but with the
/// value of an `access_token` query parameter (the event stream's bearer token) left
/// out of `http.target`, so no token reaches the log.
pub struct RedactedRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_owned());
        let client = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_owned();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.client_ip = %client,
            http.target = %redacted_target(request.path(), request.query_string()),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// `path?query` with every `access_token` value replaced by `[redacted]`.
pub fn redacted_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name == "access_token" => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redacted_target;

    #[test]
    fn the_event_streams_token_never_reaches_the_logged_target() {
        assert_eq!(
            redacted_target("/api/v1/events", "access_token=eyJhbGc.secret.sig"),
            "/api/v1/events?access_token=[redacted]"
        );
        assert_eq!(
            redacted_target("/api/v1/audit", "page=2&access_token=x&action=login"),
            "/api/v1/audit?page=2&access_token=[redacted]&action=login"
        );
        assert_eq!(
            redacted_target("/api/v1/jobs", "page=1"),
            "/api/v1/jobs?page=1"
        );
        assert_eq!(redacted_target("/healthz", ""), "/healthz");
    }
}
