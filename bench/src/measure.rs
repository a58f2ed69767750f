//! One measured window: drive the load, and sample the CPU of the watched processes (and
//! of the bench itself, the load generator), the machine's busyness and the first
//! process's open descriptors around it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::{self, LoadResult, LoadSpec, Window};
use crate::options::Opts;
use crate::sysstat;

/// Results of the load plus CPU per watched process over the measured window.
pub struct Measured {
    pub load: LoadResult,
    /// Most open file descriptors of the first watched process (sampled every 100 ms).
    pub peak_fds: Option<u64>,
    /// Seconds of the measured window.
    pub secs: f64,
    /// (name, (user s, system s)) of each watched process over the sample interval.
    pub cpu_secs: Vec<(String, Option<(f64, f64)>)>,
    /// Seconds between the two CPU samples.
    pub sample_secs: f64,
    pub machine_busy_pct: Option<f64>,
}

/// How the bench's own process (which drives the load) is named in the CPU figures.
pub const LOAD_GENERATOR: &str = "load generator";

/// Drive the load and sample CPU of `watched` (and of the bench itself) around the window.
pub async fn measure(o: &Opts, spec: LoadSpec, watched: Vec<(String, u32)>) -> anyhow::Result<Measured> {
    let start = Instant::now() + Duration::from_millis(50);
    let measure_start = start + Duration::from_secs_f64(o.warmup);
    let measure_end = measure_start + Duration::from_secs_f64(o.duration);
    let window = Window { measure_start, measure_end, hard_end: measure_end + Duration::from_secs(20) };
    let mut names: Vec<String> = watched.iter().map(|(n, _)| n.clone()).collect();
    let mut pids: Vec<u32> = watched.iter().map(|(_, p)| *p).collect();
    names.push(LOAD_GENERATOR.into());
    pids.push(std::process::id());

    let monitor = std::thread::spawn(move || {
        let sleep_until = |t: Instant| {
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
        };
        sleep_until(measure_start);
        let (t0, s0) = (Instant::now(), sysstat::sample(&pids));
        sleep_until(measure_end);
        let (t1, s1) = (Instant::now(), sysstat::sample(&pids));
        (t1.duration_since(t0).as_secs_f64(), s0, s1)
    });
    let fd_pid = watched.first().map(|(_, p)| *p);
    let fds = std::thread::spawn(move || {
        let mut peak = None;
        while Instant::now() < measure_end {
            if let Some(n) = fd_pid.and_then(sysstat::open_fds) {
                peak = Some(peak.unwrap_or(0).max(n));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        peak
    });
    let spec = Arc::new(spec);
    let loader = std::thread::spawn(move || load::run(spec, window));
    let (load, mon, peak_fds) = tokio::task::spawn_blocking(move || (loader.join(), monitor.join(), fds.join())).await?;
    let peak_fds = peak_fds.unwrap_or(None);
    let load = load.map_err(|_| anyhow::anyhow!("load generator panicked"))?;
    let (sample_secs, s0, s1) = mon.map_err(|_| anyhow::anyhow!("CPU monitor panicked"))?;
    let tck = sysstat::clk_tck() as f64;
    let cpu_secs = names
        .into_iter()
        .zip(s0.procs.iter().zip(s1.procs.iter()))
        .map(|(n, (a, b))| {
            let d = match (a, b) {
                (Some(a), Some(b)) => Some((b.0.saturating_sub(a.0) as f64 / tck, b.1.saturating_sub(a.1) as f64 / tck)),
                _ => None,
            };
            (n, d)
        })
        .collect();
    let machine_busy_pct = match (s0.machine, s1.machine) {
        (Some(a), Some(b)) if b.1 > a.1 => {
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
            Some((b.0 - a.0) as f64 / (b.1 - a.1) as f64 * 100.0 * cores)
        }
        _ => None,
    };
    Ok(Measured { load, peak_fds, secs: o.duration, cpu_secs, sample_secs, machine_busy_pct })
}
