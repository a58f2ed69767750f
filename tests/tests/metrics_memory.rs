//! Memory stays bounded when nobody scrapes `/metrics`: the Prometheus recorder
//! keeps every histogram sample until its upkeep (or a scrape) folds it into the buckets,
//! so uprelay runs the upkeep on a timer.
//!
//! The cheaper equivalent the issue allows of 500,000 pushes through the binary (which
//! takes minutes in a debug build): this test binary is a process of its own, installs
//! uprelay's recorder exactly as `uprelay serve` does, and records what 500,000 pushes
//! record (counters and the push, FCM and store latency histograms), paced over a few
//! seconds, `/metrics` never rendered, with the allocator `uprelay serve` uses. Its resident
//! memory after a warm-up may not grow by 3 MiB; without the upkeep it grew by ~28 MiB.

use std::time::{Duration, Instant};

/// The allocator `uprelay serve` runs with (server/src/main.rs): how freed sample blocks
/// are reused is the allocator's business.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PUSHES: usize = 500_000;
const WARM_UP: usize = 200_000;
/// Pushes recorded between two 50 ms pauses: 100,000/s, five times a busy relay on two
/// cores, so what waits for the next upkeep is about what it would be in production.
const CHUNK: usize = 5_000;

/// `VmRSS` of this process, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap();
    kib * 1024
}

/// What one relayed push records.
fn record_pushes(n: usize) {
    let hot = uprelay::metrics::hot();
    let mut left = n;
    while left > 0 {
        for i in 0..CHUNK.min(left) {
            let timer = hot.store_timer();
            drop(timer);
            hot.fcm_send_duration(Duration::from_micros(300 + (i % 700) as u64));
            hot.road_request(uprelay::target::RoadKind::Fcm, "ok");
            hot.push("delivered");
            hot.push_duration(0.0005 + (i % 100) as f64 * 1e-5);
        }
        left -= CHUNK.min(left);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn recorder_memory_stays_bounded_without_scrapes() {
    let handle = uprelay::metrics::install();
    record_pushes(WARM_UP);
    std::thread::sleep(uprelay::metrics::UPKEEP_INTERVAL * 2);
    let before = rss();
    let started = Instant::now();
    record_pushes(PUSHES);
    let elapsed = started.elapsed();
    std::thread::sleep(uprelay::metrics::UPKEEP_INTERVAL * 2);
    let after = rss();
    let growth = after as i64 - before as i64;
    eprintln!(
        "{PUSHES} pushes' metrics in {:.1} s without a scrape: RSS {:.1} MiB → {:.1} MiB ({:+.2} MiB)",
        elapsed.as_secs_f64(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        growth as f64 / 1048576.0
    );
    assert!(growth < 3 * 1024 * 1024, "RSS grew by {:.2} MiB over {PUSHES} pushes with no scrape", growth as f64 / 1048576.0);
    // The samples went into the recorder (and nothing was lost): the count of the push
    // latency histogram is every push recorded.
    let text = handle.render();
    let count = text.lines().find_map(|l| l.strip_prefix("uprelay_push_duration_seconds_count ")).expect("push histogram rendered");
    assert_eq!(count.trim().parse::<usize>().unwrap(), WARM_UP + PUSHES, "{count}");
}
