use std::path::PathBuf;

use reqwest::StatusCode;

use crate::helpers::spawn_app;

const REGENERATE: &str = "cargo run -p pequod -- openapi > openapi/openapi.json";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = pequod::openapi::spec_json().expect("the spec serialises");
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    if generated != committed {
        let _ = std::fs::write(
            std::env::temp_dir().join("pequod-openapi.generated.json"),
            &generated,
        );
    }
    assert!(
        generated == committed,
        "openapi/openapi.json differs from what the code generates; regenerate it with\n\n    {REGENERATE}\n\nand commit the result"
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = spawn_app().await;
    let response = app.get_anonymous("/api/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let served: serde_json::Value = response.json().await.expect("JSON");
    let generated = serde_json::to_value(pequod::openapi::spec()).expect("JSON");
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
    for path in [
        "/api/v1/auth/login",
        "/api/v1/cluster",
        "/api/v1/jobs/{id}",
        "/api/v1/events",
        "/healthz",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is documented");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_embedded_assets() {
    let app = spawn_app().await;
    let page = app.get_anonymous("/api/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("HTML");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page must not load anything from the internet"
    );
    let script = app.get_anonymous("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().await.expect("JS").len() > 100_000);
    let init = app
        .get_anonymous("/api/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("JS");
    assert!(init.contains("/api/openapi.json"), "{init}");
}
