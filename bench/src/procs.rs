//! Child processes (killed on drop, on panic and on ctrl-c/SIGTERM), free ports, the
//! bench's private temporary directory, and locating (building) the `uprelay` binary.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Pids of every live child, so that a panic or a signal can kill them all.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// The bench's temporary directory, removed on exit.
static TEMP_DIR: OnceLock<PathBuf> = OnceLock::new();

/// SIGKILL every registered child (used on panic and on signals; children are also
/// started with PR_SET_PDEATHSIG so they die with the bench even on SIGKILL).
pub fn kill_all() {
    let pids: Vec<u32> = match CHILDREN.lock() {
        Ok(mut g) => g.drain(..).collect(),
        Err(p) => p.into_inner().drain(..).collect(),
    };
    for pid in pids {
        // SAFETY: plain syscall on a pid we started and have not reaped yet.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// Remove the temporary directory (best effort).
pub fn remove_temp_dir() {
    if let Some(dir) = TEMP_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Kill children, remove the temp dir, and exit with `code`.
pub fn cleanup_and_exit(code: i32) -> ! {
    kill_all();
    remove_temp_dir();
    std::process::exit(code);
}

/// Install the panic hook and the ctrl-c / SIGTERM handler (needs a tokio runtime).
pub fn install_cleanup_handlers() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all();
        default_hook(info);
    }));
    tokio::spawn(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term_recv = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term_recv => {},
        }
        eprintln!("uprelay-bench: interrupted; stopping child processes");
        cleanup_and_exit(130);
    });
}

/// Create (once) and return the bench's private temporary directory under `base`.
pub fn temp_dir(base: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = TEMP_DIR.get() {
        return Ok(d.clone());
    }
    let base = base.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("uprelay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _ = TEMP_DIR.set(dir.clone());
    Ok(dir)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
/// Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it);
/// (before, after), or None when the limit cannot be read.
pub fn raise_nofile_limit() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read or write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        let before = lim.rlim_cur;
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Some((before, before));
            }
        }
        Some((before, lim.rlim_cur))
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind an ephemeral port")?;
    Ok(l.local_addr()?.port())
}

/// A child process, SIGKILLed and reaped on drop. Output goes to files in the temp dir.
pub struct ChildProc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl ChildProc {
    /// Spawn `cmd` (stdin closed, output to `<dir>/<name>.{out,err}`), dying with the bench.
    /// Call from the main thread: PR_SET_PDEATHSIG follows the spawning thread.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> anyhow::Result<ChildProc> {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        cmd.stdin(Stdio::null()).stdout(File::create(&stdout).context("stdout log")?).stderr(File::create(&stderr).context("stderr log")?);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {name} ({cmd:?})"))?;
        CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).push(child.id());
        Ok(ChildProc { name: name.to_owned(), child, stdout, stderr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails (with the child's output) if it has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("{} exited early with {status}\n{}", self.name, self.output_tail(40));
        }
        Ok(())
    }

    /// Wait for the child to exit on its own; SIGKILLed and an error after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().with_context(|| format!("wait for {}", self.name))? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("{} did not finish within {limit:?}\n{}", self.name, self.output_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last `lines` lines of stdout and stderr.
    pub fn output_tail(&self, lines: usize) -> String {
        let tail = |p: &Path| {
            let s = std::fs::read_to_string(p).unwrap_or_default();
            let v: Vec<&str> = s.lines().collect();
            v[v.len().saturating_sub(lines)..].join("\n")
        };
        format!("--- {} stdout ---\n{}\n--- {} stderr ---\n{}", self.name, tail(&self.stdout), self.name, tail(&self.stderr))
    }

    /// Wait until `url` answers with a 2xx (at most `limit`), checking the child stays up.
    pub async fn wait_ready(&mut self, url: &str, limit: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + limit;
        loop {
            self.check_running()?;
            if let Ok(r) = client.get(url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("{} did not answer 2xx on {url} within {limit:?}\n{}", self.name, self.output_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until a TCP connection to `addr` succeeds.
    pub async fn wait_tcp(&mut self, addr: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            self.check_running()?;
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not accept connections on {addr} within {limit:?}\n{}", self.name, self.output_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(mut g) = CHILDREN.lock() {
            g.retain(|p| *p != pid);
        }
    }
}

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ has a parent").to_path_buf()
}

/// The `uprelay` release binary: `explicit` when given; otherwise `cargo build --release -p
/// uprelay` is run first (a no-op when it is up to date) unless `no_build`, and the binary is
/// taken from `$CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn locate_uprelay(explicit: Option<&Path>, no_build: bool) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("--uprelay-bin {} does not exist", p.display());
        }
        return Ok(p.to_path_buf());
    }
    let root = workspace_root();
    if !no_build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("uprelay-bench: cargo build --release -p uprelay (no-op when up to date)…");
        let status = Command::new(&cargo)
            .args(["build", "--release", "-p", "uprelay", "--bin", "uprelay"])
            .current_dir(&root)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {cargo:?}"))?;
        if !status.success() {
            bail!("cargo build --release -p uprelay failed ({status})");
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target = if target.is_relative() { root.join(target) } else { target };
    let bin = target.join("release").join("uprelay");
    if !bin.is_file() {
        bail!("{} not found: run `cargo build --release -p uprelay` or pass --uprelay-bin", bin.display());
    }
    Ok(bin)
}

/// Child processes must not inherit settings meant for someone else.
pub fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("UPRELAY_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
    }
}
