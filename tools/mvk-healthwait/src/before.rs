//! `--before`: a one-off container of the new image (database migrations, say) that must
//! succeed before the candidate starts. It gets the same env file, runs as
//! `docker run --rm <image> <command…>` would (the image's ENTRYPOINT stays, the command
//! replaces its CMD), and is always removed afterwards.

use anyhow::Result;
use bollard::models::{ContainerCreateBody, ContainerStateStatusEnum, HostConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use mvk_core::containers::{labels, made_for, LABEL_APP, LABEL_ROLE};
use mvk_core::docker::{api_error, Engine};
use mvk_core::envfile::EnvFile;
use mvk_core::{signal, Fail, Progress};
use std::fmt;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(100);

/// The command: either a JSON array of strings (for arguments with spaces) or a plain line
/// split on white space. No shell is involved either way.
#[derive(Debug, Clone, PartialEq)]
pub struct Command(pub Vec<String>);

impl Command {
    pub fn parse(text: &str) -> Result<Command, String> {
        let args: Vec<String> = if text.trim_start().starts_with('[') {
            serde_json::from_str(text)
                .map_err(|e| format!("`{text}` is not a JSON array of strings: {e}"))?
        } else {
            text.split_whitespace().map(str::to_string).collect()
        };
        if args.is_empty() || args[0].is_empty() {
            return Err("the command is empty".into());
        }
        Ok(Command(args))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self
            .0
            .iter()
            .any(|a| a.is_empty() || a.contains(char::is_whitespace))
        {
            write!(
                f,
                "{}",
                serde_json::to_string(&self.0).map_err(|_| fmt::Error)?
            )
        } else {
            f.write_str(&self.0.join(" "))
        }
    }
}

/// What the one-off container is made from.
pub struct OneOff<'a> {
    pub app: &'a str,
    pub release: &'a str,
    pub image: &'a str,
    pub env: &'a EnvFile,
    pub log_lines: usize,
    /// Under Docker's init, as the candidate runs (processes the command leaves are reaped).
    pub init: bool,
}

/// Runs `command` to completion. A non-zero exit fails the step (exit 1, `before-failed`)
/// with the command's output in `error.logs`; an interrupt stops it. Either way the
/// container is removed.
pub fn run(engine: &Engine, command: &Command, job: &OneOff, progress: &Progress) -> Result<()> {
    // What is shown of the command never shows a value of the env file.
    let shown = job.env.mask(&command.to_string());
    let name = format!("{}-before", job.app);
    // A one-off left by a run that was killed outright: ours by its label, so remove it.
    if let Some(c) = engine.container(&name)? {
        if !made_for(&c, job.app, LABEL_ROLE, "before") {
            return Err(Fail::unavailable(
                "name-taken",
                format!("a container named {name} exists that is not labelled {LABEL_APP}={} and {LABEL_ROLE}=before; rename or remove it", job.app),
            )
            .into());
        }
        engine.remove_container(&name)?;
    }
    progress.say(format!(
        "running `{shown}` in a one-off container of {}",
        job.image
    ));
    let body = ContainerCreateBody {
        image: Some(job.image.to_string()),
        cmd: Some(command.0.clone()),
        env: Some(job.env.docker_env()),
        // The role tells a one-off container from a slot's candidate.
        labels: Some(labels(job.app, job.release, &[(LABEL_ROLE, "before")])),
        host_config: Some(HostConfig {
            init: Some(job.init),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let id = engine
        .block_on(engine.api.create_container(Some(options), body))
        .map_err(|e| {
            api_error(
                e,
                &format!("creating the one-off container {name} for `{shown}`"),
            )
        })?
        .id;
    let outcome = finish(engine, &id, &shown, job, progress);
    let removed = engine.remove_container(&id);
    outcome.and(removed)
}

fn finish(
    engine: &Engine,
    id: &str,
    command: &str,
    job: &OneOff,
    progress: &Progress,
) -> Result<()> {
    engine
        .block_on(engine.api.start_container(id, None))
        .map_err(|e| api_error(e, &format!("starting `{command}`")))?;
    let started = Instant::now();
    let exit_code = loop {
        signal::check()?;
        let state = engine.container(id)?.and_then(|c| c.state).ok_or_else(|| {
            Fail::failed(
                "before-failed",
                format!("the one-off container of `{command}` vanished"),
            )
        })?;
        match state.status {
            Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::CREATED) => {}
            _ => break state.exit_code.unwrap_or(-1),
        }
        progress.live(format!(
            "running `{command}`: {:.0}s",
            started.elapsed().as_secs_f64()
        ));
        signal::sleep(POLL)?;
    };
    let output = job.env.mask_lines(engine.logs_tail(id, job.log_lines)?);
    let seconds = started.elapsed().as_secs_f64();
    if exit_code != 0 {
        progress.error(format!(
            "`{command}` exited with code {exit_code}; its output:"
        ));
        for line in &output {
            progress.error(format!("| {line}"));
        }
        return Err(Fail::failed(
            "before-failed",
            format!(
                "`{command}` exited with code {exit_code} after {seconds:.1}s; nothing was started"
            ),
        )
        .with("logs", output)
        .into());
    }
    for line in &output {
        progress.say(format!("| {line}"));
    }
    progress.say(format!("`{command}` succeeded in {seconds:.1}s"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_split_on_white_space() {
        assert_eq!(
            Command::parse(" migrate  --to  42 ").unwrap().0,
            ["migrate", "--to", "42"]
        );
        assert_eq!(
            Command::parse("migrate --to 42").unwrap().to_string(),
            "migrate --to 42"
        );
    }

    #[test]
    fn json_arrays_keep_arguments_whole() {
        let c = Command::parse(r#"["sh", "-c", "rake db:migrate && echo ok"]"#).unwrap();
        assert_eq!(c.0, ["sh", "-c", "rake db:migrate && echo ok"]);
        assert_eq!(c.to_string(), r#"["sh","-c","rake db:migrate && echo ok"]"#);
    }

    #[test]
    fn empty_or_malformed_commands_are_refused() {
        for bad in ["", "   ", "[]", r#"[""]"#, "[1, 2]", r#"["a""#] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
    }
}
