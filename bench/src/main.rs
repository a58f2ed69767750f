//! `uprelay-bench`: one command that measures uprelay on this machine.
//!
//! It starts a private `redis-server`, the FCM emulator (`--keep 0`: counts, keeps nothing)
//! and `uprelay serve` (limiters off, log level warn) as child processes; pre-loads R
//! registrations straight into the store; drives C keep-alive HTTP/1.1 connections posting
//! B-byte bodies with `TTL: 60` to random endpoints for T seconds after a warm-up; and prints
//! pushes/s, latency percentiles, non-201 responses, uprelay's peak RSS and CPU per push, and
//! the emulator's accepted count (which must equal the 201 count, or the bench exits 1).
//! A bare axum handler (`uprelay-bench bare-server`) under the same load gives the ceiling.
//! `--scale` compares R = 10^4 with R = 10^6 on Redis (memory per registration, p99 ratio);
//! `--compare A B` benches two uprelay binaries at the same time (see `compare.rs`).
//! `--realistic` adds, in the same invocation, the production-shaped profile (FCM 40 ± 20
//! ms away, Google-sized access tokens, C = 2048) and a run with 52-character tokens, and
//! judges the realistic targets (see `targets.rs`). `--webpush` adds, right after the
//! default Redis run, the same load on the Web Push road, and compares the roads' CPU per
//! push (see `webpush.rs`).
//!
//! This file is the order of the runs; what a run is lives in `runs.rs`, what it reports in
//! `report.rs`, how it is printed in `print.rs` and judged in `targets.rs`.

mod bare;
mod compare;
mod figures;
mod load;
mod measure;
mod options;
mod preload;
mod print;
mod procs;
mod profile;
mod report;
mod runs;
mod stack;
mod sysstat;
mod targets;
mod webpush;

use std::time::Duration;

use clap::Parser;

use crate::options::{Cli, Opts, StoreChoice, Sub};
use crate::profile::Profile;
use crate::report::{RunReport, Target};
use crate::runs::{run_bare, run_relay};
use crate::stack::Env;

fn main() {
    let cli = Cli::parse();
    if let Some(Sub::BareServer { listen }) = cli.command {
        if let Err(e) = bare::run(listen) {
            eprintln!("uprelay-bench bare-server: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    // block_on runs the bench on the main thread, which is where children are spawned
    // (PR_SET_PDEATHSIG is tied to the spawning thread).
    let code = rt.block_on(async {
        procs::install_cleanup_handlers();
        if let Some(Sub::Figures) = cli.command {
            return match figures_run(&cli.opts).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("uprelay-bench figures: {e:#}");
                    2
                }
            };
        }
        match bench(cli.opts).await {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("uprelay-bench: {e:#}");
                2
            }
        }
    });
    procs::cleanup_and_exit(code);
}

/// `uprelay-bench figures`: the figures the tests leave to the bench (see `figures.rs`).
async fn figures_run(opts: &Opts) -> anyhow::Result<()> {
    figures::run(&procs::locate_uprelay(opts.uprelay_bin.as_deref(), opts.no_build)?, opts.tmp_dir.as_deref()).await
}

/// One invocation: check the options, start the shared processes, make the runs in order,
/// print the tables. Ok(false) when a run's 201 count differs from the emulator's.
async fn bench(opts: Opts) -> anyhow::Result<bool> {
    opts.check()?;
    let dir = procs::temp_dir(opts.tmp_dir.as_deref())?;
    if let Some([a, b]) = opts.compare.as_deref() {
        return compare::run(&opts, a, b, &dir).await;
    }
    let uprelay_bin = procs::locate_uprelay(opts.uprelay_bin.as_deref(), opts.no_build)?;
    let stores: Vec<Target> = match opts.store {
        _ if opts.scale => vec![Target::Redis],
        StoreChoice::Redis => vec![Target::Redis],
        StoreChoice::Embedded => vec![Target::Embedded],
        StoreChoice::Both => vec![Target::Redis, Target::Embedded],
    };
    print::header(&opts, &uprelay_bin);
    // C = 2048 connections are 2048 descriptors in the load generator and as many in
    // uprelay (which inherits the limit): raise the soft limit to the hard one.
    if let Some((before, after)) = procs::raise_nofile_limit() {
        if before != after {
            println!("  RLIMIT_NOFILE raised from {before} to {after} (for the bench and its children)\n");
        }
    }
    let redis =
        if stores.contains(&Target::Redis) { Some(stack::start_redis(&opts.redis_server, !opts.redis_stock, &dir).await?) } else { None };
    let mut env = Env {
        bodies: preload::random_bodies(64, opts.body_size),
        opts: opts.clone(),
        dir,
        uprelay_bin,
        redis,
        http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
        run_seq: 0,
    };

    let reports = if opts.scale { scale_runs(&mut env).await? } else { default_runs(&mut env, &stores).await? };

    print::runs(&reports);
    let all_ok = targets::default_profile(&opts, &reports);
    if !opts.scale {
        targets::realistic(&opts, &reports);
    }
    if let Some(path) = &opts.report_json {
        report::write_json(path, &reports)?;
    }
    Ok(all_ok)
}

/// `--scale`: small, large, small again. The host's speed drifts over a minute (the other
/// processes' CPU per push moves by 10–25 %), and bracketing the large run lets the p99
/// ratio compare it with the mean of the runs on either side.
async fn scale_runs(env: &mut Env) -> anyhow::Result<Vec<RunReport>> {
    let o = env.opts.clone();
    let default = Profile::default_of(&o);
    let mut reports = Vec::new();
    for r in [o.registrations, o.scale_r, o.registrations] {
        reports.push(run_relay(env, &default, Target::Redis, false, r).await?);
    }
    Ok(reports)
}

/// The ceiling, then each store unrestricted and VAPID-restricted; a second ceiling right
/// after the first relay run, and the realistic runs right after the default Redis run.
async fn default_runs(env: &mut Env, stores: &[Target]) -> anyhow::Result<Vec<RunReport>> {
    let o = env.opts.clone();
    let default = Profile::default_of(&o);
    let ceiling = !o.no_bare;
    let mut reports = Vec::new();
    if ceiling {
        reports.push(run_bare(env, "bare").await?);
    }
    let modes: &[bool] = if o.no_vapid { &[false] } else { &[false, true] };
    let mut bracketed = false;
    for &vapid in modes {
        for &store in stores {
            reports.push(run_relay(env, &default, store, vapid, o.registrations).await?);
            // The ceiling run alone moves by 10–25 % between runs: a second one right after
            // the first relay run brackets it, and the ratio is taken to the mean of the two.
            if ceiling && !bracketed {
                bracketed = true;
                reports.push(run_bare(env, "bare-2").await?);
            }
            if o.webpush && store == Target::Redis && !vapid {
                let reuse = uprelay::road::webpush::WebPushSettings::default().key_reuse_secs;
                for key_reuse in [reuse, 0] {
                    reports.push(run_relay(env, &Profile::webpush(&o, key_reuse), Target::Redis, false, o.registrations).await?);
                }
            }
            if o.realistic && store == Target::Redis && !vapid {
                let default_rps = reports.iter().find(|x| x.target == Target::Redis && x.profile.is_empty()).map_or(1.0, |x| x.rps);
                reports.extend(realistic_runs(env, default_rps).await?);
            }
        }
    }
    Ok(reports)
}

/// Right after the default Redis run: the same load with short tokens (the token's cost),
/// then the realistic profile against that default run (closed loop, open loop at the
/// judged and at the busy share of its rate), then the overload.
async fn realistic_runs(env: &mut Env, default_rps: f64) -> anyhow::Result<Vec<RunReport>> {
    let o = env.opts.clone();
    let r = o.registrations;
    let mut reports = vec![run_relay(env, &Profile::short_tokens(&o), Target::Redis, false, r).await?];
    reports.push(run_relay(env, &Profile::realistic(&o), Target::Redis, false, r).await?);
    reports.push(run_relay(env, &Profile::realistic_open(&o, default_rps), Target::Redis, false, r).await?);
    reports.push(run_relay(env, &Profile::realistic_open_busy(&o, default_rps), Target::Redis, false, r).await?);
    reports.push(run_relay(env, &Profile::overload(&o), Target::Redis, false, r).await?);
    Ok(reports)
}
