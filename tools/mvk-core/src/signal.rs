//! SIGINT and SIGTERM turn into a flag that a tool checks at its safe points, so it can undo
//! its own half-done work and exit 130 instead of dying between two related changes; and into a
//! future ([`Interrupted`]) that a wait on the engine races against.

use crate::Fail;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: i32) {
    // Only an atomic store: anything else is not async-signal-safe.
    CAUGHT.store(signal, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores into an atomic.
        unsafe { sigaction(signal, &action) }.expect("installing a signal handler cannot fail");
    }
}

/// The signal caught so far, if any (`SIGINT`, `SIGTERM`).
pub fn caught() -> Option<&'static str> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        n if n == Signal::SIGINT as i32 => Some("SIGINT"),
        n if n == Signal::SIGTERM as i32 => Some("SIGTERM"),
        _ => Some("a signal"),
    }
}

/// `Err(interrupted)` once a signal has arrived: call it at every safe point.
pub fn check() -> Result<(), Fail> {
    match caught() {
        Some(name) => Err(Fail::interrupted(name)),
        None => Ok(()),
    }
}

/// Sleeps, waking early with `Err(interrupted)` when a signal arrives.
pub fn sleep(d: Duration) -> Result<(), Fail> {
    let end = Instant::now() + d;
    loop {
        check()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

#[derive(Default)]
struct Shared {
    waker: Mutex<Option<Waker>>,
    done: AtomicBool,
}

/// A future that completes when SIGINT or SIGTERM has arrived, to race against a stream from
/// the engine (a build, a push, a pull): one can run for minutes without a line of output,
/// from a registry that stalls, say, so a small thread polls the signal flag and wakes it.
pub struct Interrupted {
    shared: Arc<Shared>,
}

impl Interrupted {
    pub fn new() -> Interrupted {
        let shared = Arc::new(Shared::default());
        let watcher = Arc::clone(&shared);
        std::thread::spawn(move || {
            while !watcher.done.load(Ordering::SeqCst) {
                if caught().is_some() {
                    if let Some(w) = watcher.waker.lock().unwrap().take() {
                        w.wake();
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Interrupted { shared }
    }
}

impl Default for Interrupted {
    fn default() -> Interrupted {
        Interrupted::new()
    }
}

impl Future for Interrupted {
    type Output = &'static str;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        // Store the waker before looking, so a signal between the two is not missed.
        *self.shared.waker.lock().unwrap() = Some(cx.waker().clone());
        match caught() {
            Some(name) => Poll::Ready(name),
            None => Poll::Pending,
        }
    }
}

impl Drop for Interrupted {
    fn drop(&mut self) {
        self.shared.done.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Exit;

    /// Set in the child process that really raises the signal.
    const IN_CHILD: &str = "MVK_TEST_SIGNAL_CHILD";

    #[test]
    fn a_signal_sets_the_flag_and_wakes_sleep() {
        // The flag is process-wide: raised here, it would interrupt the other tests running
        // meanwhile (step's among them). So the test raises it in a child process of its own.
        if std::env::var_os(IN_CHILD).is_none() {
            let name = "signal::tests::a_signal_sets_the_flag_and_wakes_sleep";
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--test-threads=1"])
                .env(IN_CHILD, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        install();
        assert!(check().is_ok());
        let sender = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            nix::sys::signal::raise(Signal::SIGTERM).unwrap();
        });
        let start = Instant::now();
        let err = sleep(Duration::from_secs(10)).unwrap_err();
        sender.join().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(err.exit, Exit::Interrupted);
        assert_eq!(err.message, "interrupted by SIGTERM");
        CAUGHT.store(0, Ordering::SeqCst);
    }
}
