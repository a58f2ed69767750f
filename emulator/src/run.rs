//! Starting the emulator: the `uprelay emulator` command ([`EmulatorArgs`], [`run`]) and the
//! in-process emulator of the relay's sandbox mode ([`start`], [`Running`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::credentials::in_google_order;
use crate::guard::Policy;
use crate::http::Http;
use crate::realism::{MAX_LATENCY_MS, MAX_TOKEN_BYTES, MIN_TOKEN_BYTES};
use crate::serve::serve;
use crate::state::{Emulator, Realism};
use crate::wire::FCM_MAX_CONCURRENT_STREAMS;

/// CLI arguments of `uprelay emulator`.
#[derive(clap::Args, Debug, Clone)]
pub struct EmulatorArgs {
    /// Address to listen on (HTTP/1.1 and h2c). Loopback by default: the controls and the
    /// inbox page have no authentication.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Firebase project id of the credentials written at start.
    #[arg(long, default_value = "uprelay-sandbox")]
    pub project: String,
    /// Write a service-account JSON for `--project` (trusted by this emulator) to this file.
    #[arg(long)]
    pub write_credentials: Option<std::path::PathBuf>,
    /// Keep at most this many accepted messages for inspection (oldest dropped).
    #[arg(long, default_value_t = 10_000)]
    pub keep: usize,
    /// Lifetime of issued access tokens, seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Concurrent streams each h2c connection allows (its SETTINGS_MAX_CONCURRENT_STREAMS).
    /// Google's front ends allow 100; a lower one shows how a client spreads its sends.
    #[arg(long, default_value_t = FCM_MAX_CONCURRENT_STREAMS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
    /// Delay every `messages:send` answer by this many milliseconds (± `--jitter-ms`), as a
    /// distant FCM does (20–100 ms in production). Only the send's own stream waits.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_LATENCY_MS))]
    pub latency_ms: u64,
    /// Spread of the delay: each answer waits `--latency-ms` ± up to this many milliseconds
    /// (uniform; never less than 0).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_LATENCY_MS))]
    pub jitter_ms: u64,
    /// Length of the access tokens issued, characters: `ya29.` then base64url, like
    /// Google's (about a kilobyte, the default).
    #[arg(long, default_value_t = crate::realism::DEFAULT_TOKEN_BYTES as u64, value_parser = clap::value_parser!(u64).range(MIN_TOKEN_BYTES as u64..=MAX_TOKEN_BYTES as u64))]
    pub token_bytes: u64,
}

impl EmulatorArgs {
    fn realism(&self) -> Realism {
        Realism { latency_ms: self.latency_ms, jitter_ms: self.jitter_ms, token_bytes: self.token_bytes as usize }
    }
}

/// `http://ADDR` as clients should dial it (an unspecified listen address becomes loopback).
fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// The guard's policy for a listener bound to `addr`; a warning when that is not loopback,
/// since then anyone who can reach it can read the inbox and inject faults.
fn policy_for(addr: SocketAddr) -> Policy {
    let loopback_only = addr.ip().is_loopback();
    if !loopback_only {
        tracing::warn!(%addr, "the FCM emulator listens beyond loopback: anyone who reaches it can read its inbox and inject faults");
    }
    Policy { loopback_only }
}

/// Write `bytes` to `path` atomically (temp file + rename), readable by the owner only.
/// The temporary file is new (`O_CREAT | O_EXCL` under a random name: a leftover file or
/// a planted symlink under it makes the open fail — POSIX refuses to follow a link
/// there — and it is never written through) and created 0600; the rename replaces a link
/// at `path` itself, never its target.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let file_name = path.file_name().context("credentials path has no file name")?;
    let mut last = None;
    for attempt in 0..8u32 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".{:016x}.{attempt}.tmp", rand::random::<u64>()));
        let tmp = path.with_file_name(tmp_name);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = match opts.open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", tmp.display())),
        };
        let written = (|| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
        return Ok(());
    }
    Err(last.map(anyhow::Error::from).unwrap_or_else(|| anyhow::anyhow!("no temporary name")))
        .with_context(|| format!("cannot create a temporary file beside {}", path.display()))
}

async fn issue_blocking(emu: &Emulator, project: &str, token_uri: String) -> anyhow::Result<Value> {
    let (e, p) = (emu.clone(), project.to_owned());
    tokio::task::spawn_blocking(move || e.issue_credentials(&p, &token_uri)).await.context("credential generation panicked")
}

/// `uprelay emulator`: bind, write credentials if asked, print one line with the URL, and serve
/// (HTTP/1.1 and h2c) until `shutdown` resolves (the relay's binary passes its ctrl-c / SIGTERM
/// future), then close the connections gracefully.
pub async fn run(args: EmulatorArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let base = base_url(addr);
    let emu = Emulator::with_realism(&args.project, args.keep, Duration::from_secs(args.token_lifetime), args.realism());
    if let Some(path) = &args.write_credentials {
        let creds = issue_blocking(&emu, &args.project, format!("{base}/token")).await?;
        let mut text = serde_json::to_vec_pretty(&in_google_order(&creds))?;
        text.push(b'\n');
        write_private_atomic(path, &text)?;
    }
    let creds_note = match &args.write_credentials {
        Some(p) => format!(", credentials in {}", p.display()),
        None => String::new(),
    };
    println!("uprelay emulator listening on {base} (project {}{creds_note}); inbox page at {base}/", args.project);
    tracing::info!(url = %base, project = %args.project, "FCM emulator listening");
    serve(listener, Http::new(&emu, args.max_concurrent_streams, policy_for(addr)), emu.clone(), shutdown).await;
    Ok(())
}

/// An emulator serving from a background task of this process (the relay's sandbox mode),
/// made by [`start`]. Dropping it stops the emulator (without waiting for its connections);
/// [`Running::shutdown`] stops it and waits.
pub struct Running {
    emulator: Emulator,
    addr: SocketAddr,
    credentials: Value,
    /// Dropped (by `shutdown` or with the handle) to end the accept loop.
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Bind `addr`, create credentials for `project` (its `token_uri` on the bound address), and
/// serve the emulator (HTTP/1.1 and h2c, FCM's stream limit) in a background task.
pub async fn start(addr: SocketAddr, project: &str) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let base = base_url(bound);
    let emu = Emulator::new(project, 10_000, Duration::from_secs(3600));
    let credentials = issue_blocking(&emu, project, format!("{base}/token")).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    // The sender is never used to send: the accept loop ends when it is dropped.
    let task = tokio::spawn(serve(listener, Http::new(&emu, FCM_MAX_CONCURRENT_STREAMS, policy_for(bound)), emu.clone(), async {
        let _ = stopped.await;
    }));
    tracing::info!(url = %base, project, "in-process FCM emulator listening (sandbox mode)");
    Ok(Running { emulator: emu, addr: bound, credentials, stop, task })
}

impl Running {
    /// The address it listens on (`http://{addr}` is the FCM API URL to use).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service-account JSON issued at start, trusted by this emulator, for the project
    /// given to [`start`].
    pub fn credentials(&self) -> &Value {
        &self.credentials
    }

    /// The emulator's state, for inspecting kept messages and counters or injecting faults
    /// without going through HTTP.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Stop accepting connections, close the open ones gracefully, and wait until they are done.
    pub async fn shutdown(self) {
        let Running { stop, task, .. } = self;
        drop(stop);
        let _ = task.await;
    }
}
