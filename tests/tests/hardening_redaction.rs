//! Redis credentials never reach a terminal or a log, in every form the redis crate reads
//! them: user and password in the userinfo, `user` and `pass` query parameters of
//! `redis+unix://` and `unix://` URLs (and `password`). For each form, `uprelay
//! check-config` prints the configuration and `uprelay serve` fails to reach the Redis
//! (nothing listens there); neither output holds the secret.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use uprelay_tests::{bin_path, TempDir};

/// Run `uprelay <args…>`; (exit code, stdout + stderr), killed after 30 s.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(bin_path("uprelay"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn uprelay");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn redis_credentials_are_redacted_in_every_form() {
    let dir = TempDir::new("uprelay-redact");
    let sock = dir.join("nobody-listens.sock");
    let sock = sock.display();
    let forms = [
        format!("redis://admin:hunter2@127.0.0.1:1/0"),
        format!("redis://hunter2@127.0.0.1:1"),
        format!("rediss://:hunter2@127.0.0.1:1"),
        format!("redis+unix://{sock}?pass=hunter2"),
        format!("unix://{sock}?db=1&pass=hunter2"),
        format!("redis+unix://{sock}?user=hunter2&pass=hunter2"),
        format!("redis+unix://{sock}?password=hunter2"),
    ];
    for (i, url) in forms.iter().enumerate() {
        let config = dir.join(&format!("c{i}.toml"));
        std::fs::write(&config, format!("listen = \"127.0.0.1:0\"\n[store]\nredis_url = {url:?}\n")).unwrap();
        let config = config.display().to_string();
        let (code, shown) = run(&["check-config", "--config", &config]);
        assert_eq!(code, Some(0), "check-config with {url}: {shown}");
        assert!(shown.contains("REDACTED"), "check-config with {url} shows no redacted URL: {shown}");
        assert!(!shown.contains("hunter2"), "check-config shows the secret of {url}: {shown}");
        let (code, said) = run(&["serve", "--config", &config]);
        assert_ne!(code, Some(0), "serve with an unreachable Redis at {url}: {said}");
        assert!(said.to_lowercase().contains("redis"), "serve with {url} did not say why it stopped: {said}");
        assert!(!said.contains("hunter2"), "serve prints the secret of {url}: {said}");
    }
}
