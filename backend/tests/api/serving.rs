use std::sync::Arc;

use reqwest::StatusCode;

use crate::helpers::{read_problem, spawn_with, test_settings};

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let app = crate::helpers::spawn_app().await;
    let response = app.get_anonymous("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn the_ui_is_served_at_the_root_with_a_fallback_for_its_routes() {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(ui.join("pkg")).expect("ui dir");
    std::fs::write(ui.join("index.html"), "<html><body>commander</body></html>").expect("index");
    std::fs::write(ui.join("pkg/app.js"), "export default 1;").expect("js");
    let mut settings = test_settings(dir.path());
    settings.server.ui_dir = ui;
    let app = spawn_with(settings, dir).await;

    for path in ["/", "/cluster", "/appliance/interfaces"] {
        let response = app.get_anonymous(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-cache"),
            "{path}: index.html must not be cached"
        );
        assert!(
            response.text().await.expect("body").contains("commander"),
            "{path}"
        );
    }
    let js = app.get_anonymous("/pkg/app.js").await;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.text().await.expect("body").contains("export default"));

    // The API's unknown paths stay problems, never the UI's index page.
    let problem = read_problem(
        app.get_anonymous("/api/v1/nonsense").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        problem.message().contains("not part of the API"),
        "{problem:?}"
    );
}

#[tokio::test]
async fn without_a_built_ui_the_root_says_how_to_build_it() {
    let app = crate::helpers::spawn_app().await;
    let response = app.get_anonymous("/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("scripts/build-frontend")
    );
}

#[tokio::test]
async fn a_method_a_known_path_lacks_is_405_with_allow_and_an_unknown_path_404() {
    let app = crate::helpers::spawn_app().await;
    let token = app.token().await;
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/api/v1/cluster", "GET, POST"),
        (reqwest::Method::DELETE, "/api/v1/jobs/7", "GET"),
        (reqwest::Method::GET, "/api/v1/slaves/node2", "DELETE"),
        (reqwest::Method::PATCH, "/api/v1/auth/login", "POST"),
        // Outside /api too: not the commander's page.
        (reqwest::Method::POST, "/healthz", "GET"),
        (reqwest::Method::TRACE, "/metrics", "GET"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(
            response
                .headers()
                .get(reqwest::header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let problem = read_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert!(
            problem.message().contains(&format!(
                "{method} is not allowed on {path}; it allows {allow}"
            )),
            "{problem:?}"
        );
    }
    // A parameter segment must not be empty, and a longer path is not the template's.
    // A trailing slash is another path; HEAD and OPTIONS are offered nowhere.
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/cluster/"),
        (reqwest::Method::HEAD, "/api/v1/cluster"),
        (reqwest::Method::OPTIONS, "/api/v1/cluster"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert!(response.headers().get(reqwest::header::ALLOW).is_none());
    }
    for path in ["/api/v1/slaves//readd", "/api/v1/cluster/failover/extra"] {
        read_problem(
            app.client
                .put(app.url(path))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request"),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
}
