//! `http_requests_total{status}` and `http_request_duration_seconds`, in the Prometheus text
//! format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Inner {
    by_status: BTreeMap<u16, u64>,
    /// Per bound, the requests that took at most that long (not yet cumulative).
    buckets: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    pub fn observe(&self, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut m = self.0.lock().unwrap();
        *m.by_status.entry(status).or_default() += 1;
        if let Some(i) = BOUNDS.iter().position(|b| secs <= *b) {
            m.buckets[i] += 1;
        }
        m.count += 1;
        m.sum += secs;
    }

    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap();
        let mut out = String::new();
        out.push_str("# HELP http_requests_total Requests answered, by status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for (status, n) in &m.by_status {
            let _ = writeln!(out, "http_requests_total{{status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, n) in BOUNDS.iter().zip(m.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            m.count
        );
        let _ = writeln!(out, "http_request_duration_seconds_sum {}", m.sum);
        let _ = writeln!(out, "http_request_duration_seconds_count {}", m.count);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe(200, Duration::from_millis(3));
        m.observe(500, Duration::from_millis(300));
        m.observe(200, Duration::from_secs(20));
        let text = m.render();
        assert!(text.contains("http_requests_total{status=\"200\"} 2\n"));
        assert!(text.contains("http_requests_total{status=\"500\"} 1\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"0.5\"} 2\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("http_request_duration_seconds_count 3\n"));
    }
}
