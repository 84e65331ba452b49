//! Long-lived connections (WebSockets, server-sent events, long polls) at the drain deadline.
//! nginx's old workers keep them open after the reload, so they are what keeps a drain waiting
//! until --drain. At the deadline mvk-swap counts the connections the old workers still hold
//! to the old release (their sockets, matched with the kernel's TCP table), stops the old
//! container (SIGTERM: a well-behaved app closes them properly, a WebSocket with 1001; SIGKILL
//! after --stop-timeout cuts them), and reports how they ended: `swap.long_lived`.

use crate::procs::{self, Proc};
use mvk_core::section::{Extra, LongLived};
use std::collections::HashSet;
use std::fs;
use std::time::{Duration, Instant};

/// How long the old workers get, after the old release stopped, to notice its connections
/// closed and exit (beyond that, nginx's `worker_shutdown_timeout` bounds them).
const SETTLE: Duration = Duration::from_secs(2);

/// The established TCP connections the `workers` hold to 127.0.0.1:`port`.
pub fn open(workers: &[Proc], port: u16) -> usize {
    let inodes: HashSet<u64> = workers
        .iter()
        .filter(|p| procs::alive(**p))
        .flat_map(|p| socket_inodes(p.pid))
        .collect();
    if inodes.is_empty() {
        return 0;
    }
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| established_to(l, port))
                .collect::<Vec<_>>()
        })
        .filter(|inode| inodes.contains(inode))
        .count()
}

/// The socket inodes among a process's open files.
fn socket_inodes(pid: i32) -> Vec<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return vec![];
    };
    fds.filter_map(|fd| {
        let target = fs::read_link(fd.ok()?.path()).ok()?;
        let text = target.to_str()?;
        text.strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
    .collect()
}

/// The inode of a /proc/net/tcp line for an ESTABLISHED connection to `port`.
fn established_to(line: &str, port: u16) -> Option<u64> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let remote_port = u16::from_str_radix(fields.get(2)?.rsplit_once(':')?.1, 16).ok()?;
    (remote_port == port && *fields.get(3)? == "01").then(|| fields.get(9)?.parse().ok())?
}

/// How the `open_at_deadline` connections ended once the old release was stopped in
/// `stop_took` (a stop that took the whole `stop_timeout` ended in SIGKILL).
pub fn ended(
    open_at_deadline: usize,
    workers: &[Proc],
    port: u16,
    stop_took: Duration,
    stop_timeout: Duration,
) -> LongLived {
    let end = Instant::now() + SETTLE;
    let mut left = open(workers, port);
    while (left > 0 || workers.iter().any(|p| procs::alive(*p))) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        left = open(workers, port);
    }
    let killed = stop_took + Duration::from_millis(200) >= stop_timeout;
    let gone = open_at_deadline.saturating_sub(left);
    LongLived {
        open_at_deadline,
        closed_by_app: if killed { 0 } else { gone },
        cut_by_sigkill: if killed { gone } else { 0 },
        still_open: left,
        old_workers_left: workers.iter().filter(|p| procs::alive(**p)).count(),
        extra: Extra::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn reads_established_connections_from_the_tcp_table() {
        let line = "   3: 0100007F:9C40 0100007F:1F40 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(established_to(line, 8000), Some(4242));
        assert_eq!(established_to(line, 8001), None);
        let listening = line.replace(" 01 ", " 0A ");
        assert_eq!(established_to(&listening, 8000), None);
    }

    #[test]
    fn counts_this_process_connections_to_a_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = procs::find(std::process::id() as i32).unwrap();
        let a = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let b = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(open(&[me], port), 2);
        drop((a, b));
        assert_eq!(open(&[me], port), 0);
    }
}
