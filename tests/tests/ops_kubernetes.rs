//! `deploy/kubernetes/`: the kustomize base and the Redis Cluster overlay, rendered with the
//! real `kubectl kustomize`, every object validated against the Kubernetes API schemas
//! (PyPI `kubernetes-validate`, strict: unknown fields are errors), the Deployment checked
//! for what operating uprelay needs, and the uprelay config it mounts run through
//! `uprelay check-config`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use uprelay_tests::relay::run_python;
use uprelay_tests::{bin_path, workspace_root, TempDir};

/// `kubectl kustomize deploy/kubernetes/<dir>`, written to a file in `tmp`.
fn render(dir: &str, tmp: &TempDir) -> std::path::PathBuf {
    let path = workspace_root().join("deploy/kubernetes").join(dir);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl (install it, see .ci/run): {e}"));
    assert!(out.status.success(), "kubectl kustomize {dir} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let file = tmp.join(&format!("{}.yaml", dir.replace('/', "-")));
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

/// The one object of `kind` in the rendered set.
fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// Render, validate and check one kustomization; returns the uprelay config it mounts.
fn check_kustomization(dir: &str, tmp: &TempDir) -> toml::Table {
    let rendered = render(dir, tmp);
    let report = run_python("k8s_validate.py", &[rendered.to_str().unwrap()]);
    let errors = report["errors"].as_array().unwrap();
    assert!(errors.is_empty(), "{dir}: objects do not validate against Kubernetes {}:\n{errors:#?}", report["kubernetes"]);
    let objects = report["objects"].as_array().unwrap();
    let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    for kind in ["Deployment", "Service", "PodDisruptionBudget", "ConfigMap"] {
        assert!(kinds.contains(&kind), "{dir}: no {kind} in {kinds:?}");
    }

    let deployment = one(objects, "Deployment");
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels, "{dir}: the selector must match the pod labels");
    assert_eq!(&one(objects, "Service")["spec"]["selector"], labels, "{dir}: Service selects other pods");
    assert_eq!(&one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels, "{dir}: PDB selects other pods");

    let spec = &pod["spec"];
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{dir}");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{dir}");
    assert!(c["resources"]["requests"]["cpu"].is_string() && c["resources"]["limits"]["memory"].is_string(), "{dir}: resources");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{dir}");
    assert!(spec["securityContext"]["runAsUser"].as_u64().is_some_and(|u| u > 0), "{dir}: a numeric non-root user");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true, "{dir}");
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false, "{dir}");
    let port = c["ports"].as_array().unwrap().iter().find(|p| p["name"] == "http").expect("port named http")["containerPort"].as_u64();
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true", "{dir}: scrape annotation");
    assert_eq!(annotations["prometheus.io/path"], "/metrics", "{dir}");
    assert_eq!(annotations["prometheus.io/port"].as_str().and_then(|p| p.parse().ok()), port, "{dir}: scrape port");

    // The config file: from the generated ConfigMap, at the path `--config` names.
    let config_map = one(objects, "ConfigMap");
    let volumes = spec["volumes"].as_array().unwrap();
    let mount_of = |volume: &Value| -> String {
        let name = &volume["name"];
        let m = c["volumeMounts"].as_array().unwrap().iter().find(|m| &m["name"] == name).expect("volume is mounted");
        m["mountPath"].as_str().unwrap().to_owned()
    };
    let config_volume =
        volumes.iter().find(|v| v["configMap"]["name"] == config_map["metadata"]["name"]).expect("the ConfigMap is a volume");
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let config_arg = args.iter().position(|a| *a == "--config").map(|i| args[i + 1]).expect("--config");
    let (config_dir, config_file) = config_arg.rsplit_once('/').unwrap();
    assert_eq!(config_dir, mount_of(config_volume), "{dir}: --config is not in the ConfigMap's mount");
    let config_text = config_map["data"][config_file].as_str().unwrap_or_else(|| panic!("{dir}: ConfigMap has no {config_file}"));
    let config: toml::Table = config_text.parse().unwrap_or_else(|e| panic!("{dir}: config is not TOML: {e}"));

    // Graceful termination: the pod may take longer than the preStop pause plus uprelay's drain.
    let grace_ms = config["limits"]["shutdown_grace_ms"].as_integer().expect("limits.shutdown_grace_ms") as u64;
    let pre_stop_s: u64 =
        c["lifecycle"]["preStop"]["exec"]["command"].as_array().and_then(|cmd| cmd.last()?.as_str()?.parse().ok()).unwrap_or(0);
    let termination_s = spec["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    assert!(termination_s * 1000 >= pre_stop_s * 1000 + grace_ms + 5000, "{dir}: {termination_s} s < {pre_stop_s} s + {grace_ms} ms + 5 s");
    assert!(config["listen"].as_str().unwrap().ends_with(&format!(":{}", port.unwrap())), "{dir}: listen is not the container port");

    // The service account comes from the Secret's mount.
    let secret_volume = volumes.iter().find(|v| v["secret"]["secretName"].is_string()).expect("a Secret volume");
    let secret_mount = mount_of(secret_volume);
    let credentials = config["fcm"]["projects"][0]["credentials"].as_str().unwrap();
    let key = credentials.strip_prefix(&format!("{secret_mount}/")).unwrap_or_else(|| panic!("{credentials} not under {secret_mount}"));
    let items = secret_volume["secret"]["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert!(items.is_empty() || items.iter().any(|i| i["path"] == key), "{dir}: the Secret volume has no {key}");

    // check-config on the mounted text, the Secret's mount played by a directory holding
    // a service account.
    let secret_dir = tmp.join(&format!("{}-secret", dir.replace('/', "-")));
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::copy(workspace_root().join("tests/fixtures/test-service-account.json"), secret_dir.join(key)).unwrap();
    let local_config = tmp.join(&format!("{}-uprelay.toml", dir.replace('/', "-")));
    std::fs::write(&local_config, config_text.replace(&secret_mount, secret_dir.to_str().unwrap())).unwrap();
    check_config(&local_config);
    config
}

fn check_config(path: &Path) {
    let mut cmd = Command::new(bin_path("uprelay"));
    cmd.arg("check-config").arg("--config").arg(path);
    // Only the file decides: no setting from the test's environment.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("UPRELAY_")) {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run uprelay check-config");
    assert!(
        out.status.success(),
        "uprelay check-config refuses {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn base_renders_validates_and_its_config_passes_check_config() {
    let tmp = TempDir::new("uprelay-k8s");
    let config = check_kustomization("base", &tmp);
    assert!(config["store"]["redis_url"].is_str(), "the base uses a standalone Redis");
}

#[test]
fn redis_cluster_overlay_renders_validates_and_its_config_passes_check_config() {
    let tmp = TempDir::new("uprelay-k8s");
    let config = check_kustomization("redis-cluster", &tmp);
    let nodes = config["store"]["redis_cluster"].as_array().expect("store.redis_cluster");
    assert!(nodes.len() >= 3, "{nodes:?}");
    assert!(config["store"].get("redis_url").is_none(), "redis_url and redis_cluster together");
}
