//! What to check: `--check PATH[=STATUS][~REGEX]`, a `--checks` JSON file, or the defaults.

use mvk_core::Fail;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

/// The checks run when none are given.
pub const DEFAULT_PATHS: [&str; 3] = ["/health", "/api/v1/status", "/metrics"];

#[derive(Debug, Clone)]
pub struct Check {
    pub method: String,
    /// Starts with `/`; appended to the target's base URL.
    pub path: String,
    pub status: u16,
    pub body: Option<Regex>,
    /// The slowest answer that still passes; `None` takes `--max-latency`, if any.
    pub max: Option<Duration>,
    /// Sent with this check only, on top of (and overriding) `--header`.
    pub headers: Vec<(String, String)>,
}

impl Check {
    /// `GET path`, expecting 200 and nothing more.
    pub fn get(path: &str) -> Check {
        Check {
            method: "GET".into(),
            path: path.into(),
            status: 200,
            body: None,
            max: None,
            headers: Vec::new(),
        }
    }
}

pub fn defaults() -> Vec<Check> {
    DEFAULT_PATHS.iter().map(|p| Check::get(p)).collect()
}

/// Parses `--check PATH[=STATUS][~REGEX]` (clap value parser).
///
/// The regex is everything after the first `~`. Before it, a `=` starts the status, except
/// the one `=` of each `key=value` in a query: `/sleep?ms=300` is that path expecting 200,
/// `/sleep?ms=300=503` expects 503.
pub fn parse_spec(spec: &str) -> Result<Check, String> {
    let (head, regex) = match spec.split_once('~') {
        Some((head, regex)) => (head, Some(regex)),
        None => (spec, None),
    };
    let (path, status) = match head.rsplit_once('=') {
        Some((path, status)) if !is_query_value(path) => {
            let status = status
                .parse()
                .ok()
                .filter(|s| is_status(*s))
                .ok_or_else(|| {
                    format!(
                        "`{status}` after `=` is not an HTTP status (100 to 599) \
                         (a `=` in a path is written %3D)"
                    )
                })?;
            (path, status)
        }
        _ => (head, 200),
    };
    let mut check = Check::get(path);
    check.path = valid_path(path)?;
    check.status = status;
    if let Some(regex) = regex {
        check.body = Some(body_regex(regex)?);
    }
    Ok(check)
}

/// Whether a `=` right after `before` is a query's `key=value` sign: it is when the query's
/// last parameter has none yet.
fn is_query_value(before: &str) -> bool {
    match before.split_once('?') {
        Some((_, query)) => !query.rsplit('&').next().unwrap_or("").contains('='),
        None => false,
    }
}

/// One entry of a `--checks` file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    path: String,
    status: Option<u16>,
    body_regex: Option<String>,
    max_ms: Option<f64>,
    method: Option<String>,
    headers: Option<Map<String, Value>>,
}

/// Reads a `--checks` file: a JSON list of `{path, status, body_regex, max_ms, method, headers}`.
/// Every problem is exit 2, naming the file and the entry (or line and column).
pub fn load_file(file: &Path) -> Result<Vec<Check>, Fail> {
    let at = file.display();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Fail::usage(format!("cannot read the --checks file {at}: {e}")))?;
    parse_list(&text).map_err(|e| Fail::usage(format!("--checks {at}: {e}")))
}

/// The checks a `--checks` file's text holds; an error names the entry (or line and column).
pub fn parse_list(text: &str) -> Result<Vec<Check>, String> {
    let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if entries.is_empty() {
        return Err("the list holds no checks".into());
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let path = entry.path.clone();
            from_entry(entry).map_err(|e| format!("check {} (`{path}`): {e}", i + 1))
        })
        .collect()
}

fn from_entry(entry: Entry) -> Result<Check, String> {
    let mut check = Check::get(&valid_path(&entry.path)?);
    if let Some(status) = entry.status {
        if !is_status(status) {
            return Err(format!(
                "status {status} is not an HTTP status (100 to 599)"
            ));
        }
        check.status = status;
    }
    if let Some(regex) = &entry.body_regex {
        check.body = Some(body_regex(regex)?);
    }
    if let Some(ms) = entry.max_ms {
        if !(ms.is_finite() && ms > 0.0) {
            return Err(format!(
                "max_ms {ms} must be a positive number of milliseconds"
            ));
        }
        // `try_`: `from_secs_f64` panics past u64 seconds; under a nanosecond is no bound.
        let max = Duration::try_from_secs_f64(ms / 1000.0)
            .map_err(|_| format!("max_ms {ms:e} is too large"))?;
        if max.is_zero() {
            return Err(format!("max_ms {ms:e} is below a nanosecond"));
        }
        check.max = Some(max);
    }
    if let Some(method) = entry.method {
        ureq::http::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("`{method}` is not an HTTP method"))?;
        check.method = method;
    }
    for (name, value) in entry.headers.unwrap_or_default() {
        let Value::String(value) = value else {
            return Err(format!("header `{name}` must be a string, found {value}"));
        };
        check
            .headers
            .push(mvk_core::validate::header(&format!("{name}: {value}"))?);
    }
    Ok(check)
}

fn is_status(s: u16) -> bool {
    (100..=599).contains(&s)
}

fn valid_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("the path `{path}` must start with `/`"));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the path `{path}` holds white space; percent-encode it"
        ));
    }
    Ok(path.to_string())
}

fn body_regex(text: &str) -> Result<Regex, String> {
    if text.is_empty() {
        return Err("the body regex is empty".into());
    }
    Regex::new(text).map_err(|e| format!("the body regex `{text}` is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvk_core::Exit;

    #[test]
    fn parses_check_specs() {
        let c = parse_spec("/health").unwrap();
        assert_eq!(
            (c.method.as_str(), c.path.as_str(), c.status),
            ("GET", "/health", 200)
        );
        assert!(c.body.is_none() && c.max.is_none());
        let c = parse_spec("/login=302").unwrap();
        assert_eq!((c.path.as_str(), c.status), ("/login", 302));
        let c = parse_spec("/api/v1/status~\"version\":\\s*\"v\\d+\"").unwrap();
        assert_eq!(c.status, 200);
        assert!(c.body.unwrap().is_match(r#"{"version": "v7"}"#));
        let c = parse_spec("/x=404~not (here|there)").unwrap();
        assert_eq!((c.path.as_str(), c.status), ("/x", 404));
        assert_eq!(c.body.unwrap().as_str(), "not (here|there)");
        // A `=` in the regex or a query's `key=value` is not a status.
        let c = parse_spec("/q?a=b~x=1").unwrap();
        assert_eq!((c.path.as_str(), c.status), ("/q?a=b", 200));
        let c = parse_spec("/sleep?ms=300").unwrap();
        assert_eq!((c.path.as_str(), c.status), ("/sleep?ms=300", 200));
        let c = parse_spec("/sleep?x=1&ms=300=503").unwrap();
        assert_eq!((c.path.as_str(), c.status), ("/sleep?x=1&ms=300", 503));
        let c = parse_spec("/q?flag=404").unwrap();
        assert_eq!((c.path.as_str(), c.status), ("/q?flag=404", 200));
    }

    #[test]
    fn rejects_bad_check_specs_saying_what() {
        let err = |s: &str| parse_spec(s).unwrap_err();
        assert!(err("health").contains("must start with `/`"));
        assert!(err("").contains("must start with `/`"));
        assert!(err("/x=99").contains("`99` after `=` is not an HTTP status"));
        assert!(err("/x=2000").contains("not an HTTP status"));
        assert!(err("/a=b").contains("a `=` in a path is written %3D"));
        assert!(err("/q?a=1=ok").contains("`ok` after `=` is not an HTTP status"));
        assert!(err("/x~(").contains("the body regex `(` is invalid"));
        assert!(err("/x~").contains("the body regex is empty"));
        assert!(err("/a b").contains("white space"));
    }

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mvk-verify-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn loads_a_checks_file() {
        let path = write(
            "good.json",
            r#"[
              {"path": "/health"},
              {"path": "/login", "status": 302, "method": "HEAD", "max_ms": 250,
               "headers": {"Host": "shop.example", "X-Probe": "1"}},
              {"path": "/api/v1/status", "body_regex": "\"version\""}
            ]"#,
        );
        let checks = load_file(&path).unwrap();
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[1].method, "HEAD");
        assert_eq!(checks[1].status, 302);
        assert_eq!(checks[1].max, Some(Duration::from_millis(250)));
        assert_eq!(
            checks[1].headers,
            vec![
                ("Host".into(), "shop.example".into()),
                ("X-Probe".into(), "1".into())
            ]
        );
        assert!(checks[2]
            .body
            .as_ref()
            .unwrap()
            .is_match(r#"{"version":"v1"}"#));
    }

    #[test]
    fn bad_checks_files_are_exit_2_naming_file_and_place() {
        let cases = [
            ("syntax.json", "[{\"path\": \"/a\",}]", "line 1 column"),
            ("object.json", "{\"path\": \"/a\"}", "expected a sequence"),
            ("empty.json", "[]", "holds no checks"),
            (
                "typo.json",
                "[{\"path\": \"/a\"},\n {\"path\": \"/b\", \"stauts\": 200}]",
                "unknown field `stauts`",
            ),
            (
                "status.json",
                "[{\"path\": \"/a\"}, {\"path\": \"/b\", \"status\": 700}]",
                "check 2 (`/b`): status 700",
            ),
            (
                "type.json",
                "[{\"path\": \"/a\", \"status\": \"200\"}]",
                "invalid type: string",
            ),
            (
                "regex.json",
                "[{\"path\": \"/a\", \"body_regex\": \"[\"}]",
                "check 1 (`/a`): the body regex `[` is invalid",
            ),
            (
                "path.json",
                "[{\"path\": \"a\"}]",
                "check 1 (`a`): the path `a` must start with `/`",
            ),
            (
                "ms.json",
                "[{\"path\": \"/a\", \"max_ms\": -5}]",
                "max_ms -5",
            ),
            // Found by fuzzing (fuzz/fuzz_targets/checks_file.rs): 1e300 panicked, 1e-7 gave
            // a bound of zero that no answer meets.
            (
                "huge.json",
                "[{\"path\": \"/a\", \"max_ms\": 1e300}]",
                "max_ms 1e300 is too large",
            ),
            (
                "tiny.json",
                "[{\"path\": \"/a\", \"max_ms\": 1e-7}]",
                "max_ms 1e-7 is below a nanosecond",
            ),
            (
                "method.json",
                "[{\"path\": \"/a\", \"method\": \"GE T\"}]",
                "`GE T` is not an HTTP method",
            ),
            (
                "header.json",
                "[{\"path\": \"/a\", \"headers\": {\"X\": 1}}]",
                "header `X` must be a string",
            ),
            (
                "hname.json",
                "[{\"path\": \"/a\", \"headers\": {\"X Y\": \"1\"}}]",
                "`X Y` is not a valid header name",
            ),
        ];
        for (name, text, want) in cases {
            let path = write(name, text);
            let fail = load_file(&path).unwrap_err();
            assert_eq!(fail.exit, Exit::Usage, "{name}");
            assert!(fail.message.contains(want), "{name}: {}", fail.message);
            assert!(
                fail.message.contains(&path.display().to_string()),
                "{name}: {}",
                fail.message
            );
        }
        let fail = load_file(Path::new("/nonexistent/checks.json")).unwrap_err();
        assert_eq!(fail.exit, Exit::Usage);
        assert!(fail
            .message
            .contains("cannot read the --checks file /nonexistent/checks.json"));
    }

    #[test]
    fn defaults_are_the_three_endpoints_expecting_200() {
        let d = defaults();
        assert_eq!(
            d.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            DEFAULT_PATHS
        );
        assert!(d.iter().all(|c| c.status == 200 && c.method == "GET"));
    }
}
