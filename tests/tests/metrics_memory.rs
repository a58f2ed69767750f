//! The Prometheus recorder keeps every histogram sample until its upkeep (or a scrape) folds
//! it into the buckets, so without a timer its memory grows with every push while nobody
//! scrapes `/metrics`: uprelay runs the upkeep on a timer of its own.
//!
//! This test binary is a process of its own: it installs uprelay's recorder exactly as
//! `uprelay serve` does, records what pushes record (counters and the push, FCM and store
//! latency histograms) with `/metrics` never rendered, and waits for the timer's upkeeps,
//! which must come without a scrape; no sample may be lost. How much memory the recorder
//! holds without scrapes is a figure `uprelay-bench figures` measures and reports.

use std::time::{Duration, Instant};

const PUSHES: usize = 50_000;

/// What one relayed push records.
fn record_pushes(n: usize) {
    let hot = uprelay::metrics::hot();
    for i in 0..n {
        let timer = hot.store_timer();
        drop(timer);
        hot.fcm_send_duration(Duration::from_micros(300 + (i % 700) as u64));
        hot.road_request(uprelay::target::RoadKind::Fcm, "ok");
        hot.push("delivered");
        hot.push_duration(0.0005 + (i % 100) as f64 * 1e-5);
    }
}

/// Wait (at most 30 s) until the upkeep timer has run `n` more times than `from`.
fn wait_upkeeps(from: u64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while uprelay::metrics::upkeeps() < from + n {
        assert!(Instant::now() < deadline, "the upkeep timer ran {} times in 30 s", uprelay::metrics::upkeeps() - from);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_upkeep_runs_without_scrapes_and_keeps_every_sample() {
    let handle = uprelay::metrics::install();
    wait_upkeeps(0, 1);
    let before = uprelay::metrics::upkeeps();
    record_pushes(PUSHES);
    // Nothing renders: only the timer can fold the samples.
    wait_upkeeps(before, 2);
    // The samples went into the recorder (and nothing was lost): the count of the push
    // latency histogram is every push recorded.
    let text = handle.render();
    let count = text.lines().find_map(|l| l.strip_prefix("uprelay_push_duration_seconds_count ")).expect("push histogram rendered");
    assert_eq!(count.trim().parse::<usize>().unwrap(), PUSHES, "{count}");
}
