//! The rules evaluated as Prometheus evaluates them, over the samples of one scrape target:
//! every scrape is stored (with `up` and staleness), then every rule is evaluated at that
//! scrape's timestamp.

use crate::alerting::{Alert, Alerts, Rule, State};
use crate::exposition::Sample;
use crate::promql::{Context, Value, Version, LOOKBACK_MS};
use crate::scrape::Target;
use crate::tsdb::{Labels, Storage};

/// Where one rule stands after the last evaluation.
pub struct Outcome<'a> {
    pub rule: &'a Rule,
    pub state: State,
    /// The rule's measured value (`value_expr`), when there is one and it is a number.
    pub value: Option<f64>,
    /// Pending, firing and recently resolved alerts, in label order.
    pub alerts: Vec<Alert>,
}

pub struct Engine {
    db: Storage,
    target: Target,
    rules: Vec<Rule>,
    alerts: Vec<Alerts>,
    version: Version,
    /// How far back an evaluation looks: the longest range plus the lookback.
    reach_ms: i64,
    last_t: Option<i64>,
    evaluations: usize,
}

impl Engine {
    pub fn new(rules: Vec<Rule>, target: Target, version: Version, window_ms: i64) -> Engine {
        Engine {
            db: Storage::default(),
            target,
            alerts: rules.iter().map(|_| Alerts::default()).collect(),
            rules,
            version,
            reach_ms: window_ms.max(LOOKBACK_MS) + LOOKBACK_MS,
            last_t: None,
            evaluations: 0,
        }
    }

    /// Stores a scrape taken at `t` (ms) and evaluates every rule then.
    pub fn scrape(&mut self, t: i64, scrape: Result<Vec<Sample>, String>) -> Result<(), String> {
        self.target.ingest(&mut self.db, t, scrape);
        let cx = Context {
            db: &self.db,
            t,
            version: self.version,
        };
        for (rule, alerts) in self.rules.iter().zip(&mut self.alerts) {
            let result = vector(rule.expr.eval(&cx)?, &rule.name)?;
            alerts.update(rule, t, result)?;
        }
        self.evaluations += 1;
        self.last_t = Some(t);
        // Samples older than any evaluation can reach are dropped now and then, so a long
        // watch or replay runs in constant memory.
        if self.evaluations % 256 == 0 {
            self.db.forget_before(t - self.reach_ms);
        }
        Ok(())
    }

    pub fn any_firing(&self) -> bool {
        self.alerts.iter().any(|a| a.state() == State::Firing)
    }

    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    pub fn last_t(&self) -> Option<i64> {
        self.last_t
    }

    pub fn samples(&self) -> usize {
        self.db.appended()
    }

    /// Every rule's state and value at the last evaluation.
    pub fn outcomes(&self) -> Result<Vec<Outcome<'_>>, String> {
        let t = self.last_t.unwrap_or_default();
        let cx = Context {
            db: &self.db,
            t,
            version: self.version,
        };
        self.rules
            .iter()
            .zip(&self.alerts)
            .map(|(rule, alerts)| {
                let values = vector(rule.value_expr.eval(&cx)?, &rule.name)?;
                Ok(Outcome {
                    rule,
                    state: alerts.state(),
                    value: worst(rule, &values),
                    alerts: alerts.all().into_iter().cloned().collect(),
                })
            })
            .collect()
    }
}

fn vector(v: Value, rule: &str) -> Result<Vec<(Labels, f64)>, String> {
    match v {
        Value::Vector(v) => Ok(v),
        Value::Scalar(_) => Err(format!("{rule}: the expression is a scalar, not a vector")),
    }
}

/// The value that matters most among a rule's samples: the highest (or, for `up`, the
/// lowest); NaN counts as no value.
pub fn worst(rule: &Rule, values: &[(Labels, f64)]) -> Option<f64> {
    let numbers = values.iter().map(|(_, v)| *v).filter(|v| !v.is_nan());
    if rule.worst_is_lowest {
        numbers.reduce(f64::min)
    } else {
        numbers.reduce(f64::max)
    }
}
