//! Child processes, ports, paths, temporary directories and bounded waiting.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// Path of a binary of this workspace, e.g. `bin_path("uprelay")`.
///
/// `UPRELAY_BIN` overrides the path of `uprelay`. Otherwise the binary is looked up next to the
/// test executable's profile directory (`…/target/debug/deps/test-xxxx` → `…/target/debug/uprelay`),
/// so it follows `CARGO_TARGET_DIR` and `--release`. Panics with a clear message when absent.
pub fn bin_path(name: &str) -> PathBuf {
    if name == "uprelay" {
        if let Some(p) = std::env::var_os("UPRELAY_BIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "UPRELAY_BIN={} does not exist", p.display());
            return p;
        }
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut candidates = Vec::new();
    if let Some(deps) = exe.parent() {
        if deps.file_name().is_some_and(|n| n == "deps") {
            if let Some(profile) = deps.parent() {
                candidates.push(profile.join(name));
            }
        }
        candidates.push(deps.join(name));
    }
    candidates.push(workspace_root().join("target").join("debug").join(name));
    for c in &candidates {
        if c.is_file() {
            assert_fresh(c);
            return c.clone();
        }
    }
    panic!(
        "binary `{name}` not found (looked at {candidates:?}). Build it first: \
         `cargo build -p uprelay` (or set UPRELAY_BIN)"
    );
}

/// `cargo test -p uprelay-tests` builds the `uprelay` library but not its binary, so a binary
/// older than one of its sources would silently test old code. Cargo's dep-info file next to
/// the binary (`uprelay.d`) lists exactly the sources it was built from: panic if any is newer.
/// `UPRELAY_ALLOW_STALE_BIN=1` skips the check.
fn assert_fresh(bin: &Path) {
    if std::env::var_os("UPRELAY_ALLOW_STALE_BIN").is_some() {
        return;
    }
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return;
    };
    let Ok(dep_info) = std::fs::read_to_string(bin.with_extension("d")) else {
        return;
    };
    let Some((_, deps)) = dep_info.lines().next().and_then(|l| l.split_once(": ")) else {
        return;
    };
    // Paths are separated by spaces; a space inside a path is escaped as "\ ".
    let deps = deps.replace("\\ ", "\u{0}");
    for dep in deps.split_whitespace() {
        let dep = PathBuf::from(dep.replace('\u{0}', " "));
        if let Ok(modified) = std::fs::metadata(&dep).and_then(|m| m.modified()) {
            assert!(
                modified <= built,
                "{} is older than its source {}: run `cargo build -p uprelay` before the tests \
                 (or set UPRELAY_ALLOW_STALE_BIN=1)",
                bin.display(),
                dep.display()
            );
        }
    }
}

/// The Python interpreter of the test venv: `UPRELAY_TEST_PYTHON`, else `<workspace>/.venv/bin/python`.
/// Panics with the command that creates the venv when it is missing.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("UPRELAY_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join(".venv").join("bin").join("python");
    assert!(
        p.exists(),
        "no Python venv at {}. Create it: python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt \
         (or set UPRELAY_TEST_PYTHON)",
        p.display()
    );
    p
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("cannot bind an ephemeral port")
}

/// A private temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{}-{nanos:x}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process that is killed (and reaped) when the guard drops. Its stdout and stderr go
/// to files, printed to stderr when the guard drops during a panic, so failing tests show them.
pub struct ChildGuard {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _logs: TempDir,
}

impl ChildGuard {
    /// Spawn `cmd` with stdin closed and output captured.
    pub fn spawn(name: &str, mut cmd: Command) -> ChildGuard {
        let logs = TempDir::new(&format!("uprelay-log-{name}"));
        let stdout = logs.join("stdout.log");
        let stderr = logs.join("stderr.log");
        cmd.stdin(Stdio::null()).stdout(File::create(&stdout).expect("stdout log")).stderr(File::create(&stderr).expect("stderr log"));
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ChildGuard { name: name.to_owned(), child, stdout, stderr, _logs: logs }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the child printed so far (stdout then stderr).
    pub fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("--- {} stdout ---\n{out}--- {} stderr ---\n{err}", self.name, self.name)
    }

    /// `Some(status)` once the child has exited.
    pub fn child_try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    /// Panics (with the child's output) if the child has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}\n{}", self.name, self.output());
        }
    }

    /// Wait until `url` answers any HTTP response, checking that the child is still alive.
    pub async fn wait_for_http(&mut self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        loop {
            self.assert_running();
            if client.get(url).send().await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "{} did not answer on {url} within 60 s\n{}", self.name, self.output());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Send SIGTERM (a graceful stop) without waiting; whether the signal was delivered.
    pub fn sigterm(&self) -> bool {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().is_ok_and(|s| s.success())
    }

    /// SIGKILL (no chance to flush anything) and reap; the output stays readable.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM (graceful stop) and wait for the exit, at most `timeout`; returns whether
    /// the process exited by itself.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        self.sigterm();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
    }
}

/// Wait until `url` answers any HTTP response (60 s at most, then panic).
pub async fn wait_for_http(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    loop {
        if client.get(url).send().await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "nothing answered on {url} within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait (at most `limit`) until `cond` holds, polling every 50 ms; whether it did.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
