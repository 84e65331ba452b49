//! The Prometheus text format (0.0.4), read strictly, as Prometheus's scraper reads it: a
//! line it cannot parse fails the whole scrape, never just that line.
//!
//! Parsed here, to the format's grammar, because no crate reads it as Prometheus does: on the
//! 47 probe lines of the e2e test `exposition_vs_prometheus`, prometheus-parse 0.2.5 agrees
//! with Prometheus on 21, openmetrics-parser 0.5.1 on 28, prometheus-exposition-format-rs
//! 0.1.2 on 31, prom_text_format_parser 0.1.0 on 34 (this parser: 47), and each of them
//! drops, mangles or refuses valid real-world lines (README, "Dependencies").

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// As written, in order (empty values included; the scraper drops those).
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// An explicit timestamp in milliseconds, if the line has one.
    pub timestamp: Option<i64>,
}

/// A line Prometheus would refuse, with its 1-based number.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    pub line: usize,
    pub why: String,
    /// The sample line itself, quoted (shortened) after `why`.
    pub text: Option<String>,
}

impl Malformed {
    /// As shown, with `mask` hiding what must not show (the app's secrets) in the whole line
    /// before it is shortened, so that no part of a hidden value remains.
    pub fn show(&self, mask: impl Fn(&str) -> String) -> String {
        let mut shown = format!("line {}: {}", self.line, mask(&self.why));
        if let Some(text) = &self.text {
            shown.push_str(": ");
            shown.push_str(&shorten(&mask(text)));
        }
        shown
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.show(str::to_string))
    }
}

const TYPES: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];

/// Every sample in `text`, or the first line Prometheus would refuse.
pub fn parse(text: &str) -> Result<Vec<Sample>, Malformed> {
    let mut samples = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let fail = |why: String| Malformed {
            line: i + 1,
            why,
            text: None,
        };
        let quoting = |why: String| Malformed {
            line: i + 1,
            why,
            text: Some(line.to_string()),
        };
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            check_comment(comment).map_err(fail)?;
            continue;
        }
        if trimmed.len() != line.len() {
            // Prometheus reads the blanks as part of the name, and refuses it.
            return Err(quoting("blanks before the metric name".into()));
        }
        let sample = parse_sample(line).map_err(quoting)?;
        samples.push(sample);
    }
    Ok(samples)
}

/// `# HELP name …` and `# TYPE name type` must name a metric (and a known type); any other
/// comment is free text.
fn check_comment(comment: &str) -> Result<(), String> {
    let mut words = comment.split([' ', '\t']).filter(|w| !w.is_empty());
    let keyword = words.next();
    if !matches!(keyword, Some("HELP" | "TYPE")) {
        return Ok(());
    }
    let name = words.next().unwrap_or_default();
    if !is_metric_name(name) {
        return Err(format!(
            "`# {}` needs a metric name, found `{name}`",
            keyword.unwrap_or_default()
        ));
    }
    if keyword == Some("TYPE") {
        let kind = words.next().unwrap_or_default();
        if !TYPES.contains(&kind) {
            return Err(format!("invalid metric type `{kind}` for {name}"));
        }
    }
    Ok(())
}

/// `name[{label="value",…}] value [timestamp]`, to the text format's grammar.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let mut rest = line;
    let name = take_while(&mut rest, |c, i| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || i > 0 && c.is_ascii_digit()
    });
    if name.is_empty() {
        return Err("expected a metric name".into());
    }
    skip_blanks(&mut rest);
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            skip_blanks(&mut rest);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let label = take_while(&mut rest, |c, i| {
                c.is_ascii_alphabetic() || c == '_' || i > 0 && c.is_ascii_digit()
            });
            if label.is_empty() {
                return Err("expected a label name or `}`".into());
            }
            skip_blanks(&mut rest);
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| format!("expected `=` after label {label}"))?;
            skip_blanks(&mut rest);
            rest = rest
                .strip_prefix('"')
                .ok_or_else(|| format!("expected a quoted value for label {label}"))?;
            let value = take_label_value(&mut rest)
                .ok_or_else(|| format!("unterminated value of label {label}"))?;
            if labels.iter().any(|(l, _)| l == label) {
                return Err(format!("label {label} appears twice"));
            }
            labels.push((label.to_string(), value));
            skip_blanks(&mut rest);
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err(format!("expected `,` or `}}` after label {label}"));
            }
        }
    }
    let mut tokens = rest.split([' ', '\t']).filter(|t| !t.is_empty());
    let value = tokens.next().ok_or("expected a value")?;
    let value = parse_value(value)?;
    let timestamp = tokens.next().map(parse_timestamp).transpose()?;
    if let Some(extra) = tokens.next() {
        return Err(format!("unexpected `{extra}` after the timestamp"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp,
    })
}

/// Reads a label value up to its closing quote, resolving `\\`, `\"` and `\n` (any other
/// escape stays as written, as Prometheus keeps it).
fn take_label_value(rest: &mut &str) -> Option<String> {
    let mut value = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                *rest = &rest[i + 1..];
                return Some(value);
            }
            '\\' => match chars.next()?.1 {
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                'n' => value.push('\n'),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            c => value.push(c),
        }
    }
    None
}

fn take_while<'a>(rest: &mut &'a str, ok: impl Fn(char, usize) -> bool) -> &'a str {
    let end = rest
        .char_indices()
        .find(|(i, c)| !ok(*c, *i))
        .map_or(rest.len(), |(i, _)| i);
    let (taken, after) = rest.split_at(end);
    *rest = after;
    taken
}

fn skip_blanks(rest: &mut &str) {
    *rest = rest.trim_start_matches([' ', '\t']);
}

/// A value as Go's `strconv.ParseFloat` reads it (`NaN`, `+Inf`, `-Inf`, `1e3`, …): unlike
/// Rust's parser it takes no sign on NaN, and a literal beyond f64's range is an error.
pub fn parse_value(s: &str) -> Result<f64, String> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_nan() && unsigned.len() != s.len() {
        return Err(format!("`{s}` is not a number"));
    }
    if v.is_infinite() && !unsigned.to_ascii_lowercase().starts_with("inf") {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(v)
}

/// Milliseconds: digits only, no sign.
fn parse_timestamp(s: &str) -> Result<i64, String> {
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| s.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| format!("`{s}` is not a timestamp (milliseconds)"))
}

pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn shorten(line: &str) -> String {
    const MAX: usize = 120;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// A sample as a scrape yields it, for tests.
#[cfg(test)]
pub(crate) fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
        timestamp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Sample {
        let mut samples = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(samples.len(), 1, "{line}");
        samples.remove(0)
    }

    fn labels(s: &Sample) -> Vec<(&str, &str)> {
        s.labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// A line, and the name, labels and value it holds.
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        f64,
    );

    /// Real lines that regex line matchers (prometheus-parse 0.2.5) get wrong, and what each
    /// of them means.
    const TRICKY: &[Case] = &[
        // Route templates (Micrometer, Spring) hold braces: a regex matcher drops the line.
        (
            r#"http_server_requests_seconds_count{uri="/users/{id}",status="500"} 7"#,
            "http_server_requests_seconds_count",
            &[("uri", "/users/{id}"), ("status", "500")],
            7.0,
        ),
        // Official Prometheus builds: a regex matcher loses `tags`.
        (
            r#"prometheus_build_info{branch="HEAD",tags="netgo,builtinassets"} 1"#,
            "prometheus_build_info",
            &[("branch", "HEAD"), ("tags", "netgo,builtinassets")],
            1.0,
        ),
        // systemd unit names escape `-` as `\x2d`, written `\\x2d`: a regex matcher keeps `\\`.
        (
            r#"node_systemd_unit_state{name="dev-disk-by\\x2duuid.swap",state="active"} 1"#,
            "node_systemd_unit_state",
            &[("name", r"dev-disk-by\x2duuid.swap"), ("state", "active")],
            1.0,
        ),
        (
            r#"app_errors_total{msg="bad \"input\"\nat line 2"} 3"#,
            "app_errors_total",
            &[("msg", "bad \"input\"\nat line 2")],
            3.0,
        ),
        // Recording-rule style names and empty braces: a regex matcher drops the line.
        (
            "job:http_requests:rate5m{job=\"shop\"} 0.5",
            "job:http_requests:rate5m",
            &[("job", "shop")],
            0.5,
        ),
        ("up{} 1", "up", &[], 1.0),
        (
            "x { a = \"1\" , b=\"2\", } 4",
            "x",
            &[("a", "1"), ("b", "2")],
            4.0,
        ),
    ];

    #[test]
    fn reads_the_lines_regex_matchers_get_wrong() {
        for (line, name, want, value) in TRICKY {
            let s = one(line);
            assert_eq!(
                (s.name.as_str(), labels(&s), s.value),
                (*name, want.to_vec(), *value),
                "{line}"
            );
        }
    }

    #[test]
    fn reads_ordinary_exposition() {
        let text = "# HELP http_requests_total Requests answered, by status.\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{status=\"200\"} 17\n\
                    http_requests_total{status=\"500\",path=\"/a=b\"} 3 1700000000000\n\
                    \n\
                    # TYPE d histogram\n\
                    d_bucket{le=\"+Inf\"} 20\n\
                    d_sum 1.5e-3\n\
                    weird NaN\n\
                    neg -Inf\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(labels(&s[1]), [("status", "500"), ("path", "/a=b")]);
        assert_eq!(s[1].timestamp, Some(1_700_000_000_000));
        assert_eq!(s[2].value, 20.0);
        assert_eq!(s[3].value, 0.0015);
        assert!(s[4].value.is_nan());
        assert_eq!(s[5].value, f64::NEG_INFINITY);
    }

    #[test]
    fn a_malformed_line_is_reported_with_its_number() {
        let bad = [
            ("ok 1\nbroken{status=\"500\" 3\n", 2, "expected `,` or `}`"),
            ("x 1\ny\n", 2, "expected a value"),
            ("x one\n", 1, "`one` is not a number"),
            ("x 1 2 3\n", 1, "unexpected `3`"),
            ("x 1 soon\n", 1, "not a timestamp"),
            ("x{a=\"1} 2\n", 1, "unterminated value"),
            ("x{a=\"1\",a=\"2\"} 2\n", 1, "appears twice"),
            ("x{1a=\"1\"} 2\n", 1, "expected a label name"),
            ("9x 1\n", 1, "expected a metric name"),
            ("# TYPE x countr\n", 1, "invalid metric type"),
            ("# HELP 1x h\n", 1, "needs a metric name"),
            ("x 1\r\n", 1, "is not a number"),
            ("  x 1\n", 1, "blanks before the metric name"),
            ("x 1 -5\n", 1, "not a timestamp"),
            ("x +nan\n", 1, "not a number"),
            ("x 1e400\n", 1, "out of range"),
        ];
        for (text, line, why) in bad {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.why.contains(why), "{text:?}: {err}");
        }
        let long = format!("x{{a=\"{}\" 1\n", "s3cret".repeat(30));
        let err = parse(&long).unwrap_err();
        // Shortened, the line holds only a part of the value, which masking could not find.
        assert!(err.to_string().ends_with('…'), "{err}");
        let masked = err.show(|t| t.replace(&"s3cret".repeat(30), "***"));
        assert_eq!(
            masked,
            "line 1: expected `,` or `}` after label a: x{a=\"***\" 1"
        );
        // Comments other than HELP and TYPE are free text.
        assert!(parse("# anything at all {\n#\n").unwrap().is_empty());
    }
}
