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
use crate::http::Http;
use crate::serve::serve;
use crate::state::Emulator;
use crate::wire::FCM_MAX_CONCURRENT_STREAMS;

/// CLI arguments of `uprelay emulator`.
#[derive(clap::Args, Debug, Clone)]
pub struct EmulatorArgs {
    /// Address to listen on (HTTP/1.1 and h2c).
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

/// Write `bytes` to `path` atomically (temp file + rename), readable by the owner only.
fn write_private_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let file_name = path.file_name().context("credentials path has no file name")?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
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
    let emu = Emulator::new(&args.project, args.keep, Duration::from_secs(args.token_lifetime));
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
    println!("uprelay emulator listening on {base} (project {}{creds_note})", args.project);
    tracing::info!(url = %base, project = %args.project, "FCM emulator listening");
    serve(listener, Http::new(&emu, args.max_concurrent_streams), shutdown).await;
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
    let task = tokio::spawn(serve(listener, Http::new(&emu, FCM_MAX_CONCURRENT_STREAMS), async {
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
