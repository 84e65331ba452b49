//! A future that completes when SIGINT or SIGTERM has arrived, to race against the build and
//! push streams: a build step can run for minutes without a line of output, and the runtime
//! here has no timers, so a small thread polls the signal flag and wakes the future.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[derive(Default)]
struct Shared {
    waker: Mutex<Option<Waker>>,
    done: AtomicBool,
}

pub struct Interrupted {
    shared: Arc<Shared>,
}

impl Interrupted {
    pub fn new() -> Interrupted {
        let shared = Arc::new(Shared::default());
        let watcher = Arc::clone(&shared);
        std::thread::spawn(move || {
            while !watcher.done.load(Ordering::SeqCst) {
                if mvk_core::signal::caught().is_some() {
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
        match mvk_core::signal::caught() {
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
