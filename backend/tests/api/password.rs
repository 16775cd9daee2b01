//! Changing one's own password: the current one is required, the new one is checked,
//! and every token issued before ends at once (also across a restart).

use pequod_api::audit::AuditPage;
use pequod_api::auth::LoginResponse;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, read_problem, spawn_app};

const NEW_PASSWORD: &str = "a new and longer admin password";

async fn change(app: &TestApp, token: &str, current: &str, new: &str) -> reqwest::Response {
    app.send_json(
        Method::POST,
        "/api/v1/auth/password",
        token,
        &json!({ "current_password": current, "new_password": new }),
    )
    .await
}

#[tokio::test]
async fn a_password_change_ends_every_older_token_and_the_new_password_logs_in() {
    let app = spawn_app().await;
    let browser = app.token().await;
    let script = app.token().await;

    let response = change(&app, &browser, ADMIN_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh: LoginResponse = response.json().await.unwrap();

    for old in [&browser, &script] {
        let problem = read_problem(
            app.get("/api/v1/cluster", old).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert!(
            problem
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("password was changed")),
            "{problem:?}"
        );
    }
    assert_eq!(
        app.get("/api/v1/cluster", &fresh.token).await.status(),
        StatusCode::OK,
        "the session that changed it goes on with the token it got back"
    );
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("admin", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );

    // The audit log names the change, never a password.
    let page: AuditPage = app
        .get_json("/api/v1/audit?action=password", &fresh.token)
        .await;
    assert_eq!(page.total, 1, "{page:?}");
    assert_eq!(page.items[0].user.as_deref(), Some("admin"));
    assert_eq!(page.items[0].status, Some(200));
    let raw = serde_json::to_string(&page).unwrap();
    assert!(
        !raw.contains(NEW_PASSWORD) && !raw.contains(ADMIN_PASSWORD),
        "{raw}"
    );

    // A restart keeps the change: the old tokens stay ended, the new password works.
    let app = app.restart().await;
    assert_eq!(
        app.get("/api/v1/cluster", &browser).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/cluster", &fresh.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("admin", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_wrong_current_password_or_a_bad_new_one_names_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.token().await;
    // A wrong current password is refused for who asks (403), the current one as the
    // new one for what it is now (409), a too short one as not well-formed (422).
    let cases = [
        (
            "not the current one",
            NEW_PASSWORD,
            StatusCode::FORBIDDEN,
            "current_password",
            "wrong",
        ),
        (
            ADMIN_PASSWORD,
            "too short",
            StatusCode::UNPROCESSABLE_ENTITY,
            "new_password",
            "12 to 1024",
        ),
        (
            ADMIN_PASSWORD,
            ADMIN_PASSWORD,
            StatusCode::CONFLICT,
            "new_password",
            "current password",
        ),
    ];
    for (current, new, status, field, says) in cases {
        let problem = read_problem(change(&app, &token, current, new).await, status).await;
        assert!(
            problem.field_error(field).is_some_and(|m| m.contains(says)),
            "{current:?} → {new:?}: {problem:?}"
        );
    }
    let missing = read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/auth/password",
            &token,
            &json!({ "new_password": NEW_PASSWORD }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        missing.field_error("current_password").is_some(),
        "{missing:?}"
    );
    // Nothing changed: the token still works and the old password still logs in.
    assert_eq!(
        app.get("/api/v1/cluster", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    // Without a token there is no change at all.
    let anonymous = app
        .client
        .post(app.url("/api/v1/auth/password"))
        .json(&json!({ "current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    read_problem(anonymous, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn guessing_the_current_password_is_rate_limited_like_a_login() {
    let app = spawn_app().await;
    let token = app.token().await;
    for _ in 0..5 {
        assert_eq!(
            change(&app, &token, "a guess at it", NEW_PASSWORD)
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
    }
    read_problem(
        change(&app, &token, ADMIN_PASSWORD, NEW_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/cluster", &token).await.status(),
        StatusCode::OK,
        "refused, so nothing ended"
    );
}

#[tokio::test]
async fn an_open_event_stream_of_an_ended_token_closes_at_once() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app
        .client
        .get(app.url(&format!("/api/v1/events?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.expect("the opening").unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("connected"));

    assert_eq!(
        change(&app, &token, ADMIN_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // The keepalive comes every 15 s; the stream must end well before its first one.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            let text = std::str::from_utf8(&chunk).unwrap().to_owned();
            assert!(
                !text.contains("event:"),
                "no event after the token ended: {text}"
            );
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream of the ended token stays open");
    let problem = read_problem(
        app.get_anonymous(&format!("/api/v1/events?access_token={token}"))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(
        problem.message().contains("password was changed"),
        "{problem:?}"
    );
}

#[tokio::test]
async fn of_two_changes_at_once_one_wins_and_the_other_changes_nothing() {
    let app = spawn_app().await;
    let token = app.token().await;
    let first = "the first new password of the two";
    let second = "the second new password of the two";
    let (a, b) = tokio::join!(
        change(&app, &token, ADMIN_PASSWORD, first),
        change(&app, &token, ADMIN_PASSWORD, second)
    );
    let (winner, winner_answer, loser_status) = match (a.status(), b.status()) {
        (StatusCode::OK, other) => (first, a, other),
        (other, StatusCode::OK) => (second, b, other),
        statuses => panic!("exactly one change must win: {statuses:?}"),
    };
    // Checked after the other landed: a wrong current password; checked at the same
    // time: the conditional update refuses it.
    assert!(
        [StatusCode::CONFLICT, StatusCode::FORBIDDEN].contains(&loser_status),
        "{loser_status}"
    );
    let fresh: LoginResponse = winner_answer.json().await.unwrap();
    assert_eq!(
        app.get("/api/v1/cluster", &fresh.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.login("admin", winner).await.status(), StatusCode::OK);
    let loser = if winner == first { second } else { first };
    assert_eq!(
        app.login("admin", loser).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
