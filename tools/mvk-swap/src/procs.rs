//! Processes as /proc shows them: nginx's master and its workers.
//!
//! A process is identified by its pid *and* its start time, so a pid the kernel hands out
//! again is never mistaken for the process that had it before.

use std::fs;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proc {
    pub pid: i32,
    /// Clock ticks after boot at which the process started (field 22 of /proc/<pid>/stat).
    pub start: u64,
}

/// What /proc/<pid>/stat tells about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub start: u64,
}

/// Parses /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so
/// the fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is fields[n - 3].
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// True while the process runs; a zombie (exited, not yet reaped) has exited.
pub fn alive(p: Proc) -> bool {
    stat(p.pid).is_some_and(|s| s.start == p.start && !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// The live process with this pid, if there is one.
pub fn find(pid: i32) -> Option<Proc> {
    let s = stat(pid)?;
    let p = Proc {
        pid,
        start: s.start,
    };
    alive(p).then_some(p)
}

/// The process's command line, its arguments joined by spaces (nginx rewrites its own to
/// `nginx: master process …`).
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The live children of `parent`: those its threads list in /proc/<pid>/task/*/children (a
/// few small reads, so a reload can be watched every millisecond), or, on a kernel built
/// without those files, those a scan of all of /proc finds.
pub fn children(parent: Proc) -> Vec<Proc> {
    let proc_dir = Path::new("/proc");
    let listed = listed_children(proc_dir, parent.pid);
    let pids = match listed {
        Some(pids) => pids,
        None => numbered(proc_dir),
    };
    let mut kids: Vec<Proc> = pids
        .into_iter()
        .filter_map(|pid| child(proc_dir, pid, parent.pid))
        .collect();
    kids.sort_by_key(|p| p.pid);
    kids.dedup();
    kids
}

/// The pids the threads of `parent` list as their children; None where the kernel has no
/// such files.
fn listed_children(proc_dir: &Path, parent: i32) -> Option<Vec<i32>> {
    let tasks = fs::read_dir(proc_dir.join(parent.to_string()).join("task")).ok()?;
    let mut pids = Vec::new();
    for task in tasks.filter_map(Result::ok) {
        let Ok(text) = fs::read_to_string(task.path().join("children")) else {
            // No such file on this kernel, unless the thread has just ended.
            if task.path().exists() {
                return None;
            }
            continue;
        };
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    Some(pids)
}

/// Every pid under /proc.
fn numbered(proc_dir: &Path) -> Vec<i32> {
    fs::read_dir(proc_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `pid`, if it is a live child of `parent`.
fn child(proc_dir: &Path, pid: i32, parent: i32) -> Option<Proc> {
    let s = parse_stat(&fs::read_to_string(proc_dir.join(pid.to_string()).join("stat")).ok()?)?;
    (s.ppid == parent && !matches!(s.state, 'Z' | 'X' | 'x')).then_some(Proc {
        pid,
        start: s.start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "4242 (nginx: wo) ker) S 4200 4200 4200 0 -1 4194624 10 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                ppid: 4200,
                start: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn finds_our_own_children_and_sees_them_exit() {
        let me = find(std::process::id() as i32).expect("this process is alive");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let kid = find(child.id() as i32).unwrap();
        assert!(children(me).contains(&kid));
        // The scan of /proc, for kernels without the children files, finds the same.
        let proc_dir = Path::new("/proc");
        let listed = listed_children(proc_dir, me.pid).expect("this kernel lists children");
        assert!(listed.contains(&kid.pid));
        assert_eq!(
            super::child(proc_dir, kid.pid, me.pid),
            Some(kid),
            "a child the scan finds"
        );
        assert!(numbered(proc_dir).contains(&kid.pid));
        child.kill().unwrap();
        // Killed but not reaped yet: a zombie, which counts as exited.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alive(kid) {
            assert!(
                std::time::Instant::now() < end,
                "the killed child still looks alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!children(me).contains(&kid));
        child.wait().unwrap();
        assert!(!alive(kid));
        assert!(
            !alive(Proc {
                pid: me.pid,
                start: me.start + 1
            }),
            "same pid, other start: another process"
        );
    }
}
