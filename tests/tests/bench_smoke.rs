//! The benchmark's own correctness: `uprelay-bench` with tiny parameters (both stores,
//! unrestricted and VAPID-restricted, plus the bare-handler run) exits 0, and in every run
//! the number of 201 responses it printed equals the FCM emulator's accepted count.
//! Performance figures are never asserted here.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use uprelay_tests::{bin_path, TempDir};

/// Longest the tiny benchmark may take (debug binaries, 4 runs of ~1.5 s plus start-up).
const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn bench_201_count_equals_emulator_count() {
    let bench = bin_path("uprelay-bench");
    let uprelay = bin_path("uprelay");
    let tmp = TempDir::new("uprelay-bench-smoke");
    let out_path = tmp.join("stdout.txt");
    let err_path = tmp.join("stderr.txt");
    let mut cmd = Command::new(&bench);
    cmd.arg("--uprelay-bin")
        .arg(&uprelay)
        .args(["--store", "both", "-c", "4", "-b", "256", "-t", "1", "--warmup", "0.3", "-r", "40"])
        .args(["--preload-concurrency", "8", "--tmp-dir"])
        .arg(tmp.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    if let Ok(redis) = std::env::var("UPRELAY_TEST_REDIS_SERVER") {
        cmd.args(["--redis-server", &redis]);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", bench.display()));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for uprelay-bench") {
            break status;
        }
        if Instant::now() > deadline {
            // SIGTERM first: the bench kills its own children on it.
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            std::thread::sleep(Duration::from_secs(2));
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "uprelay-bench did not finish within {LIMIT:?}\n{}\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let both = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(status.success(), "uprelay-bench exited with {status}\n{both}");

    // One `CHECK <run> 201=<n> emulator=<m> ok|mismatch` line per uprelay run.
    let mut runs = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with("CHECK ")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "malformed line {line:?}\n{both}");
        let n: u64 = f[2].strip_prefix("201=").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        let m: u64 = f[3].strip_prefix("emulator=").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(n, m, "run {}: 201 count {n} != emulator accepted {m}\n{both}", f[1]);
        assert!(n > 0, "run {} got no 201 at all\n{both}", f[1]);
        assert_eq!(f[4], "ok", "{line:?}\n{both}");
        runs.push(f[1].to_owned());
    }
    assert_eq!(runs, ["redis", "embedded", "redis+vapid", "embedded+vapid"], "{both}");
    // The bare ceiling ran and the summary table was printed.
    assert!(stdout.contains("== bare axum handler"), "{both}");
    assert!(stdout.contains("== targets"), "{both}");
    assert!(stdout.contains("Correctness: 201 count = emulator accepted"), "{both}");
}
