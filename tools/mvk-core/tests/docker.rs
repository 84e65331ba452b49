//! The Docker connection: a real engine answers; an unreachable one is exit 4 with a plain
//! message. (Its own test binary, since it sets DOCKER_HOST for the process.)

use mvk_core::docker::Engine;
use mvk_core::{Exit, Fail};

#[test]
fn connects_to_the_engine_then_reports_an_unreachable_one_as_exit_4() {
    let engine = Engine::connect().expect("the local Docker engine must answer");
    assert!(engine
        .container("mvk-core-test-no-such-container")
        .unwrap()
        .is_none());
    assert!(engine
        .remove_container("mvk-core-test-no-such-container")
        .is_ok());

    std::env::set_var("DOCKER_HOST", "unix:///nonexistent/mvk-test.sock");
    let err = Engine::connect()
        .err()
        .expect("connecting to a missing socket must fail");
    let fail = Fail::classify(&err);
    assert_eq!(fail.exit, Exit::Unavailable);
    assert_eq!(fail.kind, "docker");
    assert!(
        fail.message.contains("unix:///nonexistent/mvk-test.sock")
            && fail.message.contains("does not answer"),
        "{}",
        fail.message
    );
}
