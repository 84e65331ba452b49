//! What every Maverick tool shares.
//!
//! A tool's `main` calls [`step::run`] with a closure that does the tool's one job on the
//! release record; everything around that job (reading and validating the record, passing a
//! failed record through, signals, the `steps` entry, exit codes, printing the error once)
//! lives here so that every tool keeps the rules of DESIGN.md §2 the same way.

pub mod atomic;
pub mod below;
pub mod config;
pub mod containers;
pub mod docker;
pub mod envfile;
pub mod exit;
pub mod fail;
pub mod http;
pub mod live;
pub mod nginx;
pub mod progress;
pub mod pull;
pub mod record;
pub mod registry;
pub mod section;
pub mod signal;
pub mod slot;
pub mod state;
pub mod step;
pub mod swarm;
pub mod textfile;
pub mod time;
pub mod validate;

pub use exit::Exit;
pub use fail::Fail;
pub use progress::Progress;
pub use record::Record;
pub use slot::Slot;
