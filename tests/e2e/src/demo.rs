//! Demo-app images: the static binary on scratch, with a version and a behaviour baked in as
//! `ENV` lines.

use crate::cmd::docker;
use crate::tmp::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Builds the static demo-app binary once per test process (`scripts/demo-app-binary`).
pub fn demo_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/demo-app-binary"))
            .output()
            .expect("run scripts/demo-app-binary");
        assert!(
            out.status.success(),
            "building the demo app failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Writes a build context for the demo app: its Dockerfile, the binary, and `ENV` lines.
pub fn write_context(dir: &Path, env: &[(&str, &str)]) {
    let mut dockerfile =
        std::fs::read_to_string(repo_root().join("tests/demo-app/Dockerfile")).unwrap();
    for (k, v) in env {
        dockerfile.push_str(&format!("ENV {k}=\"{v}\"\n"));
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::copy(demo_binary(), dir.join("demo-app")).unwrap();
}

/// Labels the image a build context makes as Maverick's for `app` (`mvk.app`), as mvk-build
/// labels what it builds.
pub fn label_context(dir: &Path, app: &str) {
    let dockerfile = dir.join("Dockerfile");
    let mut text = std::fs::read_to_string(&dockerfile).unwrap();
    text.push_str(&format!("LABEL mvk.app=\"{app}\"\n"));
    std::fs::write(&dockerfile, text).unwrap();
}

/// A demo-app build context for `app` answering `demo <version>`, unique to the app (so no
/// other test shares its image id), with extra `ENV` lines.
pub fn app_context(app: &crate::TestApp, version: &str, env: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("ctx");
    let mut all = vec![
        ("MVK_E2E_APP", app.name.as_str()),
        ("DEMO_VERSION", version),
    ];
    all.extend_from_slice(env);
    write_context(dir.path(), &all);
    dir
}

/// A demo-app image tagged `tag`, removed on drop.
pub struct DemoImage {
    pub tag: String,
    pub id: String,
}

impl DemoImage {
    pub fn build(tag: &str, env: &[(&str, &str)]) -> DemoImage {
        let ctx = TempDir::new("ctx");
        write_context(ctx.path(), env);
        DemoImage::build_context(tag, ctx.path())
    }

    /// Builds the context in `dir` (see [`write_context`]) as `tag`.
    pub fn build_context(tag: &str, dir: &Path) -> DemoImage {
        // No cache: parallel tests build alike images, and one test removing its image must not
        // pull a cached layer from under another test's build.
        docker(&[
            "build",
            "-q",
            "--no-cache",
            "-t",
            tag,
            dir.to_str().unwrap(),
        ])
        .unwrap_or_else(|e| panic!("docker build {tag}: {e}"));
        let id = docker(&["image", "inspect", "-f", "{{.Id}}", tag]).unwrap();
        DemoImage {
            tag: tag.to_string(),
            id,
        }
    }
}

impl Drop for DemoImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.tag]);
    }
}

/// A demo-app container published on a free loopback port, removed on drop.
pub struct DemoContainer {
    pub name: String,
    pub port: u16,
}

impl DemoContainer {
    /// `docker run -d` of `image` as `name` with extra `-e` variables.
    pub fn run(image: &str, name: &str, env: &[(&str, &str)]) -> DemoContainer {
        let port = crate::net::free_port();
        let publish = format!("127.0.0.1:{port}:8000");
        let mut args = vec!["run", "-d", "--name", name, "-p", &publish];
        let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for v in &vars {
            args.extend(["-e", v]);
        }
        args.push(image);
        docker(&args).unwrap_or_else(|e| panic!("docker run {image}: {e}"));
        DemoContainer {
            name: name.to_string(),
            port,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until `/health` answers (any status); false on timeout.
    pub fn wait_answering(&self, timeout: std::time::Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < end {
            if crate::net::get(&self.url("/health")).is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }

    pub fn inspect(&self, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.name]).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        let out = std::process::Command::new("docker")
            .args(["logs", &self.name])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for DemoContainer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.name]);
    }
}
