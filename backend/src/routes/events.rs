//! `/events`: server-sent events for job, check and cluster changes.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use futures_util::{StreamExt, stream};
use pequod_api::Problem;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, IntervalStream, WatchStream};

use crate::extract::StreamUser;
use crate::state::AppState;

/// A comment line every so often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Event stream.
///
/// `text/event-stream`: one event per change, named `job`, `check` or `cluster`, with
/// the JSON of `Event` as data. Browsers' `EventSource` cannot send headers, so this
/// call also accepts the token as `?access_token=`. The stream ends as soon as its
/// user's password changes, and at the first event or keepalive after the token
/// expires.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("access_token" = Option<String>, Query, description = "The bearer token, for clients that cannot set headers")),
    responses(
        (status = 200, description = "The stream of events", content_type = "text/event-stream", body = pequod_api::events::Event),
        (status = 400, description = "The body is not JSON, or a path or query parameter does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events")]
pub async fn events(user: StreamUser, state: web::Data<AppState>) -> HttpResponse {
    let updates = BroadcastStream::new(state.events.subscribe()).map(|item| match item {
        Ok(event) => match serde_json::to_string(&event) {
            Ok(json) => format!("event: {}\ndata: {json}\n\n", event.name()),
            Err(err) => {
                tracing::error!(error = %err, "could not serialise an event");
                String::new()
            }
        },
        // The client missed some events; tell it to reload what it shows.
        Err(BroadcastStreamRecvError::Lagged(n)) => format!("event: lagged\ndata: {n}\n\n"),
    });
    let mut interval = tokio::time::interval(KEEPALIVE);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let keepalive = IntervalStream::new(interval)
        .skip(1)
        .map(|_| ": keepalive\n\n".to_string());
    // An account change wakes every stream to check its token; nothing is sent for it.
    let ended = WatchStream::from_changes(state.auth.ended_tokens()).map(|_| String::new());
    let opening = stream::once(async { "retry: 2000\n: connected\n\n".to_string() });
    let auth = state.auth.clone();
    let principal = user.0;
    let body = opening
        .chain(stream::select(stream::select(updates, keepalive), ended))
        .take_while(move |_| std::future::ready(auth.still_valid(&principal)))
        .filter(|chunk| std::future::ready(!chunk.is_empty()))
        .map(|chunk| Ok::<_, Infallible>(Bytes::from(chunk)));
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .content_type("text/event-stream")
        .streaming(body)
}
