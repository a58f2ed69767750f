//! What /proc says about a process (CPU time, peak RSS) and about the machine.

/// Clock ticks per second of /proc CPU times.
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// (utime, stime) of a process, in clock ticks, all threads included.
pub fn proc_cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime is field 14, stime field 15 → indexes 11 and 12 here.
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// A `VmHWM`-style line of /proc/<pid>/status, in KiB.
pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .and_then(|l| l[key.len() + 1..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Open file descriptors of a process (entries of /proc/<pid>/fd).
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Machine-wide (busy, total) jiffies from /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v[4]; // idle + iowait
    Some((total - idle, total))
}

/// CPU ticks of several processes (and the machine) at one instant.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// (utime, stime) per watched pid, in the order given.
    pub procs: Vec<Option<(u64, u64)>>,
    /// Machine (busy, total).
    pub machine: Option<(u64, u64)>,
}

pub fn sample(pids: &[u32]) -> Sample {
    Sample { procs: pids.iter().map(|p| proc_cpu_ticks(*p)).collect(), machine: machine_ticks() }
}
