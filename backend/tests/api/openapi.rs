//! The committed OpenAPI document against the code: the backend's routes (the drift
//! test) and the paths and rules the commander takes from `pequod-api`.

use std::path::PathBuf;

use pequod_api::paths::ENDPOINTS;
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

fn committed_document() -> serde_json::Value {
    let text = std::fs::read_to_string(committed_path()).expect("openapi/openapi.json is readable");
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

/// The operations of `document` missing from it, as `METHOD path`, for each path of
/// `endpoints` with the methods recorded there.
fn missing_operations(
    document: &serde_json::Value,
    endpoints: &[(&str, &[pequod_api::paths::Method])],
) -> Vec<String> {
    endpoints
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(move |method| (*path, *method)))
        .filter(|(path, method)| document["paths"][path].get(method.as_str()).is_none())
        .map(|(path, method)| format!("{method} {path}"))
        .collect()
}

#[test]
fn every_path_the_commander_calls_is_documented_with_its_method() {
    let document = committed_document();
    assert!(
        ENDPOINTS.len() >= 20,
        "the paths module lists the API's paths"
    );
    let missing = missing_operations(&document, ENDPOINTS);
    assert!(
        missing.is_empty(),
        "pequod_api::paths names operations that openapi/openapi.json does not have (a path \
         or a method renamed on one side?): {missing:?}"
    );
}

/// The `Allow` header of a 405 comes from `ENDPOINTS`: it must name every documented
/// operation of its path, and no other.
#[test]
fn every_documented_operation_is_listed_with_its_path_and_methods() {
    let document = committed_document();
    let paths = document["paths"].as_object().expect("paths");
    let mut unlisted = Vec::new();
    for (path, operations) in paths {
        let documented: Vec<&str> = ["get", "post", "patch", "delete", "put"]
            .into_iter()
            .filter(|method| operations.get(*method).is_some())
            .collect();
        let listed: Vec<&str> = ENDPOINTS
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, methods)| methods.iter().map(|m| m.as_str()).collect())
            .unwrap_or_default();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort_by_key(|m| {
            ["get", "post", "patch", "delete", "put"]
                .iter()
                .position(|x| x == m)
        });
        if listed_sorted != documented {
            unlisted.push(format!(
                "{path}: documented {documented:?}, listed {listed:?}"
            ));
        }
    }
    assert!(unlisted.is_empty(), "{unlisted:#?}");
}

#[test]
fn a_path_renamed_on_one_side_is_caught() {
    use pequod_api::paths::Method;
    let document = committed_document();
    let renamed: &[(&str, &[Method])] = &[
        ("/api/v1/jobs/{job_id}", &[Method::Get]),
        (pequod_api::paths::JOB, &[Method::Delete]),
    ];
    assert_eq!(
        missing_operations(&document, renamed),
        ["GET /api/v1/jobs/{job_id}", "DELETE /api/v1/jobs/{id}"]
    );
    let mut moved = document.clone();
    let paths = moved["paths"].as_object_mut().expect("paths");
    let operations = paths
        .remove(pequod_api::paths::SLAVE_READD)
        .expect("documented");
    paths.insert("/api/v1/slaves/{hostname}/re-add".into(), operations);
    assert_eq!(
        missing_operations(&moved, ENDPOINTS),
        ["POST /api/v1/slaves/{hostname}/readd"]
    );
}

/// The shared e-mail rule must be stricter than the mailer's parser: an address the
/// form and the API accept is one a notification can be sent to.
#[test]
fn every_address_the_shared_rule_accepts_the_mailer_parses() {
    let long_local = format!("{}@example.net", "a".repeat(64));
    let long_label = format!("ops@{}.net", "b".repeat(63));
    let candidates = [
        "ops@example.net",
        "a@b.c",
        "PBX-Admin@Example.ORG",
        "first.last+pequod@mail.example.co.uk",
        "o'brien@example.ie",
        "x_y-z@sub-domain.example",
        "!#$%&'*+-/=?^_`{|}~@example.net",
        "ops@123.example",
        long_local.as_str(),
        long_label.as_str(),
        // What the rule refuses may or may not parse; it must never be the other way.
        "nobody",
        "ops@localhost",
        "\"a b\"@example.net",
        "jörg@example.net",
        "ops@bücher.de",
        "ops@[192.0.2.1]",
        "ops@192.0.2.1",
        "a..b@example.net",
        "ops@-example.net",
    ];
    let mut accepted = 0;
    for text in candidates {
        if let Ok(address) = pequod_api::EmailAddress::parse(text) {
            accepted += 1;
            assert!(
                address.as_str().parse::<lettre::Address>().is_ok(),
                "{text:?} passes the shared rule but the mailer cannot parse it"
            );
            let mailbox = format!("Pequod <{}>", address.as_str());
            assert!(
                mailbox.parse::<lettre::message::Mailbox>().is_ok(),
                "{mailbox:?} is no mailbox"
            );
        }
    }
    assert_eq!(accepted, 10, "the good addresses pass the shared rule");
}
