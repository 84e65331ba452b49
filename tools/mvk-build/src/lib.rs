//! mvk-build: builds the release image from a context directory (honouring `.dockerignore`
//! exactly as `docker build` does), tags and labels it, checks it, optionally pushes it, and
//! starts the release record (DESIGN.md §4).

mod builder;
mod buildkit;
mod checks;
mod context;
pub mod dockerignore;
mod labels;
mod prebuilt;
mod push;
mod release;
mod tar;
#[cfg(test)]
mod testdir;
pub mod trace;

// The parsers the fuzz targets (fuzz/) reach: keep them public.
pub use checks::parse_size;
pub use dockerignore::{read_patterns as read_dockerignore, Matcher as Dockerignore};

use anyhow::Result;
use bollard::models::ImageInspect;
use clap::builder::BoolishValueParser;
use clap::{CommandFactory, FromArgMatches, Parser};
use mvk_core::config::{app_name, Output};
use mvk_core::containers;
use mvk_core::docker::{api_error, Engine};
use mvk_core::registry;
use mvk_core::step::{self, Input};
use mvk_core::time::{rfc3339, round_ms};
use mvk_core::{section, signal, Fail, Progress, Record};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

/// Build the release image of an app from a context directory, check it, tag it
/// `<repo>:<release>`, optionally push it, and write a fresh release record on stdout.
///
/// The context is sent as `docker build` sends it (`.dockerignore` patterns, `!` exceptions,
/// `**`), to the engine's BuildKit (or its classic builder, --builder); the build log streams
/// to stderr. The release id is
/// --release, else the context's git short SHA (`-dirty` with uncommitted changes), else the
/// UTC time. The image is checked for a non-root user, a HEALTHCHECK, a size under --max-size
/// and an EXPOSEd --container-port; a failed check is a warning, or with --strict a failure.
///
/// With --image, nothing is built: the image is pulled (credentials as for --push), pinned by
/// digest, checked, and recorded the same way.
///
/// Exit codes: 0 built, 1 the build or (with --strict) a check failed, 2 bad input (context,
/// Dockerfile, .dockerignore, build arg), 4 Docker or the registry unavailable or refusing
/// credentials, 130 interrupted.
#[derive(Parser, Debug)]
#[command(
    name = "mvk-build",
    version,
    after_help = "Examples:
  mvk-build --app shop ./shop | mvk-healthwait | mvk-swap | mvk-verify
  mvk-build --app shop --build-arg VERSION=1.4 --build-target runtime --strict ./shop
  mvk-build --app shop --repo registry.example.com/team/shop --push ./shop
  mvk-build --app shop --image registry.example.com/team/shop@sha256:... | mvk-healthwait | mvk-swap"
)]
pub struct Args {
    /// The app this release is for; also the image repository unless --repo is given
    #[arg(long, env = "MVK_APP", value_parser = app_name, value_name = "APP")]
    pub app: String,
    /// The build context directory
    #[arg(
        long = "context",
        env = "MVK_CONTEXT",
        default_value = ".",
        value_name = "DIR"
    )]
    pub context: PathBuf,
    /// The build context directory, as a positional argument (wins over --context)
    #[arg(value_name = "CONTEXT")]
    pub context_arg: Option<PathBuf>,
    /// The Dockerfile [default: Dockerfile in the context]; relative to the current directory,
    /// as with `docker build -f`, and may lie outside the context
    #[arg(long, short = 'f', env = "MVK_FILE", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A build-time variable (repeatable); a bare KEY takes its value from the environment.
    /// Build args are visible in the image history: no secrets
    #[arg(long = "build-arg", env = "MVK_BUILD_ARG", value_parser = build_arg, value_name = "KEY=VALUE")]
    pub build_args: Vec<(String, String)>,
    /// The stage of a multi-stage Dockerfile to build (`--target` to docker build; MVK_TARGET is
    /// mvk-alerts' scrape target)
    #[arg(
        long = "build-target",
        visible_alias = "target",
        env = "MVK_BUILD_TARGET",
        value_name = "STAGE"
    )]
    pub target: Option<String>,
    /// Which of the engine's builders runs the build: auto is BuildKit where the engine offers
    /// it (API 1.39+, over its Unix socket) unless a base image comes from a registry the Docker
    /// config has credentials for, else the classic builder
    #[arg(
        long,
        env = "MVK_BUILDER",
        value_enum,
        default_value = "auto",
        value_name = "BUILDER"
    )]
    pub builder: buildkit::Builder,
    /// Build every step afresh, without the build cache
    #[arg(long, env = "MVK_NO_CACHE", value_parser = BoolishValueParser::new())]
    pub no_cache: bool,
    /// The release id and image tag [default: git short SHA of the context, else UTC time]
    #[arg(long, env = "MVK_RELEASE", value_parser = mvk_core::validate::release, value_name = "ID")]
    pub release: Option<String>,
    /// The image repository, with the registry to push to [default: the app name]
    #[arg(long, env = "MVK_REPO", value_parser = mvk_core::validate::repository, value_name = "REPO")]
    pub repo: Option<String>,
    /// Largest acceptable image size (100MB, 50MiB, bytes)
    #[arg(long, env = "MVK_MAX_SIZE", default_value = "100MB", value_parser = checks::parse_size, value_name = "SIZE")]
    pub max_size: u64,
    /// Port the app listens on inside the container; the image must EXPOSE it
    #[arg(long, env = "MVK_CONTAINER_PORT", default_value_t = 8000, value_name = "PORT",
          value_parser = mvk_core::config::port)]
    pub container_port: u16,
    /// Fail (exit 1) when an image check fails, instead of warning
    #[arg(long, env = "MVK_STRICT", value_parser = BoolishValueParser::new())]
    pub strict: bool,
    /// Push the image to the registry named in --repo (credentials from the Docker config)
    #[arg(long, env = "MVK_PUSH", value_parser = BoolishValueParser::new())]
    pub push: bool,
    /// Instead of building: pull this image built elsewhere (CI), by digest
    /// (`repo@sha256:…`) or tag, with the Docker config's credentials, and record it pinned
    /// by digest; the release is --release, else its mvk.release or
    /// org.opencontainers.image.revision label, else the digest's first 12 hex digits. The
    /// options of a build here (context, --file, --build-arg, --build-target, --no-cache,
    /// --repo, --push) conflict with it on the command line; set in the environment (an env
    /// file that also configures builds here) they are left unused
    #[arg(long, env = "MVK_IMAGE", value_parser = mvk_core::validate::image, value_name = "REF")]
    pub image: Option<String>,
    #[command(flatten)]
    pub output: Output,
}

/// `KEY=VALUE`, or a bare `KEY` whose value comes from the environment (as `docker build`
/// takes it).
pub fn build_arg(s: &str) -> Result<(String, String), String> {
    let (key, value) = match s.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (s, None),
    };
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{s}` is not KEY=VALUE (the key must be non-empty, without spaces)"
        ));
    }
    let value = match value {
        Some(v) => v.to_string(),
        None => std::env::var(key)
            .map_err(|_| format!("`{key}` has no value here and is not set in the environment"))?,
    };
    Ok((key.to_string(), value))
}

pub fn command() -> clap::Command {
    Args::command()
}

pub fn main() -> ExitCode {
    let matches = command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let progress = Progress::new("mvk-build", args.output.quiet);
    step::run(
        &progress,
        Input::Fresh(args.app.clone()),
        |record, progress| {
            prebuilt::build_options(&matches, progress)?;
            run(&args, record, progress)
        },
    )
}

pub fn run(args: &Args, record: &mut Record, progress: &Progress) -> Result<()> {
    if let Some(reference) = &args.image {
        return prebuilt::run(args, reference, record, progress);
    }
    let dir = args.context_arg.as_ref().unwrap_or(&args.context);
    let context = context::prepare(dir, args.file.as_deref())?;
    for socket in &context.skipped {
        progress.say(format!(
            "leaving out {}: a socket cannot go into a build context",
            socket.display()
        ));
    }
    let repo = match &args.repo {
        Some(repo) => repo.clone(),
        None => mvk_core::validate::repository(&args.app)
            .map_err(|e| Fail::usage(format!("{e}: give --repo")))?,
    };
    let started = SystemTime::now();
    let release = release::resolve(args.release.as_deref(), &context.dir, started);
    if let (None, Some(why)) = (&args.release, &release.no_git) {
        progress.say(format!(
            "no git revision ({why}): release {} from the clock",
            release.id
        ));
    }
    let image = format!("{repo}:{}", release.id);

    signal::check()?;
    let engine = Engine::connect()?;
    let clock = Instant::now();
    let inspect = build(&engine, args, context, &release, &image, started, progress)?;
    let seconds = round_ms(clock.elapsed().as_secs_f64());
    progress.say(format!(
        "built {image} ({}) in {seconds}s",
        inspect.id.as_deref().unwrap_or_default()
    ));
    let mut build = record_image(
        args,
        record,
        (&release.id, &image),
        &inspect,
        seconds,
        None,
        progress,
    )?;

    if args.push {
        signal::check()?;
        let digest = push::push(&engine, &repo, &release.id, progress)?;
        progress.say(format!("pushed {image} as {digest}"));
        build.digest = Some(digest);
        record.put(&build);
    }
    Ok(())
}

/// For the classic builder: puts the labels into the Dockerfile the daemon reads, where they
/// take one step (given as build options, they take one each). False when they cannot go
/// there, saying why.
fn labels_in_dockerfile(
    context: &mut context::Context,
    args: &Args,
    labels: &HashMap<String, String>,
    progress: &Progress,
) -> Result<bool> {
    let text = context.dockerfile_text()?;
    let why = match labels::labelled(&text, args.target.as_deref(), labels) {
        None => "the Dockerfile cannot take them as written (see mvk-build(1), --builder)",
        Some(text) => {
            if context.replace_dockerfile(text.into_bytes())? {
                return Ok(true);
            }
            "the context's .dockerignore does not leave itself out, so the image could copy it, and it must stay as it is"
        }
    };
    progress.say(format!(
        "the classic builder adds the {} labels one step each: {why}",
        labels.len()
    ));
    Ok(false)
}

/// Builds `image` from the context, labelled as the app's release, with BuildKit or the
/// classic builder, and returns the image the engine now has under that tag, which must be
/// the one just built.
fn build(
    engine: &Engine,
    args: &Args,
    context: context::Context,
    release: &release::Release,
    image: &str,
    started: SystemTime,
    progress: &Progress,
) -> Result<ImageInspect> {
    let revision = release.revision.as_deref().unwrap_or(&release.id);
    let created = rfc3339(started);
    let labels = containers::labels(
        &args.app,
        &release.id,
        &[
            ("org.opencontainers.image.revision", revision),
            ("org.opencontainers.image.created", &created),
        ],
    );
    let build_args: HashMap<String, String> = args.build_args.iter().cloned().collect();
    let credentials = match registry::load() {
        Ok(config) => config.map(|c| c.all()).unwrap_or_default(),
        Err(e) => {
            progress.say(format!(
                "warning: {e}; building without registry credentials"
            ));
            HashMap::new()
        }
    };
    progress.say(format!(
        "building {image} from {} ({} entries, {}, Dockerfile {})",
        context.dir.display(),
        context.entries.len(),
        checks::human(context.bytes()),
        context.dockerfile
    ));
    let (kit, why_classic) = buildkit::chosen(
        args.builder,
        engine,
        &context,
        &credentials.keys().cloned().collect::<Vec<_>>(),
    )?;
    if let Some(why) = why_classic {
        progress.say(format!("building with the classic builder: {why}"));
    }
    let mut context = context;
    let labels_in_dockerfile = !kit && labels_in_dockerfile(&mut context, args, &labels, progress)?;
    let no_labels = HashMap::new();
    let spec = builder::Spec {
        tag: image,
        dockerfile: &context.dockerfile,
        target: args.target.as_deref(),
        no_cache: args.no_cache,
        build_args: &build_args,
        labels: if labels_in_dockerfile {
            &no_labels
        } else {
            &labels
        },
        credentials,
    };
    let built = if kit {
        let entries = buildkit::entries(context.entries, context.only_for_the_builder);
        buildkit::build(engine, &spec, entries, progress)?
    } else {
        builder::build(engine, &spec, context.entries, progress)?
    };
    let inspect = engine
        .block_on(engine.api.inspect_image(image))
        .map_err(|e| api_error(e, &format!("inspecting {image}")))?;
    let image_id = inspect.id.as_deref().unwrap_or_default();
    if image_id != built {
        return Err(Fail::failed(
            "build",
            format!("{image} is {image_id}, not the image just built ({built}): was the tag moved meanwhile?"),
        )
        .into());
    }
    Ok(inspect)
}

/// Writes the record's release, image and build section for `inspect`, after checking the
/// image: what a build and a pulled image (--image) share. `named` is (release, image).
fn record_image(
    args: &Args,
    record: &mut Record,
    named: (&str, &str),
    inspect: &ImageInspect,
    seconds: f64,
    digest: Option<String>,
    progress: &Progress,
) -> Result<section::Build> {
    let (release, image) = named;
    let checks = checks::run(inspect, args.max_size, args.container_port);
    let build = section::Build {
        seconds,
        size_bytes: checks::image_size(inspect),
        user: checks::user(inspect),
        healthcheck: checks::healthcheck(inspect).is_some(),
        checks: checks.iter().map(checks::Check::to_json).collect(),
        digest,
        extra: Default::default(),
    };
    record.set("release", release);
    record.set("image", image);
    record.set("image_id", inspect.id.as_deref().unwrap_or_default());
    record.put(&build);
    judge(args, image, &checks, progress)?;
    Ok(build)
}

/// Failed checks are warnings, unless --strict makes them fail the build.
fn judge(args: &Args, image: &str, checks: &[checks::Check], progress: &Progress) -> Result<()> {
    let failed: Vec<&checks::Check> = checks.iter().filter(|c| !c.ok).collect();
    for check in &failed {
        progress.say(format!(
            "warning: check {} failed: {}",
            check.name, check.detail
        ));
    }
    if args.strict && !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|c| c.name).collect();
        return Err(Fail::failed(
            "checks",
            format!(
                "{image} failed the image checks ({}), and --strict is set",
                names.join(", ")
            ),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args() {
        assert_eq!(build_arg("A=1"), Ok(("A".into(), "1".into())));
        assert_eq!(build_arg("A=x=y"), Ok(("A".into(), "x=y".into())));
        assert_eq!(build_arg("A="), Ok(("A".into(), "".into())));
        std::env::set_var("MVK_BUILD_TEST_ARG", "from-env");
        assert_eq!(
            build_arg("MVK_BUILD_TEST_ARG"),
            Ok(("MVK_BUILD_TEST_ARG".into(), "from-env".into()))
        );
        for bad in ["=1", "A B=1", "", "MVK_BUILD_TEST_UNSET_ARG"] {
            assert!(build_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn flags_read_env_files_spelling_of_true() {
        for (value, want) in [
            ("1", true),
            ("yes", true),
            ("true", true),
            ("0", false),
            ("false", false),
        ] {
            std::env::set_var("MVK_STRICT", value);
            let args = Args::try_parse_from(["mvk-build", "--app", "shop"]).unwrap();
            assert_eq!(args.strict, want, "MVK_STRICT={value}");
        }
        std::env::remove_var("MVK_STRICT");
        let args =
            Args::try_parse_from(["mvk-build", "--app", "shop", "--strict", "--push"]).unwrap();
        assert!(args.strict && args.push && !args.no_cache);
    }
}
