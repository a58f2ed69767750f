//! Load profiles of a bench invocation (the default one, the same with 52-character access
//! tokens, and the realistic one) and the realistic targets, judged on their runs.
//!
//! Why profiles in one invocation: the host's speed drifts by 10–25 % over minutes, so the
//! realistic profile is only comparable with a default run made minutes before it, on the
//! same binary, and the token's cost only with a run that differs in the token alone.

use std::fmt;

use crate::{group, print_targets, Opts, RunReport, Target};

/// Connections of the realistic profile: a busy relay's app servers.
pub const REALISTIC_CONNECTIONS: usize = 2048;
/// The open-loop realistic run offers `--realistic-open-pct` (90 by default) of the default
/// run's pushes/s: the rate the realistic profile must sustain (the ≥ 90 % target), so its
/// p99 is the latency at that load rather than the queueing a closed loop of 2048
/// connections forces.
const TARGET_OPEN_LOOP_PCT: f64 = 90.0;
/// The overload run: twice the realistic connections (C = 4096) against deliberately small
/// bounds: 8 FCM connections, and requests in flight capped at half the realistic
/// connections (1024).
const OVERLOAD_FCM_CONNECTIONS: usize = 8;
/// FCM's distance in the realistic profile (production answers in 20–100 ms).
const REALISTIC_LATENCY: FcmLatency = FcmLatency { ms: 40, jitter: 20 };
/// Body size of the realistic profile (a typical encrypted Web Push message).
const REALISTIC_BODY: usize = 1024;
/// Length of the emulator's tokens before Google-sized ones, the short side of the token's cost.
const SHORT_TOKEN: usize = 52;

/// The realistic profile's targets.
const TARGET_REALISTIC_PCT: f64 = 90.0;
const TARGET_P99_SLACK_MS: f64 = 25.0;
const TARGET_REALISTIC_RSS_MIB: f64 = 64.0;
const TARGET_TOKEN_COST: f64 = 1.05;
const TARGET_BARE_RATIO: f64 = 2.0;
const TARGET_DEFAULT_P99_MS: f64 = 10.0;

/// `--fcm-latency N[,J]`: the emulator answers every send after N ± J ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FcmLatency {
    pub ms: u64,
    pub jitter: u64,
}

impl fmt::Display for FcmLatency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ms, self.jitter) {
            (0, 0) => write!(f, "~0 ms"),
            (ms, 0) => write!(f, "{ms} ms"),
            (ms, j) => write!(f, "{ms} ± {j} ms"),
        }
    }
}

/// Parse `N` or `N,J` (milliseconds, each at most the emulator's maximum).
pub fn parse_latency(s: &str) -> Result<FcmLatency, String> {
    let (n, j) = s.split_once(',').unwrap_or((s, "0"));
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= uprelay_emulator::MAX_LATENCY_MS)
            .ok_or_else(|| format!("expected N or N,J in milliseconds (0..={}), got {s:?}", uprelay_emulator::MAX_LATENCY_MS))
    };
    Ok(FcmLatency { ms: num(n)?, jitter: num(j)? })
}

/// Parse `--realistic-open-pct`: a share of the default rate, in percent (1–200).
pub fn parse_share(s: &str) -> Result<f64, String> {
    s.parse::<f64>().ok().filter(|p| (1.0..=200.0).contains(p)).ok_or_else(|| format!("expected a percentage within 1..=200, got {s:?}"))
}

/// Parse `--token-bytes` within the emulator's bounds.
pub fn parse_token_bytes(s: &str) -> Result<usize, String> {
    let (lo, hi) = (uprelay_emulator::MIN_TOKEN_BYTES, uprelay_emulator::MAX_TOKEN_BYTES);
    s.parse::<usize>().ok().filter(|n| (lo..=hi).contains(n)).ok_or_else(|| format!("expected {lo}..={hi}, got {s:?}"))
}

/// The shape of one relay run's load and of its FCM.
#[derive(Debug, Clone)]
pub struct Profile {
    /// "" for the default profile; else appended to the run's label.
    pub name: &'static str,
    pub connections: usize,
    pub body_size: usize,
    pub latency: FcmLatency,
    pub token_bytes: usize,
    /// Open loop at this many pushes/s (None: closed loop).
    pub rate: Option<f64>,
    /// `fcm.connections` (None: `--fcm-connections` or uprelay's default).
    pub fcm_connections: Option<usize>,
    /// `limits.max_concurrent_requests` (None: uprelay's default).
    pub max_concurrent: Option<usize>,
    /// Devices on the Web Push road, the relay's `[webpush] key_reuse_secs` this (None:
    /// devices on the FCM v1 road).
    pub webpush_key_reuse: Option<u64>,
}

impl Profile {
    /// `-c`, `-b`, `--fcm-latency`, `--token-bytes`.
    pub fn default_of(o: &Opts) -> Profile {
        Profile {
            name: "",
            connections: o.connections,
            body_size: o.body_size,
            latency: o.fcm_latency,
            token_bytes: o.token_bytes,
            rate: None,
            fcm_connections: o.fcm_connections,
            max_concurrent: None,
            webpush_key_reuse: None,
        }
    }

    /// The default profile with every device on the Web Push road (`--webpush`), its ECDH
    /// results reused for `key_reuse_secs` ("webpush" at uprelay's default, else "webpush-noreuse").
    pub fn webpush(o: &Opts, key_reuse_secs: u64) -> Profile {
        let name = if key_reuse_secs == 0 { "webpush-noreuse" } else { "webpush" };
        Profile { name, webpush_key_reuse: Some(key_reuse_secs), ..Profile::default_of(o) }
    }

    /// The default profile with the emulator's old 52-character tokens.
    pub fn short_tokens(o: &Opts) -> Profile {
        Profile { name: "52tok", token_bytes: SHORT_TOKEN, ..Profile::default_of(o) }
    }

    /// The production-shaped load (on Redis).
    pub fn realistic(o: &Opts) -> Profile {
        Profile {
            name: "realistic",
            connections: o.realistic_c,
            body_size: REALISTIC_BODY,
            latency: REALISTIC_LATENCY,
            token_bytes: uprelay_emulator::DEFAULT_TOKEN_BYTES,
            rate: None,
            fcm_connections: o.fcm_connections,
            max_concurrent: None,
            webpush_key_reuse: None,
        }
    }

    /// The realistic profile driven open-loop at `--realistic-open-pct` of the default run's
    /// pushes/s.
    pub fn realistic_open(o: &Opts, default_rps: f64) -> Profile {
        Profile { name: "realistic-open", rate: Some((default_rps * o.realistic_open_pct / 100.0).max(1.0)), ..Profile::realistic(o) }
    }

    /// The realistic profile at twice the connections, against `fcm.connections = 8` and
    /// `max_concurrent_requests = 1024`: the bounds must hold and the excess be shed.
    pub fn overload(o: &Opts) -> Profile {
        Profile {
            name: "overload",
            connections: o.realistic_c * 2,
            fcm_connections: Some(OVERLOAD_FCM_CONNECTIONS),
            max_concurrent: Some((o.realistic_c / 2).max(1)),
            ..Profile::realistic(o)
        }
    }

    /// What the run's label gets.
    pub fn suffix(&self) -> String {
        if self.name.is_empty() {
            String::new()
        } else {
            format!("-{}", self.name)
        }
    }
}

/// Print the realistic targets, PASS or MISS (reported, never asserted).
pub fn targets(o: &Opts, reports: &[RunReport]) {
    let find = |profile: &str| reports.iter().find(|x| x.target == Target::Redis && !x.vapid && x.profile == profile);
    let (default, short, realistic) = (find(""), find("52tok"), find("realistic"));
    let (open, overload) = (find("realistic-open"), find("overload"));
    let mut rows: Vec<(String, String, Option<bool>)> = Vec::new();
    let not_run = |why: &str| (why.to_owned(), None);

    match (default, realistic) {
        (Some(d), Some(r)) => {
            let pct = r.rps / d.rps.max(1.0) * 100.0;
            rows.push((
                format!("realistic: ≥ {TARGET_REALISTIC_PCT} % of the default profile's pushes/s"),
                format!("{pct:.1} % ({}/s of {}/s)", group(r.rps.round() as u64), group(d.rps.round() as u64)),
                Some(pct >= TARGET_REALISTIC_PCT),
            ));
            let bound = (r.fcm_latency.ms + r.fcm_latency.jitter) as f64 + TARGET_P99_SLACK_MS;
            // A closed loop of 2048 connections cannot show it: by Little's law its mean
            // latency is at least C ÷ pushes/s (2048 ÷ 17k/s ≈ 120 ms here), whatever the
            // relay does. The open-loop run offers 90 % of the default rate and is judged.
            match open {
                Some(op) => {
                    let offered = op.offered_rate.unwrap_or(0.0);
                    // At another share the rows are figures only: the target is at 90 %.
                    let judged = o.realistic_open_pct == TARGET_OPEN_LOOP_PCT;
                    let kept = op.rps / offered.max(1.0) * 100.0;
                    rows.push((
                        format!(
                            "realistic, open loop at {:.0} % of the default rate{}: answered ≥ 98 % of the offered pushes/s",
                            o.realistic_open_pct,
                            if judged { "" } else { " (the target's rate is 90 %)" }
                        ),
                        format!("{kept:.1} % ({}/s of {}/s offered)", group(op.rps.round() as u64), group(offered.round() as u64)),
                        judged.then_some(kept >= 98.0),
                    ));
                    let p99 = op.p99_us as f64 / 1000.0;
                    rows.push((
                        format!("realistic, open loop: p99 ≤ FCM latency + jitter + {TARGET_P99_SLACK_MS} ms"),
                        format!("{p99:.1} ms (bound {bound} ms; closed loop C = {}: {:.1} ms)", r.connections, r.p99_us as f64 / 1000.0),
                        judged.then_some(p99 <= bound),
                    ));
                }
                None => rows.push(("realistic: p99 (open loop)".into(), "not run".into(), None)),
            }
            let non_201 = r.non_201 + open.map_or(0, |o| o.non_201);
            rows.push(("realistic (both loops): zero non-201".into(), group(non_201), Some(non_201 == 0)));
            // Judged on uprelay's own peak: the emulator, on the same two cores, reads
            // requests late and counts fewer at once than the relay had open.
            match (r.fcm_connections, r.relay_max_in_flight) {
                (Some(c), Some(peak)) => {
                    let bound = peak.div_ceil(100) + 1;
                    rows.push((
                        "realistic: FCM connections ≤ ⌈peak in flight ÷ 100⌉ + 1".into(),
                        format!(
                            "{c} (bound {bound}; peak in flight {}, the emulator saw {})",
                            group(peak),
                            r.fcm_max_in_flight.map_or("-".into(), group)
                        ),
                        Some(c <= bound),
                    ));
                }
                _ => rows.push(("realistic: FCM connections".into(), "unavailable".into(), None)),
            }
            let rss = r.rss_hwm_kib.map(|k| k as f64 / 1024.0);
            rows.push((
                format!("realistic: uprelay peak RSS ≤ {TARGET_REALISTIC_RSS_MIB} MiB"),
                rss.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "unavailable".into()),
                rss.map(|m| m <= TARGET_REALISTIC_RSS_MIB),
            ));
        }
        _ => {
            let (m, r) = not_run("not run (add --realistic; needs the Redis store)");
            rows.push(("realistic profile targets".into(), m, r));
        }
    }
    match (default.and_then(|d| d.cpu_us_per_push.map(|c| (d, c))), short.and_then(|s| s.cpu_us_per_push)) {
        (Some((d, long)), Some(short_cpu)) => {
            let ratio = long / short_cpu;
            rows.push((
                // One run after the other: host drift of 10–25 % swamps a 5 % target; the
                // resolved figure is `--compare X X --token-bytes-a 52` (README).
                format!(
                    "{}-character tokens cost ≤ {:.0} % more CPU/push than {SHORT_TOKEN} (runs in sequence: noisy)",
                    d.token_bytes,
                    (TARGET_TOKEN_COST - 1.0) * 100.0
                ),
                format!("{long:.1} / {short_cpu:.1} µs = {ratio:.3}×"),
                Some(ratio <= TARGET_TOKEN_COST),
            ));
        }
        _ => {
            let (m, r) = not_run("not run (add --realistic)");
            rows.push(("Google-sized tokens' CPU cost".into(), m, r));
        }
    }
    let bare: Vec<f64> = reports.iter().filter(|x| x.target == Target::Bare).filter_map(|x| x.cpu_us_per_push).collect();
    match default {
        Some(d) => {
            match (d.cpu_us_per_push, bare.is_empty()) {
                (Some(c), false) => {
                    let mean = bare.iter().sum::<f64>() / bare.len() as f64;
                    let ratio = c / mean;
                    rows.push((
                        format!("default: uprelay CPU/push ≤ {TARGET_BARE_RATIO} × the bare handler's CPU/request"),
                        format!("{c:.1} / {mean:.1} µs = {ratio:.2}×"),
                        Some(ratio <= TARGET_BARE_RATIO),
                    ));
                }
                _ => {
                    let (m, r) = not_run("not run (bare run skipped)");
                    rows.push(("default: CPU/push vs the bare handler".into(), m, r));
                }
            }
            let p99 = d.p99_us as f64 / 1000.0;
            rows.push((format!("default: p99 ≤ {TARGET_DEFAULT_P99_MS} ms"), format!("{p99:.2} ms"), Some(p99 <= TARGET_DEFAULT_P99_MS)));
        }
        None => {
            let (m, r) = not_run("not run (needs the Redis store)");
            rows.push(("default profile targets".into(), m, r));
        }
    }
    match overload {
        Some(x) => {
            let limit = x.fcm_connections_limit.unwrap_or(0) as u64;
            rows.push((
                format!("overload C = {}: FCM connections ≤ fcm.connections = {limit}", x.connections),
                x.fcm_connections.map_or("unavailable".into(), |c| c.to_string()),
                x.fcm_connections.map(|c| c <= limit),
            ));
            let max = x.max_concurrent.unwrap_or(0) as u64;
            rows.push((
                format!("overload: sends in flight at FCM ≤ max_concurrent_requests = {max}"),
                x.fcm_max_in_flight.map_or("unavailable".into(), group),
                x.fcm_max_in_flight.map(|n| n <= max),
            ));
            rows.push((
                "overload: the excess shed with 503 + Retry-After".into(),
                format!("{} × 503, {} of them without Retry-After", group(x.shed), group(x.shed_without_retry_after)),
                Some(x.shed > 0 && x.shed_without_retry_after == 0),
            ));
            let lost = x.other_failures;
            rows.push((
                "overload: none lost (every 201 reached FCM; no answer but 201 or 503)".into(),
                format!("{} × 201, emulator {}; {} other", group(x.total_201), x.emulator_delta.map_or("-".into(), group), group(lost)),
                Some(x.check_ok && lost == 0),
            ));
        }
        None => rows.push(("fcm.connections and max_concurrent_requests under C = 4096".into(), "not run (add --realistic)".into(), None)),
    }
    if o.fcm_latency != FcmLatency::default() {
        rows.push(("note: the default profile ran with --fcm-latency".into(), o.fcm_latency.to_string(), None));
    }

    println!();
    print_targets("realistic profile", &rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_parses_n_and_n_j() {
        assert_eq!(parse_latency("0"), Ok(FcmLatency { ms: 0, jitter: 0 }));
        assert_eq!(parse_latency("40,20"), Ok(FcmLatency { ms: 40, jitter: 20 }));
        assert_eq!(parse_latency("50"), Ok(FcmLatency { ms: 50, jitter: 0 }));
        for bad in ["", "x", "40,", ",20", "-1", "40,20,1", "60001"] {
            assert!(parse_latency(bad).is_err(), "{bad:?}");
        }
        assert_eq!(REALISTIC_LATENCY.to_string(), "40 ± 20 ms");
    }
}
