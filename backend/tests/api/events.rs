use futures_util::StreamExt;
use pequod_api::events::Event;
use pequod_api::jobs::{JobKind, JobState};
use reqwest::StatusCode;

use crate::helpers::{DEADLINE, read_problem, spawn_app};

/// Reads server-sent events until `wanted` accepts one, failing at the deadline.
async fn next_matching(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Unpin),
    buffer: &mut String,
    mut wanted: impl FnMut(&str, &Event) -> bool,
) -> Event {
    let result = tokio::time::timeout(DEADLINE, async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in frame.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = Some(value.to_string());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data = Some(value.to_string());
                    }
                }
                if let (Some(name), Some(data)) = (name, data) {
                    let event: Event = serde_json::from_str(&data).expect("event data is an Event");
                    assert_eq!(event.name(), name);
                    if wanted(&name, &event) {
                        return event;
                    }
                }
            }
            let chunk = stream
                .next()
                .await
                .expect("the stream stays open")
                .expect("chunk");
            buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    })
    .await;
    result.expect("the awaited event arrived before the deadline")
}

#[tokio::test]
async fn job_changes_are_streamed_as_server_sent_events() {
    let app = spawn_app().await;
    let token = app.token().await;
    // EventSource cannot set headers: the token travels as a query parameter.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/events?access_token={token}")))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();

    let job = app
        .state
        .jobs
        .submit(
            JobKind::Maintenance,
            "streamed",
            &["only step"],
            |ctx| async move {
                ctx.step(0).await;
                Ok(())
            },
        )
        .await
        .expect("submitted");
    let queued = next_matching(&mut stream, &mut buffer, |name, event| {
        name == "job" && matches!(event, Event::Job(j) if j.id == job.id)
    })
    .await;
    assert!(matches!(queued, Event::Job(j) if j.state == JobState::Queued));
    let done = next_matching(&mut stream, &mut buffer, |_, event| {
        matches!(event, Event::Job(j) if j.id == job.id && j.state == JobState::Succeeded)
    })
    .await;
    assert!(matches!(done, Event::Job(j) if j.progress == 100));
}

#[tokio::test]
async fn the_event_stream_needs_a_token() {
    let app = spawn_app().await;
    read_problem(
        app.get_anonymous("/api/v1/events").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    read_problem(
        app.get_anonymous("/api/v1/events?access_token=not-a-token")
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
