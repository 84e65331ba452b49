//! The state store across processes: lock contention and a write killed half-way. The test
//! binary re-runs itself as the second process (`child_*` tests, ignored unless asked for).

use mvk_core::state::{Deployed, State, Store};
use mvk_core::{Exit, Fail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn temp(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mvk-core-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn_child(test: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MVK_TEST_DIR", dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let end = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < end, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn state_with(n: usize) -> State {
    let mut s = State::empty("shop");
    for i in 0..n {
        s.record_deploy(
            Deployed {
                release: format!("r{i}"),
                image: format!("shop:r{i}"),
                image_id: format!("sha256:{}", "ab".repeat(32)),
                slot: if i % 2 == 0 { "blue" } else { "green" }.into(),
                port: 8000,
                deployed_at: "2026-11-26T14:00:00Z".into(),
                // Padding makes each write large enough to be caught half-way.
                extra: [(
                    "notes".to_string(),
                    serde_json::Value::String("x".repeat(20_000)),
                )]
                .into_iter()
                .collect(),
            },
            50,
        );
    }
    s
}

#[test]
#[ignore = "run by lock_held_by_another_process_is_exit_4_naming_it"]
fn child_hold_lock() {
    let dir = PathBuf::from(std::env::var("MVK_TEST_DIR").unwrap());
    let _lock = Store::new(&dir, "shop").lock("mvk-swap").unwrap();
    std::fs::write(dir.join("held"), "").unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn lock_held_by_another_process_is_exit_4_naming_it() {
    let dir = temp("lock");
    let mut child = spawn_child("child_hold_lock", &dir);
    wait_for(&dir.join("held"));
    let err = Store::new(&dir, "shop")
        .lock("mvk-healthwait")
        .err()
        .expect("lock must be busy");
    let fail = Fail::classify(&err);
    assert_eq!(fail.exit, Exit::Unavailable);
    assert_eq!(fail.kind, "locked");
    assert!(fail.message.contains("mvk-swap"), "{}", fail.message);
    assert!(
        fail.message.contains(&format!("pid {}", child.id())),
        "{}",
        fail.message
    );
    assert!(fail.message.contains(" since 20"), "{}", fail.message);
    // The kernel releases the lock when its holder dies.
    child.kill().unwrap();
    child.wait().unwrap();
    let lock = Store::new(&dir, "shop").lock("mvk-healthwait").unwrap();
    drop(lock);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "run by a_write_killed_half_way_leaves_a_whole_state"]
fn child_write_forever() {
    let dir = PathBuf::from(std::env::var("MVK_TEST_DIR").unwrap());
    let store = Store::new(&dir, "shop");
    let lock = store.lock("writer").unwrap();
    for i in 0.. {
        lock.save(&state_with(1 + i % 40)).unwrap();
        if i == 0 {
            std::fs::write(dir.join("started"), "").unwrap();
        }
    }
}

#[test]
fn a_write_killed_half_way_leaves_a_whole_state() {
    let dir = temp("killed");
    let store = Store::new(&dir, "shop");
    for round in 0..5 {
        let _ = std::fs::remove_file(dir.join("started"));
        let mut child = spawn_child("child_write_forever", &dir);
        wait_for(&dir.join("started"));
        std::thread::sleep(Duration::from_millis(20 + 37 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        let state = store.load().expect("the state must parse after a kill");
        let n = state.history.len();
        assert!((1..=40).contains(&n));
        assert_eq!(state, state_with(n), "round {round}: a mix of two writes");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
