//! The part of PromQL the rules use, as one expression tree that prints as the PromQL text
//! `mvk-alerts rules` writes (and `--prometheus` sends) and evaluates over [`Storage`] the
//! way Prometheus's engine does: selectors with anchored matchers and the 5 minute lookback,
//! `rate`/`increase` with extrapolation and counter resets, `sum by`, `histogram_quantile`,
//! one-to-one `/`, filtering comparisons (NaN never passes) and `and`.

use crate::tsdb::{Labels, Sample, Storage};
use regex::Regex;
use std::collections::HashMap;
use std::fmt;

/// Which Prometheus to copy where releases differ in evaluation (both checked against their
/// source; 2 also against `promtool test rules` 2.42).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Version {
    /// 2.x (2.42, as Debian 12 ships it): ranges and lookback closed on the left; `rate` caps
    /// the extrapolation at the counter's zero point before the half-interval rule; `.` in a
    /// regex does not match a newline.
    #[value(name = "2")]
    V2,
    /// 3.x: ranges open on the left; the zero-point cap after the half-interval rule
    /// (prometheus#13725); `.` matches any character; tiny bucket count noise ignored.
    #[value(name = "3")]
    V3,
}

/// How far back an instant selector looks for a sample (Prometheus's default lookback delta).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

#[derive(Clone)]
pub struct Matcher {
    name: String,
    value: String,
    /// The anchored pattern for `=~`; `None` for `=`.
    regex: Option<Regex>,
}

impl Matcher {
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.into(),
            value: value.into(),
            regex: None,
        }
    }

    /// `name=~"pattern"`: the pattern must match the whole value, as Prometheus anchors it.
    pub fn regex(name: &str, pattern: &str, version: Version) -> Result<Matcher, String> {
        let anchored = match version {
            Version::V2 => format!("^(?:{pattern})$"),
            Version::V3 => format!("^(?s:{pattern})$"),
        };
        let regex =
            Regex::new(&anchored).map_err(|e| format!("`{pattern}` is not a valid regex: {e}"))?;
        Ok(Matcher {
            name: name.into(),
            value: pattern.into(),
            regex: Some(regex),
        })
    }

    /// A missing label matches as the empty string, as in Prometheus.
    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.name).unwrap_or("");
        match &self.regex {
            Some(re) => re.is_match(value),
            None => value == self.value,
        }
    }
}

#[derive(Clone)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<Matcher>,
}

impl Selector {
    fn series<'a>(&self, db: &'a Storage) -> Vec<&'a crate::tsdb::Series> {
        let mut found = db.named(&self.metric);
        found.retain(|s| self.matchers.iter().all(|m| m.matches(&s.labels)));
        found
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeFn {
    Rate,
    Increase,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Div,
    Gt,
    Ge,
    Eq,
    And,
    Or,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Div => "/",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::And => "and",
            Op::Or => "or",
        }
    }

    /// PromQL's binding strength (higher binds tighter).
    fn precedence(self) -> u8 {
        match self {
            Op::Div => 4,
            Op::Gt | Op::Ge | Op::Eq => 2,
            Op::And => 1,
            Op::Or => 0,
        }
    }
}

#[derive(Clone)]
pub enum Expr {
    Number(f64),
    /// `vector(n)`: one sample without labels.
    Vector(f64),
    Select(Selector),
    Range {
        func: RangeFn,
        sel: Selector,
        range_ms: i64,
    },
    Sum {
        by: Option<Vec<String>>,
        arg: Box<Expr>,
    },
    Quantile {
        q: f64,
        arg: Box<Expr>,
    },
    Binary {
        op: Op,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

impl Expr {
    pub fn binary(self, op: Op, rhs: Expr) -> Expr {
        Expr::Binary {
            op,
            lhs: Box::new(self),
            rhs: Box::new(rhs),
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary { op, .. } => op.precedence(),
            _ => u8::MAX,
        }
    }
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

/// One evaluation: the samples, the evaluation time, and which Prometheus to copy.
pub struct Context<'a> {
    pub db: &'a Storage,
    pub t: i64,
    pub version: Version,
}

impl Context<'_> {
    fn closed(&self) -> bool {
        self.version == Version::V2
    }
}

impl Expr {
    pub fn eval(&self, cx: &Context) -> Result<Value, String> {
        Ok(match self {
            Expr::Number(n) => Value::Scalar(*n),
            Expr::Vector(n) => Value::Vector(vec![(Labels::default(), *n)]),
            Expr::Select(sel) => Value::Vector(
                sel.series(cx.db)
                    .into_iter()
                    .filter_map(|s| {
                        s.at(cx.t, LOOKBACK_MS, cx.closed())
                            .map(|v| (s.labels.clone(), v))
                    })
                    .collect(),
            ),
            Expr::Range {
                func,
                sel,
                range_ms,
            } => Value::Vector(
                sel.series(cx.db)
                    .into_iter()
                    .filter_map(|s| {
                        let samples = s.range(cx.t - range_ms, cx.t, cx.closed());
                        extrapolated_rate(
                            &samples,
                            cx.t,
                            *range_ms,
                            *func == RangeFn::Rate,
                            cx.version,
                        )
                        .map(|v| (s.labels.without_name(), v))
                    })
                    .collect(),
            ),
            Expr::Sum { by, arg } => {
                Value::Vector(sum(vector(arg.eval(cx)?)?, by.as_deref().unwrap_or(&[])))
            }
            Expr::Quantile { q, arg } => {
                Value::Vector(histogram_quantile(*q, vector(arg.eval(cx)?)?, cx.version))
            }
            Expr::Binary { op, lhs, rhs } => binary(*op, lhs.eval(cx)?, rhs.eval(cx)?)?,
        })
    }
}

fn vector(v: Value) -> Result<Vec<(Labels, f64)>, String> {
    match v {
        Value::Vector(v) => Ok(v),
        Value::Scalar(_) => Err("expected an instant vector, got a scalar".into()),
    }
}

/// Prometheus's `extrapolatedRate`: the increase over the samples in the range (a drop is a
/// counter reset, adding the value before it), extrapolated towards the range's ends.
fn extrapolated_rate(
    samples: &[Sample],
    t: i64,
    range_ms: i64,
    is_rate: bool,
    version: Version,
) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 {
        return None;
    }
    let mut result = last.v - first.v;
    for pair in samples.windows(2) {
        if pair[1].v < pair[0].v {
            result += pair[0].v;
        }
    }
    let mut to_start = (first.t - (t - range_ms)) as f64 / 1000.0;
    let mut to_end = (t - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let average = sampled / (samples.len() - 1) as f64;
    let threshold = average * 1.1;
    let range_secs = range_ms as f64 / 1000.0;
    let zero_cap = |to_start: f64| {
        // A counter is not extrapolated below zero.
        if result > 0.0 && first.v >= 0.0 {
            to_start.min_if_less(sampled * (first.v / result))
        } else {
            to_start
        }
    };
    match version {
        Version::V2 => {
            to_start = zero_cap(to_start);
            let mut interval = sampled;
            interval += if to_start < threshold {
                to_start
            } else {
                average / 2.0
            };
            interval += if to_end < threshold {
                to_end
            } else {
                average / 2.0
            };
            result *= interval / sampled;
            if is_rate {
                result /= range_secs;
            }
        }
        Version::V3 => {
            if to_start >= threshold {
                to_start = average / 2.0;
            }
            to_start = zero_cap(to_start);
            if to_end >= threshold {
                to_end = average / 2.0;
            }
            let mut factor = (sampled + to_start + to_end) / sampled;
            if is_rate {
                factor /= range_secs;
            }
            result *= factor;
        }
    }
    Some(result)
}

trait MinIfLess {
    fn min_if_less(self, other: f64) -> f64;
}

impl MinIfLess for f64 {
    /// `if other < self { other } else { self }`, as Go writes it (NaN never replaces).
    fn min_if_less(self, other: f64) -> f64 {
        if other < self {
            other
        } else {
            self
        }
    }
}

/// `sum by (labels)`: groups in order of first appearance, values added in input order.
fn sum(input: Vec<(Labels, f64)>, by: &[String]) -> Vec<(Labels, f64)> {
    let mut out: Vec<(Labels, f64)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (labels, v) in input {
        let key = labels.keep(by);
        match index.get(&key) {
            Some(i) => out[*i].1 += v,
            None => {
                index.insert(key.clone(), out.len());
                out.push((key, v));
            }
        }
    }
    out
}

/// `histogram_quantile(q, buckets)` over classic buckets: series grouped by their labels
/// without `le`; a group yields NaN when it cannot be answered.
pub(crate) fn histogram_quantile(
    q: f64,
    input: Vec<(Labels, f64)>,
    version: Version,
) -> Vec<(Labels, f64)> {
    let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (mut labels, count) in input {
        // A sample without a parseable `le` is skipped, as Prometheus does.
        let Some(upper) = labels
            .remove("le")
            .and_then(|le| crate::exposition::parse_value(&le).ok())
        else {
            continue;
        };
        let i = *index.entry(labels.clone()).or_insert_with(|| {
            groups.push((labels.without_name(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(Bucket { upper, count });
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| (labels, bucket_quantile(q, buckets, version)))
        .collect()
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Prometheus's `bucketQuantile`.
fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>, version: Version) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper.total_cmp(&b.upper));
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let mut buckets = coalesce(buckets);
    match version {
        Version::V2 => ensure_monotonic(&mut buckets),
        Version::V3 => ensure_monotonic_ignoring_noise(&mut buckets),
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1]
        .iter()
        .position(|b| b.count >= rank)
        .unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper;
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return buckets[0].upper;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].upper, buckets[b].count);
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

/// Buckets with the same upper bound become one.
fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(b),
        }
    }
    out
}

/// 2.x: a count lower than one before it is raised to it.
fn ensure_monotonic(buckets: &mut [Bucket]) {
    let mut max = f64::NEG_INFINITY;
    for b in buckets {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
}

/// 3.x: differences within floating-point noise (relative 1e-12) are flattened either way,
/// then any decrease is removed.
fn ensure_monotonic_ignoring_noise(buckets: &mut [Bucket]) {
    let mut prev = buckets[0].count;
    for b in &mut buckets[1..] {
        if b.count == prev {
            continue;
        }
        if almost_equal(prev, b.count, 1e-12) || b.count < prev {
            b.count = prev;
            continue;
        }
        prev = b.count;
    }
}

/// Prometheus's `almost.Equal`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

fn binary(op: Op, lhs: Value, rhs: Value) -> Result<Value, String> {
    match (op, lhs, rhs) {
        (Op::Gt | Op::Ge | Op::Eq, Value::Vector(lhs), Value::Scalar(n)) => Ok(Value::Vector(
            // A filter: the sample stays as it is (name included) when the comparison holds.
            lhs.into_iter()
                .filter(|(_, v)| match op {
                    Op::Gt => *v > n,
                    Op::Ge => *v >= n,
                    _ => *v == n,
                })
                .collect(),
        )),
        (Op::Div, Value::Vector(lhs), Value::Vector(rhs)) => divide(lhs, rhs),
        (Op::And, Value::Vector(lhs), Value::Vector(rhs)) => {
            let keys: Vec<Labels> = rhs.iter().map(|(l, _)| l.without_name()).collect();
            Ok(Value::Vector(
                lhs.into_iter()
                    .filter(|(l, _)| keys.contains(&l.without_name()))
                    .collect(),
            ))
        }
        (Op::Or, Value::Vector(mut lhs), Value::Vector(rhs)) => {
            // All of the left side, and what of the right side it has no match for.
            let keys: Vec<Labels> = lhs.iter().map(|(l, _)| l.without_name()).collect();
            lhs.extend(
                rhs.into_iter()
                    .filter(|(l, _)| !keys.contains(&l.without_name())),
            );
            Ok(Value::Vector(lhs))
        }
        (op, lhs, rhs) => Err(format!(
            "`{}` between {} and {} is not supported",
            op.symbol(),
            kind(&lhs),
            kind(&rhs)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Scalar(_) => "a scalar",
        Value::Vector(_) => "a vector",
    }
}

/// One-to-one vector division, matching on all labels but the metric name.
fn divide(lhs: Vec<(Labels, f64)>, rhs: Vec<(Labels, f64)>) -> Result<Value, String> {
    let mut right: HashMap<Labels, f64> = HashMap::new();
    for (labels, v) in rhs {
        let key = labels.without_name();
        if right.insert(key.clone(), v).is_some() {
            return Err(format!(
                "found duplicate series for the match group {key} on the right hand-side of the operation"
            ));
        }
    }
    let mut out: Vec<(Labels, f64)> = Vec::new();
    for (labels, v) in lhs {
        let key = labels.without_name();
        let Some(r) = right.get(&key) else { continue };
        if out.iter().any(|(l, _)| *l == key) {
            return Err(format!(
                "multiple matches for labels {key}: many-to-one matching must be explicit"
            ));
        }
        out.push((key, v / r));
    }
    Ok(Value::Vector(out))
}

/// A PromQL string literal.
fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A number as PromQL reads it back.
pub fn number(n: f64) -> String {
    format!("{n}")
}

/// A duration as Prometheus writes it: `5m`, `1m30s`, `500ms`, `0s`.
pub fn duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.regex.is_some() { "=~" } else { "=" };
        write!(f, "{}{op}{}", self.name, quote(&self.value))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if !self.matchers.is_empty() {
            let m: Vec<String> = self.matchers.iter().map(ToString::to_string).collect();
            write!(f, "{{{}}}", m.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => f.write_str(&number(*n)),
            Expr::Vector(n) => write!(f, "vector({})", number(*n)),
            Expr::Select(sel) => write!(f, "{sel}"),
            Expr::Range {
                func,
                sel,
                range_ms,
            } => {
                let name = match func {
                    RangeFn::Rate => "rate",
                    RangeFn::Increase => "increase",
                };
                write!(f, "{name}({sel}[{}])", duration(*range_ms))
            }
            Expr::Sum { by: None, arg } => write!(f, "sum({arg})"),
            Expr::Sum { by: Some(by), arg } => write!(f, "sum by ({}) ({arg})", by.join(", ")),
            Expr::Quantile { q, arg } => write!(f, "histogram_quantile({}, {arg})", number(*q)),
            Expr::Binary { op, lhs, rhs } => {
                // Left-associative: a right operand of the same strength needs parentheses.
                let lp = lhs.precedence() < op.precedence();
                let rp = rhs.precedence() <= op.precedence();
                let side = |e: &Expr, paren: bool| {
                    if paren {
                        format!("({e})")
                    } else {
                        e.to_string()
                    }
                };
                write!(f, "{} {} {}", side(lhs, lp), op.symbol(), side(rhs, rp))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{stale_marker, METRIC_NAME};

    fn sel(metric: &str, matchers: Vec<Matcher>) -> Selector {
        Selector {
            metric: metric.into(),
            matchers,
        }
    }

    type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

    fn db(series: &[SeriesSpec]) -> Storage {
        let mut db = Storage::default();
        for (labels, points) in series {
            let id = db.series_id(&Labels::new(labels.iter().copied()));
            for (t, v) in *points {
                db.append(id, *t, *v);
            }
        }
        db
    }

    fn eval(e: &Expr, db: &Storage, t: i64, version: Version) -> Vec<(Labels, f64)> {
        vector(e.eval(&Context { db, t, version }).unwrap()).unwrap()
    }

    fn rate(metric: &str, range_ms: i64) -> Expr {
        Expr::Range {
            func: RangeFn::Rate,
            sel: sel(metric, vec![]),
            range_ms,
        }
    }

    #[test]
    fn prints_promql() {
        let errors = Expr::Sum {
            by: None,
            arg: Box::new(Expr::Range {
                func: RangeFn::Rate,
                sel: sel(
                    "http_requests_total",
                    vec![
                        Matcher::equal("job", "shop"),
                        Matcher::regex("status", "5..", Version::V3).unwrap(),
                    ],
                ),
                range_ms: 300_000,
            }),
        };
        let all = Expr::Sum {
            by: None,
            arg: Box::new(rate("http_requests_total", 90_000)),
        };
        let e = errors
            .binary(Op::Div, all)
            .binary(Op::Gt, Expr::Number(0.05));
        assert_eq!(
            e.to_string(),
            r#"sum(rate(http_requests_total{job="shop",status=~"5.."}[5m])) / sum(rate(http_requests_total[1m30s])) > 0.05"#
        );
        let nested = Expr::Number(1.0).binary(
            Op::Div,
            Expr::Number(2.0).binary(Op::Div, Expr::Number(3.0)),
        );
        assert_eq!(nested.to_string(), "1 / (2 / 3)");
        let q = Expr::Quantile {
            q: 0.95,
            arg: Box::new(Expr::Sum {
                by: Some(vec!["le".into()]),
                arg: Box::new(rate("b", 60_000)),
            }),
        };
        assert_eq!(
            q.to_string(),
            "histogram_quantile(0.95, sum by (le) (rate(b[1m])))"
        );
        assert_eq!(duration(500), "500ms");
        assert_eq!(duration(3_723_004), "1h2m3s4ms");
    }

    #[test]
    fn rate_extrapolates_as_the_notes_say() {
        // Samples (0 s, 100) and (60 s, 160), 5m window, t = 60 s: 0.3/s, not 1/s.
        let d = db(&[(&[(METRIC_NAME, "c")], &[(0, 100.0), (60_000, 160.0)])]);
        for v in [Version::V2, Version::V3] {
            let out = eval(&rate("c", 300_000), &d, 60_000, v);
            assert_eq!(out, vec![(Labels::default(), 0.3)], "{v:?}");
        }
        // One sample in the range: no result.
        assert!(eval(&rate("c", 300_000), &d, 30_000, Version::V3).is_empty());
    }

    #[test]
    fn rate_counts_resets_and_versions_cap_the_zero_point_differently() {
        // A counter that starts within the range: 10, 20, 30 at 40 s, 50 s, 60 s; 1m window at
        // 65 s. 2.42 (promtool) says 0.5833…, 3.x says 0.5.
        let d = db(&[(
            &[(METRIC_NAME, "c")],
            &[(40_000, 10.0), (50_000, 20.0), (60_000, 30.0)],
        )]);
        let v2 = eval(&rate("c", 60_000), &d, 65_000, Version::V2)[0].1;
        let v3 = eval(&rate("c", 60_000), &d, 65_000, Version::V3)[0].1;
        assert_eq!(v2, 35.0 / 60.0);
        assert_eq!(v3, 0.5);
        // A reset (30 → 5) adds the value before the drop.
        let d = db(&[(
            &[(METRIC_NAME, "c")],
            &[(0, 10.0), (10_000, 30.0), (20_000, 5.0), (30_000, 15.0)],
        )]);
        let inc = Expr::Range {
            func: RangeFn::Increase,
            sel: sel("c", vec![]),
            range_ms: 31_000,
        };
        // increase = 15 - 10 + 30 = 35, extrapolated by (30 + 1 + 0) / 30 with the zero cap
        // (30 * 10 / 35 = 8.57 s) longer than the 1 s to the start.
        assert_eq!(
            eval(&inc, &d, 30_000, Version::V3)[0].1,
            35.0 * (31.0 / 30.0)
        );
    }

    #[test]
    fn stale_markers_are_not_samples() {
        let d = db(&[(
            &[(METRIC_NAME, "c")],
            &[(0, 1.0), (10_000, stale_marker()), (20_000, 3.0)],
        )]);
        let out = eval(&rate("c", 25_000), &d, 20_000, Version::V3);
        // Two samples, 20 s apart, both near the ends: 2 over 20 s, extrapolated to 25 s.
        assert_eq!(out[0].1, 2.0 * (25.0 / 20.0) / 25.0);
        let up = Expr::Select(sel("c", vec![]));
        assert!(eval(&up, &d, 15_000, Version::V3).is_empty());
    }

    #[test]
    fn matchers_are_anchored_and_absent_labels_are_empty() {
        let d = db(&[
            (&[(METRIC_NAME, "r"), ("status", "500")], &[(0, 1.0)]),
            (&[(METRIC_NAME, "r"), ("status", "5000")], &[(0, 1.0)]),
            (&[(METRIC_NAME, "r"), ("status", "1500")], &[(0, 1.0)]),
            (&[(METRIC_NAME, "r")], &[(0, 1.0)]),
        ]);
        let five = Expr::Select(sel(
            "r",
            vec![Matcher::regex("status", "5..", Version::V3).unwrap()],
        ));
        let got: Vec<String> = eval(&five, &d, 0, Version::V3)
            .iter()
            .map(|(l, _)| l.to_string())
            .collect();
        assert_eq!(got, [r#"{__name__="r", status="500"}"#]);
        let none = Expr::Select(sel("r", vec![Matcher::equal("status", "")]));
        assert_eq!(eval(&none, &d, 0, Version::V3).len(), 1);
        assert!(Matcher::regex("s", "(", Version::V3).is_err());
        // `.` and newlines: 3.x matches them, 2.x does not.
        let nl = Labels::new([("s", "a\nb")]);
        assert!(Matcher::regex("s", "a.b", Version::V3)
            .unwrap()
            .matches(&nl));
        assert!(!Matcher::regex("s", "a.b", Version::V2)
            .unwrap()
            .matches(&nl));
    }

    fn quantile(q: f64, buckets: &[(&str, f64)]) -> f64 {
        let input = buckets
            .iter()
            .map(|(le, c)| (Labels::new([("le", *le)]), *c))
            .collect();
        let out = histogram_quantile(q, input, Version::V3);
        assert_eq!(out.len(), 1);
        out[0].1
    }

    #[test]
    fn histogram_quantile_interpolates_and_handles_edges() {
        let b = [("0.1", 50.0), ("0.5", 90.0), ("1", 100.0), ("+Inf", 100.0)];
        // rank 95 lies in (0.5, 1]: 0.5 + 0.5 × (95 − 90) / (100 − 90).
        assert_eq!(quantile(0.95, &b), 0.75);
        // In the first bucket, from 0: 0.1 × 25 / 50.
        assert_eq!(quantile(0.25, &b), 0.05);
        // Rank in the +Inf bucket: the second-highest bound.
        assert_eq!(
            quantile(0.99, &[("0.5", 90.0), ("1", 95.0), ("+Inf", 100.0)]),
            1.0
        );
        assert!(
            quantile(0.5, &[("0.5", 0.0), ("+Inf", 0.0)]).is_nan(),
            "no observations"
        );
        assert!(
            quantile(0.5, &[("0.5", 1.0), ("1", 2.0)]).is_nan(),
            "no +Inf bucket"
        );
        assert!(quantile(0.5, &[("+Inf", 2.0)]).is_nan(), "a single bucket");
        assert_eq!(
            quantile(0.5, &[("-1", 5.0), ("+Inf", 10.0)]),
            -1.0,
            "first bound <= 0"
        );
        assert_eq!(quantile(2.0, &b), f64::INFINITY);
        assert_eq!(quantile(-1.0, &b), f64::NEG_INFINITY);
        // Non-monotonic counts are raised; equal bounds merged.
        assert_eq!(
            quantile(0.5, &[("1", 10.0), ("2", 4.0), ("2", 0.0), ("+Inf", 20.0)]),
            1.0
        );
        // Samples without a parseable `le` are skipped.
        let input = vec![(Labels::new([("x", "1")]), 5.0)];
        assert!(histogram_quantile(0.5, input, Version::V3).is_empty());
    }

    #[test]
    fn comparisons_filter_and_nan_never_passes() {
        let d = db(&[
            (&[(METRIC_NAME, "e")], &[(0, 0.0)]),
            (&[(METRIC_NAME, "a")], &[(0, 0.0)]),
        ]);
        let ratio = Expr::Sum {
            by: None,
            arg: Box::new(Expr::Select(sel("e", vec![]))),
        }
        .binary(
            Op::Div,
            Expr::Sum {
                by: None,
                arg: Box::new(Expr::Select(sel("a", vec![]))),
            },
        );
        let out = eval(&ratio, &d, 0, Version::V3);
        assert!(out[0].1.is_nan(), "0 / 0");
        let gt = ratio.binary(Op::Gt, Expr::Number(0.05));
        assert!(eval(&gt, &d, 0, Version::V3).is_empty());
        let up = Expr::Select(sel("e", vec![])).binary(Op::Eq, Expr::Number(0.0));
        assert_eq!(
            eval(&up, &d, 0, Version::V3)[0].0.get(METRIC_NAME),
            Some("e"),
            "a filter keeps the name"
        );
        // Summing nothing is nothing, so a share with no 5xx series is no result.
        let none = Expr::Sum {
            by: None,
            arg: Box::new(Expr::Select(sel("missing", vec![]))),
        };
        assert!(eval(&none, &d, 0, Version::V3).is_empty());
    }

    #[test]
    fn or_fills_in_what_the_left_side_lacks() {
        let d = db(&[(&[(METRIC_NAME, "x")], &[(0, 3.0)])]);
        let missing = Expr::Sum {
            by: None,
            arg: Box::new(Expr::Select(sel("missing", vec![]))),
        };
        let e = missing
            .binary(Op::Or, Expr::Vector(0.0))
            .binary(Op::Div, Expr::Number(1.0));
        assert_eq!(e.to_string(), "(sum(missing) or vector(0)) / 1");
        let x = Expr::Select(sel("x", vec![])).binary(Op::Or, Expr::Vector(0.0));
        assert_eq!(
            eval(&x, &d, 0, Version::V3),
            vec![(Labels::new([(METRIC_NAME, "x")]), 3.0)]
        );
    }

    #[test]
    fn and_keeps_the_left_side_where_the_right_has_a_match() {
        let d = db(&[
            (&[(METRIC_NAME, "x")], &[(0, 3.0)]),
            (&[(METRIC_NAME, "y")], &[(0, 1.0)]),
        ]);
        let x = || Expr::Select(sel("x", vec![]));
        let y_big = Expr::Select(sel("y", vec![])).binary(Op::Ge, Expr::Number(20.0));
        assert!(eval(&x().binary(Op::And, y_big), &d, 0, Version::V3).is_empty());
        let y_small = Expr::Select(sel("y", vec![])).binary(Op::Ge, Expr::Number(1.0));
        assert_eq!(
            eval(&x().binary(Op::And, y_small), &d, 0, Version::V3)[0].1,
            3.0
        );
    }
}
