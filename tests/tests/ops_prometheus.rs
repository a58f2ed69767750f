//! `deploy/prometheus/` and `deploy/grafana/`: the alert rules pass `promtool check rules`
//! and their unit tests (`promtool test rules`), every rule has a case where it fires, and
//! Debian's real `prometheus`, scraping a real `uprelay serve` (Redis store) under a short
//! load that produces every push outcome, answers every dashboard panel's query with data
//! and evaluates every alert rule without error.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uprelay_tests::relay::{run_bounded, unique_token, Relay, RelayConfig, StoreKind, TEST_LIMIT};
use uprelay_tests::{free_port, workspace_root, ChildGuard, TempDir};

fn rules_path() -> PathBuf {
    workspace_root().join("deploy/prometheus/uprelay-alerts.yml")
}

/// Run `promtool` with `args`; panics with its output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(workspace_root().join("deploy/prometheus"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool (Debian package `prometheus`, see .ci/run): {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// Alert names defined in the rules file (`- alert: NAME` lines).
fn alert_names() -> Vec<String> {
    let rules = std::fs::read_to_string(rules_path()).unwrap();
    rules.lines().filter_map(|l| l.trim().strip_prefix("- alert:")).map(|n| n.trim().to_owned()).collect()
}

#[test]
fn alert_rules_pass_promtool_and_every_rule_is_tested_firing() {
    let checked = promtool(&["check", "rules", "uprelay-alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    assert!(!checked.contains("WARNING"), "promtool warns:\n{checked}");
    promtool(&["test", "rules", "uprelay-alerts.test.yml"]);

    // Each alert needs a test case that expects it to fire (exp_labels under its alertname).
    let tests = std::fs::read_to_string(workspace_root().join("deploy/prometheus/uprelay-alerts.test.yml")).unwrap();
    let mut fires = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in tests.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("alertname:") {
            current = Some(name.trim().to_owned());
        } else if line.starts_with("- eval_time:") {
            current = None;
        } else if line.starts_with("- exp_labels:") {
            fires.extend(current.clone());
        }
    }
    let names = alert_names();
    for name in &names {
        assert!(fires.contains(name), "alert {name} has no test case in which it fires");
    }
    // What the issue asks to alert on, by the metric each needs.
    let rules = std::fs::read_to_string(rules_path()).unwrap();
    for needed in [
        "uprelay_fcm_requests_total",
        "token_dead",
        "uprelay_queue_length",
        "uprelay_queue_oldest_age_seconds",
        "uprelay_breaker_open",
        "uprelay_pushes_total",
        "uprelay_store_errors_total",
        "uprelay_store_duration_seconds",
        "uprelay_oauth_refreshes_total",
        "up{job=\"uprelay\"}",
    ] {
        assert!(rules.contains(needed), "no alert rule reads {needed}");
    }
}

/// Debian's `prometheus` on a free loopback port with its data in a temporary directory,
/// killed (with the directory removed) on drop.
struct Prometheus {
    child: ChildGuard,
    url: String,
    http: reqwest::Client,
    _dir: TempDir,
}

impl Prometheus {
    async fn start(target_port: u16) -> Prometheus {
        let dir = TempDir::new("uprelay-prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{rules:?}]\n\
                 scrape_configs:\n  - job_name: uprelay\n    static_configs: [{{targets: [\"127.0.0.1:{target_port}\"]}}]\n",
                rules = rules_path().display().to_string(),
            ),
        )
        .unwrap();
        let port = free_port();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h");
        let mut child = ChildGuard::spawn("prometheus", cmd);
        let url = format!("http://127.0.0.1:{port}");
        child.wait_for_http(&format!("{url}/-/ready")).await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http.get(format!("{url}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            child.assert_running();
            assert!(Instant::now() < deadline, "prometheus not ready within 30 s\n{}", child.output());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Prometheus { child, url, http, _dir: dir }
    }

    /// An instant query; panics unless Prometheus answers `success`.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let resp = self.http.get(format!("{}/api/v1/query", self.url)).query(&[("query", expr)]).send().await.expect("query prometheus");
        let body: Value = resp.json().await.expect("prometheus answers JSON");
        assert_eq!(body["status"], "success", "query {expr} failed: {body}\n{}", self.child.output());
        body["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Value {
        self.http.get(format!("{}{path}", self.url)).send().await.expect("GET prometheus").json().await.expect("JSON")
    }
}

/// Dashboard variables replaced with what Grafana would send for a 1 s scrape interval.
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("$__rate_interval", "10s")
        .replace("$__interval", "2s")
        .replace("$__range", "1m")
        .replace("${instance}", ".*")
        .replace("$instance", ".*");
    assert!(!out.contains('$'), "unknown variable left in {out}");
    out
}

/// (panel title, query) of every target of every panel, rows' nested panels included.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = panels.pop() {
        panels.extend(p["panels"].as_array().into_iter().flatten());
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_else(|| panic!("panel {} has a target without expr", p["title"]));
            out.push((p["title"].as_str().unwrap_or_default().to_owned(), expr.to_owned()));
        }
    }
    out
}

/// One push; returns its status.
async fn push(relay: &Relay, endpoint: &str) -> u16 {
    relay.push(endpoint, &[("ttl", "600")], b"dashboard".to_vec()).await.status.as_u16()
}

/// A device with one endpoint; returns (token, endpoint).
async fn endpoint(relay: &Relay, label: &str) -> (String, String) {
    let token = unique_token(label);
    let device = relay.create_device(&token).await;
    let endpoint = relay.register(&device, "app", None).await;
    (token, endpoint)
}

async fn dashboard_case() {
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(workspace_root().join("deploy/grafana/uprelay.json")).unwrap())
        .expect("the dashboard is JSON");
    // Importable as is: no instance-specific id, and the data source is a variable.
    assert!(dashboard.get("id").is_none_or(Value::is_null), "an exported dashboard id would clash on import");
    let vars = dashboard["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"));
    let text = dashboard.to_string();
    assert!(!text.contains("\"uid\":\"prometheus\"") && text.contains("${datasource}"), "panels must use ${{datasource}}");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 15, "{} queries", queries.len());

    // Tiny per-endpoint limit, so one hammered endpoint answers 429; the breaker stays
    // closed so the healthy endpoints keep answering 201 delivered while one token fails.
    let config = RelayConfig::new(StoreKind::Redis)
        .limit("push_rate_per_second = 5")
        .limit("push_burst = 3")
        .limit("device_create_per_minute = 0")
        .queue("breaker_threshold = 1000000")
        .queue("initial_backoff_ms = 300")
        .queue("poll_ms = 100");
    let relay = Relay::start_with(config).await;
    let prometheus = Prometheus::start(relay.port).await;

    let mut healthy = Vec::new();
    for i in 0..8 {
        healthy.push(endpoint(&relay, &format!("healthy-{i}")).await.1);
    }
    let (failing_token, failing) = endpoint(&relay, "fcm-unavailable").await;
    relay.emulator.client.add_fault(json!({"token": failing_token, "error": "UNAVAILABLE", "times": 100000})).await;
    let unknown = format!("{}/up/{}", relay.base_url, "A".repeat(43));

    // The load: every outcome in every round, until the queries are done (bounded).
    let mut seen = BTreeSet::new();
    let started = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        async move {
            let mut round = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                seen.insert(push(&relay, &healthy[round % healthy.len()]).await);
                seen.insert(push(&relay, &unknown).await);
                seen.insert(push(&relay, &failing).await);
                for _ in 0..4 {
                    seen.insert(push(&relay, &healthy[0]).await);
                }
                if round % 20 == 0 {
                    // A dead token: 410, and the device is deleted.
                    let (token, dead) = endpoint(&relay, "dead").await;
                    relay.emulator.client.add_fault(json!({"token": token, "error": "UNREGISTERED", "times": 1})).await;
                    seen.insert(push(&relay, &dead).await);
                }
                round += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (relay, seen)
        }
    };
    let check = async {
        // Until Prometheus has scraped enough for rates over 10 s windows: every outcome
        // present and every panel query with data (or 45 s, then the checks fail).
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let outcomes: BTreeSet<String> = prometheus
                .query("sum by (outcome) (uprelay_pushes_total)")
                .await
                .iter()
                .map(|s| s["metric"]["outcome"].as_str().unwrap_or_default().to_owned())
                .collect();
            let mut failures: Vec<String> = ["delivered", "queued", "not_found", "gone", "throttled"]
                .iter()
                .filter(|o| !outcomes.contains(**o))
                .map(|o| format!("Prometheus has no {o} pushes: {outcomes:?}"))
                .collect();
            for (title, expr) in &queries {
                let expr = substitute(expr);
                let result = prometheus.query(&expr).await;
                let finite = result.iter().any(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite));
                if !finite {
                    failures.push(format!("{title}: {expr} → {result:?}"));
                }
            }
            if failures.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "panel queries without data:\n{}", failures.join("\n"));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Messages for the failing token have waited since the load began.
        let oldest = prometheus.query("max(uprelay_queue_oldest_age_seconds)").await;
        let age: f64 = oldest[0]["value"][1].as_str().unwrap().parse().unwrap();
        assert!(age >= 2.0, "the oldest queued message is {age} s old after seconds of failing sends");
        // The instance variable's values.
        let instances = prometheus.get("/api/v1/label/instance/values?match[]=up{job=\"uprelay\"}").await;
        assert_eq!(instances["data"].as_array().map(Vec::len), Some(1), "{instances}");
        // Every alert rule loaded and evaluates against real series without error.
        let rules = prometheus.get("/api/v1/rules").await;
        let loaded: Vec<&Value> = rules["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
        assert_eq!(loaded.len(), alert_names().len(), "{rules}");
        for r in loaded {
            assert_eq!(r["health"], "ok", "rule {} does not evaluate: {r}", r["name"]);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let ((relay, seen), ()) = tokio::join!(load, check);
    for status in [201, 404, 410, 429] {
        assert!(seen.contains(&status), "the load never got {status}: {seen:?}\n{}", relay.output());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_has_data_in_a_real_prometheus_scraping_uprelay() {
    run_bounded("dashboard", TEST_LIMIT, dashboard_case()).await;
}
