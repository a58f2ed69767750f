//! `uprelay-bench figures` (the speed and memory figures the tests leave to the bench) runs
//! to the end on debug binaries and prints every figure. The figures themselves are never
//! asserted here.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use uprelay_tests::{bin_path, TempDir};

const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn figures_run_and_print_every_figure() {
    let tmp = TempDir::new("uprelay-bench-figures");
    let (out, err) = (tmp.join("stdout.txt"), tmp.join("stderr.txt"));
    let mut child = Command::new(bin_path("uprelay-bench"))
        .arg("--uprelay-bin")
        .arg(bin_path("uprelay"))
        .arg("--tmp-dir")
        .arg(tmp.path())
        .arg("figures")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run uprelay-bench figures");
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
            panic!("uprelay-bench figures did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let both = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert!(status.success(), "uprelay-bench figures exited with {status}\n{both}");
    for figure in [
        "metrics recorder, 500,000 pushes in",
        "500 pushes at once, FCM 50 ms away: 500 × 201",
        "push latencies (ms) while FCM hangs",
        "load shedding (2 at once, FCM 1 s away), 12 pushes:",
    ] {
        assert!(both.contains(figure), "no {figure:?} figure\n{both}");
    }
}
