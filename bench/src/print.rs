//! What the bench prints: the header of an invocation, each run's figures, the table of
//! runs and the target tables, and the number formats they share.

use std::path::Path;

use crate::measure::{Measured, LOAD_GENERATOR};
use crate::options::Opts;
use crate::profile::Profile;
use crate::report::{Figures, RunReport, Target};

pub fn header(opts: &Opts, bin: &Path) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0);
    println!("uprelay-bench");
    println!("  machine: {cores} cores, {:.1} GiB; uprelay binary {}", mem_kib as f64 / 1048576.0, bin.display());
    println!(
        "  load: C={} connections (HTTP/1.1 keep-alive, {} client thread(s)), B={} bytes, TTL: 60, T={} s measured after {} s warm-up, random endpoints",
        opts.connections, opts.client_threads, opts.body_size, opts.duration, opts.warmup
    );
    println!(
        "  uprelay → emulator: {}; emulator --keep 0 (one per relay run); limiters off; log level warn{}",
        if opts.fcm_http1 { "HTTP/1.1 pool" } else { "h2c (prior knowledge)" },
        opts.fcm_connections.map(|n| format!("; fcm.connections = {n}")).unwrap_or_default()
    );
    println!("  default profile: FCM latency {}, access tokens of {} characters", opts.fcm_latency, opts.token_bytes);
    if opts.realistic {
        let r = Profile::realistic(opts);
        println!(
            "  --realistic: also the default profile with 52-character tokens, and Redis at C={} B={} with FCM latency {} and {}-character tokens",
            r.connections, r.body_size, r.latency, r.token_bytes
        );
    }
    println!(
        "  redis-server: {}",
        if opts.redis_stock {
            "stock settings (--redis-stock)".to_owned()
        } else {
            format!("{} (as deploy/ recommends; --redis-stock for Redis defaults)", crate::stack::redis_recommended().join(" "))
        }
    );
    if cfg!(debug_assertions) || bin.components().any(|c| c.as_os_str() == "debug") {
        println!(
            "  NOTE: a debug build is involved (bench or uprelay): the figures mean nothing; use `cargo run --release -p uprelay-bench`"
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("  load average before start: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!();
}

pub fn ms(us: u64) -> String {
    if us >= 100_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

pub fn group(n: u64) -> String {
    let s = n.to_string();
    let head = s.len() % 3;
    let mut parts: Vec<&str> = Vec::new();
    if head > 0 {
        parts.push(&s[..head]);
    }
    parts.extend(s.as_bytes()[head..].chunks(3).map(|c| std::str::from_utf8(c).unwrap_or("")));
    parts.join(",")
}

/// Print one run's figures: throughput, latency, non-201 responses, and the CPU per response
/// of `server` and of every other watched process.
pub fn measured(m: &Measured, server: &str) -> Figures {
    let l = &m.load;
    let ok = l.measured_of(201);
    let rps = ok as f64 / m.secs;
    let h = &l.hist;
    let (p50, p99, p999, max) = (h.value_at_quantile(0.50), h.value_at_quantile(0.99), h.value_at_quantile(0.999), h.max());
    println!("  throughput   {} pushes/s  ({} × 201 in {:.1} s)", group(rps.round() as u64), group(ok), m.secs);
    println!("  latency      p50 {}   p99 {}   p99.9 {}   max {}", ms(p50), ms(p99), ms(p999), ms(max));
    let others = l.other_statuses(201, false);
    if others.is_empty() {
        println!("  non-201      0");
    } else {
        let list: Vec<String> = others.iter().map(|(s, n)| format!("{s} × {}", group(*n))).collect();
        println!("  non-201      {}  (in the window)", list.join(", "));
        for (s, body) in &l.samples {
            println!("               e.g. {s}: {body}");
        }
    }
    if l.transport_errors > 0 || l.abandoned > 0 {
        println!(
            "  transport    {} errors, {} connections abandoned at the deadline; first: {}",
            l.transport_errors,
            l.abandoned,
            l.first_error.as_deref().unwrap_or("-")
        );
    }
    let done = l.measured.iter().sum::<u64>().max(1) as f64 / m.secs;
    let mut server_cpu = None;
    let mut load_generator_cpu = None;
    let mut parts = Vec::new();
    for (name, cpu) in &m.cpu_secs {
        if let Some((u, s)) = cpu {
            // Scale the CPU seconds to the measured window, then divide by responses.
            let per = |x: f64| x / m.sample_secs * m.secs / (done * m.secs) * 1e6;
            if name == server {
                server_cpu = Some(per(u + s));
                println!(
                    "  {server:<12} CPU {:.1} µs/push (user {:.1} + sys {:.1}), {:.0} % of one core",
                    per(u + s),
                    per(*u),
                    per(*s),
                    (u + s) / m.sample_secs * 100.0
                );
            } else {
                if name == LOAD_GENERATOR {
                    load_generator_cpu = Some(per(u + s));
                }
                parts.push(format!("{name} {:.1} µs ({:.0} %)", per(u + s), (u + s) / m.sample_secs * 100.0));
            }
        }
    }
    let ours: f64 = m.cpu_secs.iter().filter_map(|(_, c)| c.map(|(u, s)| u + s)).sum::<f64>() / m.sample_secs * 100.0;
    let busy = m
        .machine_busy_pct
        .map(|b| {
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            format!("; machine busy {b:.0} % of {} % (other processes {:.0} %)", 100 * cores, (b - ours).max(0.0))
        })
        .unwrap_or_default();
    println!("  other CPU    per response: {}{busy}", parts.join(", "));
    Figures { rps, p50, p99, p999, max, server_cpu, load_generator_cpu }
}

/// The table of every run: throughput, latency, CPU per push and peak RSS.
pub fn runs(reports: &[RunReport]) {
    println!("== runs");
    let w = reports.iter().map(|x| x.label.len()).max().unwrap_or(0).max(15);
    println!(
        "  {:<w$} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "run", "R", "pushes/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU µs/p", "RSS MiB"
    );
    for x in reports {
        println!(
            "  {:<w$} {:>10} {:>12} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10} {:>10}",
            x.label,
            if x.target == Target::Bare { "-".to_string() } else { group(x.registrations as u64) },
            group(x.rps.round() as u64),
            x.p50_us as f64 / 1000.0,
            x.p99_us as f64 / 1000.0,
            x.p999_us as f64 / 1000.0,
            x.max_us as f64 / 1000.0,
            x.cpu_us_per_push.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
            x.rss_hwm_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or_else(|| "-".into()),
        );
    }
    println!();
}

/// A targets table: (target, measured, PASS/MISS or not judged) per row.
pub fn targets(title: &str, rows: &[(String, String, Option<bool>)]) {
    println!("== targets ({title}; figures are reported, never asserted)");
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(10);
    for (name, measured, res) in rows {
        let res = match res {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "-",
        };
        println!("  {name}{}  {res:<4}  {measured}", " ".repeat(w - name.chars().count()));
    }
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(15_000), "15,000");
        assert_eq!(group(1_000_000), "1,000,000");
        assert_eq!(group(123_456_789), "123,456,789");
    }
}
