//! Generates Pequod's Rust client from the committed contract, `openapi/openapi.json`:
//! the 3.1 document is turned into 3.0 for the generator (src/openapi30.rs), then
//! progenitor writes the client into OUT_DIR. No call of the client is written by hand.

use std::path::PathBuf;

#[path = "src/openapi30.rs"]
#[allow(dead_code)]
mod openapi30;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let contract = manifest.join("../openapi/openapi.json");
    println!("cargo::rerun-if-changed={}", contract.display());
    println!("cargo::rerun-if-changed=src/openapi30.rs");

    let document: serde_json::Value = serde_json::from_slice(&std::fs::read(&contract)?)?;
    let mut document =
        openapi30::downgrade(document).map_err(|e| format!("{}: {e}", contract.display()))?;
    problems_as_json(&mut document);
    let spec: openapiv3::OpenAPI = serde_json::from_value(document)?;

    let mut settings = progenitor::GenerationSettings::new();
    settings.with_interface(progenitor::InterfaceStyle::Positional);
    let tokens = progenitor::Generator::new(&settings).generate_tokens(&spec)?;
    let code = prettyplease::unparse(&syn::parse2(tokens)?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("client.rs");
    std::fs::write(out, code)?;
    Ok(())
}

/// progenitor types only `application/json` bodies; the problem details Pequod
/// answers errors with are JSON too (`application/problem+json`, RFC 9457), so they
/// are offered to it under that name and the client parses them into `Problem`.
fn problems_as_json(document: &mut serde_json::Value) {
    let operations = document
        .get_mut("paths")
        .and_then(|p| p.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let responses = operation
            .get_mut("responses")
            .and_then(|r| r.as_object_mut())
            .into_iter()
            .flat_map(|r| r.values_mut());
        for response in responses {
            if let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut())
                && let Some(problem) = content.remove("application/problem+json")
            {
                content.insert("application/json".into(), problem);
            }
        }
    }
}
