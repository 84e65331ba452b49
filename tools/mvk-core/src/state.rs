//! The per-app state (`<state-dir>/<app>/state.json`, DESIGN.md §3): the live release and the
//! release history, newest first. Written atomically, and only under the app's `flock`.

use crate::{atomic, time, validate, Fail, Slot};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The state file format this build writes. Older versions are read and migrated.
pub const STATE_VERSION: u64 = 1;
/// How many releases the history keeps (the live one included).
pub const HISTORY_LIMIT: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u64,
    pub app: String,
    /// The release nginx routes to, if any deploy has happened.
    pub live: Option<Deployed>,
    /// Every release deployed, newest first, at most [`HISTORY_LIMIT`].
    #[serde(default)]
    pub history: Vec<Deployed>,
    /// Fields written by newer tools or by users: kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployed {
    pub release: String,
    pub image: String,
    #[serde(default)]
    pub image_id: String,
    pub slot: String,
    pub port: u16,
    pub deployed_at: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Deployed {
    pub fn slot(&self) -> Option<Slot> {
        self.slot.parse().ok()
    }
}

impl State {
    pub fn empty(app: &str) -> State {
        State {
            version: STATE_VERSION,
            app: app.to_string(),
            live: None,
            history: vec![],
            extra: Map::new(),
        }
    }

    /// Makes `deployed` live and puts it first in the history, keeping at most `limit` entries.
    pub fn record_deploy(&mut self, deployed: Deployed, limit: usize) {
        self.history.insert(0, deployed.clone());
        self.history.truncate(limit.max(1));
        self.live = Some(deployed);
    }
}

/// Where one app's state and lock live.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    app: String,
}

impl Store {
    pub fn new(state_dir: &Path, app: &str) -> Store {
        Store {
            dir: state_dir.join(app),
            app: app.to_string(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Reads the state; an app that was never deployed has an empty one. Reading needs no
    /// lock, since writes replace the file whole.
    pub fn load(&self) -> Result<State> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State::empty(&self.app))
            }
            Err(e) => {
                return Err(Fail::unavailable(
                    "state",
                    format!("cannot read {}: {e}", path.display()),
                )
                .into())
            }
        };
        let state = parse(&text).map_err(|e| {
            Fail::unavailable(
                "state",
                format!("{} is not a Maverick state file: {e}", path.display()),
            )
        })?;
        if state.app != self.app {
            return Err(Fail::unavailable(
                "state",
                format!(
                    "{} is the state of app `{}`, not of {}: refusing to use it",
                    path.display(),
                    state.app,
                    self.app
                ),
            )
            .into());
        }
        Ok(state)
    }

    /// Takes the app's exclusive lock without waiting. When another process holds it, fails
    /// with exit 4, naming the holder's tool, pid and since when.
    ///
    /// The app's directory is created `rwx------` and the lock file `rw-------`: `flock` needs
    /// only a file one can open, so another user who could read it could block every deploy.
    /// A symlink or a file not owned by us at the lock's path is refused, never followed.
    pub fn lock(&self, tool: &str) -> Result<Lock> {
        atomic::private_dir(&self.dir).map_err(|e| {
            Fail::unavailable(
                "state",
                format!("cannot create {}: {e}", self.dir.display()),
            )
        })?;
        let path = self.lock_path();
        let file = open_lock(&path).map_err(|e| Fail::unavailable("state", format!("{e:#}")))?;
        let mut flock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Fail::unavailable(
                    "locked",
                    format!(
                        "app {} is locked by {} ({})",
                        self.app,
                        describe_holder(&holder),
                        path.display()
                    ),
                )
                .into());
            }
            Err((_, errno)) => {
                return Err(Fail::unavailable(
                    "state",
                    format!("cannot lock {}: {errno}", path.display()),
                )
                .into())
            }
        };
        // Say who holds it, for whoever finds it busy.
        let holder = format!(
            "{tool} (pid {}) since {}\n",
            std::process::id(),
            time::rfc3339(SystemTime::now())
        );
        flock.set_len(0).context("cannot truncate the lock file")?;
        flock.rewind().context("cannot rewind the lock file")?;
        flock
            .write_all(holder.as_bytes())
            .context("cannot write the lock file")?;
        Ok(Lock {
            file: flock,
            store: self.clone(),
        })
    }
}

/// Opens (or creates) a lock file without following a symlink and without truncating it
/// (the holder's line is only replaced once the lock is ours), and makes it `rw-------`.
fn open_lock(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
        anyhow::bail!(
            "the lock file {} is not a regular file of this user's: remove it",
            path.display()
        );
    }
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(file)
}

/// The holder's line as the lock file has it, and whether its pid still runs: a holder that is
/// gone means a process it started (and that inherited the lock) still holds it.
pub fn describe_holder(line: &str) -> String {
    let line = line.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return "another process".into();
    }
    let pid = line
        .split_once("(pid ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(pid, _)| pid.parse::<i32>().ok());
    match pid {
        Some(pid) if !running(pid) => format!(
            "{line}; pid {pid} is no longer running, so a process it started holds the lock"
        ),
        _ => line.to_string(),
    }
}

fn running(pid: i32) -> bool {
    pid > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(Errno::ESRCH)
        )
}

/// The app's lock; released on drop (and by the kernel if the process dies).
pub struct Lock {
    file: Flock<File>,
    store: Store,
}

impl Drop for Lock {
    /// Clears the holder's line before the lock goes (a line left behind by a process that died
    /// is replaced by the next holder's).
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

impl Lock {
    pub fn load(&self) -> Result<State> {
        self.store.load()
    }

    /// Replaces the state file atomically; it is `rw-------` (it names images and releases
    /// only root needs to see).
    pub fn save(&self, state: &State) -> Result<()> {
        let mut text = serde_json::to_string_pretty(state).context("cannot serialize the state")?;
        text.push('\n');
        atomic::write_with_mode(&self.store.path(), text.as_bytes(), 0o600)
            .map_err(|e| Fail::unavailable("state", format!("{e:#}")).into())
    }
}

/// Parses a state file of this or an earlier format version.
pub fn parse(text: &str) -> Result<State, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let version = match value.get("version") {
        None => 0,
        Some(v) => v.as_u64().ok_or("`version` is not a whole number")?,
    };
    if version > STATE_VERSION {
        return Err(format!(
            "it has format version {version}, and this mvk reads up to {STATE_VERSION}: upgrade mvk"
        ));
    }
    let mut state: State =
        serde_json::from_value(migrate(value, version)?).map_err(|e| e.to_string())?;
    state.version = STATE_VERSION;
    state.check()?;
    Ok(state)
}

impl State {
    /// Checks what the tools take from the state into Docker, nginx and messages, as the
    /// record's fields are checked.
    fn check(&self) -> Result<(), String> {
        validate::app(&self.app).map_err(|e| format!("`app`: {e}"))?;
        for (i, d) in self.live.iter().chain(&self.history).enumerate() {
            let at = if self.live.is_some() && i == 0 {
                "`live`".to_string()
            } else {
                format!("history entry {}", i + usize::from(self.live.is_none()))
            };
            validate::release(&d.release).map_err(|e| format!("{at}: {e}"))?;
            validate::image(&d.image).map_err(|e| format!("{at}: {e}"))?;
            if !d.image_id.is_empty() {
                validate::image_id(&d.image_id).map_err(|e| format!("{at}: {e}"))?;
            }
            d.slot.parse::<Slot>().map_err(|e| format!("{at}: {e}"))?;
            if d.port == 0 {
                return Err(format!("{at}: port 0"));
            }
        }
        Ok(())
    }
}

/// Brings an older state document up to the current version, one version at a time.
fn migrate(mut value: Value, version: u64) -> Result<Value, String> {
    for from in version..STATE_VERSION {
        value = match from {
            0 => from_v0(value)?,
            v => return Err(format!("unknown state format version {v}")),
        };
    }
    Ok(value)
}

/// Version 0 is the state file before it carried a `version`: the history under `releases`
/// (newest first, entries without `image_id`), and `live` naming the live release by its
/// release string (or null). Version 1 names the field `history` and makes `live` the whole
/// entry. A version-less file already shaped like version 1 is taken as it is.
fn from_v0(value: Value) -> Result<Value, String> {
    let Value::Object(mut doc) = value else {
        return Err("the state must be a JSON object".into());
    };
    if let Some(releases) = doc.remove("releases") {
        if doc.contains_key("history") {
            return Err("it holds both `releases` (format 0) and `history` (format 1)".into());
        }
        doc.insert("history".into(), releases);
    }
    if let Some(Value::String(live)) = doc.get("live") {
        let entry = doc
            .get("history")
            .and_then(Value::as_array)
            .and_then(|h| {
                h.iter()
                    .find(|d| d.get("release").and_then(Value::as_str) == Some(live))
            })
            .cloned()
            .ok_or_else(|| format!("its live release `{live}` is not among its releases"))?;
        doc.insert("live".into(), entry);
    }
    doc.insert("version".into(), 1.into());
    Ok(Value::Object(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed(release: &str) -> Deployed {
        Deployed {
            release: release.into(),
            image: format!("shop:{release}"),
            image_id: format!("sha256:{}", "1".repeat(64)),
            slot: "blue".into(),
            port: 8000,
            deployed_at: "2026-11-26T14:00:00Z".into(),
            extra: Map::new(),
        }
    }

    #[test]
    fn history_is_newest_first_and_bounded() {
        let mut s = State::empty("shop");
        for i in 0..5 {
            s.record_deploy(deployed(&i.to_string()), 3);
        }
        let releases: Vec<_> = s.history.iter().map(|d| d.release.as_str()).collect();
        assert_eq!(releases, ["4", "3", "2"]);
        assert_eq!(s.live.unwrap().release, "4");
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"version":1,"app":"shop","live":null,"history":[{"release":"a","image":"shop:a","image_id":"","slot":"blue","port":8000,"deployed_at":"x","note":"hi"}],"owner":"ops"}"#;
        let s = parse(text).unwrap();
        let back: Value = serde_json::to_value(&s).unwrap();
        assert_eq!(back["owner"], "ops");
        assert_eq!(back["history"][0]["note"], "hi");
    }

    const V0: &str = r#"{"app":"shop","live":"b2","owner":"ops",
        "releases":[{"release":"b2","image":"shop:b2","slot":"green","port":8001,"deployed_at":"2026-01-02T00:00:00Z"},
                    {"release":"a1","image":"shop:a1","slot":"blue","port":8000,"deployed_at":"2026-01-01T00:00:00Z","note":"first"}]}"#;

    #[test]
    fn version_0_is_migrated_keeping_history_live_and_unknown_fields() {
        let s = parse(V0).unwrap();
        assert_eq!(s.version, STATE_VERSION);
        let releases: Vec<_> = s.history.iter().map(|d| d.release.as_str()).collect();
        assert_eq!(releases, ["b2", "a1"]);
        let live = s.live.as_ref().unwrap();
        assert_eq!(
            (live.release.as_str(), live.slot.as_str(), live.port),
            ("b2", "green", 8001)
        );
        assert_eq!(s.history[1].image_id, "");
        assert_eq!(s.history[1].extra["note"], "first");
        assert_eq!(s.extra["owner"], "ops");
        // Written back, it is a version-1 file that reads the same.
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            text.contains("\"version\":1") && !text.contains("releases"),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap(), s);
    }

    #[test]
    fn version_0_edge_cases() {
        let s = parse(r#"{"app":"shop","live":null,"releases":[]}"#).unwrap();
        assert_eq!(s, State::empty("shop"));
        // Version-less but already shaped like version 1.
        let s = parse(r#"{"app":"shop","live":null,"history":[]}"#).unwrap();
        assert_eq!(s, State::empty("shop"));
        let e = parse(r#"{"app":"shop","live":"zz","releases":[]}"#).unwrap_err();
        assert!(
            e.contains("live release `zz` is not among its releases"),
            "{e}"
        );
        let e = parse(r#"{"app":"shop","live":null,"releases":[],"history":[]}"#).unwrap_err();
        assert!(e.contains("both"), "{e}");
        assert!(parse("[]").is_err());
    }

    #[test]
    fn a_newer_version_is_refused_not_discarded() {
        let e = parse(r#"{"version":99,"app":"shop","live":null,"history":[]}"#).unwrap_err();
        assert!(e.contains("upgrade mvk"), "{e}");
    }

    #[test]
    fn missing_state_is_empty_and_save_load_round_trips() {
        let dir = std::env::temp_dir().join(format!("mvk-state-unit-{}", std::process::id()));
        let store = Store::new(&dir, "shop");
        assert_eq!(store.load().unwrap(), State::empty("shop"));
        let lock = store.lock("test").unwrap();
        let mut s = lock.load().unwrap();
        s.record_deploy(deployed("a"), HISTORY_LIMIT);
        lock.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
        drop(lock);
        fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mvk-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_symlinked_lock_is_refused_and_its_target_untouched() {
        let dir = scratch("link");
        fs::create_dir_all(dir.join("shop")).unwrap();
        let target = dir.join("precious");
        fs::write(&target, "root's data\n").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("shop/lock")).unwrap();
        let err = Store::new(&dir, "shop")
            .lock("test")
            .err()
            .expect("refused");
        assert_eq!(Fail::classify(&err).exit, crate::Exit::Unavailable);
        assert_eq!(fs::read_to_string(&target).unwrap(), "root's data\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_lock_and_state_are_private_and_the_holder_line_is_cleared() {
        let dir = scratch("private");
        let store = Store::new(&dir, "shop");
        // A lock file left world-readable by an older version is made private.
        fs::create_dir_all(dir.join("shop")).unwrap();
        fs::write(store.lock_path(), "mvk-swap (pid 1) since then\n").unwrap();
        fs::set_permissions(store.lock_path(), fs::Permissions::from_mode(0o644)).unwrap();
        let lock = store.lock("mvk-test").unwrap();
        lock.save(&State::empty("shop")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.lock_path()), 0o600);
        assert_eq!(mode(&store.path()), 0o600);
        let line = fs::read_to_string(store.lock_path()).unwrap();
        assert!(
            line.starts_with(&format!("mvk-test (pid {})", std::process::id())),
            "{line}"
        );
        drop(lock);
        assert_eq!(fs::read_to_string(store.lock_path()).unwrap(), "");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_user_cannot_take_the_lock() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to run a process as nobody");
            return;
        }
        let dir = scratch("nobody");
        let store = Store::new(&dir, "shop");
        drop(store.lock("mvk-test").unwrap());
        // Even with the directories open to all, the lock file itself cannot be opened.
        for d in [&dir, &dir.join("shop")] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out = mvk_e2e::flock_as_nobody(&store.lock_path());
        assert!(!out.status.success(), "nobody took the lock");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(store.lock("mvk-test").unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_holder_that_is_gone_is_named_as_such() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let line = format!("mvk-deploy (pid {dead}) since 2026-11-26T14:00:00Z\n");
        let said = describe_holder(&line);
        assert!(said.contains("is no longer running"), "{said}");
        let alive = format!("mvk-swap (pid {}) since x", std::process::id());
        assert_eq!(describe_holder(&alive), alive);
        assert_eq!(describe_holder(""), "another process");
    }

    #[test]
    fn a_state_naming_another_app_or_holding_bad_fields_is_refused() {
        let dir = scratch("other");
        fs::create_dir_all(dir.join("shop")).unwrap();
        let mut other = State::empty("evil");
        other.record_deploy(deployed("a"), HISTORY_LIMIT);
        fs::write(
            dir.join("shop/state.json"),
            serde_json::to_string(&other).unwrap(),
        )
        .unwrap();
        let err = Store::new(&dir, "shop").load().unwrap_err();
        let fail = Fail::classify(&err);
        assert_eq!(fail.exit, crate::Exit::Unavailable);
        assert!(
            fail.message.contains("state of app `evil`, not of shop"),
            "{}",
            fail.message
        );
        let mut bad = State::empty("shop");
        bad.record_deploy(deployed("v1\"\nforged"), HISTORY_LIMIT);
        let e = parse(&serde_json::to_string(&bad).unwrap()).unwrap_err();
        assert!(e.starts_with("`live`: ") && !e.contains('\n'), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_state_is_exit_4_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("mvk-state-bad-{}", std::process::id()));
        fs::create_dir_all(dir.join("shop")).unwrap();
        fs::write(dir.join("shop/state.json"), "{not json").unwrap();
        let err = Store::new(&dir, "shop").load().unwrap_err();
        let fail = Fail::classify(&err);
        assert_eq!(fail.exit, crate::Exit::Unavailable);
        assert!(
            fail.message
                .contains("state.json is not a Maverick state file"),
            "{}",
            fail.message
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
