//! The release record (`mvk.release/v1`, DESIGN.md §1): one JSON object on one line.
//!
//! A tool reads it, adds its own section, appends to `steps`, and writes it on. Every field
//! the tool does not know is kept as it was, so users can carry their own with jq.

use crate::section::{self, Section};
use crate::{time, Fail};
use serde_json::{Map, Value};
use std::time::SystemTime;

pub const SCHEMA: &str = "mvk.release/v1";

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    fields: Map<String, Value>,
    /// Written by a tool run without a record (`mvk-verify --url`): no schema, no steps.
    standalone: bool,
}

impl Record {
    /// A fresh record for `app`, as the first step of a pipeline writes it.
    pub fn new(app: &str) -> Record {
        let mut fields = Map::new();
        fields.insert("schema".into(), SCHEMA.into());
        fields.insert("app".into(), app.into());
        fields.insert("steps".into(), Value::Array(vec![]));
        fields.insert("error".into(), Value::Null);
        Record {
            fields,
            standalone: false,
        }
    }

    /// The object a tool writes when it runs on its own, without a record.
    pub fn standalone() -> Record {
        Record {
            fields: Map::new(),
            standalone: true,
        }
    }

    pub fn is_standalone(&self) -> bool {
        self.standalone
    }

    /// Parses what came on stdin: `Ok(None)` for nothing but white space.
    pub fn parse_input(text: &str) -> Result<Option<Record>, Fail> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        Record::parse(text).map(Some)
    }

    /// Parses exactly one JSON object holding a `mvk.release/v1` record.
    pub fn parse(text: &str) -> Result<Record, Fail> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let first = match values.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(Fail::usage(format!(
                    "invalid JSON in the release record: {e}"
                )))
            }
            None => return Err(Fail::usage(NO_RECORD)),
        };
        if let Some(next) = values.next() {
            let at = match next {
                Ok(_) => "a second JSON value follows the record".to_string(),
                Err(e) => format!("trailing garbage after the record: {e}"),
            };
            return Err(Fail::usage(format!(
                "expected one release record on stdin, {at}"
            )));
        }
        let Value::Object(fields) = first else {
            return Err(Fail::usage(format!(
                "the release record must be a JSON object, found {}",
                type_name(&first)
            )));
        };
        let record = Record {
            fields,
            standalone: false,
        };
        match record.fields.get("schema") {
            Some(Value::String(s)) if s == SCHEMA => {}
            Some(other) => {
                return Err(Fail::usage(format!(
                    "field `schema` is {other}, expected \"{SCHEMA}\""
                )))
            }
            None => {
                return Err(Fail::usage(format!(
                    "field `schema` is missing (expected \"{SCHEMA}\")"
                )))
            }
        }
        record.check_fields()?;
        if let Some(steps) = record.fields.get("steps") {
            if !steps.is_array() {
                return Err(Fail::usage(format!(
                    "field `steps` must be an array, found {}",
                    type_name(steps)
                )));
            }
        }
        Ok(record)
    }

    /// Checks the fields that reach Docker, nginx, paths and logs with the validators of the
    /// options they come from: exit 2 naming the first field that is wrong.
    fn check_fields(&self) -> Result<(), Fail> {
        use crate::validate;
        type Check = fn(&str) -> Result<String, String>;
        let text: [(&str, Check); 8] = [
            ("app", validate::app),
            ("release", validate::release),
            ("image", validate::image),
            ("image_id", validate::image_id),
            ("candidate.slot", |s| {
                s.parse::<crate::Slot>().map(|_| s.to_string())
            }),
            ("candidate.container", validate::container),
            ("candidate.container_id", validate::container),
            ("swarm.service", validate::service),
        ];
        self.str("app")?;
        // Only an object is an earlier step's failure (`"error": false` is not).
        if let Some(error) = self.get("error").filter(|e| !e.is_object()) {
            return Err(wrong_type("error", "null or an object", error));
        }
        for (path, check) in text {
            if self.get(path).is_some() {
                check(self.str(path)?).map_err(|e| Fail::usage(format!("field `{path}`: {e}")))?;
            }
        }
        for path in ["candidate.port", "swap.live.port"] {
            if self.get(path).is_some() {
                self.port(path)?;
            }
        }
        Ok(())
    }

    pub fn app(&self) -> &str {
        self.fields.get("app").and_then(Value::as_str).unwrap_or("")
    }

    /// The value at a dotted path (`candidate.port`), if present and not null.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut value = self.fields.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        (!value.is_null()).then_some(value)
    }

    /// The value at `path`, or exit 2 naming the missing field.
    pub fn require(&self, path: &str) -> Result<&Value, Fail> {
        self.get(path).ok_or_else(|| {
            Fail::usage(format!("field `{path}` is missing from the release record"))
        })
    }

    pub fn str(&self, path: &str) -> Result<&str, Fail> {
        let v = self.require(path)?;
        v.as_str().ok_or_else(|| wrong_type(path, "a string", v))
    }

    pub fn u64(&self, path: &str) -> Result<u64, Fail> {
        let v = self.require(path)?;
        v.as_u64()
            .ok_or_else(|| wrong_type(path, "a whole number", v))
    }

    pub fn bool(&self, path: &str) -> Result<bool, Fail> {
        let v = self.require(path)?;
        v.as_bool()
            .ok_or_else(|| wrong_type(path, "true or false", v))
    }

    /// A port number at `path`.
    pub fn port(&self, path: &str) -> Result<u16, Fail> {
        let n = self.u64(path)?;
        u16::try_from(n)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Fail::usage(format!("field `{path}` is {n}, not a port number")))
    }

    /// Sets a top-level field (a tool's section, `release`, `image`, …).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_string(), value.into());
    }

    /// The section `S`, if the record has one (and it is not null); exit 2 naming the section
    /// when it does not have the shape `S` needs.
    pub fn section<S: Section>(&self) -> Result<Option<S>, Fail> {
        let Some(value) = self.get(S::KEY) else {
            return Ok(None);
        };
        S::deserialize(value)
            .map(Some)
            .map_err(|e| Fail::usage(format!("field `{}`: {e}", S::KEY)))
    }

    /// Writes the section `S`. Over a section already there, the fields `S` writes are
    /// replaced where they stand and every other field stays as it was, in its place.
    pub fn put<S: Section>(&mut self, section: &S) {
        let Value::Object(new) =
            serde_json::to_value(section).expect("a section always serializes to an object")
        else {
            unreachable!("a section is a struct")
        };
        match self.fields.get_mut(S::KEY) {
            Some(Value::Object(old)) => old.extend(new),
            _ => {
                self.fields.insert(S::KEY.to_string(), Value::Object(new));
            }
        }
    }

    /// The `error` object an earlier step left, if any.
    pub fn error(&self) -> Option<&Value> {
        self.get("error")
    }

    pub fn set_error(&mut self, tool: &str, fail: &Fail) {
        let error = section::Error {
            tool: tool.to_string(),
            kind: fail.kind.clone(),
            message: fail.message.clone(),
            details: (fail.details.iter())
                .filter(|(k, _)| !matches!(k.as_str(), "tool" | "kind" | "message"))
                .cloned()
                .collect(),
        };
        // A new error replaces the old one whole (its details are not the old one's), in place.
        self.fields.insert(section::Error::KEY.into(), Value::Null);
        self.put(&error);
    }

    /// Appends this tool's entry to `steps`.
    pub fn push_step(&mut self, tool: &str, ok: bool, started: SystemTime) {
        if self.standalone {
            return;
        }
        let seconds = started.elapsed().map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let entry = section::Step {
            tool: tool.to_string(),
            ok,
            started_at: time::rfc3339(started),
            seconds: time::round_ms(seconds),
            extra: Map::new(),
        };
        let entry = serde_json::to_value(entry).expect("a step always serializes");
        match self.fields.get_mut("steps") {
            Some(Value::Array(steps)) => steps.push(entry),
            _ => {
                self.fields
                    .insert("steps".into(), Value::Array(vec![entry]));
            }
        }
    }

    /// The record as one line of JSON, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(&self.fields).expect("a JSON map always serializes")
    }

    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

pub const NO_RECORD: &str = "no release record on stdin (did the step before fail?)";

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: &str, found: &Value) -> Fail {
    Fail::usage(format!(
        "field `{path}` must be {expected}, found {} ({found})",
        type_name(found)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Exit;
    use serde_json::json;

    const GOOD: &str = r#"{"schema":"mvk.release/v1","app":"shop","release":"abc","image":"shop:abc","x-team":{"owner":"ops","tags":[1,2.5,"three",null,{"deep":true}]},"steps":[],"error":null}"#;

    #[test]
    fn round_trip_keeps_unknown_nested_fields() {
        let mut r = Record::parse(GOOD).unwrap();
        r.set("health", json!({"healthy": true}));
        r.push_step("mvk-healthwait", true, SystemTime::now());
        let out: Value = serde_json::from_str(&r.to_line()).unwrap();
        let orig: Value = serde_json::from_str(GOOD).unwrap();
        assert_eq!(out["x-team"], orig["x-team"]);
        assert_eq!(out["image"], orig["image"]);
        assert_eq!(out["health"]["healthy"], true);
        assert_eq!(out["steps"][0]["tool"], "mvk-healthwait");
        assert_eq!(out["steps"][0]["ok"], true);
        assert!(!r.to_line().contains('\n'));
    }

    #[test]
    fn round_trip_keeps_field_order_and_numbers() {
        let r = Record::parse(GOOD).unwrap();
        assert_eq!(r.to_line(), GOOD);
    }

    /// Found by fuzzing (fuzz/fuzz_targets/record.rs): without serde_json's exact float
    /// parsing a user's number drifted in its last digit at every tool of the pipeline.
    #[test]
    fn round_trip_keeps_floats_exactly() {
        let line = r#"{"schema":"mvk.release/v1","app":"shop","x":1844.6744073709554,"y":[0.1,2.2250738585072014e-308,1.7976931348623157e+308]}"#;
        let r = Record::parse(line).unwrap();
        assert_eq!(r.to_line(), line);
        assert_eq!(Record::parse(&r.to_line()).unwrap(), r);
    }

    #[test]
    fn empty_input_is_no_record() {
        assert!(Record::parse_input("").unwrap().is_none());
        assert!(Record::parse_input(" \n\t").unwrap().is_none());
    }

    fn usage_message(text: &str) -> String {
        let fail = Record::parse(text).unwrap_err();
        assert_eq!(fail.exit, Exit::Usage, "{text}");
        fail.message
    }

    #[test]
    fn bad_inputs_exit_2_saying_what_and_where() {
        assert!(usage_message("{\"schema\": ").contains("line 1 column"));
        assert!(usage_message("[1,2]").contains("must be a JSON object, found an array"));
        assert!(usage_message(r#"{"app":"shop"}"#).contains("`schema` is missing"));
        assert!(usage_message(r#"{"schema":"mvk.release/v0","app":"shop"}"#)
            .contains("expected \"mvk.release/v1\""));
        assert!(usage_message(r#"{"schema":"mvk.release/v1"}"#).contains("`app` is missing"));
        assert!(
            usage_message(r#"{"schema":"mvk.release/v1","app":"Bad Name"}"#)
                .contains("field `app`")
        );
        assert!(usage_message(&format!("{GOOD}\n{GOOD}")).contains("second JSON value"));
        assert!(usage_message(&format!("{GOOD} junk")).contains("trailing garbage"));
        assert!(
            usage_message(r#"{"schema":"mvk.release/v1","app":"shop","steps":{}}"#)
                .contains("`steps` must be an array")
        );
    }

    #[test]
    fn typed_getters_name_the_field() {
        let r = Record::parse(
            r#"{"schema":"mvk.release/v1","app":"shop","candidate":{"port":8001,"slot":"green"}}"#,
        )
        .unwrap();
        assert_eq!(r.str("candidate.slot").unwrap(), "green");
        assert_eq!(r.port("candidate.port").unwrap(), 8001);
        let e = r.str("candidate.container_id").unwrap_err();
        assert!(e.message.contains("`candidate.container_id` is missing"));
        assert_eq!(e.exit, Exit::Usage);
    }

    #[test]
    fn fields_are_validated_as_their_options_are() {
        let with = |field: &str| format!(r#"{{"schema":"mvk.release/v1","app":"shop",{field}}}"#);
        for (field, named) in [
            (r#""release":"a\"b""#, "`release`"),
            (r#""release":"v1\nmvk-swap: error: forged""#, "`release`"),
            (r#""image":"shop:1 --privileged""#, "`image`"),
            (r#""image_id":"../x""#, "`image_id`"),
            (r#""candidate":{"slot":"red"}"#, "`candidate.slot`"),
            (
                r#""candidate":{"port":"8001"}"#,
                "`candidate.port` must be a whole number",
            ),
            (r#""candidate":{"port":0}"#, "`candidate.port` is 0"),
            (
                r#""candidate":{"container":"a/../b"}"#,
                "`candidate.container`",
            ),
            (r#""swap":{"live":{"port":70000}}"#, "`swap.live.port`"),
            (r#""release":7"#, "`release` must be a string"),
            (r#""error":false"#, "`error` must be null or an object"),
            (r#""error":"boom""#, "`error` must be null or an object"),
        ] {
            let message = usage_message(&with(field));
            assert!(message.contains(named), "{field}: {message}");
            assert!(!message.contains('\n'), "{message}");
        }
        let good = with(
            r#""release":"v1.2-x","image":"127.0.0.1:5000/shop:v1.2-x","candidate":{"slot":"blue","port":8000,"container":"shop-blue"}"#,
        );
        assert!(Record::parse(&good).is_ok());
    }

    #[test]
    fn error_is_set_with_details() {
        let mut r = Record::new("shop");
        assert!(r.error().is_none());
        r.set_error(
            "mvk-healthwait",
            &Fail::failed("crashed", "exited with 3").with("logs", vec!["boom"]),
        );
        let e = r.error().unwrap();
        assert_eq!(e["tool"], "mvk-healthwait");
        assert_eq!(e["kind"], "crashed");
        assert_eq!(e["logs"][0], "boom");
    }

    #[test]
    fn standalone_has_no_schema_or_steps() {
        let mut r = Record::standalone();
        r.set("verify", json!({"ok": true}));
        r.push_step("mvk-verify", true, SystemTime::now());
        assert_eq!(r.to_line(), r#"{"verify":{"ok":true}}"#);
    }

    #[test]
    fn a_section_written_over_keeps_the_users_fields_in_place() {
        let text = r#"{"schema":"mvk.release/v1","app":"shop","candidate":{"x-ticket":"OPS-1","slot":"green","port":8001,"container":"shop-green","container_id":"abc","image":"shop:1","x-note":{"n":[1,2.5]}},"error":null}"#;
        let mut r = Record::parse(text).unwrap();
        let mut c: section::Candidate = r.section().unwrap().unwrap();
        assert!(!c.reused && !c.started, "absent means false");
        assert_eq!(c.extra.keys().collect::<Vec<_>>(), ["x-ticket", "x-note"]);
        c.reused = true;
        c.port = 8002;
        r.put(&c);
        // The known fields that were absent are written after the user's.
        assert_eq!(
            r.to_line(),
            text.replace(r#""port":8001"#, r#""port":8002"#)
                .replace(r#"2.5]}}"#, r#"2.5]},"reused":true,"started":false}"#)
        );
        // A fresh section (no extra fields) over it still keeps them.
        c.extra.clear();
        r.put(&c);
        assert!(r.to_line().contains(r#""x-ticket":"OPS-1""#));
        // The error goes where `error` stood.
        r.set_error(
            "mvk-swap",
            &Fail::failed("nginx", "down").with("logs", vec!["x"]),
        );
        assert!(r.to_line().ends_with(
            r#""error":{"tool":"mvk-swap","kind":"nginx","message":"down","logs":["x"]}}"#
        ));
    }

    #[test]
    fn a_section_of_the_wrong_shape_is_exit_2_naming_it() {
        let r =
            Record::parse(r#"{"schema":"mvk.release/v1","app":"shop","health":{"healthy":"yes"}}"#)
                .unwrap();
        let e = r.section::<section::Health>().unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.starts_with("field `health`: "), "{}", e.message);
        assert_eq!(r.section::<section::Swap>().unwrap(), None);
    }
}
