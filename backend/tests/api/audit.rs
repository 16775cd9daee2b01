//! The audit log: logins, changes and failovers recorded with who, from where and how
//! they ended; never a secret.

use pequod_api::audit::{AuditOutcome, AuditPage};
use reqwest::{Method, StatusCode};

use crate::helpers::{ADMIN_PASSWORD, TestApp, read_problem, spawn_app};

async fn audit(app: &TestApp, token: &str, query: &str) -> AuditPage {
    app.get_json(&format!("/api/v1/audit{query}"), token).await
}

#[tokio::test]
async fn logins_changes_and_refused_failovers_are_recorded_with_user_client_and_outcome() {
    let app = spawn_app().await;
    let wrong = "not the admin password 7f3a";
    assert_eq!(
        app.login("admin", wrong).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let token = app.token().await;
    let changed = app
        .send_json(
            Method::PATCH,
            "/api/v1/notifications",
            &token,
            &serde_json::json!({ "email": "ops@example.net" }),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    // A standalone node has no slave to fail over to: refused, and recorded as such.
    let refused = app
        .send_json(
            Method::POST,
            "/api/v1/cluster/failover",
            &token,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let anonymous = app
        .client
        .post(app.url("/api/v1/notifications/test"))
        .bearer_auth("forged.token.value")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let page = audit(&app, &token, "").await;
    let raw = serde_json::to_string(&page).unwrap();
    assert!(
        !raw.contains(wrong) && !raw.contains(ADMIN_PASSWORD),
        "{raw}"
    );
    assert!(!raw.contains("forged.token.value"), "{raw}");
    let actions: Vec<(&str, Option<&str>, AuditOutcome, Option<u16>)> = page
        .items
        .iter()
        .map(|e| (e.action.as_str(), e.user.as_deref(), e.outcome, e.status))
        .collect();
    assert_eq!(
        actions,
        [
            (
                "POST /api/v1/notifications/test",
                None,
                AuditOutcome::Failure,
                Some(401)
            ),
            (
                "failover.manual",
                Some("admin"),
                AuditOutcome::Failure,
                Some(409)
            ),
            (
                "PATCH /api/v1/notifications",
                Some("admin"),
                AuditOutcome::Success,
                Some(200)
            ),
            ("login", Some("admin"), AuditOutcome::Success, Some(200)),
            ("login", Some("admin"), AuditOutcome::Failure, Some(401)),
        ],
        "newest first"
    );
    assert_eq!(page.total, 5);
    assert!(
        page.items
            .iter()
            .all(|e| e.client.as_deref() == Some("127.0.0.1")),
        "{page:?}"
    );
    assert_eq!(page.items[2].target, "/api/v1/notifications");

    let failed_logins = audit(&app, &token, "?action=login&outcome=failure").await;
    assert_eq!(failed_logins.total, 1);
    assert_eq!(failed_logins.items[0].status, Some(401));
    let by_admin = audit(&app, &token, "?user=admin&per_page=2&page=2").await;
    assert_eq!(by_admin.total, 4);
    assert_eq!(by_admin.items.len(), 2);
    assert_eq!(by_admin.items[1].action, "login");
}

#[tokio::test]
async fn the_audit_log_needs_a_token_and_names_a_bad_parameter() {
    let app = spawn_app().await;
    read_problem(
        app.get_anonymous("/api/v1/audit").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let token = app.token().await;
    let problem = read_problem(
        app.get("/api/v1/audit?per_page=0", &token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(format!("{problem:?}").contains("per_page"), "{problem:?}");
    read_problem(
        app.get("/api/v1/audit?outcome=maybe", &token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Reading the log is not a change: only the login is in it.
    let page = audit(&app, &token, "").await;
    assert_eq!(page.total, 1, "{page:?}");
}
