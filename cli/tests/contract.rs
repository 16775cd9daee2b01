//! The 3.0 document the client is generated from says what the committed 3.1 contract
//! says: every operation, parameter, response, property and required list survives the
//! conversion, and every `null` the 3.1 document allows becomes a `nullable`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::Value;

fn contract() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    serde_json::from_slice(&std::fs::read(path).expect("the committed contract")).expect("JSON")
}

/// Every operation as "METHOD path operationId", with its parameters and response codes.
fn operations(document: &Value) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let parameters: Vec<String> = operation["parameters"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .map(|p| format!("{}:{}:{}", p["in"], p["name"], p["required"]))
                        .collect()
                })
                .unwrap_or_default();
            let responses: Vec<&String> = operation["responses"]
                .as_object()
                .map(|r| r.keys().collect())
                .unwrap_or_default();
            all.insert(format!(
                "{method} {path} {} {parameters:?} {responses:?} body:{}",
                operation["operationId"],
                operation.get("requestBody").is_some()
            ));
        }
    }
    all
}

/// Every schema's property names and required list, by a path to it.
fn shapes(value: &Value, at: &str, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                let names: Vec<&String> = properties.keys().collect();
                into.insert(format!(
                    "{at} properties {names:?} required {}",
                    map.get("required").unwrap_or(&Value::Null)
                ));
            }
            if let Some(Value::Array(values)) = map.get("enum") {
                into.insert(format!("{at} enum {values:?}"));
            }
            for (key, child) in map {
                shapes(child, &format!("{at}/{key}"), into);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                shapes(child, &format!("{at}/{i}"), into);
            }
        }
        _ => {}
    }
}

/// How many places allow `null`: `type: [.., "null"]` and `{type: null}` alternatives
/// in 3.1, `nullable: true` in 3.0.
fn nulls(value: &Value) -> usize {
    match value {
        Value::Object(map) => {
            let here = match (map.get("type"), map.get("nullable")) {
                (Some(Value::Array(types)), _) if types.iter().any(|t| t == "null") => 1,
                (_, Some(Value::Bool(true))) => 1,
                _ => 0,
            };
            let alternatives = ["oneOf", "anyOf"]
                .iter()
                .filter_map(|k| map.get(*k).and_then(Value::as_array))
                .filter(|items| {
                    items
                        .iter()
                        .any(|i| i.get("type") == Some(&Value::from("null")))
                })
                .count();
            here + alternatives + map.values().map(nulls).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(nulls).sum(),
        _ => 0,
    }
}

fn schemas_without_wrapping(document: &Value) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    shapes(&document["components"], "components", &mut all);
    // A `$ref` given siblings is wrapped into `allOf` in 3.0 and `oneOf [null, X]`
    // becomes X: the positions move, the shapes do not. Compare without positions.
    all.into_iter()
        .map(|s| {
            let cut = s
                .find(" properties ")
                .or_else(|| s.find(" enum "))
                .unwrap_or(0);
            let schema = s.split('/').nth(2).unwrap_or("").to_string();
            format!("{schema}{}", &s[cut..])
        })
        .collect()
}

#[test]
fn the_converted_document_keeps_every_operation_shape_and_null() {
    let original = contract();
    let converted = pequodctl::openapi30::downgrade(original.clone()).expect("it converts");
    assert_eq!(converted["openapi"], "3.0.3");
    let parsed: Result<openapiv3::OpenAPI, _> = serde_json::from_value(converted.clone());
    assert!(parsed.is_ok(), "a valid 3.0 document: {:?}", parsed.err());

    assert!(
        operations(&original).len() > 20,
        "the contract's operations are read"
    );
    assert!(
        schemas_without_wrapping(&original).len() > 20,
        "its schemas are read"
    );
    assert_eq!(operations(&original), operations(&converted));
    assert_eq!(
        schemas_without_wrapping(&original),
        schemas_without_wrapping(&converted)
    );
    let schema_names = |d: &Value| -> Vec<String> {
        d["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(schema_names(&original), schema_names(&converted));

    let before = nulls(&original);
    assert!(before > 0, "the contract has nullable fields to convert");
    assert_eq!(before, nulls(&converted), "every null survives as nullable");
    let text = converted.to_string();
    assert!(
        !text.contains("\"null\""),
        "no 3.1 null type is left for a 3.0 reader"
    );
}
