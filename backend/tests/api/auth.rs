use chrono::Utc;
use pequod::auth::Claims;
use pequod_api::auth::{LoginResponse, Me};
use reqwest::StatusCode;
use reqwest::header::{RETRY_AFTER, WWW_AUTHENTICATE};

use crate::helpers::{ADMIN_PASSWORD, read_problem, spawn_app};

#[tokio::test]
async fn admin_logs_in_with_the_configured_password() {
    let app = spawn_app().await;
    let response = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let login: LoginResponse = response.json().await.expect("body");
    assert_eq!(login.token_type, "Bearer");
    assert!(login.expires_at > Utc::now());

    let me: Me = app.get_json("/api/v1/auth/me", &login.token).await;
    assert_eq!(me.username, "admin");
    assert_eq!(me.expires_at.timestamp(), login.expires_at.timestamp());
}

#[tokio::test]
async fn a_wrong_password_or_unknown_user_is_refused() {
    let app = spawn_app().await;
    for (user, password) in [("admin", "wrong"), ("nobody", ADMIN_PASSWORD)] {
        let problem = read_problem(app.login(user, password).await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(
            problem.detail.as_deref(),
            Some("wrong username or password")
        );
    }
}

#[tokio::test]
async fn a_login_without_password_names_the_field() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({ "username": "admin" }))
        .send()
        .await
        .expect("request");
    let problem = read_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        problem
            .field_error("password")
            .is_some_and(|m| m.contains("missing")),
        "{problem:?}"
    );
}

#[tokio::test]
async fn repeated_failed_logins_are_rate_limited_per_address() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(
            app.login("admin", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app.login("admin", ADMIN_PASSWORD).await;
    let retry_after: u64 = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header");
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let problem = read_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        problem.message().contains("too many failed logins"),
        "{problem:?}"
    );
}

#[tokio::test]
async fn a_good_login_clears_earlier_failures() {
    let app = spawn_app().await;
    for _ in 0..4 {
        assert_eq!(
            app.login("admin", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..4 {
        assert_eq!(
            app.login("admin", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_protected_operation_needs_a_token() {
    let app = spawn_app().await;
    let spec = serde_json::to_value(pequod::openapi::spec()).expect("spec as JSON");
    let paths = spec["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let secured = operation.get("security").is_some();
            let public = ["/api/v1/auth/login", "/healthz", "/metrics"].contains(&path.as_str());
            assert!(
                secured != public,
                "{method} {path}: security in the spec is wrong"
            );
            if public {
                continue;
            }
            let concrete = path.replace("{id}", "1").replace("{hostname}", "node2");
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .send()
                .await
                .expect("request");
            assert!(
                response.headers().get(WWW_AUTHENTICATE).is_some(),
                "{method} {path}"
            );
            let problem = read_problem(response, StatusCode::UNAUTHORIZED).await;
            assert!(
                problem.message().contains("bearer token"),
                "{method} {path}: {problem:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} operations checked");
}

#[tokio::test]
async fn a_forged_token_is_refused() {
    let app = spawn_app().await;
    let token = app.token().await;
    let (head, _) = token.rsplit_once('.').expect("JWT");
    let forged = format!("{head}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let problem = read_problem(
        app.get("/api/v1/cluster", &forged).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(problem.message().contains("not valid"), "{problem:?}");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let secret =
        pequod::identity::load_or_create_secret(&app.data_path()).expect("the node's secret");
    let now = Utc::now().timestamp();
    let generation = app
        .state
        .store
        .find_user("admin")
        .await
        .expect("the store")
        .expect("admin")
        .token_generation;
    let claims = Claims {
        sub: "admin".into(),
        iat: now - 3600,
        exp: now - 1,
        generation,
    };
    use secrecy::ExposeSecret;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .expect("token");
    let problem = read_problem(
        app.get("/api/v1/auth/me", &token).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(problem.message().contains("expired"), "{problem:?}");

    // The same token with a future expiry is accepted: the refusal above is the expiry.
    let claims = Claims {
        exp: now + 60,
        ..claims
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .expect("token");
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn users_survive_a_restart_and_the_first_password_stays() {
    let app = spawn_app().await;
    let dir = app.stop().await;
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.admin_password = Some(secrecy::SecretString::from("another password"));
    let app = crate::helpers::spawn_with(settings, dir).await;
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("admin", "another password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
