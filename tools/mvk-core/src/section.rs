//! The record's sections (DESIGN.md §1), one type each, so that every tool writes a section the
//! same way. Each keeps the fields it does not know (`extra`): a section read from a record and
//! written back loses nothing a user or a newer tool put there, and [`Record::put`] keeps
//! those fields where they stood.
//!
//! [`Record::put`]: crate::Record::put

use crate::Slot;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A top-level section of the record, under the key `KEY`.
pub trait Section: Serialize + DeserializeOwned {
    const KEY: &'static str;
}

/// Fields a section does not know, in the order they came.
pub type Extra = Map<String, Value>;

/// `candidate`: the container mvk-healthwait waits for (or mvk-rollback's stopped one to start
/// again), that mvk-swap puts live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub slot: Slot,
    pub port: u16,
    pub container: String,
    pub container_id: String,
    pub image: String,
    /// An existing container (a rollback's stopped one), not one made for this release.
    #[serde(default)]
    pub reused: bool,
    /// The step started it: a new container always; a reused one that was stopped (false: it
    /// already ran, and a withdrawn candidate is left running as it was).
    #[serde(default)]
    pub started: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Candidate {
    const KEY: &'static str = "candidate";
}

/// `health`: how the wait for the candidate went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub healthy: bool,
    pub seconds: f64,
    pub polls: u64,
    /// The status of the last probe that got an answer.
    pub http_status: Option<u16>,
    /// Docker's HEALTHCHECK status: healthy, starting, unhealthy, or none.
    pub docker_health: String,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Health {
    const KEY: &'static str = "health";
}

/// `swap`: what went live, what was live before, and how the old release was retired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Swap {
    pub live: SwapLive,
    /// `null` on a first deploy.
    pub previous: Option<SwapPrevious>,
    pub drained_seconds: f64,
    pub drained: bool,
    pub previous_stopped: bool,
    /// The previous release was left running as nginx's first backup (--keep-warm).
    #[serde(default)]
    pub kept_warm: bool,
    /// The share of requests, in %, the record's candidate takes: 100 for a full swap, 1 to 99
    /// for a canary step (--weight), 0 when the canary was taken out.
    #[serde(default = "all")]
    pub weight: u8,
    pub upstream_file: String,
    pub pruned_images: Vec<String>,
    pub warnings: Vec<String>,
    /// After a drain that stopped the previous release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_lived: Option<LongLived>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn all() -> u8 {
    100
}

impl Section for Swap {
    const KEY: &'static str = "swap";
}

/// A release nginx routes to: `swap.live`, and a canary step's `swap.canary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapLive {
    pub slot: Slot,
    pub port: u16,
    pub release: String,
    pub container: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapPrevious {
    pub slot: Slot,
    pub port: u16,
    /// `null` when neither the state nor the container says which release it was.
    pub release: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `swap.long_lived`: the connections nginx's old workers still held to the previous release at
/// the drain deadline, and how they ended once it was stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongLived {
    pub open_at_deadline: usize,
    /// Closed by the app after SIGTERM.
    pub closed_by_app: usize,
    pub cut_by_sigkill: usize,
    /// Still open when the old workers' grace after the stop ran out.
    pub still_open: usize,
    pub old_workers_left: usize,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `swap` as a canary step (`mvk-swap --weight`) writes it: the live release stays live and
/// the candidate takes `weight` % of the requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapCanary {
    pub live: SwapLive,
    pub canary: SwapLive,
    /// 1 to 99, or 0 when the canary was taken out.
    pub weight: u8,
    /// Each client stays on one side, by its address (`--sticky`).
    pub sticky: bool,
    pub upstream_file: String,
    pub drained_seconds: f64,
    pub drained: bool,
    pub warnings: Vec<String>,
    /// At weight 0: whether the candidate's container was stopped and removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_removed: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for SwapCanary {
    const KEY: &'static str = "swap";
}

/// `swap` as `mvk-swap --maintenance on|off` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapMaintenance {
    pub maintenance: Switch,
    pub live: SwapLive,
    pub upstream_file: String,
    pub drained_seconds: f64,
    pub drained: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for SwapMaintenance {
    const KEY: &'static str = "swap";
}

/// Maintenance on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn name(self) -> &'static str {
        match self {
            Switch::On => "on",
            Switch::Off => "off",
        }
    }
}

/// `verify`: the checks of the live release (or of `--url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verify {
    pub ok: bool,
    pub target: String,
    pub seconds: f64,
    pub checks: Vec<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Verify {
    const KEY: &'static str = "verify";
}

/// `alerts`: the rules' states after the last evaluation, and the alerts firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alerts {
    pub firing: Vec<Value>,
    pub evaluated: Vec<Value>,
    pub source: String,
    pub evaluations: u64,
    pub evaluated_at: String,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Alerts {
    const KEY: &'static str = "alerts";
}

/// `analysis`: one canary step as `mvk-alerts --canary` judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub passed: bool,
    /// The canary's share of the requests, in %.
    pub weight: u8,
    pub seconds: f64,
    pub canary: AnalysisSide,
    /// The live release.
    pub baseline: AnalysisSide,
    pub bounds: AnalysisBounds,
    pub failures: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Analysis {
    const KEY: &'static str = "analysis";
}

/// What one side of a canary step answered, from what its `/metrics` counters grew by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSide {
    pub url: String,
    pub requests: f64,
    pub errors: f64,
    pub error_share: f64,
    /// `null` without histogram data.
    pub latency_seconds: Option<f64>,
    pub scrapes: u32,
    pub failed_scrapes: u32,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The bounds a canary step was judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisBounds {
    pub min_requests: u64,
    pub error_ratio: f64,
    pub error_margin: f64,
    pub latency_quantile: f64,
    pub latency_threshold_seconds: f64,
    pub latency_factor: f64,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `rollback`: from which release to which. Only `cause` is there when the rollback failed
/// before it chose.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulled: Option<bool>,
    /// The `error` of the failed deploy that made the rollback necessary (`--cause`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Rollback {
    const KEY: &'static str = "rollback";
}

/// `swarm`: the slot's Swarm service a release was placed in (mvk-healthwait --swarm) or whose
/// recorded spec was put back (mvk-rollback --restore-spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Swarm {
    pub service: String,
    pub service_id: String,
    /// The image the service runs, as Swarm pulls it (pinned by digest when one is known).
    pub image: String,
    pub placed: Placed,
    /// The service's spec before this step changed it (without its environment), for
    /// `mvk-rollback --restore-spec`; null when the step created the service or left it as it was.
    pub previous_spec: Option<Value>,
    /// Swarm rolled the service back to its previous spec after the new task failed.
    pub rolled_back: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Swarm {
    const KEY: &'static str = "swarm";
}

/// How a step put the release into the slot's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placed {
    /// A new service.
    Created,
    /// The existing service's spec, replaced.
    Updated,
    /// The service already ran the release: nothing changed.
    Reused,
    /// A recorded earlier spec, put back.
    Restored,
}

/// `build`: how the image was built and what its checks found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    pub seconds: f64,
    pub size_bytes: u64,
    /// The image's USER, `null` when it has none (root).
    pub user: Option<String>,
    pub healthcheck: bool,
    pub checks: Vec<Value>,
    /// The registry's digest, once pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Section for Build {
    const KEY: &'static str = "build";
}

/// `error`: why the step failed; `details` are the failure's own fields (`logs`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    pub tool: String,
    pub kind: String,
    pub message: String,
    #[serde(flatten)]
    pub details: Extra,
}

impl Section for Error {
    const KEY: &'static str = "error";
}

/// One entry of `steps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub tool: String,
    pub ok: bool,
    pub started_at: String,
    pub seconds: f64,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_write_the_contract_fields_in_order() {
        let health = Health {
            healthy: false,
            seconds: 1.235,
            polls: 7,
            http_status: None,
            docker_health: "starting".into(),
            extra: Extra::new(),
        };
        assert_eq!(
            serde_json::to_string(&health).unwrap(),
            r#"{"healthy":false,"seconds":1.235,"polls":7,"http_status":null,"docker_health":"starting"}"#
        );
        let cause_only = Rollback {
            cause: Some(Value::Null),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&cause_only).unwrap(),
            json!({"cause": null})
        );
    }

    #[test]
    fn the_swap_modes_write_their_own_fields() {
        let side = |slot, port, release: &str| SwapLive {
            slot,
            port,
            release: release.into(),
            container: format!("shop-{slot}"),
            extra: Extra::new(),
        };
        let canary = SwapCanary {
            live: side(Slot::Blue, 8000, "a"),
            canary: side(Slot::Green, 8001, "b"),
            weight: 0,
            sticky: false,
            upstream_file: "/u".into(),
            drained_seconds: 0.5,
            drained: true,
            warnings: vec![],
            candidate_removed: Some(true),
            extra: Extra::new(),
        };
        assert_eq!(
            serde_json::to_string(&canary).unwrap(),
            r#"{"live":{"slot":"blue","port":8000,"release":"a","container":"shop-blue"},"canary":{"slot":"green","port":8001,"release":"b","container":"shop-green"},"weight":0,"sticky":false,"upstream_file":"/u","drained_seconds":0.5,"drained":true,"warnings":[],"candidate_removed":true}"#
        );
        let step = SwapCanary {
            weight: 10,
            candidate_removed: None,
            ..canary
        };
        assert!(serde_json::to_value(&step)
            .unwrap()
            .get("candidate_removed")
            .is_none());
        let maintenance = SwapMaintenance {
            maintenance: Switch::On,
            live: side(Slot::Blue, 8000, "a"),
            upstream_file: "/u".into(),
            drained_seconds: 0.0,
            drained: true,
            extra: Extra::new(),
        };
        assert_eq!(
            serde_json::to_value(&maintenance).unwrap(),
            json!({"maintenance": "on", "live": {"slot": "blue", "port": 8000, "release": "a", "container": "shop-blue"},
                   "upstream_file": "/u", "drained_seconds": 0.0, "drained": true})
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip_in_order() {
        let text = r#"{"live":{"slot":"green","port":8001,"release":"b","container":"shop-green","x-lb":"a"},"previous":null,"drained_seconds":0.8,"drained":true,"previous_stopped":true,"kept_warm":false,"weight":100,"upstream_file":"/u","pruned_images":[],"warnings":[],"long_lived":{"open_at_deadline":3,"closed_by_app":2,"cut_by_sigkill":0,"still_open":1,"old_workers_left":0},"z-first":1,"a-second":{"k":[true,null]}}"#;
        let swap: Swap = serde_json::from_str(text).unwrap();
        assert_eq!(swap.live.slot, Slot::Green);
        assert_eq!(swap.previous, None);
        assert_eq!(swap.long_lived.as_ref().map(|l| l.still_open), Some(1));
        assert_eq!(serde_json::to_string(&swap).unwrap(), text);
        let without = Swap {
            long_lived: None,
            ..swap
        };
        assert!(serde_json::to_value(&without)
            .unwrap()
            .get("long_lived")
            .is_none());
    }

    #[test]
    fn an_analysis_writes_the_contract_fields_with_null_for_no_latency() {
        let side = |url: &str, latency_seconds| AnalysisSide {
            url: url.into(),
            requests: 40.0,
            errors: 2.0,
            error_share: 0.05,
            latency_seconds,
            scrapes: 6,
            failed_scrapes: 1,
            extra: Extra::new(),
        };
        let analysis = Analysis {
            passed: false,
            weight: 10,
            seconds: 12.5,
            canary: side("http://c", None),
            baseline: side("http://b", Some(0.012)),
            bounds: AnalysisBounds {
                min_requests: 20,
                error_ratio: 0.05,
                error_margin: 0.01,
                latency_quantile: 0.99,
                latency_threshold_seconds: 0.5,
                latency_factor: 1.5,
                extra: Extra::new(),
            },
            failures: vec!["slow".into()],
            extra: Extra::new(),
        };
        assert_eq!(
            serde_json::to_string(&analysis).unwrap(),
            r#"{"passed":false,"weight":10,"seconds":12.5,"canary":{"url":"http://c","requests":40.0,"errors":2.0,"error_share":0.05,"latency_seconds":null,"scrapes":6,"failed_scrapes":1},"baseline":{"url":"http://b","requests":40.0,"errors":2.0,"error_share":0.05,"latency_seconds":0.012,"scrapes":6,"failed_scrapes":1},"bounds":{"min_requests":20,"error_ratio":0.05,"error_margin":0.01,"latency_quantile":0.99,"latency_threshold_seconds":0.5,"latency_factor":1.5},"failures":["slow"]}"#
        );
    }
}
