//! Processes as the host's /proc shows them.

/// The fields of /proc/<pid>/stat after the command name (which may hold spaces and `)`):
/// state, ppid, process group, session, …; none once the process is gone.
pub fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A child process: its state (`S`, `R`, `Z`…) and its command line, arguments joined by
/// spaces (empty for a zombie).
pub struct ChildProcess {
    pub state: char,
    pub cmdline: String,
}

/// The children of `parent`, zombies included, as its threads list them in
/// /proc/<parent>/task/*/children.
pub fn children(parent: u32) -> Vec<ChildProcess> {
    let tasks = std::fs::read_dir(format!("/proc/{parent}/task"))
        .unwrap_or_else(|e| panic!("the threads of process {parent}: {e}"));
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|listed| {
            listed
                .split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .filter_map(|pid| {
            let state = stat_fields(pid).first()?.chars().next()?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|arg| !arg.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Some(ChildProcess { state, cmdline })
        })
        .collect()
}
