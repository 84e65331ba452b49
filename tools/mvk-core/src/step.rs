//! The frame every step runs in: read the record, pass a failed one through, do the work,
//! record the outcome in `steps` and `error`, write the record, and pick the exit code.

use crate::record::NO_RECORD;
use crate::{signal, Exit, Fail, Progress, Record};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::SystemTime;

/// Where a step's record comes from.
pub enum Input {
    /// The record written by the step before; exit 2 without one.
    Record,
    /// The record if stdin holds one, else a standalone object (`mvk-verify --url`).
    Optional,
    /// A fresh record for this app: the first step of a pipeline.
    Fresh(String),
}

/// Runs `work` on the record within the rules of DESIGN.md §2 and returns the exit code.
/// The error, if any, is printed once here, on stderr.
pub fn run(
    progress: &Progress,
    input: Input,
    work: impl FnOnce(&mut Record, &Progress) -> anyhow::Result<()>,
) -> ExitCode {
    signal::install();
    let stdin = match &input {
        Input::Fresh(_) => Ok(None),
        // A terminal on stdin means nobody piped a record in.
        _ if std::io::stdin().is_terminal() => Ok(None),
        _ => read_record(std::io::stdin().lock()).map(Some),
    };
    run_io(progress, input, stdin, &mut std::io::stdout().lock(), work).into()
}

/// The largest record a tool reads on stdin. Real ones are a few KiB (the biggest part is
/// 50 log lines in `error.logs`); the bound keeps a runaway producer from eating memory.
pub const MAX_RECORD_BYTES: u64 = 4 << 20;

/// Reads stdin up to [`MAX_RECORD_BYTES`]: exit 2 beyond it, or when it is not UTF-8.
pub fn read_record(input: impl Read) -> Result<String, Fail> {
    let mut bytes = Vec::new();
    input
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Fail::usage(format!("cannot read the release record from stdin: {e}")))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(Fail::usage(format!(
            "the release record on stdin is larger than {} MiB, the most a tool reads",
            MAX_RECORD_BYTES >> 20
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Fail::usage("the release record on stdin is not UTF-8 (JSON must be)"))
}

/// Runs a mode that writes no release record (a listing, a generated file): the error, if
/// any, is printed once on stderr and decides the exit code.
pub fn run_plain(progress: &Progress, work: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match work() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let fail = Fail::classify(&err);
            progress.error(format!("error: {}", fail.message));
            fail.exit.into()
        }
    }
}

/// [`run`] with its stdin (`None`: a terminal, or no record expected) and stdout given.
pub fn run_io(
    progress: &Progress,
    input: Input,
    stdin: Result<Option<String>, Fail>,
    out: &mut dyn Write,
    work: impl FnOnce(&mut Record, &Progress) -> anyhow::Result<()>,
) -> Exit {
    let tool = progress.tool();
    let started = SystemTime::now();
    let parsed = stdin.and_then(|text| match text {
        Some(text) => Record::parse_input(&text),
        None => Ok(None),
    });
    let record = match input {
        Input::Fresh(app) => Ok(Record::new(&app)),
        Input::Record => parsed.and_then(|r| r.ok_or_else(|| Fail::usage(NO_RECORD))),
        Input::Optional => parsed.map(|r| r.unwrap_or_else(Record::standalone)),
    };
    let mut record = match record {
        Ok(r) => r,
        Err(fail) => {
            progress.error(format!("error: {fail}"));
            return fail.exit;
        }
    };
    if let Some(error) = record.error() {
        let from = error
            .get("tool")
            .and_then(|t| t.as_str())
            .unwrap_or("an earlier step");
        progress.say(format!("{from} failed; passing its record on untouched"));
        return finish(progress, &record, out, Exit::Upstream);
    }
    let exit = match work(&mut record, progress) {
        Ok(()) => {
            record.push_step(tool, true, started);
            Exit::Ok
        }
        Err(err) => {
            let mut fail = Fail::classify(&err);
            if let Some(name) = signal::caught() {
                // Whatever broke, it broke because we were asked to stop; say which signal,
                // once.
                let message = if fail.message.contains(name) {
                    fail.message
                } else {
                    format!("interrupted by {name}: {}", fail.message)
                };
                fail = Fail {
                    exit: Exit::Interrupted,
                    kind: "interrupted".into(),
                    message,
                    details: fail.details,
                };
            }
            progress.error(format!("error: {}", fail.message));
            record.set_error(tool, &fail);
            record.push_step(tool, false, started);
            fail.exit
        }
    };
    finish(progress, &record, out, exit)
}

/// Writes the record. One that cannot be written (a full disk, a closed pipe: the next step
/// is gone) is lost, so a step that had succeeded or passed a record on exits 4 instead; a
/// failed step keeps its own code.
fn finish(progress: &Progress, record: &Record, out: &mut dyn Write, exit: Exit) -> Exit {
    let line = record.to_line() + "\n";
    match write_out(out, line.as_bytes()) {
        Ok(()) => exit,
        Err(e) => {
            progress.error(format!("error: {e:#}"));
            match exit {
                Exit::Ok | Exit::Upstream => Exit::Unavailable,
                failed => failed,
            }
        }
    }
}

/// Writes a tool's output to stdout and flushes it: exit 4 (kind `output`) when it cannot.
pub fn write_out(out: &mut dyn Write, bytes: &[u8]) -> anyhow::Result<()> {
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| Fail::unavailable("output", format!("cannot write to stdout: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const GOOD: &str = r#"{"schema":"mvk.release/v1","app":"shop","image":"shop:1","mine":{"a":[1,{"b":null}]},"steps":[],"error":null}"#;

    fn step(
        input: Input,
        stdin: Option<&str>,
        work: impl FnOnce(&mut Record, &Progress) -> anyhow::Result<()>,
    ) -> (Exit, String) {
        let progress = Progress::new("mvk-test", true);
        let mut out = Vec::new();
        let exit = run_io(
            &progress,
            input,
            Ok(stdin.map(str::to_string)),
            &mut out,
            work,
        );
        (exit, String::from_utf8(out).unwrap())
    }

    #[test]
    fn success_adds_the_section_and_a_step() {
        let (exit, out) = step(Input::Record, Some(GOOD), |r, _| {
            r.set("health", json!({"healthy": true}));
            Ok(())
        });
        assert_eq!(exit, Exit::Ok);
        assert!(out.ends_with('\n') && out.matches('\n').count() == 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["mine"], json!({"a":[1,{"b":null}]}));
        assert_eq!(v["health"]["healthy"], true);
        assert_eq!(v["steps"][0]["tool"], "mvk-test");
        assert_eq!(v["steps"][0]["ok"], true);
        assert!(v["steps"][0]["started_at"].as_str().unwrap().ends_with('Z'));
        assert!(v["error"].is_null());
    }

    #[test]
    fn a_failed_record_passes_through_unchanged_with_exit_3() {
        let failed = r#"{"schema":"mvk.release/v1","app":"shop","steps":[],"error":{"tool":"mvk-build","kind":"build","message":"x"}}"#;
        let (exit, out) = step(Input::Record, Some(failed), |_, _| {
            panic!("the work must not run")
        });
        assert_eq!(exit, Exit::Upstream);
        assert_eq!(out, format!("{failed}\n"));
    }

    #[test]
    fn no_record_is_exit_2_and_writes_nothing() {
        for stdin in [None, Some(""), Some("\n")] {
            let (exit, out) = step(Input::Record, stdin, |_, _| panic!("the work must not run"));
            assert_eq!(exit, Exit::Usage);
            assert_eq!(out, "");
        }
    }

    #[test]
    fn bad_records_are_exit_2_and_write_nothing() {
        for bad in [
            "{",
            "42",
            r#"{"schema":"other","app":"shop"}"#,
            r#"{"schema":"mvk.release/v1"}"#,
        ] {
            let (exit, out) = step(Input::Record, Some(bad), |_, _| {
                panic!("the work must not run")
            });
            assert_eq!(exit, Exit::Usage, "{bad}");
            assert_eq!(out, "");
        }
    }

    #[test]
    fn a_failure_sets_error_and_its_exit_code() {
        let (exit, out) = step(Input::Record, Some(GOOD), |_, _| {
            Err(Fail::failed("unhealthy", "never healthy")
                .with("logs", vec!["l1"])
                .into())
        });
        assert_eq!(exit, Exit::Failed);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["error"]["tool"], "mvk-test");
        assert_eq!(v["error"]["kind"], "unhealthy");
        assert_eq!(v["error"]["logs"][0], "l1");
        assert_eq!(v["steps"][0]["ok"], false);

        let (exit, _) = step(Input::Record, Some(GOOD), |_, _| {
            Err(Fail::unavailable("docker", "down").into())
        });
        assert_eq!(exit, Exit::Unavailable);
        let (exit, _) = step(Input::Record, Some(GOOD), |r, _| {
            Ok(r.str("candidate.slot").map(|_| ())?)
        });
        assert_eq!(exit, Exit::Usage);
    }

    #[test]
    fn an_interruption_is_said_once() {
        let (exit, out) = step(Input::Record, Some(GOOD), |_, _| {
            Err(anyhow::Error::from(Fail::interrupted("SIGTERM")).context("waiting for shop-blue"))
        });
        assert_eq!(exit, Exit::Interrupted);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["error"]["kind"], "interrupted");
        assert_eq!(
            v["error"]["message"],
            "waiting for shop-blue: interrupted by SIGTERM"
        );
    }

    #[test]
    fn a_record_over_the_bound_is_exit_2() {
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_RECORD_BYTES as usize));
        let e = read_record(big.as_bytes()).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("larger than 4 MiB"), "{}", e.message);
        let fits = "a".repeat(MAX_RECORD_BYTES as usize);
        assert_eq!(read_record(fits.as_bytes()).unwrap().len(), fits.len());
        assert_eq!(read_record(&b"\xff"[..]).unwrap_err().exit, Exit::Usage);
    }

    /// A writer that fails as `/dev/full` or a closed pipe does.
    struct Broken(std::io::ErrorKind);

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_record_that_cannot_be_written_is_exit_4() {
        let progress = Progress::new("mvk-test", true);
        for kind in [
            std::io::ErrorKind::StorageFull,
            std::io::ErrorKind::BrokenPipe,
        ] {
            let exit = run_io(
                &progress,
                Input::Record,
                Ok(Some(GOOD.into())),
                &mut Broken(kind),
                |_, _| Ok(()),
            );
            assert_eq!(exit, Exit::Unavailable, "{kind:?}");
            let exit = run_io(
                &progress,
                Input::Record,
                Ok(Some(GOOD.into())),
                &mut Broken(kind),
                |_, _| Err(Fail::failed("x", "y").into()),
            );
            assert_eq!(exit, Exit::Failed, "{kind:?}");
        }
    }

    #[test]
    fn optional_input_without_a_record_is_standalone() {
        let (exit, out) = step(Input::Optional, None, |r, _| {
            assert!(r.is_standalone());
            r.set("verify", json!({"ok": true}));
            Ok(())
        });
        assert_eq!(exit, Exit::Ok);
        assert_eq!(out, "{\"verify\":{\"ok\":true}}\n");
    }

    #[test]
    fn fresh_input_starts_a_record() {
        let (exit, out) = step(Input::Fresh("shop".into()), None, |r, _| {
            r.set("release", "abc");
            Ok(())
        });
        assert_eq!(exit, Exit::Ok);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["schema"], "mvk.release/v1");
        assert_eq!(v["app"], "shop");
        assert_eq!(v["release"], "abc");
    }
}
