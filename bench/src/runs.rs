//! The two kinds of run: the bare handler (the ceiling) and `uprelay serve` on a store, each
//! under the same load, each ending in its [`RunReport`]. A relay run is: announce, start
//! its emulator, pre-load the store, start uprelay on it, measure, wait for the emulator's
//! count to meet the 201 count, print, report.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use http::{HeaderMap, HeaderValue, Uri};
use uprelay::store::{EmbeddedStore, RedisStore, Store};

use crate::load::LoadSpec;
use crate::measure::{measure, Measured};
use crate::print::{self, group};
use crate::procs::{self, ChildProc};
use crate::profile::Profile;
use crate::report::{RunReport, Target};
use crate::stack::{self, Env, Fcm, PROJECT};
use crate::{preload, sysstat, webpush};

/// The ceiling: an axum handler that only reads the body and answers 201, in its own
/// process, under the default load.
pub async fn run_bare(env: &mut Env, label: &str) -> anyhow::Result<RunReport> {
    let o = env.opts.clone();
    println!("== bare axum handler (the ceiling, {label}): C={} B={} T={} s", o.connections, o.body_size, o.duration);
    let port = procs::free_port()?;
    let exe = std::env::current_exe().context("current_exe")?;
    let mut cmd = Command::new(exe);
    cmd.args(["bare-server", "--listen", &format!("127.0.0.1:{port}")]);
    let mut child = ChildProc::spawn("bare-server", cmd, &env.dir)?;
    child.wait_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(30)).await?;
    let host = format!("127.0.0.1:{port}");
    let spec = LoadSpec {
        addr: host.parse()?,
        paths: paths(&preload::fake_endpoints(o.registrations.min(100_000)))?,
        bodies: env.bodies.clone(),
        headers: header_map(&host, None)?,
        connections: o.connections,
        threads: o.client_threads,
        rate: None,
    };
    let m = measure(&o, spec, vec![("bare-server".into(), child.pid())]).await?;
    child.check_running()?;
    let rss = sysstat::proc_status_kib(child.pid(), "VmHWM");
    let figures = print::measured(&m, "bare-server");
    if let Some(kib) = rss {
        println!("  bare-server  peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    println!();
    drop(child);
    Ok(RunReport { rss_hwm_kib: rss, ..RunReport::measured(label.into(), Target::Bare, o.connections, &figures, &m.load, m.peak_fds) })
}

/// One run of `uprelay serve` on `target` with `r` registrations, shaped by `profile`.
pub async fn run_relay(env: &mut Env, profile: &Profile, target: Target, vapid: bool, r: usize) -> anyhow::Result<RunReport> {
    let o = env.opts.clone();
    env.run_seq += 1;
    let label = format!("{}{}{}", target.name(), if vapid { "+vapid" } else { "" }, profile.suffix());
    announce(env, profile, target, vapid, r);
    let mut fcm = stack::start_emulator(env, profile).await?;
    let host = format!("127.0.0.1:{}", procs::free_port()?);
    let origin = format!("http://{host}");
    let sender = if vapid { Some(preload::VapidSender::generate()?) } else { None };
    let webpush = profile.webpush_key_reuse.map(|_| fcm.url.as_str());
    let loaded = preload_store(env, target, r, sender.as_ref().map(|s| s.key()), webpush).await?;
    let mut relay = start_relay(env, &fcm, profile, &host, &loaded.store_toml).await?;
    // Resident memory before and after the load: nothing scrapes /metrics in between, so
    // growth here is what an unscraped relay keeps.
    let rss_before = sysstat::proc_status_kib(relay.pid(), "VmRSS");

    let authorization = match &sender {
        Some(s) => Some(s.authorization(&origin)?),
        None => None,
    };
    let spec = LoadSpec {
        addr: host.parse()?,
        paths: paths(&loaded.endpoints)?,
        bodies: if profile.body_size == o.body_size { env.bodies.clone() } else { preload::random_bodies(64, profile.body_size) },
        headers: header_map(&host, authorization.as_deref())?,
        connections: profile.connections,
        threads: o.client_threads,
        rate: profile.rate,
    };
    drop(loaded.endpoints);
    let mut watched = vec![("uprelay".to_string(), relay.pid()), ("emulator".to_string(), fcm.proc.pid())];
    if let (Target::Redis, Some((redis, _))) = (target, &env.redis) {
        watched.push(("redis".to_string(), redis.pid()));
    }
    let emu_before = stack::emulator_accepted(env, &fcm.url).await?;
    let m = measure(&o, spec, watched).await?;
    relay.check_running()?;
    let rss = sysstat::proc_status_kib(relay.pid(), "VmHWM");
    let rss_after = sysstat::proc_status_kib(relay.pid(), "VmRSS");

    let total_201 = m.load.total_of(201);
    let emu_delta = accepted_since(env, &fcm, emu_before, total_201).await?;
    fcm.proc.check_running()?;
    let fcm_stats = stack::emulator_stats(env, &fcm.url).await?;
    let link = Link {
        fcm_max_in_flight: fcm_stats["max_sends_in_flight"].as_u64(),
        fcm_connections: fcm_stats["h2_connections_accepted"].as_u64(),
        // The relay's own count: the emulator shares the cores and reads requests late, so
        // its peak undercounts the streams uprelay had open at once.
        relay_max_in_flight: stack::relay_metric(env, &origin, in_flight_metric(profile)).await.map(|v| v as u64),
    };

    let figures = print::measured(&m, "uprelay");
    print_relay(&m, &link, (rss, rss_before, rss_after));
    let check_ok = emu_delta == total_201;
    print_check(&label, total_201, emu_delta, &relay);
    println!();
    drop(relay);
    if target == Target::Embedded {
        let _ = std::fs::remove_dir_all(embedded_dir(env));
    }
    Ok(RunReport {
        vapid,
        registrations: r,
        rss_hwm_kib: rss,
        emulator_delta: Some(emu_delta),
        check_ok,
        redis_bytes_per_reg: loaded.bytes_per_reg,
        profile: profile.name,
        fcm_latency: profile.latency,
        token_bytes: profile.token_bytes,
        fcm_max_in_flight: link.fcm_max_in_flight,
        relay_max_in_flight: link.relay_max_in_flight,
        fcm_connections: link.fcm_connections,
        offered_rate: profile.rate,
        fcm_connections_limit: profile.fcm_connections,
        max_concurrent: profile.max_concurrent,
        ..RunReport::measured(label, target, profile.connections, &figures, &m.load, m.peak_fds)
    })
}

/// The run's first line: what is measured, and in which shape.
fn announce(env: &Env, profile: &Profile, target: Target, vapid: bool, r: usize) {
    println!(
        "== uprelay, {} store, {} endpoints{}: R={} C={}{} B={} T={} s; FCM latency {}, {}-character access tokens{}",
        target.name(),
        if vapid { "VAPID-restricted" } else { "unrestricted" },
        if profile.name.is_empty() { String::new() } else { format!(", {} profile", profile.name) },
        group(r as u64),
        profile.connections,
        profile.rate.map(|r| format!(" open loop at {}/s", group(r.round() as u64))).unwrap_or_default(),
        profile.body_size,
        env.opts.duration,
        profile.latency,
        profile.token_bytes,
        match (profile.fcm_connections, profile.max_concurrent) {
            (None, None) => String::new(),
            (c, m) => format!(
                "; fcm.connections = {}, max_concurrent_requests = {}",
                c.map_or("default".into(), |c| c.to_string()),
                m.map_or("default".into(), |m| m.to_string())
            ),
        }
    );
}

/// A store filled for one run: its endpoints, the `[store]` table pointing uprelay at it,
/// and (Redis) the memory each registration took.
struct Loaded {
    endpoints: Vec<String>,
    store_toml: String,
    bytes_per_reg: Option<f64>,
}

/// Pre-load `r` registrations straight through the `Store` trait; with `webpush` (the run's
/// emulator) every device on the Web Push road, its token issued there.
async fn preload_store(
    env: &Env,
    target: Target,
    r: usize,
    vapid_key: Option<uprelay::webpush::VapidKey>,
    webpush: Option<&str>,
) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    match target {
        Target::Redis => {
            let url = env.redis.as_ref().map(|(_, u)| u.clone()).context("no redis-server")?;
            let mut conn = stack::redis_conn(&url).await?;
            let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await?;
            let before = stack::redis_used_memory(&mut conn).await?;
            let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&url).await?);
            let targets = webpush_targets(env, &*store, webpush, r).await?;
            let endpoints = preload::preload(store, r, PROJECT, vapid_key, targets, env.opts.preload_concurrency, r >= 100_000).await?;
            let grown = stack::redis_used_memory(&mut conn).await?.saturating_sub(before);
            let per = grown as f64 / r as f64;
            println!(
                "  preload      {} registrations in {:.1} s; Redis used_memory +{:.1} MiB = {per:.0} bytes/registration",
                group(r as u64),
                started.elapsed().as_secs_f64(),
                grown as f64 / 1048576.0,
            );
            Ok(Loaded { endpoints, store_toml: format!("[store]\nredis_url = \"{url}\"\n"), bytes_per_reg: Some(per) })
        }
        Target::Embedded => {
            let path = embedded_dir(env);
            let endpoints = {
                let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&path)?);
                let targets = webpush_targets(env, &*store, webpush, r).await?;
                // redb serialises write transactions; a little concurrency keeps the pipe full.
                preload::preload(store, r, PROJECT, vapid_key, targets, 8, r >= 100_000).await?
            }; // the store (and its file lock) is closed here, before uprelay opens it
            let size = std::fs::metadata(path.join("uprelay.redb")).map(|m| m.len()).unwrap_or(0);
            println!(
                "  preload      {} registrations in {:.1} s; redb file {:.1} MiB",
                group(r as u64),
                started.elapsed().as_secs_f64(),
                size as f64 / 1048576.0
            );
            Ok(Loaded { endpoints, store_toml: format!("[store]\npath = {:?}\n", path.display().to_string()), bytes_per_reg: None })
        }
        Target::Bare => unreachable!("the bare handler has no store"),
    }
}

/// The Web Push targets of a `--webpush` run's devices (None: the FCM v1 road's tokens).
async fn webpush_targets(
    env: &Env,
    store: &dyn Store,
    emulator_url: Option<&str>,
    r: usize,
) -> anyhow::Result<Option<Arc<Vec<uprelay::target::Target>>>> {
    let Some(url) = emulator_url else { return Ok(None) };
    Ok(Some(Arc::new(webpush::targets(store, url, &env.http, r).await?)))
}

fn embedded_dir(env: &Env) -> PathBuf {
    env.dir.join(format!("embedded-{}", env.run_seq))
}

/// Write the run's config (limiters off, log level warn, the profile's bounds) and start
/// `uprelay serve` on it, ready.
async fn start_relay(env: &Env, fcm: &Fcm, profile: &Profile, host: &str, store_toml: &str) -> anyhow::Result<ChildProc> {
    let fcm_connections = profile.fcm_connections.map(|n| format!("connections = {n}\n")).unwrap_or_default();
    let max_concurrent = profile.max_concurrent.map(|n| format!("max_concurrent_requests = {n}\n")).unwrap_or_default();
    let config = format!(
        "listen = \"{host}\"\n\n{store_toml}\n[fcm]\napi_url = \"{}\"\nhttp2_prior_knowledge = {}\n{fcm_connections}\n[[fcm.projects]]\nname = \"{PROJECT}\"\ncredentials = {:?}\n\n[limits]\npush_rate_per_second = 0\ndevice_create_per_minute = 0\nmax_connections_per_ip = 1000000\n{max_concurrent}\n[log]\nlevel = \"warn\"\n",
        fcm.url,
        !env.opts.fcm_http1,
        fcm.credentials.display().to_string(),
    );
    let config = match profile.webpush_key_reuse {
        Some(reuse) => format!("{config}\n{}", webpush::settings_toml(&fcm.url, reuse)),
        None => config,
    };
    let config_path = env.dir.join(format!("uprelay-{}.toml", env.run_seq));
    // The load comes from one address: lift the per-client request bound too, on builds
    // that have it (a comparison may run one from before it existed).
    let lifted =
        config.replace("max_connections_per_ip = 1000000\n", "max_connections_per_ip = 1000000\nmax_requests_per_client = 1000000\n");
    std::fs::write(&config_path, &lifted)?;
    let mut check = Command::new(&env.uprelay_bin);
    check.arg("check-config").arg("--config").arg(&config_path);
    procs::clean_env(&mut check);
    if !check.output().is_ok_and(|out| out.status.success()) {
        std::fs::write(&config_path, config)?;
    }
    let mut cmd = Command::new(&env.uprelay_bin);
    cmd.arg("serve").arg("--config").arg(&config_path);
    procs::clean_env(&mut cmd);
    let mut relay = ChildProc::spawn(&format!("uprelay-{}", env.run_seq), cmd, &env.dir)?;
    relay.wait_ready(&format!("http://{host}/readyz"), Duration::from_secs(60)).await?;
    Ok(relay)
}

/// Messages the emulator accepted since `before`. Every 201 means FCM accepted the message
/// (or it was queued for retry, which then lands shortly): wait a little for the counts to meet.
async fn accepted_since(env: &Env, fcm: &Fcm, before: u64, total_201: u64) -> anyhow::Result<u64> {
    let mut delta = stack::emulator_accepted(env, &fcm.url).await?.saturating_sub(before);
    let deadline = Instant::now() + Duration::from_secs(5);
    while delta != total_201 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        delta = stack::emulator_accepted(env, &fcm.url).await?.saturating_sub(before);
    }
    Ok(delta)
}

/// The metric of uprelay's most requests in flight on the run's road.
fn in_flight_metric(profile: &Profile) -> &'static str {
    match profile.webpush_key_reuse {
        Some(_) => "uprelay_webpush_sends_in_flight_max",
        None => "uprelay_fcm_sends_in_flight_max",
    }
}

/// The link to FCM as one run saw it.
struct Link {
    fcm_max_in_flight: Option<u64>,
    fcm_connections: Option<u64>,
    relay_max_in_flight: Option<u64>,
}

/// uprelay's memory and its link to FCM; `rss` is (peak, before the load, after it).
fn print_relay(m: &Measured, link: &Link, rss: (Option<u64>, Option<u64>, Option<u64>)) {
    if let Some(kib) = rss.0 {
        println!("  uprelay      peak RSS (VmHWM) {:.1} MiB", kib as f64 / 1024.0);
    }
    if let (Some(before), Some(after)) = (rss.1, rss.2) {
        println!(
            "  uprelay      RSS {:.1} MiB before the load, {:.1} MiB after it ({:+.1} MiB; /metrics not scraped)",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after as f64 - before as f64) / 1024.0
        );
    }
    let opt = |v: Option<u64>| v.map(group).unwrap_or_else(|| "-".into());
    println!(
        "  FCM          most sends in flight at once {} (uprelay's count {}); HTTP/2 connections opened {}; uprelay open fds at peak {}",
        opt(link.fcm_max_in_flight),
        opt(link.relay_max_in_flight),
        opt(link.fcm_connections),
        opt(m.peak_fds)
    );
}

/// The correctness check of a run: the emulator accepted exactly the 201s (and the line
/// `CHECK <run> 201=<n> emulator=<m> ok|mismatch` for scripts).
fn print_check(label: &str, total_201: u64, emu_delta: u64, relay: &ChildProc) {
    let check_ok = emu_delta == total_201;
    println!(
        "  emulator     accepted +{} ; 201 responses over the whole run (warm-up included) {} → {}",
        group(emu_delta),
        group(total_201),
        if check_ok { "equal" } else { "MISMATCH" }
    );
    println!("CHECK {label} 201={total_201} emulator={emu_delta} {}", if check_ok { "ok" } else { "mismatch" });
    if !check_ok {
        println!("{}", relay.output_tail(20));
    }
}

fn header_map(host: &str, authorization: Option<&str>) -> anyhow::Result<HeaderMap> {
    let mut h = HeaderMap::new();
    h.insert(http::header::HOST, HeaderValue::from_str(host)?);
    h.insert("ttl", HeaderValue::from_static("60"));
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("aes128gcm"));
    if let Some(a) = authorization {
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_str(a)?);
    }
    Ok(h)
}

fn paths(ids: &[String]) -> anyhow::Result<Vec<Uri>> {
    ids.iter().map(|id| Ok(Uri::try_from(format!("/up/{id}"))?)).collect()
}
