//! Drain, measured: after a reload nginx starts new workers on the new configuration and
//! tells the old ones to finish. An old worker exits once the last request it was serving
//! has been answered, so "every worker from before the reload has exited" is exactly "no
//! request is still in flight to the old release".

use crate::procs::{self, Proc};
use anyhow::Result;
use mvk_core::{signal, Fail};
use std::time::{Duration, Instant};

/// How often a drain looks at the old workers: it lasts as long as the slowest request.
const POLL: Duration = Duration::from_millis(10);
/// How often the reload and the handover are looked at: they take milliseconds, and the swap
/// (and with it the first request to the new release) waits on them.
const RELOAD_POLL: Duration = Duration::from_millis(1);

/// Waits until `master` runs a worker that was not among `before`: the reload took effect.
/// nginx keeps its old workers when it cannot apply the new configuration, so none appearing
/// within `bound` means the reload failed. Signals do not cut this short: once the reload is
/// sent, knowing whether it took is what decides between restoring and recording.
pub fn new_workers(master: Proc, before: &[Proc], bound: Duration) -> Result<Vec<Proc>> {
    let end = Instant::now() + bound;
    loop {
        if !procs::alive(master) {
            return Err(Fail::unavailable(
                "nginx",
                format!(
                    "nginx is not running: its master process {} exited during the reload",
                    master.pid
                ),
            )
            .into());
        }
        let fresh: Vec<Proc> = procs::children(master)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if !fresh.is_empty() {
            return Ok(fresh);
        }
        if Instant::now() >= end {
            return Err(Fail::failed(
                "nginx-reload",
                format!(
                    "nginx started no new worker within {} s of the reload: it did not apply the new configuration (see its error log)",
                    bound.as_secs()
                ),
            )
            .into());
        }
        std::thread::sleep(RELOAD_POLL);
    }
}

/// Waits until every worker in `old` has stopped taking new connections: it exited, or it
/// calls itself "shutting down" (nginx retitles a worker when it starts its graceful exit).
/// The master tells the old workers so about 100 ms after starting the new ones; until then
/// both take connections. Returns false if that did not happen within `bound`.
pub fn handed_over(old: &[Proc], bound: Duration) -> bool {
    let end = Instant::now() + bound;
    loop {
        let accepting = old
            .iter()
            .filter(|p| procs::alive(**p) && !procs::cmdline(p.pid).contains("shutting down"))
            .count();
        if accepting == 0 {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(RELOAD_POLL);
    }
}

/// How the old workers went.
pub struct Drained {
    pub seconds: f64,
    /// False when `--drain` ran out with old workers still serving.
    pub complete: bool,
}

/// Waits, from `since`, until every process in `old` has exited, for at most `bound`.
/// A signal ends the wait early with `Err(interrupted)`.
pub fn old_workers(old: &[Proc], since: Instant, bound: Duration) -> Result<Drained, Fail> {
    loop {
        let left = old.iter().filter(|p| procs::alive(**p)).count();
        let waited = since.elapsed();
        if left == 0 || waited >= bound {
            return Ok(Drained {
                seconds: mvk_core::time::round_ms(waited.min(bound).as_secs_f64()),
                complete: left == 0,
            });
        }
        signal::sleep(POLL)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn waits_for_the_old_processes_and_no_longer() {
        let mut quick = Command::new("sleep").arg("0.3").spawn().unwrap();
        let p = procs::find(quick.id() as i32).unwrap();
        // Reap it in the background, as nginx's master reaps its workers.
        let reaper = std::thread::spawn(move || quick.wait());
        let start = Instant::now();
        let drained = old_workers(&[p], start, Duration::from_secs(10)).unwrap();
        assert!(drained.complete);
        assert!(
            drained.seconds >= 0.2 && drained.seconds < 5.0,
            "{}",
            drained.seconds
        );
        reaper.join().unwrap().unwrap();

        let mut stuck = Command::new("sleep").arg("30").spawn().unwrap();
        let p = procs::find(stuck.id() as i32).unwrap();
        let drained = old_workers(&[p], Instant::now(), Duration::from_millis(200)).unwrap();
        assert!(!drained.complete);
        assert_eq!(drained.seconds, 0.2);
        stuck.kill().unwrap();
        stuck.wait().unwrap();
    }

    #[test]
    fn an_old_process_that_exits_has_handed_over_and_a_busy_one_has_not() {
        let mut quick = Command::new("sleep").arg("0.2").spawn().unwrap();
        let p = procs::find(quick.id() as i32).unwrap();
        let reaper = std::thread::spawn(move || quick.wait());
        assert!(handed_over(&[p], Duration::from_secs(10)));
        reaper.join().unwrap().unwrap();
        let mut busy = Command::new("sleep").arg("30").spawn().unwrap();
        let p = procs::find(busy.id() as i32).unwrap();
        assert!(!handed_over(&[p], Duration::from_millis(100)));
        busy.kill().unwrap();
        busy.wait().unwrap();
    }

    #[test]
    fn sees_a_new_child_or_gives_up() {
        // A parent that starts a second child a little later, like a master reloading.
        let mut parent = Command::new("sh")
            .args(["-c", "sleep 0.3; sleep 30; true"])
            .spawn()
            .unwrap();
        let master = procs::find(parent.id() as i32).unwrap();
        let mut before = procs::children(master);
        while before.is_empty() {
            std::thread::sleep(POLL);
            before = procs::children(master);
        }
        let fresh = new_workers(master, &before, Duration::from_secs(5)).unwrap();
        assert_eq!(fresh.len(), 1);
        // Seen as soon as it is forked, maybe before it runs `sleep`.
        let end = Instant::now() + Duration::from_secs(5);
        while procs::cmdline(fresh[0].pid) != "sleep 30" && Instant::now() < end {
            std::thread::sleep(POLL);
        }
        assert_eq!(procs::cmdline(fresh[0].pid), "sleep 30");
        let now = procs::children(master);
        let err = new_workers(master, &now, Duration::from_millis(50)).unwrap_err();
        assert_eq!(Fail::classify(&err).kind, "nginx-reload");
        for kid in now {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(kid.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        parent.kill().unwrap();
        parent.wait().unwrap();
    }
}
