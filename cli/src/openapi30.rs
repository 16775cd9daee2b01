//! Turns the committed OpenAPI 3.1 document into the 3.0 dialect the client generator
//! reads. Only what Pequod's document uses is translated, and anything else that 3.0
//! cannot say is refused with its location: the generated client must never be built
//! from a document that silently lost a constraint.
//!
//! This file is compiled twice: by `build.rs`, which generates the client with it, and
//! into the library, where its tests run.

use serde_json::{Map, Value};

/// Keywords of JSON Schema 2020-12 that OpenAPI 3.0's schema object has no word for.
const UNTRANSLATABLE: &[&str] = &[
    "$defs",
    "$dynamicRef",
    "$schema",
    "contentEncoding",
    "contentMediaType",
    "dependentRequired",
    "dependentSchemas",
    "else",
    "if",
    "patternProperties",
    "prefixItems",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
];

/// The 3.0 form of a 3.1 document, or where and why it cannot be expressed.
pub fn downgrade(mut doc: Value) -> Result<Value, String> {
    let version = doc
        .get("openapi")
        .and_then(Value::as_str)
        .ok_or("the document has no `openapi` version")?;
    if !version.starts_with("3.1") {
        return Err(format!("expected an OpenAPI 3.1 document, found {version}"));
    }
    doc["openapi"] = Value::String("3.0.3".into());
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        // 3.1's SPDX `identifier` has no 3.0 field; the licence `name` stays.
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    walk(&mut doc, "#")?;
    Ok(doc)
}

/// Visits every object of the document; schema positions get [`schema`].
fn walk(value: &mut Value, at: &str) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let here = format!("{at}/{key}");
                match key.as_str() {
                    "schema" => schema(child, &here)?,
                    // A map of names to schemas.
                    "schemas" if at == "#/components" => {
                        for (name, each) in child.as_object_mut().into_iter().flatten() {
                            schema(each, &format!("{here}/{name}"))?;
                        }
                    }
                    _ => walk(child, &here)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk(child, &format!("{at}/{i}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Rewrites one schema object and, depth first, the schemas inside it.
fn schema(value: &mut Value, at: &str) -> Result<(), String> {
    let Some(map) = value.as_object_mut() else {
        return Ok(());
    };
    if let Some(bad) = UNTRANSLATABLE.iter().find(|k| map.contains_key(**k)) {
        return Err(format!("{at}: `{bad}` has no OpenAPI 3.0 equivalent"));
    }
    for (key, child) in map.iter_mut() {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "properties" => {
                for (name, each) in child.as_object_mut().into_iter().flatten() {
                    schema(each, &format!("{here}/{name}"))?;
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                for (i, each) in child.as_array_mut().into_iter().flatten().enumerate() {
                    schema(each, &format!("{here}/{i}"))?;
                }
            }
            "items" | "not" | "additionalProperties" => schema(child, &here)?,
            _ => {}
        }
    }
    type_list(map, at)?;
    nullable_alternative(map, at)?;
    if let Some(constant) = map.remove("const") {
        map.insert("enum".into(), Value::Array(vec![constant]));
    }
    if let Some(examples) = map.remove("examples") {
        let first = examples.as_array().and_then(|e| e.first()).cloned();
        if let Some(first) = first {
            map.entry("example").or_insert(first);
        }
    }
    for (bound, plain) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(limit) = map.get(bound).filter(|v| v.is_number()).cloned() {
            map.insert(plain.into(), limit);
            map.insert(bound.into(), Value::Bool(true));
        }
    }
    ref_with_siblings(map);
    Ok(())
}

/// `type: ["string", "null"]` is `type: string, nullable: true` in 3.0.
fn type_list(map: &mut Map<String, Value>, at: &str) -> Result<(), String> {
    let Some(Value::Array(types)) = map.get("type") else {
        return Ok(());
    };
    let nullable = types.iter().any(|t| t == "null");
    let others: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    match others.as_slice() {
        [one] => {
            map.insert("type".into(), one.clone());
        }
        [] => return Err(format!("{at}: a schema whose only type is null")),
        _ => {
            return Err(format!(
                "{at}: 3.0 has one type per schema, found {others:?}"
            ));
        }
    }
    if nullable {
        map.insert("nullable".into(), Value::Bool(true));
    }
    Ok(())
}

/// `oneOf: [{type: null}, X]` (utoipa's form of an optional reference) is X made
/// nullable; a reference cannot carry `nullable` beside it, so it is wrapped in allOf.
fn nullable_alternative(map: &mut Map<String, Value>, at: &str) -> Result<(), String> {
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(alternatives)) = map.get(key) else {
            continue;
        };
        let is_null = |s: &Value| s.get("type").is_some_and(|t| t == "null");
        if !alternatives.iter().any(is_null) {
            continue;
        }
        let rest: Vec<Value> = alternatives
            .iter()
            .filter(|s| !is_null(s))
            .cloned()
            .collect();
        let [only] = rest.as_slice() else {
            return Err(format!(
                "{at}/{key}: null beside {} alternatives cannot be said in 3.0",
                rest.len()
            ));
        };
        map.remove(key);
        let Value::Object(only) = only.clone() else {
            return Err(format!("{at}/{key}: an alternative that is not a schema"));
        };
        for (k, v) in only {
            if k == "$ref" {
                map.insert("allOf".into(), serde_json::json!([{ "$ref": v }]));
            } else {
                // The outer schema's words (its description) win over the inner ones.
                map.entry(k).or_insert(v);
            }
        }
        map.insert("nullable".into(), Value::Bool(true));
    }
    Ok(())
}

/// 3.1 lets a `$ref` carry a description and other words beside it; 3.0 ignores
/// them, so a reference with company becomes `allOf: [ref]` plus that company.
fn ref_with_siblings(map: &mut Map<String, Value>) {
    if map.len() > 1
        && let Some(reference) = map.remove("$ref")
    {
        map.insert("allOf".into(), serde_json::json!([{ "$ref": reference }]));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    fn doc(schemas: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1", "license": { "name": "MIT", "identifier": "MIT" } },
            "paths": {},
            "components": { "schemas": schemas }
        })
    }

    fn converted(schemas: Value) -> Value {
        downgrade(doc(schemas)).unwrap()["components"]["schemas"].clone()
    }

    #[test]
    fn a_type_list_with_null_becomes_nullable() {
        let out = converted(json!({ "A": { "type": ["string", "null"], "format": "date-time" } }));
        assert_eq!(
            out["A"],
            json!({ "type": "string", "format": "date-time", "nullable": true })
        );
    }

    #[test]
    fn a_nullable_reference_becomes_a_nullable_all_of_and_keeps_its_description() {
        let out = converted(json!({ "A": { "type": "object", "properties": {
            "links": { "oneOf": [ { "type": "null" }, { "$ref": "#/components/schemas/B", "description": "d" } ] }
        } } }));
        assert_eq!(
            out["A"]["properties"]["links"],
            json!({ "allOf": [ { "$ref": "#/components/schemas/B" } ], "description": "d", "nullable": true })
        );
    }

    #[test]
    fn a_reference_with_a_description_is_wrapped_and_a_bare_one_is_not() {
        let out = converted(json!({ "A": { "type": "object", "properties": {
            "with": { "$ref": "#/components/schemas/B", "description": "d" },
            "bare": { "$ref": "#/components/schemas/B" }
        } } }));
        assert_eq!(
            out["A"]["properties"]["with"],
            json!({ "allOf": [ { "$ref": "#/components/schemas/B" } ], "description": "d" })
        );
        assert_eq!(
            out["A"]["properties"]["bare"],
            json!({ "$ref": "#/components/schemas/B" })
        );
    }

    #[test]
    fn properties_named_like_keywords_are_left_alone() {
        let out = converted(json!({ "A": { "type": "object", "properties": {
            "type": { "type": "string" }, "const": { "type": "integer" }
        } } }));
        assert_eq!(out["A"]["properties"]["type"], json!({ "type": "string" }));
        assert_eq!(
            out["A"]["properties"]["const"],
            json!({ "type": "integer" })
        );
    }

    #[test]
    fn const_examples_and_numeric_exclusive_bounds_get_their_3_0_words() {
        let out = converted(json!({ "A": {
            "type": "integer", "const": 3, "examples": [3, 4], "exclusiveMinimum": 0
        } }));
        assert_eq!(
            out["A"],
            json!({ "type": "integer", "enum": [3], "example": 3, "minimum": 0, "exclusiveMinimum": true })
        );
    }

    #[test]
    fn what_3_0_cannot_say_is_refused_with_its_place() {
        let err = downgrade(doc(json!({ "A": { "type": "object", "properties": {
            "p": { "type": "array", "prefixItems": [ { "type": "string" } ] }
        } } })))
        .unwrap_err();
        assert!(
            err.contains("#/components/schemas/A/properties/p") && err.contains("prefixItems"),
            "{err}"
        );
        let err = downgrade(doc(json!({ "A": { "type": ["string", "integer"] } }))).unwrap_err();
        assert!(err.contains("one type per schema"), "{err}");
        let err = downgrade(json!({ "openapi": "3.0.3" })).unwrap_err();
        assert!(err.contains("3.1"), "{err}");
    }

    #[test]
    fn the_version_and_the_licence_identifier_change() {
        let out = downgrade(doc(json!({}))).unwrap();
        assert_eq!(out["openapi"], "3.0.3");
        assert_eq!(out["info"]["license"], json!({ "name": "MIT" }));
    }
}
