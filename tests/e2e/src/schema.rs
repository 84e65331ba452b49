//! Validates release records against `docs/release.schema.json`, the contract's JSON Schema.
//! [`crate::finish`] runs every record a tool writes through it, so a tool that adds a field the
//! schema does not document fails the test that ran it.
//!
//! A validator for exactly the keywords the schema uses (DESIGN.md §6), with JSON Schema 2020-12
//! semantics, instead of the `jsonschema` crate (75 crates, about 73 s of CPU for a clean debug
//! build here, for the same ~20 keywords). A schema that uses any other keyword is refused
//! outright, so a keyword this file does not implement can never be silently ignored.

use regex::Regex;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const KEYWORDS: &[&str] = &[
    "$schema",
    "title",
    "description",
    "$defs",
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "items",
    "anyOf",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "pattern",
];

pub struct Schema {
    root: Value,
}

/// The release record's schema, read once from `docs/release.schema.json`.
pub fn release() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/release.schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let root = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        Schema::new(root).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// Panics, naming every violation, when a line of a tool's stdout is a release record (an
/// object with a `schema` field) that does not follow the schema. After exit 2 (bad input) a
/// record is the input as it came, with `error` and `steps` added: only those two are the
/// tool's, and only they are checked.
pub fn check_output(stdout: &str, exit_code: i32) {
    check(stdout, "a tool wrote", exit_code == 2);
}

/// Every release record in `text` (one per line), checked; `whence` says where they came from.
fn check(text: &str, whence: &str, only_added: bool) {
    for line in text.lines() {
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !record.contains_key("schema") {
            continue;
        }
        let record = Value::Object(record);
        let errors = if only_added {
            let schema = release();
            let mut errors = schema.validate_def("error", &record["error"], "/error");
            for (i, step) in record["steps"].as_array().into_iter().flatten().enumerate() {
                errors.extend(schema.validate_def("step", step, &format!("/steps/{i}")));
            }
            errors
        } else {
            release().validate(&record)
        };
        assert!(
            errors.is_empty(),
            "{whence} a record that docs/release.schema.json refuses (document a new field \
             there and in docs/DESIGN.md §1):\n  {}\nrecord: {record}",
            errors.join("\n  ")
        );
    }
}

/// The records in every `*.json` file below `dir` (none when it does not exist), checked.
pub fn check_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            check_files(&path);
        } else if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            check(&text, &format!("{} holds", path.display()), false);
        }
    }
}

impl Schema {
    /// A schema, refused when it uses a keyword this validator does not implement or a `$ref`
    /// or `pattern` it cannot follow.
    pub fn new(root: Value) -> Result<Schema, String> {
        let schema = Schema { root };
        schema.check(&schema.root, "#")?;
        Ok(schema)
    }

    /// Every way `instance` breaks the schema, each as `at <JSON pointer>: what`.
    pub fn validate(&self, instance: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.walk(&self.root, instance, "", &mut errors);
        errors
    }

    /// Every way `instance`, found at `at`, breaks the definition `$defs/<name>`.
    pub fn validate_def(&self, name: &str, instance: &Value, at: &str) -> Vec<String> {
        let mut errors = Vec::new();
        let schema = &self.root["$defs"][name];
        assert!(schema.is_object(), "the schema defines no `{name}`");
        self.walk(schema, instance, at, &mut errors);
        errors
    }

    fn check(&self, schema: &Value, at: &str) -> Result<(), String> {
        let Value::Object(s) = schema else {
            return match schema {
                Value::Bool(_) => Ok(()),
                _ => Err(format!("{at}: a schema is an object or a boolean")),
            };
        };
        for (key, value) in s {
            let here = format!("{at}/{key}");
            match key.as_str() {
                "properties" | "patternProperties" | "$defs" => {
                    for (name, sub) in value.as_object().ok_or(format!("{here}: not an object"))? {
                        if key == "patternProperties" {
                            Regex::new(name).map_err(|e| format!("{here}: {e}"))?;
                        }
                        self.check(sub, &format!("{here}/{name}"))?;
                    }
                }
                "additionalProperties" | "items" => self.check(value, &here)?,
                "anyOf" => {
                    for (i, sub) in value
                        .as_array()
                        .ok_or(format!("{here}: not an array"))?
                        .iter()
                        .enumerate()
                    {
                        self.check(sub, &format!("{here}/{i}"))?;
                    }
                }
                "$ref" => {
                    self.resolve(value)?;
                }
                "pattern" => {
                    Regex::new(value.as_str().unwrap_or_default())
                        .map_err(|e| format!("{here}: {e}"))?;
                }
                k if KEYWORDS.contains(&k) => {}
                k => {
                    return Err(format!(
                        "{here}: keyword `{k}` is not one this validator knows"
                    ))
                }
            }
        }
        Ok(())
    }

    fn resolve(&self, reference: &Value) -> Result<&Value, String> {
        let name = reference
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .ok_or(format!("$ref {reference}: only #/$defs/<name> is followed"))?;
        self.root["$defs"]
            .get(name)
            .ok_or(format!("$ref {reference}: no such definition"))
    }

    fn walk(&self, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let Value::Object(s) = schema else {
            if schema == &Value::Bool(false) {
                errors.push(format!("at {}: not allowed here", pointer(at)));
            }
            return;
        };
        let mut fail = |what: String| errors.push(format!("at {}: {what}", pointer(at)));
        if let Some(types) = s.get("type") {
            let types: Vec<&str> = match types {
                Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                one => one.as_str().into_iter().collect(),
            };
            if !types.iter().any(|t| is_type(v, t)) {
                fail(format!(
                    "{} is not of type {}",
                    short(v),
                    types.join(" or ")
                ));
            }
        }
        if let Some(Value::Array(options)) = s.get("enum") {
            if !options.contains(v) {
                fail(format!(
                    "{} is not one of {}",
                    short(v),
                    Value::Array(options.clone())
                ));
            }
        }
        if let Some(c) = s.get("const") {
            if c != v {
                fail(format!("{} is not {c}", short(v)));
            }
        }
        if let Some(n) = v.as_f64() {
            if s.get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n < m)
            {
                fail(format!("{n} is below the minimum {}", s["minimum"]));
            }
            if s.get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n > m)
            {
                fail(format!("{n} is above the maximum {}", s["maximum"]));
            }
        }
        if let Some(text) = v.as_str() {
            if s.get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| (text.chars().count() as u64) < m)
            {
                fail(format!("{} is shorter than {}", short(v), s["minLength"]));
            }
            if let Some(Value::String(p)) = s.get("pattern") {
                if !Regex::new(p).expect("checked in new").is_match(text) {
                    fail(format!("{} does not match {p}", short(v)));
                }
            }
        }
        if let Some(r) = s.get("$ref") {
            self.walk(self.resolve(r).expect("checked in new"), v, at, errors);
        }
        if let Some(Value::Array(options)) = s.get("anyOf") {
            let fits = options.iter().any(|o| {
                let mut e = Vec::new();
                self.walk(o, v, at, &mut e);
                e.is_empty()
            });
            if !fits {
                let mut why = Vec::new();
                for o in options {
                    self.walk(o, v, at, &mut why);
                }
                errors.push(format!(
                    "at {}: fits none of anyOf ({})",
                    pointer(at),
                    why.join("; ")
                ));
            }
        }
        match v {
            Value::Object(fields) => self.object(s, fields, at, errors),
            Value::Array(items) => {
                if let Some(item) = s.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        self.walk(item, x, &format!("{at}/{i}"), errors);
                    }
                }
            }
            _ => {}
        }
    }

    fn object(
        &self,
        s: &Map<String, Value>,
        fields: &Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        for name in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or_default();
            if !fields.contains_key(name) {
                errors.push(format!("at {}: field `{name}` is required", pointer(at)));
            }
        }
        let properties = s.get("properties").and_then(Value::as_object);
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        for (name, value) in fields {
            let here = format!("{at}/{name}");
            let mut known = false;
            if let Some(sub) = properties.and_then(|p| p.get(name)) {
                known = true;
                self.walk(sub, value, &here, errors);
            }
            for (pattern, sub) in patterns.into_iter().flatten() {
                if Regex::new(pattern).expect("checked in new").is_match(name) {
                    known = true;
                    self.walk(sub, value, &here, errors);
                }
            }
            if !known {
                match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!(
                        "at {}: field `{name}` is not in the schema",
                        pointer(at)
                    )),
                    Some(sub) => self.walk(sub, value, &here, errors),
                    None => {}
                }
            }
        }
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn pointer(at: &str) -> &str {
    if at.is_empty() {
        "the top"
    } else {
        at
    }
}

/// A value as shown in a message, cut short.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, v: Value) -> Vec<String> {
        Schema::new(schema).unwrap().validate(&v)
    }

    #[test]
    fn each_keyword_passes_and_fails() {
        let cases = [
            (json!({"type": "integer"}), json!(3), json!(3.5)),
            (json!({"type": ["string", "null"]}), json!(null), json!(1)),
            (
                json!({"enum": ["blue", "green"]}),
                json!("blue"),
                json!("red"),
            ),
            (
                json!({"const": "mvk.release/v1"}),
                json!("mvk.release/v1"),
                json!("v2"),
            ),
            (json!({"minimum": 1, "maximum": 9}), json!(9), json!(0)),
            (json!({"minimum": 1, "maximum": 9}), json!(1), json!(10)),
            (json!({"minLength": 2}), json!("ab"), json!("a")),
            (
                json!({"pattern": "^sha256:"}),
                json!("sha256:ab"),
                json!("md5:ab"),
            ),
            (json!({"required": ["a"]}), json!({"a": 1}), json!({"b": 1})),
            (
                json!({"properties": {"a": {"type": "string"}}}),
                json!({"a": "x"}),
                json!({"a": 1}),
            ),
            (
                json!({"properties": {"a": {}}, "additionalProperties": false}),
                json!({"a": 1}),
                json!({"a": 1, "b": 2}),
            ),
            (
                json!({"patternProperties": {"^x_": {}}, "additionalProperties": false}),
                json!({"x_mine": [1]}),
                json!({"mine": 1}),
            ),
            (
                json!({"additionalProperties": {"type": "string"}}),
                json!({"k": "v"}),
                json!({"k": 1}),
            ),
            (
                json!({"items": {"type": "boolean"}}),
                json!([true, false]),
                json!([true, 1]),
            ),
            (
                json!({"anyOf": [{"type": "null"}, {"type": "object", "required": ["a"]}]}),
                json!({"a": 1}),
                json!({}),
            ),
            (
                json!({"$defs": {"p": {"minimum": 1}}, "$ref": "#/$defs/p"}),
                json!(1),
                json!(0),
            ),
        ];
        for (schema, good, bad) in cases {
            assert_eq!(
                errors(schema.clone(), good.clone()),
                Vec::<String>::new(),
                "{schema} {good}"
            );
            assert_eq!(
                errors(schema.clone(), bad.clone()).len(),
                1,
                "{schema} {bad}"
            );
        }
    }

    #[test]
    fn keywords_apply_only_to_their_kind_of_value() {
        // As in JSON Schema: `required` says nothing about a non-object, `minimum` nothing
        // about a string.
        let schema = json!({"type": ["object", "null", "string"], "required": ["a"], "minimum": 5});
        assert!(errors(schema, json!(null)).is_empty());
        assert!(errors(json!({"minimum": 5}), json!("1")).is_empty());
    }

    #[test]
    fn errors_say_where() {
        let schema = json!({"properties": {"swap": {"properties": {"live": {"additionalProperties": false}}}}});
        assert_eq!(
            errors(schema, json!({"swap": {"live": {"extra": 1}}})),
            ["at /swap/live: field `extra` is not in the schema"]
        );
    }

    #[test]
    fn unknown_keywords_and_refs_are_refused() {
        for bad in [
            json!({"oneOf": []}),
            json!({"properties": {"a": {"format": "date-time"}}}),
            json!({"$ref": "#/$defs/missing"}),
            json!({"$ref": "other.json#/x"}),
            json!({"pattern": "("}),
        ] {
            assert!(Schema::new(bad.clone()).is_err(), "{bad}");
        }
    }

    /// After bad input the record is the input as it came: only `error` and `steps` are the
    /// tool's.
    #[test]
    fn a_bad_input_record_is_checked_for_what_the_tool_added() {
        let step = json!({"tool": "mvk-swap", "ok": false, "started_at": "2026-11-26T14:00:00Z", "seconds": 0});
        let mut record = json!({"schema": "mvk.release/v1", "app": "Not An App", "candidate": {"slot": "red"},
            "steps": [step], "error": {"tool": "mvk-swap", "kind": "bad-input", "message": "not a slot"}});
        check(&record.to_string(), "t", true);
        let whole = std::panic::catch_unwind(|| check(&record.to_string(), "t", false));
        assert!(
            whole.is_err(),
            "the input's own fields count without exit 2"
        );
        record["error"]["extra"] = json!(1);
        let added = std::panic::catch_unwind(|| check(&record.to_string(), "t", true));
        assert!(
            added.is_err(),
            "an undocumented field in `error` counts even after exit 2"
        );
    }

    /// The full record of DESIGN.md §1 follows the schema, and the schema is strict where it
    /// promises to be.
    #[test]
    fn the_design_example_follows_the_schema() {
        let design = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/DESIGN.md");
        let text = std::fs::read_to_string(design).unwrap();
        let start = text.find("```json\n").unwrap() + 8;
        let end = start + text[start..].find("```").unwrap();
        let example = text[start..end].replace("sha256:…", &format!("sha256:{}", "ab".repeat(32)));
        let mut record: Value = serde_json::from_str(&example).unwrap();
        assert_eq!(release().validate(&record), Vec::<String>::new());

        record["x_ticket"] = json!({"id": "OPS-12"});
        record["x-team"] = json!("ops");
        assert_eq!(release().validate(&record), Vec::<String>::new());
        for (at, field) in [
            ("", "ticket"),
            ("/swap", "canary"),
            ("/swap/live", "weight"),
            ("/error", "hint"),
        ] {
            let mut r = record.clone();
            if at == "/error" {
                r["error"] = json!({"tool": "mvk-swap", "kind": "nginx", "message": "m"});
            }
            let target = if at.is_empty() {
                &mut r
            } else {
                r.pointer_mut(at).unwrap()
            };
            target[field] = json!(1);
            assert_eq!(release().validate(&r).len(), 1, "{at}/{field} was accepted");
        }
    }
}
