//! The samples the rules are evaluated over: one series per label set, each a list of
//! (timestamp, value) pairs in time order, with Prometheus's staleness markers.

use std::collections::{HashMap, VecDeque};
use std::fmt;

/// The NaN Prometheus writes to end a series (a failed scrape, a series gone from a scrape).
/// A stale marker is never a sample: range selectors skip it, instant selectors stop at it.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_marker() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

pub const METRIC_NAME: &str = "__name__";

/// A label set, sorted by name, names unique. Its order is Prometheus's `labels.Compare`, so
/// series are visited (and summed) in the order Prometheus visits them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set; for a repeated name the last value wins.
    pub fn new<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Labels {
        let mut labels = Labels::default();
        for (k, v) in pairs {
            labels.set(k, v);
        }
        labels
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.0[i].1.as_str())
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.position(&name) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    /// The set without its metric name, as operators and functions return it.
    pub fn without_name(&self) -> Labels {
        let mut l = self.clone();
        l.remove(METRIC_NAME);
        l
    }

    /// Only the labels named in `names` (`sum by (…)`).
    pub fn keep(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(k, _)| names.contains(k))
                .cloned()
                .collect(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }
}

impl fmt::Display for Labels {
    /// `{a="1", b="2"}`, as Prometheus prints a label set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={}", serde_json::Value::from(v.as_str()))?;
        }
        f.write_str("}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch, as Prometheus stores time.
    pub t: i64,
    pub v: f64,
}

pub struct Series {
    pub labels: Labels,
    samples: VecDeque<Sample>,
}

impl Series {
    /// The samples with `from < t <= to` (`from <= t` when `closed`), stale markers left out.
    pub fn range(&self, from: i64, to: i64, closed: bool) -> Vec<Sample> {
        let start = self
            .samples
            .partition_point(|s| if closed { s.t < from } else { s.t <= from });
        self.samples
            .range(start..)
            .take_while(|s| s.t <= to)
            .filter(|s| !is_stale(s.v))
            .copied()
            .collect()
    }

    /// The newest sample at or before `t` and after `t - lookback` (at `t - lookback` too when
    /// `closed`), unless it is a stale marker: what an instant selector sees.
    pub fn at(&self, t: i64, lookback: i64, closed: bool) -> Option<f64> {
        let end = self.samples.partition_point(|s| s.t <= t);
        let last = self.samples.get(end.checked_sub(1)?)?;
        let fresh = if closed {
            last.t >= t - lookback
        } else {
            last.t > t - lookback
        };
        (fresh && !is_stale(last.v)).then_some(last.v)
    }

    pub fn last_t(&self) -> Option<i64> {
        self.samples.back().map(|s| s.t)
    }
}

/// All series, found by label set or by metric name.
#[derive(Default)]
pub struct Storage {
    series: Vec<Series>,
    ids: HashMap<Labels, usize>,
    by_name: HashMap<String, Vec<usize>>,
    samples: usize,
}

pub type SeriesId = usize;

impl Storage {
    /// The series with these labels, created when new.
    pub fn series_id(&mut self, labels: &Labels) -> SeriesId {
        if let Some(id) = self.ids.get(labels) {
            return *id;
        }
        let id = self.series.len();
        let name = labels.get(METRIC_NAME).unwrap_or_default().to_string();
        self.series.push(Series {
            labels: labels.clone(),
            samples: VecDeque::new(),
        });
        self.ids.insert(labels.clone(), id);
        // Kept in label order, so selectors visit series as Prometheus does without sorting.
        let ids = self.by_name.entry(name).or_default();
        let at = ids.partition_point(|other| self.series[*other].labels < self.series[id].labels);
        ids.insert(at, id);
        id
    }

    /// Appends a sample; one not newer than the series' last is dropped (`false`), as
    /// Prometheus drops out-of-order and duplicate samples.
    pub fn append(&mut self, id: SeriesId, t: i64, v: f64) -> bool {
        let series = &mut self.series[id];
        if series.last_t().is_some_and(|last| t <= last) {
            return false;
        }
        series.samples.push_back(Sample { t, v });
        self.samples += 1;
        true
    }

    /// The series named `name`, in label order.
    pub fn named(&self, name: &str) -> Vec<&Series> {
        self.by_name
            .get(name)
            .map(|ids| ids.iter().map(|id| &self.series[*id]).collect())
            .unwrap_or_default()
    }

    #[cfg(test)]
    pub fn get(&self, id: SeriesId) -> &Series {
        &self.series[id]
    }

    /// Forgets samples older than `before`: evaluation never looks that far back again.
    pub fn forget_before(&mut self, before: i64) {
        for series in &mut self.series {
            while series.samples.front().is_some_and(|s| s.t < before) {
                series.samples.pop_front();
            }
        }
    }

    /// How many samples were ever appended.
    pub fn appended(&self) -> usize {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(i64, f64)]) -> (Storage, SeriesId) {
        let mut db = Storage::default();
        let id = db.series_id(&Labels::new([(METRIC_NAME, "x")]));
        for (t, v) in points {
            db.append(id, *t, *v);
        }
        (db, id)
    }

    #[test]
    fn labels_are_sorted_and_unique() {
        let l = Labels::new([("b", "2"), ("a", "1"), ("b", "3")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "3")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert!(Labels::new([("a", "1")]) < Labels::new([("a", "1"), ("b", "0")]));
        assert!(Labels::new([("a", "2")]) > Labels::new([("a", "1"), ("b", "0")]));
    }

    #[test]
    fn ranges_are_left_open_or_closed_and_skip_stale_markers() {
        let (db, id) = series(&[(0, 1.0), (10, 2.0), (20, stale_marker()), (30, 4.0)]);
        let s = db.get(id);
        let ts = |v: Vec<Sample>| v.iter().map(|s| s.t).collect::<Vec<_>>();
        assert_eq!(ts(s.range(0, 30, false)), [10, 30]);
        assert_eq!(ts(s.range(0, 30, true)), [0, 10, 30]);
        assert_eq!(ts(s.range(-5, 15, false)), [0, 10]);
    }

    #[test]
    fn instant_lookup_stops_at_stale_markers_and_the_lookback() {
        let (db, id) = series(&[(0, 1.0), (10, 2.0), (20, stale_marker())]);
        let s = db.get(id);
        assert_eq!(s.at(15, 100, false), Some(2.0));
        assert_eq!(s.at(25, 100, false), None);
        assert_eq!(s.at(-1, 100, false), None);
        let (db, id) = series(&[(0, 1.0), (10, 2.0)]);
        let s = db.get(id);
        assert_eq!(s.at(110, 100, false), None);
        assert_eq!(s.at(110, 100, true), Some(2.0));
    }

    #[test]
    fn out_of_order_samples_are_dropped() {
        let (mut db, id) = series(&[(10, 1.0)]);
        assert!(!db.append(id, 10, 2.0));
        assert!(!db.append(id, 5, 2.0));
        assert!(db.append(id, 11, 2.0));
        db.forget_before(11);
        assert_eq!(db.get(id).range(0, 100, true).len(), 1);
        assert_eq!(db.appended(), 2);
    }
}
