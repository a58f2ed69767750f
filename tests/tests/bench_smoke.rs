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
    let uprelay = bin_path("uprelay");
    let tmp = TempDir::new("uprelay-bench-smoke");
    let mut args = vec!["--uprelay-bin", uprelay.to_str().unwrap(), "--store", "both", "--preload-concurrency", "8"];
    args.extend(TINY);
    let (status, stdout, stderr) = run_bench(&args, &tmp);
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
    // The bare ceiling ran before and right after the first relay run, the ratio was taken
    // to their mean, and the summary table was printed.
    let ceilings: Vec<&str> = stdout.lines().filter(|l| l.starts_with("== bare axum handler")).collect();
    assert_eq!(ceilings.len(), 2, "{both}");
    let order: Vec<&str> = stdout.lines().filter(|l| l.starts_with("CHECK redis ") || l.starts_with("== bare axum handler")).collect();
    assert!(order[1].starts_with("CHECK redis ") && order[2].contains("bare-2"), "{order:?}\n{both}");
    assert!(stdout.contains("the mean of the ceiling runs"), "{both}");
    assert!(stdout.contains("== targets"), "{both}");
    assert!(stdout.contains("Correctness: 201 count = emulator accepted"), "{both}");
}

/// Run `uprelay-bench` with `args` (tiny loads), at most `LIMIT`; (status, stdout, stderr).
fn run_bench(args: &[&str], tmp: &TempDir) -> (std::process::ExitStatus, String, String) {
    let out_path = tmp.join("stdout.txt");
    let err_path = tmp.join("stderr.txt");
    let mut cmd = Command::new(bin_path("uprelay-bench"));
    cmd.args(args)
        .arg("--tmp-dir")
        .arg(tmp.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    if let Ok(redis) = std::env::var("UPRELAY_TEST_REDIS_SERVER") {
        cmd.args(["--redis-server", &redis]);
    }
    let mut child = cmd.spawn().expect("run uprelay-bench");
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
                "uprelay-bench {args:?} did not finish within {LIMIT:?}\n{}\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, std::fs::read_to_string(&out_path).unwrap_or_default(), std::fs::read_to_string(&err_path).unwrap_or_default())
}

const TINY: [&str; 10] = ["-c", "4", "-b", "256", "-t", "1", "--warmup", "0.3", "-r", "40"];

/// `--report-json` writes one object per run (the ceiling twice, bracketing the Redis run)
/// whose counts are the ones the run printed.
#[test]
fn report_json_holds_each_runs_figures() {
    let uprelay = bin_path("uprelay");
    let tmp = TempDir::new("uprelay-bench-json");
    let report = tmp.join("report.json");
    let mut args = vec!["--uprelay-bin", uprelay.to_str().unwrap(), "--store", "redis", "--no-vapid", "--report-json"];
    args.push(report.to_str().unwrap());
    args.extend(TINY);
    let (status, stdout, stderr) = run_bench(&args, &tmp);
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.iter().map(|r| r["run"].as_str().unwrap()).collect::<Vec<_>>(), ["bare", "redis", "bare-2"], "{runs:?}");
    let redis = &runs[1];
    let check = stdout.lines().find(|l| l.starts_with("CHECK redis ")).expect("a CHECK line");
    assert_eq!(check, format!("CHECK redis 201={} emulator={} ok", redis["responses_201"], redis["emulator_accepted"]), "{redis}");
    assert!(redis["pushes_per_second"].as_f64().unwrap() > 0.0, "{redis}");
    assert!(redis["load_generator_cpu_us"].as_f64().is_some(), "{redis}");
    assert_eq!(redis["check_ok"], true, "{redis}");
}

/// `--compare A B` benches both binaries at once and prints their ratios.
#[test]
fn compare_runs_both_binaries_and_prints_ratios() {
    let uprelay = bin_path("uprelay");
    let bin = uprelay.to_str().unwrap();
    let tmp = TempDir::new("uprelay-bench-compare");
    // Side A with short tokens: the same binary against itself measures the token's cost.
    let mut args = vec!["--compare", bin, bin, "--rounds", "2", "--preload-concurrency", "8", "--token-bytes-a", "52"];
    args.extend(TINY);
    let (status, stdout, stderr) = run_bench(&args, &tmp);
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(stdout.contains("(52-character access tokens)") && stdout.contains("(1024-character access tokens)"), "{stdout}");
    for round in ["1", "2"] {
        for side in ["A", "B"] {
            let row = stdout
                .lines()
                .find(|l| l.split_whitespace().take(2).eq([round, side]))
                .unwrap_or_else(|| panic!("no row for round {round} {side}\n{stdout}"));
            let pushes: u64 = row.split_whitespace().nth(2).unwrap().replace(',', "").parse().unwrap();
            assert!(pushes > 0, "{row}");
        }
    }
    assert!(stdout.contains("== compare: means over 2 round(s)"), "{stdout}");
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("uprelay CPU / load gen CPU")), "{stdout}");
}

/// Bad `--compare` / `--rounds` input stops before anything starts, naming the problem.
#[test]
fn compare_rejects_bad_arguments() {
    let uprelay = bin_path("uprelay");
    let bin = uprelay.to_str().unwrap();
    let tmp = TempDir::new("uprelay-bench-compare-bad");
    let cases: [(&[&str], &str); 6] = [
        (&["--compare", "/nonexistent/uprelay", bin], "/nonexistent/uprelay does not exist"),
        (&["--compare", bin], "--compare"),
        (&["--compare", bin, bin, "--rounds", "0"], "--rounds"),
        (&["--compare", bin, bin, "--scale"], "--scale"),
        (&["--token-bytes-a", "52"], "--compare"),
        (&["--compare", bin, bin, "--token-bytes-a", "8"], "--token-bytes-a"),
    ];
    for (args, expected) in cases {
        let (status, stdout, stderr) = run_bench(args, &tmp);
        assert_eq!(status.code(), Some(2), "{args:?}\n{stdout}\n{stderr}");
        assert!(stderr.contains(expected), "{args:?}: stderr lacks {expected:?}\n{stderr}");
        assert!(!stdout.contains("round"), "{args:?} started rounds\n{stdout}");
    }
}

/// `--realistic` runs, in the same invocation, the default profile with 52-character tokens
/// and the realistic profile (here with 16 connections instead of 2048, to stay small:
/// closed loop, open loop at 60 % and at 90 % of the default rate, overload), each
/// against its own emulator with the profile's latency, and prints per run the most sends in
/// flight to FCM, the FCM connections opened and uprelay's open descriptors, then the
/// realistic targets. `--fcm-latency` and `--token-bytes` shape the default profile.
#[test]
fn realistic_profile_runs_beside_the_default_one() {
    let uprelay = bin_path("uprelay");
    let tmp = TempDir::new("uprelay-bench-realistic");
    let report = tmp.join("report.json");
    let mut args = vec!["--uprelay-bin", uprelay.to_str().unwrap(), "--store", "redis", "--no-vapid", "--report-json"];
    args.push(report.to_str().unwrap());
    args.extend(["--realistic", "--realistic-c", "16", "--fcm-latency", "5,2", "--token-bytes", "100"]);
    args.extend(TINY);
    let (status, stdout, stderr) = run_bench(&args, &tmp);
    let both = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(status.success(), "{status}\n{both}");
    let checks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("CHECK ")).map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(
        checks,
        ["redis", "redis-52tok", "redis-realistic", "redis-realistic-open", "redis-realistic-open-busy", "redis-overload"],
        "{both}"
    );
    assert_eq!(stdout.lines().filter(|l| l.trim_start().starts_with("FCM          most sends in flight")).count(), 6, "{both}");
    assert!(stdout.contains("C=32 B=1024") && stdout.contains("fcm.connections = 8, max_concurrent_requests = 8"), "{both}");
    assert!(stdout.contains("FCM latency 40 ± 20 ms, 1024-character access tokens"), "{both}");
    assert!(stdout.contains("FCM latency 5 ± 2 ms, 100-character access tokens"), "{both}");
    let table = stdout.split("== targets (realistic profile").nth(1).unwrap_or_else(|| panic!("no realistic targets table\n{both}"));
    for row in [
        "realistic: ≥ 90 %",
        "realistic, open loop at 60 % of the default rate: answered",
        "realistic, open loop at 60 %: p99 ≤ FCM latency + jitter + 25 ms",
        "realistic (both loops): zero non-201",
        "realistic: FCM connections",
        "realistic: uprelay peak RSS at C = 16 ≤ 128 MiB",
        "overload C = 32: FCM connections ≤ fcm.connections = 8",
        "overload: sends in flight at FCM ≤ max_concurrent_requests = 8",
        "overload: the excess shed with 503 + Retry-After",
        "overload: none lost",
    ] {
        let line = table.lines().find(|l| l.trim_start().starts_with(row)).unwrap_or_else(|| panic!("no row {row:?}\n{both}"));
        assert!(line.contains("PASS") || line.contains("MISS"), "{line}");
    }
    assert!(table.contains("100-character tokens cost"), "{both}");
    // Reported, not judged: the open loop without headroom, CPU against the bare handler,
    // and the Web Push road, which this invocation did not run (`--webpush` runs it).
    for row in [
        "realistic, open loop at 90 % of the default rate (reported)",
        "realistic, open loop at 90 % (reported): p99",
        "default: uprelay CPU/push against the bare handler's",
        "Web Push road: CPU/push ≤ 1.5 × the FCM v1 road's",
    ] {
        let line = table.lines().find(|l| l.trim_start().starts_with(row)).unwrap_or_else(|| panic!("no row {row:?}\n{both}"));
        assert!(!line.contains("PASS") && !line.contains("MISS"), "{line}");
    }
    assert!(table.contains("not run (add --webpush"), "{both}");

    let runs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let realistic = runs.as_array().unwrap().iter().find(|r| r["run"] == "redis-realistic").expect("realistic run");
    assert_eq!((realistic["connections"].as_u64(), realistic["fcm_latency_ms"].as_u64()), (Some(16), Some(40)), "{realistic}");
    assert_eq!(realistic["token_bytes"], 1024, "{realistic}");
    // The emulator answered 16 connections' pushes 20-60 ms late: several were in flight at once.
    assert!(realistic["fcm_max_in_flight"].as_u64().unwrap() >= 2, "{realistic}");
    assert!(realistic["fcm_connections_opened"].as_u64().unwrap() >= 1, "{realistic}");
    assert!(realistic["peak_open_fds"].as_u64().unwrap() >= 16, "{realistic}");
    assert_eq!(realistic["non_201"], 0, "{realistic}");
    // The judged open-loop run is offered 60 % of the default run's rate, the reported one 90 %.
    let find = |name: &str| runs.as_array().unwrap().iter().find(|r| r["run"] == name).unwrap_or_else(|| panic!("no run {name}")).clone();
    let default = find("redis");
    for (name, share) in [("redis-realistic-open", 0.6), ("redis-realistic-open-busy", 0.9)] {
        let offered = find(name)["offered_rate"].as_f64().unwrap();
        let want = (default["pushes_per_second"].as_f64().unwrap() * share).max(1.0);
        assert!((offered - want).abs() < 1.0, "{name}: offered {offered}, {share} of the default run is {want}");
    }
    // 32 connections against 8 request slots: the excess is shed, each 503 saying when to
    // come back, and the configured connection bound holds.
    let overload = find("redis-overload");
    assert!(overload["responses_503"].as_u64().unwrap() > 0, "{overload}");
    assert_eq!(overload["responses_503_without_retry_after"], 0, "{overload}");
    assert!(overload["fcm_connections_opened"].as_u64().unwrap() <= 8, "{overload}");
    assert_eq!(overload["check_ok"], true, "{overload}");

    // Bad values stop before anything starts, naming the flag.
    for (bad, flag) in [
        (&["--fcm-latency", "40,x"][..], "--fcm-latency"),
        (&["--token-bytes", "15"][..], "--token-bytes"),
        (&["--realistic-open-pct", "0"][..], "--realistic-open-pct"),
    ] {
        let (status, stdout, stderr) = run_bench(bad, &tmp);
        assert_eq!(status.code(), Some(2), "{bad:?}\n{stdout}\n{stderr}");
        assert!(stderr.contains(flag), "{bad:?}: {stderr}");
    }
}

/// `--webpush` runs the Web Push road beside the FCM v1 road in one invocation: after the
/// default Redis run, one with every device on the Web Push road and one without ECDH reuse,
/// each with every 201 accepted by the emulator's Web Push service, then the roads' CPU per
/// push compared.
#[test]
fn webpush_runs_beside_the_fcm_road() {
    let uprelay = bin_path("uprelay");
    let tmp = TempDir::new("uprelay-bench-webpush");
    let mut args = vec!["--uprelay-bin", uprelay.to_str().unwrap(), "--store", "redis", "--no-bare", "--no-vapid", "--webpush"];
    args.extend(TINY);
    let (status, stdout, stderr) = run_bench(&args, &tmp);
    let both = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(status.success(), "uprelay-bench exited with {status}\n{both}");
    let checks: Vec<Vec<&str>> = stdout.lines().filter(|l| l.starts_with("CHECK ")).map(|l| l.split_whitespace().collect()).collect();
    let runs: Vec<&str> = checks.iter().map(|f| f[1]).collect();
    assert_eq!(runs, ["redis", "redis-webpush", "redis-webpush-noreuse"], "{both}");
    for f in &checks {
        assert_eq!(f[4], "ok", "{f:?}\n{both}");
        assert_ne!(f[2], "201=0", "run {} got no 201 at all\n{both}", f[1]);
    }
    // Both Web Push runs in the realistic table's rows, the reused one judged.
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains("Web Push road (")).collect();
    assert_eq!(rows.len(), 2, "{both}");
    assert!(rows[0].contains("ECDH reused") && (rows[0].contains("PASS") || rows[0].contains("MISS")), "{rows:?}");
    assert!(rows[1].contains("an ECDH per push") && rows[1].contains(" × ("), "{rows:?}");
}
