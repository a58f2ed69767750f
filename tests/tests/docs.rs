//! The documents hold to the code: every relative link in `README.md` and `docs/*.md`
//! leads to a file that exists (and, for a `#fragment` into Markdown, to a heading in it),
//! and `docs/configuration.md` lists exactly the keys of the configuration types, with the
//! defaults the code has. The keys are read off a serialized `Config::default()`, so a key
//! added to any subsystem's settings fails here until it is documented. Code, comments and
//! documents name rules and targets, never tracker numbers. Each checker is also run on
//! planted mistakes, so the tests can fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use uprelay_tests::{workspace_root, TempDir};

/// The Markdown text outside fenced code blocks (links in code are examples, not links).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The targets of the inline links `[text](target)` of `text`, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let text = prose(text);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim().to_string());
            rest = &rest[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (a repeated heading gets `-1`, `-2`, …).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose(text).lines() {
        let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) else { continue };
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// Every relative link of `files` that leads nowhere, as "file: target (why)".
fn broken_links(files: &[PathBuf]) -> Vec<String> {
    let mut broken = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            if !resolved.exists() {
                broken.push(format!("{}: {target} (no such file)", file.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                if resolved.extension().is_some_and(|e| e == "md") {
                    let heads = anchors(&std::fs::read_to_string(&resolved).unwrap());
                    if !heads.contains(fragment) {
                        broken.push(format!("{}: {target} (no such heading)", file.display()));
                    }
                }
            }
        }
    }
    broken
}

fn documents() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("a docs/ directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_relative_link_resolves() {
    let files = documents();
    assert!(files.len() >= 7, "README and the six documents of docs/: {files:?}");
    let links: usize = files.iter().map(|f| link_targets(&std::fs::read_to_string(f).unwrap()).len()).sum();
    assert!(links >= 20, "only {links} links found: is the link reader broken?");
    let broken = broken_links(&files);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_finds_planted_mistakes() {
    let dir = TempDir::new("docs-links");
    let d = dir.path();
    std::fs::create_dir_all(d.join("docs")).unwrap();
    std::fs::write(d.join("docs/a.md"), "# A\n## Two words, and `code`\n").unwrap();
    let readme = d.join("README.md");
    std::fs::write(
        &readme,
        "# Top\n[ok](docs/a.md) [ok](docs/a.md#two-words-and-code) [ok](#top) [web](https://x.org/nope)\n\
         [gone](docs/b.md) [no heading](docs/a.md#three) [no anchor](#bottom)\n\
         ```\n[in code](nowhere.md)\n```\n",
    )
    .unwrap();
    let broken = broken_links(&[readme]);
    assert_eq!(broken.len(), 3, "{broken:#?}");
    assert!(broken[0].ends_with("docs/b.md (no such file)"), "{broken:#?}");
    assert!(broken[1].ends_with("docs/a.md#three (no such heading)"), "{broken:#?}");
    assert!(broken[2].ends_with("#bottom (no such heading)"), "{broken:#?}");
}

/// Every key the configuration accepts, with its default (`Null` when it has none), read
/// off a serialized default `Config`. One project is added so the array of tables shows its
/// keys; tables themselves are not keys, arrays of tables are.
fn config_keys() -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        let Value::Object(map) = value else { return };
        for (k, v) in map {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Object(_) => walk(&path, v, out),
                Value::Array(items) if items.first().is_some_and(|i| i.is_object()) => {
                    out.insert(path.clone(), Value::Null);
                    walk(&path, &items[0], out);
                }
                other => {
                    out.insert(path, other.clone());
                }
            }
        }
    }
    let mut c = uprelay::config::Config::default();
    c.fcm.projects.push(uprelay::fcm::ProjectConfig { name: "p".into(), credentials: "c.json".into(), sender_id: Some("1".into()) });
    let mut keys = BTreeMap::new();
    walk("", &serde_json::to_value(&c).unwrap(), &mut keys);
    // The sample project's values are not defaults.
    for (key, value) in keys.iter_mut() {
        if key.starts_with("fcm.projects.") {
            *value = Value::Null;
        }
    }
    keys
}

/// A default as written in TOML.
fn toml_literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) if n.is_f64() => format!("{:?}", n.as_f64().unwrap()),
        Value::Array(items) => format!("[{}]", items.iter().map(toml_literal).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// The rows of the Markdown tables of `text` whose first cell is one `key`: key → the
/// second cell (the default).
fn documented_keys(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in prose(text).lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        let [first, second, ..] = cells.as_slice() else { continue };
        let Some(key) = first.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else { continue };
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.') {
            out.insert(key.to_string(), second.to_string());
        }
    }
    out
}

/// What is wrong between the configuration's keys and a document: missing keys, keys
/// that do not exist, and defaults that are not the code's (a default shown must begin
/// with the code's value as a TOML literal in backticks).
fn configuration_mistakes(keys: &BTreeMap<String, Value>, doc: &str) -> Vec<String> {
    let documented = documented_keys(doc);
    let mut mistakes = Vec::new();
    for key in keys.keys().filter(|k| !documented.contains_key(*k)) {
        mistakes.push(format!("{key}: not documented"));
    }
    for key in documented.keys().filter(|k| !keys.contains_key(*k)) {
        mistakes.push(format!("{key}: documented but not a configuration key"));
    }
    for (key, default) in keys {
        let (Some(shown), false) = (documented.get(key), default.is_null()) else { continue };
        let want = format!("`{}`", toml_literal(default));
        if !shown.starts_with(&want) {
            mistakes.push(format!("{key}: default shown as {shown:?}, the code's is {want}"));
        }
    }
    mistakes
}

#[test]
fn the_configuration_document_lists_every_key_with_its_default() {
    let keys = config_keys();
    assert!(keys.len() > 50 && keys.contains_key("matrix.forward_allow") && keys.contains_key("fcm.projects.sender_id"), "{keys:?}");
    let doc = std::fs::read_to_string(workspace_root().join("docs/configuration.md")).unwrap();
    let mistakes = configuration_mistakes(&keys, &doc);
    assert!(mistakes.is_empty(), "docs/configuration.md:\n{}", mistakes.join("\n"));
}

#[test]
fn the_configuration_checker_finds_planted_mistakes() {
    let mut keys = BTreeMap::new();
    keys.insert("listen".to_string(), Value::String("127.0.0.1:8080".into()));
    keys.insert("limits.push_rate_per_second".to_string(), serde_json::json!(1.0));
    keys.insert("limits.trusted_proxies".to_string(), serde_json::json!([]));
    keys.insert("public_url".to_string(), Value::Null);
    keys.insert("queue.max_len".to_string(), serde_json::json!(1000000));
    let doc = "| key | default | meaning |\n|---|---|---|\n\
               | `listen` | `\"127.0.0.1:8080\"` | ok |\n\
               | `limits.push_rate_per_second` | `1.0` | ok |\n\
               | `limits.trusted_proxies` | `[]` | ok |\n\
               | `public_url` | none | ok |\n\
               | `queue.max_len` | `100000` | a wrong default |\n\
               | `queue.gone` | `1` | not a key |\n";
    let mistakes = configuration_mistakes(&keys, doc);
    assert_eq!(mistakes.len(), 2, "{mistakes:#?}");
    assert!(mistakes[0].starts_with("queue.gone: documented but not"), "{mistakes:#?}");
    assert!(mistakes[1].starts_with("queue.max_len: default shown"), "{mistakes:#?}");
    // A key added to the code without a row.
    keys.insert("queue.new_knob".to_string(), serde_json::json!(5));
    let mistakes = configuration_mistakes(&keys, doc);
    assert!(mistakes.iter().any(|m| m == "queue.new_knob: not documented"), "{mistakes:#?}");
}

/// The README stays a five-minute read.
#[test]
fn the_readme_stays_short() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 150, "README.md has {lines} lines; move detail into docs/");
}

/// Where `text` mentions a tracker number (the word issue, then a number, perhaps after
/// a `#` or a hyphen), as 1-based line numbers.
fn issue_numbers(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let lower = line.to_lowercase();
        let hit = lower.match_indices("issue").any(|(i, _)| {
            let rest = lower[i + "issue".len()..].trim_start_matches([' ', '-']);
            rest.trim_start_matches('#').starts_with(|c: char| c.is_ascii_digit())
        });
        if hit {
            lines.push(n + 1);
        }
    }
    lines
}

/// The project's own text files: sources, scripts, documents, configuration.
fn project_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    const SKIP: [&str; 6] = ["target", ".git", ".venv", "build", "node_modules", ".gradle"];
    const EXT: [&str; 14] = ["rs", "md", "sh", "java", "py", "yml", "yaml", "toml", "lua", "kts", "xml", "html", "js", "css"];
    for entry in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIP.contains(&name.as_str()) {
                project_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| EXT.contains(&e.to_string_lossy().as_ref())) || name == "run" {
            out.push(path);
        }
    }
}

#[test]
fn no_tracker_numbers_in_code_or_documents() {
    let root = workspace_root();
    let mut files = Vec::new();
    project_files(&root, &mut files);
    assert!(files.len() > 100 && files.iter().any(|f| f.ends_with("server/src/config.rs")), "{} files", files.len());
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for line in issue_numbers(&text) {
            found.push(format!("{}:{line}", file.strip_prefix(&root).unwrap().display()));
        }
    }
    assert!(found.is_empty(), "say what the rule or target is instead of the tracker number:\n{}", found.join("\n"));
}

#[test]
fn the_tracker_number_check_finds_planted_ones() {
    let word = "Issue";
    let text =
        format!("fine\n// {word} 6 says\nsee {} #18\n(the {}-14 spoof)\nan issue with it, issues 3 ways\n", word.to_lowercase(), word);
    assert_eq!(issue_numbers(&text), vec![2, 3, 4]);
}

/// The long options of `help` (clap's `--help` text), `--help` itself left out.
fn help_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix('-').filter(|r| r.len() > 2 && r.as_bytes()[1] == b',').map_or(l, |r| r[2..].trim_start());
            let flag: String = l.strip_prefix("--")?.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            (flag != "help").then(|| format!("--{flag}"))
        })
        .collect()
}

/// The long options named in the first cells of the table under `## Options`.
fn documented_flags(doc: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in doc.lines() {
        if line.starts_with("## ") {
            inside = line == "## Options";
        }
        if !inside || !line.starts_with('|') {
            continue;
        }
        let first = line.trim_matches('|').split('|').next().unwrap_or("");
        for span in first.split('`').skip(1).step_by(2) {
            if let Some(flag) = span.split_whitespace().next().filter(|f| f.starts_with("--")) {
                out.insert(flag.to_string());
            }
        }
    }
    out
}

#[test]
fn the_benchmark_document_lists_every_option_of_the_bench() {
    let out =
        std::process::Command::new(uprelay_tests::bin_path("uprelay-bench")).arg("--help").output().expect("run uprelay-bench --help");
    assert!(out.status.success(), "{out:?}");
    let flags = help_flags(&String::from_utf8_lossy(&out.stdout));
    assert!(flags.len() > 20 && flags.contains("--realistic") && flags.contains("--connections"), "{flags:?}");
    let doc = std::fs::read_to_string(workspace_root().join("docs/benchmark.md")).unwrap();
    let documented = documented_flags(&doc);
    let missing: Vec<_> = flags.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&flags).collect();
    assert!(missing.is_empty() && unknown.is_empty(), "docs/benchmark.md options: missing {missing:?}; not options {unknown:?}");
}

#[test]
fn the_option_readers_find_planted_mistakes() {
    let help = "Usage: x\n\nOptions:\n  -c, --connections <N>  C\n      --no-vapid  skip\n  -h, --help  help\n";
    assert_eq!(help_flags(help).into_iter().collect::<Vec<_>>(), ["--connections", "--no-vapid"]);
    let doc =
        "## Options\n\n| option | d |\n|---|---|\n| `-c`, `--connections` | 64 |\n| `--gone N` | 1 |\n\n## Next\n| `--not-here` | x |\n";
    assert_eq!(documented_flags(doc).into_iter().collect::<Vec<_>>(), ["--connections", "--gone"]);
}
