//! A broken configuration stops `uprelay serve` (and `uprelay check-config`) at once with exit
//! status 2 and one line on stderr naming the key at fault.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use uprelay_tests::redis::RedisServer;
use uprelay_tests::{bin_path, ChildGuard, TempDir};

/// Run `uprelay <cmd> --config <file>` in `dir` with extra environment; wait at most 20 s.
fn run(dir: &Path, cmd: &str, config: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = Command::new(bin_path("uprelay"));
    c.arg(cmd).arg("--config").arg(config).current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("UPRELAY_") {
            c.env_remove(&k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = ChildGuard::spawn(&format!("uprelay-{cmd}"), c);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.child_try_wait().unwrap() {
            let out = child.output();
            let stderr = out.split_once("stderr ---\n").map(|(_, e)| e.to_owned()).unwrap_or_default();
            return (status.code(), stderr);
        }
        if Instant::now() > deadline {
            return (None, child.output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Setup {
    dir: TempDir,
    creds: String,
}

fn setup() -> Setup {
    let dir = TempDir::new("uprelay-config");
    // Validation parses the service-account JSON and its key: use a real (throwaway,
    // emulator-generated) one.
    let creds = dir.join("sa.json");
    std::fs::copy(uprelay_tests::workspace_root().join("tests/fixtures/test-service-account.json"), &creds).unwrap();
    Setup { creds: creds.display().to_string(), dir }
}

fn base(creds: &str) -> String {
    format!("listen = \"127.0.0.1:0\"\n\n[[fcm.projects]]\nname = \"p\"\ncredentials = {creds:?}\n")
}

#[track_caller]
fn assert_names_key(what: &str, result: &(Option<i32>, String), key: &str) {
    let (code, stderr) = result;
    assert_eq!(*code, Some(2), "{what}: exit status (stderr: {stderr})");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: expected one line on stderr, got:\n{stderr}");
    assert!(lines[0].contains(key), "{what}: stderr does not name {key:?}: {}", lines[0]);
}

#[test]
fn bad_configs_exit_2_naming_the_key() {
    let s = setup();
    let creds = &s.creds;
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown top-level key", format!("listn = \"127.0.0.1:1\"\n{}", base(creds)), "listn"),
        ("unknown nested key", format!("{}\n[store]\nredis_ulr = \"redis://127.0.0.1:6379\"\n", base(creds)), "redis_ulr"),
        ("unknown key in [limits]", format!("{}\n[limits]\nmax_registrations = 3\n", base(creds)), "max_registrations"),
        ("wrong type", format!("default_ttl = \"soon\"\n{}", base(creds)), "default_ttl"),
        ("wrong type nested", format!("{}\n[fcm]\ntimeout_ms = \"fast\"\n", base(creds)), "timeout_ms"),
        ("negative number", format!("{}\n[limits]\nmax_registrations_per_device = -1\n", base(creds)), "max_registrations_per_device"),
        ("bad listen address", format!("listen = \"localhost\"\n\n[[fcm.projects]]\nname = \"p\"\ncredentials = {creds:?}\n"), "listen"),
        ("missing credentials file", base("/nonexistent/uprelay/sa.json"), "fcm.projects[0].credentials"),
        ("bad fcm.api_url", format!("{}\n[fcm]\napi_url = \"not a url\"\n", base(creds)), "fcm.api_url"),
        ("ftp public_url", format!("public_url = \"ftp://push.example.org\"\n{}", base(creds)), "public_url"),
        ("redis_url not redis", format!("{}\n[store]\nredis_url = \"http://127.0.0.1:6379\"\n", base(creds)), "store.redis_url"),
        (
            "redis_url with redis_cluster",
            format!("{}\n[store]\nredis_url = \"redis://127.0.0.1:6379\"\nredis_cluster = [\"redis://127.0.0.1:7001\"]\n", base(creds)),
            "store.redis_cluster",
        ),
        ("max_ttl beyond FCM", format!("max_ttl = 99999999\n{}", base(creds)), "max_ttl"),
        ("default_ttl above max_ttl", format!("default_ttl = 100\nmax_ttl = 50\n{}", base(creds)), "default_ttl"),
        ("unknown default project", format!("{}\n[fcm]\ndefault_project = \"q\"\n", base(creds)), "fcm.default_project"),
        ("no FCM connections", format!("{}\n[fcm]\nconnections = 0\n", base(creds)), "fcm.connections"),
        ("FCM pings too often", format!("{}\n[fcm]\nkeepalive_ms = 0\n", base(creds)), "fcm.keepalive_ms"),
        (
            "zero registration limit",
            format!("{}\n[limits]\nmax_registrations_per_device = 0\n", base(creds)),
            "limits.max_registrations_per_device",
        ),
        ("queue lease too short", format!("{}\n[queue]\nlease_ms = 10\n", base(creds)), "queue.lease_ms"),
        ("bad log level", format!("{}\n[log]\nlevel = \"[[[\"\n", base(creds)), "log.level"),
        ("Web Push service not http(s)", format!("{}\n[webpush]\napi_url = \"ftp://fcm.example\"\n", base(creds)), "webpush.api_url"),
        ("VAPID subject no contact", format!("{}\n[webpush]\nsubject = \"ops team\"\n", base(creds)), "webpush.subject"),
        ("ECDH reuse over an hour", format!("{}\n[webpush]\nkey_reuse_secs = 86400\n", base(creds)), "webpush.key_reuse_secs"),
    ];
    let mut failures = Vec::new();
    for (i, (what, toml, key)) in cases.iter().enumerate() {
        let path = s.dir.join(&format!("bad-{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        for cmd in ["serve", "check-config"] {
            let result = run(s.dir.path(), cmd, &path, &[]);
            if let Err(e) = std::panic::catch_unwind(|| assert_names_key(&format!("{cmd}: {what}"), &result, key)) {
                failures.push(e.downcast_ref::<String>().cloned().unwrap_or_default());
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} checks failed:\n{}", failures.len(), cases.len() * 2, failures.join("\n"));
    // Nothing was created on the way out (no store directory in the working directory).
    assert!(!s.dir.join("uprelay-data").exists(), "a rejected config still opened the store");
}

#[test]
fn environment_errors_name_the_key() {
    let s = setup();
    let path = s.dir.join("ok.toml");
    std::fs::write(&path, base(&s.creds)).unwrap();
    for (var, value, key) in [
        ("UPRELAY_DEFAULT_TTL", "soon", "default_ttl"),
        ("UPRELAY_STORE__REDIS_URL", "http://nope", "store.redis_url"),
        ("UPRELAY_FCM__API_URL", "nope", "fcm.api_url"),
        ("UPRELAY_LIMITS__MAX_API_BODY", "-5", "max_api_body"),
    ] {
        for cmd in ["serve", "check-config"] {
            let result = run(s.dir.path(), cmd, &path, &[(var, value)]);
            assert_names_key(&format!("{cmd} with {var}={value}"), &result, key);
        }
    }
}

#[test]
fn missing_config_file_exits_2() {
    let s = setup();
    for cmd in ["serve", "check-config"] {
        let result = run(s.dir.path(), cmd, &s.dir.join("nope.toml"), &[]);
        assert_names_key(&format!("{cmd} with a missing file"), &result, "--config");
    }
}

#[test]
fn valid_config_passes_check_config() {
    let s = setup();
    let path = s.dir.join("ok.toml");
    let toml = format!(
        "listen = \"127.0.0.1:0\"\npublic_url = \"https://push.example.org/\"\ndefault_ttl = 3600\n\n[store]\nredis_url = \"redis://127.0.0.1:6379\"\n\n\
         [fcm]\napi_url = \"http://127.0.0.1:1\"\ntimeout_ms = 2000\n\n[[fcm.projects]]\nname = \"p\"\ncredentials = {:?}\n\n\
         [limits]\nmax_registrations_per_device = 3\n\n[queue]\nenabled = false\n",
        s.creds
    );
    std::fs::write(&path, toml).unwrap();
    let (code, stderr) = run(s.dir.path(), "check-config", &path, &[]);
    assert_eq!(code, Some(0), "check-config of a valid file: {stderr}");
}

/// A TOML syntax error is a bad configuration too: exit 2 and one line (with the position).
#[test]
fn toml_syntax_error_is_one_line() {
    let s = setup();
    let path = s.dir.join("syntax.toml");
    std::fs::write(&path, format!("{}\n[store\npath = \"x\"\n", base(&s.creds))).unwrap();
    for cmd in ["serve", "check-config"] {
        let result = run(s.dir.path(), cmd, &path, &[]);
        assert_names_key(&format!("{cmd}: TOML syntax error"), &result, "line");
    }
}

/// A credentials file that exists but is no service-account JSON is a configuration error
/// like a missing one: exit 2, one line naming the key, before anything is opened.
#[test]
fn unusable_credentials_file_exits_2_naming_the_key() {
    let s = setup();
    let real: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&s.creds).unwrap()).unwrap();
    let mut broken_key = real.clone();
    broken_key["private_key"] = serde_json::json!("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
    for (what, content) in [("`{}`", "{}".to_string()), ("a broken private key", broken_key.to_string()), ("not JSON", "nope".into())] {
        let bad = s.dir.join("bad-sa.json");
        std::fs::write(&bad, content).unwrap();
        let path = s.dir.join("creds.toml");
        std::fs::write(&path, format!("{}\n[store]\npath = \"store-dir\"\n", base(&bad.display().to_string()))).unwrap();
        for cmd in ["serve", "check-config"] {
            let result = run(s.dir.path(), cmd, &path, &[]);
            assert_names_key(&format!("{cmd} with {what} as service account"), &result, "fcm.projects[0].credentials");
        }
        assert!(!s.dir.join("store-dir").exists(), "the store was opened before the credentials were checked");
    }
}

/// `check-config` prints the effective configuration as TOML with the Redis password and
/// user redacted and nothing of the credentials file but its path; `serve` against a real
/// password-protected Redis (debug logging) never prints the password either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_check_config_output_or_the_start_logs() {
    let s = setup();
    const PASSWORD: &str = "hunter2-not-for-logs";
    let redis = RedisServer::with_password(PASSWORD).await;
    let port = redis.port();
    let path = s.dir.join("secret.toml");
    let toml = format!(
        "listen = \"127.0.0.1:{}\"\n\n[store]\nredis_url = \"redis://default:{PASSWORD}@127.0.0.1:{port}/0\"\n\n\
         [fcm]\napi_url = \"http://127.0.0.1:1\"\n\n[[fcm.projects]]\nname = \"p\"\ncredentials = {:?}\n\n[log]\nlevel = \"debug\"\n",
        uprelay_tests::free_port(),
        s.creds
    );
    std::fs::write(&path, toml).unwrap();
    let private_key = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&s.creds).unwrap()).unwrap()["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();

    let out = Command::new(bin_path("uprelay")).args(["check-config", "--config"]).arg(&path).env_remove("RUST_LOG").output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "check-config: {stderr}");
    assert!(stdout.contains("[store]") && stdout.contains("[[fcm.projects]]") && stdout.contains("[limits]"), "not TOML tables:\n{stdout}");
    assert!(stdout.contains(&format!("redis_url = \"redis://REDACTED:REDACTED@127.0.0.1:{port}/0\"")), "{stdout}");
    assert!(stdout.contains(&format!("credentials = {:?}", s.creds)), "the credentials path is shown:\n{stdout}");
    for secret in [PASSWORD, "default:", private_key.as_str(), "PRIVATE KEY"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "check-config shows {secret:?}:\n{stdout}{stderr}");
    }

    // The server starts against the protected Redis (so the URL was used in full), logs at
    // debug level, and none of it shows the password.
    let mut cmd = Command::new(bin_path("uprelay"));
    cmd.args(["serve", "--config"]).arg(&path).current_dir(s.dir.path()).env_remove("RUST_LOG");
    let mut serve = ChildGuard::spawn("uprelay-secret", cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !serve.output().contains("uprelay serving") {
        assert!(Instant::now() < deadline, "serve did not start:\n{}", serve.output());
        assert!(serve.child_try_wait().unwrap().is_none(), "serve exited:\n{}", serve.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    serve.terminate(Duration::from_secs(10));
    let logs = serve.output();
    assert!(logs.contains("store ready"), "{logs}");
    assert!(!logs.contains(PASSWORD), "the Redis password is in the logs:\n{logs}");
    assert!(!logs.contains(&private_key), "the service-account key is in the logs");
}
