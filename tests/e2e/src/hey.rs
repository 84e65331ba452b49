//! Load through nginx with `hey`, bounded in time and rate, and what it saw: the count of each
//! status and the requests that got no answer (resets, timeouts).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

/// A running `hey`.
pub struct Hey(Child);

/// What `hey` counted.
#[derive(Debug)]
pub struct Outcome {
    pub statuses: BTreeMap<u16, u64>,
    /// hey's error lines (`[3] Get "…": EOF`).
    pub errors: Vec<String>,
    pub text: String,
}

enum Section {
    Other,
    Statuses,
    Errors,
}

impl Hey {
    /// GETs `url` for `seconds` from 4 connections, each at most 100 requests/s.
    pub fn start(url: &str, seconds: u32) -> Hey {
        let child = Command::new("hey")
            .args([
                "-z",
                &format!("{seconds}s"),
                "-c",
                "4",
                "-q",
                "100",
                "-t",
                "10",
            ])
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run hey (scripts/setup installs it)");
        Hey(child)
    }

    /// Stops it as Ctrl-C does (it then prints what it counted so far) and returns that: for
    /// load that must span steps of unknown length.
    pub fn interrupt(self) -> Outcome {
        crate::cmd::signal(&self.0, nix::sys::signal::Signal::SIGINT);
        self.finish()
    }

    pub fn finish(self) -> Outcome {
        let out = self.0.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "hey failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(text)
    }
}

impl Outcome {
    /// Failed requests: answers other than 200, and requests without an answer.
    pub fn failed(&self) -> u64 {
        let other: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| **s != 200)
            .map(|(_, n)| n)
            .sum();
        other + self.unanswered()
    }

    /// Every request sent: answered, or not.
    pub fn sent(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.unanswered()
    }

    /// Requests that got no answer: hey's error lines count them (`[N] Get …: EOF`).
    fn unanswered(&self) -> u64 {
        self.errors
            .iter()
            .map(|e| {
                e.trim()
                    .strip_prefix('[')
                    .and_then(|r| r.split(']').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(1)
            })
            .sum()
    }

    /// Asserts that every request was answered, only with `allowed` statuses, and that the
    /// first of them answered more than `at_least`.
    pub fn assert_only(&self, allowed: &[u16], at_least: u64) {
        eprintln!("{}", self.text);
        assert!(self.errors.is_empty(), "requests failed: {:?}", self.errors);
        assert!(
            self.statuses.keys().all(|s| allowed.contains(s)),
            "statuses other than {allowed:?}: {:?}",
            self.statuses
        );
        let main = self.statuses.get(&allowed[0]).copied().unwrap_or(0);
        assert!(
            main > at_least,
            "too few {}: {:?}",
            allowed[0],
            self.statuses
        );
    }
}

fn parse(text: String) -> Outcome {
    let mut statuses = BTreeMap::new();
    let mut errors = Vec::new();
    let mut section = Section::Other;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("Status code distribution:") {
            section = Section::Statuses;
        } else if line.starts_with("Error distribution:") {
            section = Section::Errors;
        } else if let Some((code, rest)) = line.strip_prefix('[').and_then(|l| l.split_once(']')) {
            match section {
                Section::Statuses => {
                    let n = rest.split_whitespace().next().and_then(|n| n.parse().ok());
                    if let (Ok(code), Some(n)) = (code.parse(), n) {
                        statuses.insert(code, n);
                    }
                }
                Section::Errors => errors.push(line.to_string()),
                Section::Other => {}
            }
        } else {
            section = Section::Other;
        }
    }
    Outcome {
        statuses,
        errors,
        text,
    }
}
