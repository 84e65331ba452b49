//! Alerting rules and their alerts' states, kept exactly as Prometheus's `AlertingRule.Eval`
//! keeps them: every result of the expression is an alert, new ones pending from that
//! evaluation on and firing once they have held for the rule's `for`; an alert missing from
//! a result is dropped while pending and resolved when firing.

use crate::promql::Expr;
use crate::template::{self, Template};
use crate::tsdb::Labels;
use std::collections::HashMap;

/// How long a resolved alert is kept (and reported) after it stopped firing.
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

pub struct Rule {
    pub name: String,
    /// The alert condition: every sample it returns is an alert.
    pub expr: Expr,
    /// The measured quantity without the threshold, reported as the rule's value.
    pub value_expr: Expr,
    /// Which value of `value_expr` is the one to report: the highest, or (`up`) the lowest.
    pub worst_is_lowest: bool,
    /// `for:`, in milliseconds.
    pub hold_ms: i64,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, Template)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Inactive,
    Pending,
    Firing,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Vec<(String, String)>,
    pub value: f64,
    pub state: State,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
}

/// One rule's alerts, keyed by their label sets.
#[derive(Default)]
pub struct Alerts {
    active: HashMap<Labels, Alert>,
}

impl Alerts {
    /// Applies the expression's result at `t` (ms), as `AlertingRule.Eval` does.
    pub fn update(
        &mut self,
        rule: &Rule,
        t: i64,
        result: Vec<(Labels, f64)>,
    ) -> Result<(), String> {
        let mut current: HashMap<Labels, Alert> = HashMap::new();
        for (sample_labels, value) in result {
            let mut labels = sample_labels.without_name();
            for (k, v) in &rule.labels {
                labels.set(k.as_str(), v.as_str());
            }
            labels.set("alertname", rule.name.as_str());
            let annotations = rule
                .annotations
                .iter()
                .map(|(k, t)| (k.clone(), template::render(t, value, &sample_labels)))
                .collect();
            if current.contains_key(&labels) {
                return Err(format!(
                    "{}: vector contains metrics with the same labelset after applying alert labels",
                    rule.name
                ));
            }
            current.insert(
                labels.clone(),
                Alert {
                    labels,
                    annotations,
                    value,
                    state: State::Pending,
                    active_at: t,
                    fired_at: None,
                    resolved_at: None,
                },
            );
        }
        let current_keys: Vec<Labels> = current.keys().cloned().collect();
        for (labels, alert) in current {
            match self.active.get_mut(&labels) {
                Some(known) if known.state != State::Inactive => {
                    known.value = alert.value;
                    known.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(labels, alert);
                }
            }
        }
        self.active.retain(|labels, a| {
            if current_keys.contains(labels) {
                if a.state == State::Pending && t - a.active_at >= rule.hold_ms {
                    a.state = State::Firing;
                    a.fired_at = Some(t);
                }
                return true;
            }
            let drop = a.state == State::Pending
                || a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION_MS);
            if a.state != State::Inactive {
                a.state = State::Inactive;
                a.resolved_at = Some(t);
            }
            !drop
        });
        Ok(())
    }

    /// Every alert known, in label order: pending, firing, and resolved ones not yet forgotten.
    pub fn all(&self) -> Vec<&Alert> {
        let mut all: Vec<&Alert> = self.active.values().collect();
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        all
    }

    /// The rule's state: that of its most advanced alert.
    pub fn state(&self) -> State {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(State::Inactive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{text, Piece};

    fn rule(hold_ms: i64) -> Rule {
        Rule {
            name: "ServiceDown".into(),
            expr: Expr::Number(0.0),
            value_expr: Expr::Number(0.0),
            worst_is_lowest: true,
            hold_ms,
            labels: vec![("severity".into(), "critical".into())],
            annotations: vec![(
                "summary".into(),
                vec![text("down: "), Piece::Label("instance".into())],
            )],
        }
    }

    fn firing(a: &Alerts) -> Vec<&Alert> {
        a.all()
            .into_iter()
            .filter(|a| a.state == State::Firing)
            .collect()
    }

    fn hit(instance: &str) -> Vec<(Labels, f64)> {
        vec![(
            Labels::new([("__name__", "up"), ("instance", instance)]),
            0.0,
        )]
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        let r = rule(60_000);
        let mut a = Alerts::default();
        a.update(&r, 0, hit("a")).unwrap();
        assert_eq!(a.state(), State::Pending);
        a.update(&r, 59_999, hit("a")).unwrap();
        assert_eq!(a.state(), State::Pending);
        a.update(&r, 60_000, hit("a")).unwrap();
        assert_eq!(a.state(), State::Firing);
        let f = firing(&a)[0].clone();
        assert_eq!((f.active_at, f.fired_at), (0, Some(60_000)));
        assert_eq!(
            f.labels.to_string(),
            r#"{alertname="ServiceDown", instance="a", severity="critical"}"#
        );
        assert_eq!(
            f.annotations,
            [("summary".to_string(), "down: a".to_string())]
        );
        a.update(&r, 70_000, vec![]).unwrap();
        assert_eq!(a.state(), State::Inactive);
        assert_eq!(a.all()[0].resolved_at, Some(70_000));
        // Back again: a new alert, pending from now.
        a.update(&r, 80_000, hit("a")).unwrap();
        assert_eq!((a.state(), a.all()[0].active_at), (State::Pending, 80_000));
    }

    #[test]
    fn a_pending_alert_that_misses_one_evaluation_starts_over() {
        let r = rule(60_000);
        let mut a = Alerts::default();
        a.update(&r, 0, hit("a")).unwrap();
        a.update(&r, 30_000, vec![]).unwrap();
        assert!(a.all().is_empty());
        a.update(&r, 40_000, hit("a")).unwrap();
        a.update(&r, 90_000, hit("a")).unwrap();
        assert_eq!(a.state(), State::Pending, "held 50 s since it came back");
    }

    #[test]
    fn for_zero_fires_at_once_and_resolved_alerts_are_forgotten_later() {
        let r = rule(0);
        let mut a = Alerts::default();
        a.update(&r, 0, hit("a")).unwrap();
        assert_eq!(a.state(), State::Firing);
        a.update(&r, 1000, vec![]).unwrap();
        a.update(&r, 1000 + RESOLVED_RETENTION_MS, vec![]).unwrap();
        assert_eq!(a.all().len(), 1);
        a.update(&r, 1001 + RESOLVED_RETENTION_MS, vec![]).unwrap();
        assert!(a.all().is_empty());
    }

    #[test]
    fn each_label_set_is_its_own_alert() {
        let r = rule(0);
        let mut a = Alerts::default();
        let mut both = hit("a");
        both.extend(hit("b"));
        a.update(&r, 0, both).unwrap();
        assert_eq!(firing(&a).len(), 2);
        let mut dup = hit("a");
        dup.extend(hit("a"));
        assert!(a.update(&r, 1, dup).unwrap_err().contains("same labelset"));
    }
}
