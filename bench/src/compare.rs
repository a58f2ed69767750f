//! `--compare A B`: two uprelay binaries measured side by side, at the same time.
//!
//! Why at the same time: a shared host like the 2-core machines this bench was written on
//! drifts by 10–25 % over minutes, more than most single optimisations are worth, so runs
//! one after another cannot tell two binaries apart. Here each round starts one complete
//! bench per binary at once (each with its own redis-server, emulator and uprelay), so both
//! see the same host. Each gets about half the machine: the absolute figures are lower than
//! a solo run's, but B/A is what the mode is for. Rounds alternate which one starts first.
//!
//! `--token-bytes-a N` gives side A's emulator another token length, so that the same binary
//! against itself measures what Google-sized access tokens cost.
//!
//! Besides pushes/s and uprelay's CPU per push, it divides that CPU by the load generator's
//! CPU per request. The load generator does a fixed amount of work per request, so the
//! quotient takes out how fast the host happened to run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::options::{Opts, StoreChoice};
use crate::print::group;
use crate::procs::ChildProc;

/// Longest one round may take beyond its load (start-up, pre-load, teardown).
const ROUND_SLACK: Duration = Duration::from_secs(300);

/// One binary's figures in one round.
#[derive(Debug, Clone, Copy)]
struct Side {
    rps: f64,
    cpu_us: f64,
    load_generator_us: f64,
    p99_ms: f64,
    /// uprelay's peak resident memory, MiB.
    rss_mib: f64,
}

impl Side {
    /// uprelay CPU per push over the load generator's CPU per request.
    fn normalised(&self) -> f64 {
        self.cpu_us / self.load_generator_us
    }
}

/// Run the comparison; true when every child's correctness check held.
pub async fn run(opts: &Opts, a: &Path, b: &Path, dir: &Path) -> anyhow::Result<bool> {
    for bin in [a, b] {
        if !bin.is_file() {
            bail!("--compare: {} does not exist", bin.display());
        }
    }
    let store = match opts.store {
        StoreChoice::Embedded => "embedded",
        StoreChoice::Redis | StoreChoice::Both => "redis",
    };
    println!("uprelay-bench --compare: both binaries at once, {} round(s)", opts.rounds);
    let tokens = |side: &str| if side == "A" { opts.token_bytes_a.unwrap_or(opts.token_bytes) } else { opts.token_bytes };
    println!("  A = {} ({}-character access tokens)", a.display(), tokens("A"));
    println!("  B = {} ({}-character access tokens)", b.display(), tokens("B"));
    println!(
        "  each: {store} store, unrestricted endpoints, R={} C={} B={} T={} s after {} s warm-up",
        group(opts.registrations as u64),
        opts.connections,
        opts.body_size,
        opts.duration,
        opts.warmup
    );
    println!("  (each stack gets about half the machine: compare B with A, not with a solo run)");
    if cfg!(debug_assertions) {
        println!("  NOTE: this is a debug build of the bench: the figures mean nothing; use `cargo run --release -p uprelay-bench`");
    }
    println!();
    println!("  {:<7} {:<3} {:>10} {:>11} {:>12} {:>9} {:>9}", "round", "", "pushes/s", "CPU µs/p", "load gen µs", "CPU/LG", "p99 ms");
    let mut rounds: Vec<(Side, Side)> = Vec::new();
    let mut all_ok = true;
    for round in 1..=opts.rounds {
        // Alternate who starts first, in case starting first matters.
        let order: [(&str, &Path); 2] = if round % 2 == 1 { [("A", a), ("B", b)] } else { [("B", b), ("A", a)] };
        let mut children = Vec::new();
        for (name, bin) in order {
            let report = dir.join(format!("compare-{round}-{name}.json"));
            let cmd = child_command(opts, store, bin, tokens(name), &report)?;
            children.push((name, ChildProc::spawn(&format!("compare-{round}-{name}"), cmd, dir)?, report));
        }
        let limit = Duration::from_secs_f64(opts.warmup + opts.duration) + ROUND_SLACK;
        let mut sides = [None, None];
        for (name, mut child, report) in children {
            let status = child.wait_exit(limit).await?;
            let side =
                read_report(&report).with_context(|| format!("round {round}, {name}: no figures ({status})\n{}", child.output_tail(30)))?;
            if !status.success() {
                // Exit 1: a run's 201 count differed from the emulator's accepted count.
                all_ok = false;
                println!("  round {round} {name}: the correctness check failed\n{}", child.output_tail(30));
            }
            println!(
                "  {:<7} {:<3} {:>10} {:>11.1} {:>12.1} {:>9.3} {:>9.2}",
                round,
                name,
                group(side.rps.round() as u64),
                side.cpu_us,
                side.load_generator_us,
                side.normalised(),
                side.p99_ms
            );
            sides[usize::from(name == "B")] = Some(side);
        }
        if let [Some(sa), Some(sb)] = sides {
            rounds.push((sa, sb));
        }
    }
    println!();
    summary(&rounds);
    Ok(all_ok)
}

/// The child bench: one run of `store`, no ceiling, no VAPID, figures to `report`.
fn child_command(opts: &Opts, store: &str, bin: &Path, token_bytes: usize, report: &Path) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("current_exe")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--uprelay-bin").arg(bin).args(["--no-build", "--no-bare", "--no-vapid", "--store", store]);
    cmd.args(["-c", &opts.connections.to_string(), "-b", &opts.body_size.to_string()]);
    cmd.args(["-t", &opts.duration.to_string(), "--warmup", &opts.warmup.to_string()]);
    cmd.args(["-r", &opts.registrations.to_string(), "--client-threads", &opts.client_threads.to_string()]);
    cmd.args(["--preload-concurrency", &opts.preload_concurrency.to_string(), "--redis-server", &opts.redis_server]);
    // The default profile's FCM, so that a comparison can be made against a distant FCM.
    let latency = format!("{},{}", opts.fcm_latency.ms, opts.fcm_latency.jitter);
    cmd.args(["--fcm-latency", &latency, "--token-bytes", &token_bytes.to_string()]);
    if let Some(n) = opts.fcm_connections {
        cmd.args(["--fcm-connections", &n.to_string()]);
    }
    if opts.fcm_http1 {
        cmd.arg("--fcm-http1");
    }
    if opts.redis_stock {
        cmd.arg("--redis-stock");
    }
    if let Some(tmp) = &opts.tmp_dir {
        cmd.arg("--tmp-dir").arg(tmp);
    }
    cmd.arg("--report-json").arg(report);
    crate::procs::clean_env(&mut cmd);
    Ok(cmd)
}

/// The one relay run of a child's `--report-json`.
fn read_report(path: &Path) -> anyhow::Result<Side> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let runs: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let run = runs.as_array().and_then(|r| r.first()).context("the report holds no run")?;
    let num = |key: &str| run[key].as_f64().with_context(|| format!("the report lacks {key:?}"));
    Ok(Side {
        rps: num("pushes_per_second")?,
        cpu_us: num("cpu_us_per_push")?,
        load_generator_us: num("load_generator_cpu_us")?,
        p99_ms: num("p99_ms")?,
        rss_mib: num("peak_rss_kib")? / 1024.0,
    })
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn summary(rounds: &[(Side, Side)]) {
    if rounds.is_empty() {
        println!("== compare: no complete round");
        return;
    }
    println!("== compare: means over {} round(s)", rounds.len());
    println!("  {:<28} {:>10} {:>10} {:>8}", "", "A", "B", "B/A");
    let row = |name: &str, f: &dyn Fn(&Side) -> f64, digits: usize| {
        let (ma, mb) = (mean(rounds.iter().map(|(a, _)| f(a))), mean(rounds.iter().map(|(_, b)| f(b))));
        println!("  {:<28} {:>10.*} {:>10.*} {:>8.3}", name, digits, ma, digits, mb, mb / ma);
    };
    row("pushes/s", &|s| s.rps, 0);
    row("uprelay CPU µs/push", &|s| s.cpu_us, 1);
    row("load generator CPU µs/req", &|s| s.load_generator_us, 1);
    row("uprelay CPU / load gen CPU", &|s| s.normalised(), 3);
    row("p99 ms", &|s| s.p99_ms, 2);
    row("uprelay peak RSS MiB", &|s| s.rss_mib, 1);
    let per_round: Vec<f64> = rounds.iter().map(|(a, b)| b.normalised() / a.normalised()).collect();
    let (lo, hi) = per_round.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    println!("  B/A of CPU / load gen CPU per round: {lo:.3} – {hi:.3} (below 1: B costs less per push)");
}
