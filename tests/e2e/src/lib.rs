//! The harness the end-to-end tests share: the tools' binaries, demo-app images, a private
//! nginx on loopback, free ports, and cleanup of everything a test made, also when it fails.
//!
//! It drives Docker through the `docker` CLI on purpose: the tests check the tools (which use
//! the Engine API) with an independent client.

pub mod app;
pub mod candidate;
pub mod cmd;
pub mod debian;
pub mod demo;
pub mod fleet;
pub mod hey;
pub mod net;
pub mod nginx;
pub mod package;
pub mod procs;
pub mod prometheus;
pub mod registry;
pub mod schema;
pub mod script;
pub mod server;
pub mod stub;
pub mod swarm;
pub mod systemd;
pub mod tls;
pub mod tmp;
pub mod wait;
pub mod websocket;

pub use app::TestApp;
pub use candidate::{app_image, container_status, start_candidate};
pub use cmd::{docker, finish, flock_as_nobody, run_tool, signal, spawn_tool, tool, Run};
pub use demo::{demo_binary, DemoContainer, DemoImage};
pub use hey::Hey;
pub use net::{free_port, get, sleeping_requests, wait_for_port};
pub use nginx::Nginx;
pub use prometheus::{textfile_exporter, Prometheus};
pub use registry::Registry;
pub use script::{run_script, script, script_command, Interrupt, Interruptible};
pub use server::Server;
pub use stub::{StubRequest, StubServer};
pub use tls::{ServerCert, TestCa};
pub use tmp::TempDir;
pub use wait::wait_until;
pub use websocket::{Ending, WsClient};
