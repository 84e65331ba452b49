//! A scrape target as Prometheus runs one: each scrape's samples get the target's labels
//! (`job`, `instance`), a series gone from a scrape and every series of a failed scrape get
//! a staleness marker, and `up` records whether the scrape worked.

use crate::exposition::{self, Sample};
use crate::tsdb::{stale_marker, Labels, SeriesId, Storage, METRIC_NAME};
use mvk_core::envfile::EnvFile;
use std::collections::HashSet;
use std::time::Duration;

pub struct Target {
    labels: Labels,
    /// Series the last scrape wrote without an explicit timestamp: the ones that go stale.
    seen: HashSet<SeriesId>,
    up: Option<SeriesId>,
    /// The series of the last scrape's samples, by position: a target lists its series in
    /// the same order every time, so most samples find theirs by a comparison, not a lookup.
    known: Vec<Known>,
}

struct Known {
    name: String,
    labels: Vec<(String, String)>,
    id: SeriesId,
}

impl Target {
    pub fn new(job: &str, instance: &str) -> Target {
        Target {
            labels: Labels::new([("instance", instance), ("job", job)]),
            seen: HashSet::new(),
            up: None,
            known: Vec::new(),
        }
    }

    /// Records one scrape at `t` (ms): its samples, or why it failed.
    pub fn ingest(&mut self, db: &mut Storage, t: i64, scrape: Result<Vec<Sample>, String>) {
        let mut seen = HashSet::new();
        let ok = scrape.is_ok();
        for (i, sample) in scrape.unwrap_or_default().into_iter().enumerate() {
            let id = match self.known.get(i) {
                Some(k) if k.name == sample.name && k.labels == sample.labels => k.id,
                _ => {
                    let id = db.series_id(&self.series_labels(&sample));
                    let entry = Known {
                        name: sample.name.clone(),
                        labels: sample.labels.clone(),
                        id,
                    };
                    match self.known.get_mut(i) {
                        Some(known) => *known = entry,
                        None => self.known.push(entry),
                    }
                    id
                }
            };
            // An explicit timestamp is honoured, and such a series is never marked stale.
            match sample.timestamp {
                Some(ts) => {
                    db.append(id, ts, sample.value);
                }
                None => {
                    if db.append(id, t, sample.value) {
                        seen.insert(id);
                    }
                }
            }
        }
        for gone in self.seen.difference(&seen) {
            db.append(*gone, t, stale_marker());
        }
        self.seen = seen;
        let mut up = self.labels.clone();
        up.set(METRIC_NAME, "up");
        let up = *self.up.get_or_insert_with(|| db.series_id(&up));
        db.append(up, t, if ok { 1.0 } else { 0.0 });
    }

    /// The sample's labels with the target's on top (`honor_labels: false`): a scraped label
    /// the target also sets is kept as `exported_<name>`; empty values are no labels.
    fn series_labels(&self, sample: &Sample) -> Labels {
        let scraped = Labels::new(sample.labels.iter().filter(|(_, v)| !v.is_empty()).cloned());
        let mut labels = scraped.clone();
        labels.set(METRIC_NAME, sample.name.as_str());
        // Conflicts are renamed shortest name first, as Prometheus does.
        let mut conflicts: Vec<(String, String)> = self
            .labels
            .iter()
            .filter_map(|(name, _)| scraped.get(name).map(|v| (name.to_string(), v.to_string())))
            .collect();
        conflicts.sort_by_key(|(name, _)| name.len());
        for (name, value) in self.labels.iter() {
            labels.set(name, value);
        }
        let mut taken: Vec<String> = Vec::new();
        for (name, value) in conflicts {
            let mut new = name;
            loop {
                new = format!("exported_{new}");
                if scraped.get(&new).is_none()
                    && self.labels.get(&new).is_none()
                    && !taken.contains(&new)
                {
                    break;
                }
            }
            labels.set(new.as_str(), value);
            taken.push(new);
        }
        labels
    }
}

/// Scrapes one URL over HTTP, as Prometheus's scraper asks for the text format.
pub struct Scraper {
    agent: ureq::Agent,
    pub url: String,
    /// The app's env file, whose values are hidden where a failure quotes the app's answer.
    secrets: EnvFile,
}

/// The most series one scrape may hold. Like Prometheus' `sample_limit`, more fails the scrape
/// (`up` 0) rather than growing the in-memory store without end.
pub const MAX_SERIES: usize = 100_000;

pub fn check_series(n: usize) -> Result<(), String> {
    if n > MAX_SERIES {
        return Err(format!(
            "{n} series in one scrape, more than the {MAX_SERIES} mvk-alerts keeps"
        ));
    }
    Ok(())
}

impl Scraper {
    pub fn new(url: &str, timeout: Duration, secrets: &EnvFile) -> Scraper {
        Scraper {
            agent: mvk_core::http::agent(timeout),
            url: url.to_string(),
            secrets: secrets.clone(),
        }
    }

    /// The samples, or why the scrape failed: no answer, not 200, or a line Prometheus would
    /// refuse (it fails the whole scrape on one, so `up` is 0 then too).
    pub fn fetch(&self) -> Result<Vec<Sample>, String> {
        let accept = (
            "Accept".to_string(),
            "text/plain;version=0.0.4;q=1,*/*;q=0.1".to_string(),
        );
        let reply = mvk_core::http::get(&self.agent, &self.url, &[accept])?;
        if reply.status != 200 {
            return Err(format!("answered {}", reply.status));
        }
        let samples = exposition::parse(&reply.body).map_err(|e| {
            format!(
                "malformed exposition, {}",
                e.show(|text| self.secrets.mask(text))
            )
        })?;
        check_series(samples.len())?;
        Ok(samples)
    }

    /// `host:port` of the URL: the `instance` label Prometheus gives its target.
    pub fn instance(&self) -> String {
        instance_of(&self.url)
    }
}

pub fn instance_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::sample;
    use crate::tsdb::is_stale;

    #[test]
    fn target_labels_win_and_scraped_ones_are_exported() {
        let target = Target::new("shop", "127.0.0.1:8000");
        let l = target.series_labels(&sample(
            "x",
            &[
                ("job", "batch"),
                ("exported_job", "y"),
                ("instance", "a"),
                ("empty", ""),
            ],
            1.0,
        ));
        assert_eq!(
            l.to_string(),
            r#"{__name__="x", exported_exported_job="batch", exported_instance="a", exported_job="y", instance="127.0.0.1:8000", job="shop"}"#
        );
    }

    #[test]
    fn failed_scrapes_mark_series_stale_and_set_up_to_zero() {
        let mut db = Storage::default();
        let mut target = Target::new("shop", "h:1");
        target.ingest(
            &mut db,
            1000,
            Ok(vec![sample("a", &[], 1.0), sample("b", &[], 1.0)]),
        );
        target.ingest(&mut db, 2000, Ok(vec![sample("a", &[], 2.0)]));
        target.ingest(&mut db, 3000, Err("connection refused".into()));
        target.ingest(&mut db, 4000, Ok(vec![sample("a", &[], 0.0)]));
        // What an instant selector sees after each scrape ("-": nothing, a stale marker).
        let values = |name: &str| -> Vec<String> {
            let s = db.named(name)[0];
            [1000, 2000, 3000, 4000]
                .iter()
                .map(|t| {
                    s.at(*t, 10_000, false)
                        .map_or("-".into(), |v| v.to_string())
                })
                .collect()
        };
        assert_eq!(values("a"), ["1", "2", "-", "0"]);
        assert_eq!(values("b"), ["1", "-", "-", "-"]);
        assert_eq!(values("up"), ["1", "1", "0", "1"]);
        assert!(db.named("b")[0]
            .range(0, 4000, true)
            .iter()
            .all(|s| !is_stale(s.v)));
        assert_eq!(
            db.named("up")[0].labels.to_string(),
            r#"{__name__="up", instance="h:1", job="shop"}"#
        );
    }

    /// Serves `series` samples of one metric, once, and returns the scrape's URL.
    fn exposition_server(series: usize) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let body: String = (0..series).map(|i| format!("x{{i=\"{i}\"}} 1\n")).collect();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        format!("http://127.0.0.1:{port}/metrics")
    }

    #[test]
    fn a_scrape_of_more_than_100000_series_fails() {
        let timeout = Duration::from_secs(30);
        let most =
            Scraper::new(&exposition_server(MAX_SERIES), timeout, &EnvFile::default()).fetch();
        assert_eq!(most.map(|s| s.len()), Ok(MAX_SERIES));
        let more = Scraper::new(
            &exposition_server(MAX_SERIES + 1),
            timeout,
            &EnvFile::default(),
        )
        .fetch();
        assert_eq!(
            more.err().unwrap(),
            "100001 series in one scrape, more than the 100000 mvk-alerts keeps"
        );
    }

    #[test]
    fn instances_are_host_and_port() {
        assert_eq!(
            instance_of("http://127.0.0.1:8001/metrics"),
            "127.0.0.1:8001"
        );
        assert_eq!(instance_of("https://shop.example.com"), "shop.example.com");
    }
}
