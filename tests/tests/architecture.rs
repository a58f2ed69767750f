//! The house rule the code is read by: no two modules of a crate import each other (a
//! module is a file, or a folder with its `mod.rs`). A module refers to another through
//! `crate::…`, `super::…`, `self::…` or a child's name (`push::routes()`); groups in
//! `use` braces are expanded. Test code (`#[cfg(test)] mod tests`) and comments are left
//! out. This reads the sources as text, which is enough for the way this project writes
//! its paths, and fails with the pairs it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Module = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                if parts.last().is_some_and(|l| l == "mod") {
                    parts.pop();
                }
                if parts == ["lib"] || parts == ["main"] {
                    parts.clear();
                }
                out.insert(parts, path);
            }
        }
    }
    out
}

/// The source without comments and without the unit-test module at its end.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path starting at `start` (`crate::a::{b, c::D}` → `crate::a::b`, `crate::a::c::D`).
fn paths_at(code: &str, start: usize) -> Vec<String> {
    let rest = &code[start..];
    let mut end = 0;
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            c if depth == 0 && !(is_ident(c) || c == ':') => break,
            _ => {}
        }
        end = i + c.len_utf8();
    }
    expand(&rest[..end])
}

fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else { return vec![path.trim().trim_end_matches(':').to_string()] };
    let prefix = &path[..open];
    let inner = &path[open + 1..path.rfind('}').unwrap_or(path.len())];
    let mut parts = Vec::new();
    let (mut depth, mut last) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[last..i]);
                last = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[last..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).flat_map(|p| expand(&format!("{prefix}{p}"))).collect()
}

fn edges(mods: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, path) in mods {
        let code = code_of(path);
        let children: Vec<&String> =
            mods.keys().filter(|k| k.len() == m.len() + 1 && k.starts_with(m)).map(|k| k.last().unwrap()).collect();
        let mut found = Vec::new();
        for (i, _) in code.char_indices() {
            if i > 0 && code[..i].chars().next_back().is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let rest = &code[i..];
            let root = ["crate::", "super::", "self::"].into_iter().find(|r| rest.starts_with(r));
            let child = children.iter().find(|c| rest.starts_with(&format!("{c}::")));
            if root.is_some() || child.is_some() {
                for p in paths_at(&code, i) {
                    found.push(if root.is_some() { p } else { format!("self::{p}") });
                }
            }
        }
        for p in found {
            let mut segs: Vec<&str> = p.split("::").map(|s| s.split(" as ").next().unwrap().trim()).collect();
            let mut base: Module = match segs.first() {
                Some(&"crate") => Vec::new(),
                _ => m.clone(),
            };
            if segs.first() == Some(&"crate") {
                segs.remove(0);
            }
            while let Some(&s) = segs.first() {
                match s {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segs.remove(0);
            }
            let full: Module = base.into_iter().chain(segs.into_iter().map(String::from)).collect();
            let target = (0..=full.len()).rev().map(|k| full[..k].to_vec()).find(|k| mods.contains_key(k));
            if let Some(t) = target.filter(|t| t != m) {
                out.entry(m.clone()).or_default().insert(t);
            }
        }
    }
    out
}

fn mutual_pairs(src: &Path) -> Vec<String> {
    let mods = modules(src);
    assert!(mods.len() > 5, "no modules under {}", src.display());
    let e = edges(&mods);
    let name = |m: &Module| if m.is_empty() { "crate".to_string() } else { m.join("::") };
    let mut pairs = Vec::new();
    let keys: Vec<&Module> = mods.keys().collect();
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            if e.get(*a).is_some_and(|s| s.contains(*b)) && e.get(*b).is_some_and(|s| s.contains(*a)) {
                pairs.push(format!("{} <-> {}", name(a), name(b)));
            }
        }
    }
    pairs
}

#[test]
fn no_two_modules_of_the_server_import_each_other() {
    let pairs = mutual_pairs(&uprelay_tests::workspace_root().join("server/src"));
    assert!(pairs.is_empty(), "modules that import each other:\n{}", pairs.join("\n"));
}

/// The checker itself finds a loop when there is one (a test must be able to fail).
#[test]
fn the_checker_finds_a_planted_loop() {
    let dir = uprelay_tests::TempDir::new("arch");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\nmod d;\nmod e;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod x;\npub use x::Thing;\npub struct Parent;\n").unwrap();
    std::fs::write(src.join("a/x.rs"), "use super::Parent;\npub struct Thing;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::{c::C, d};\n// use crate::e::E; (a comment)\npub struct B;\n").unwrap();
    std::fs::write(src.join("c.rs"), "pub struct C;\nfn f() { let _ = crate::b::B; }\n").unwrap();
    std::fs::write(src.join("d.rs"), "pub struct D;\n").unwrap();
    std::fs::write(src.join("e.rs"), "use crate::b::B;\n").unwrap();
    assert_eq!(mutual_pairs(src), vec!["a <-> a::x".to_string(), "b <-> c".to_string()]);
}

/// Modules of `src` that import an ancestor of theirs (the crate root included: items
/// defined in `main.rs` count), as "child -> ancestor".
fn parent_imports(src: &Path) -> Vec<String> {
    let mods = modules(src);
    let name = |m: &Module| if m.is_empty() { "crate".to_string() } else { m.join("::") };
    let mut found = Vec::new();
    for (m, targets) in edges(&mods) {
        for t in targets.iter().filter(|t| t.len() < m.len() && m.starts_with(t)) {
            found.push(format!("{} -> {}", name(&m), name(t)));
        }
    }
    found
}

/// The benchmark's modules are leaves of its `main.rs`: none reaches back into it.
#[test]
fn no_module_of_the_bench_imports_its_parent() {
    let found = parent_imports(&uprelay_tests::workspace_root().join("bench/src"));
    assert!(found.is_empty(), "modules that import their parent:\n{}", found.join("\n"));
    let pairs = mutual_pairs(&uprelay_tests::workspace_root().join("bench/src"));
    assert!(pairs.is_empty(), "modules that import each other:\n{}", pairs.join("\n"));
}

/// The parent check finds a child that uses its parent's item (a test must be able to fail).
#[test]
fn the_parent_check_finds_a_planted_import() {
    let dir = uprelay_tests::TempDir::new("arch-parent");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("main.rs"), "mod a;\nmod b;\nmod c;\nmod d;\nmod e;\nfn group() {}\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod x;\npub struct Parent;\n").unwrap();
    std::fs::write(src.join("a/x.rs"), "use super::Parent;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::group;\n").unwrap();
    std::fs::write(src.join("c.rs"), "use crate::d::D;\n").unwrap();
    std::fs::write(src.join("d.rs"), "pub struct D;\n").unwrap();
    std::fs::write(src.join("e.rs"), "pub struct E;\n").unwrap();
    assert_eq!(parent_imports(src), vec!["a::x -> a".to_string(), "b -> crate".to_string()]);
}

#[test]
fn no_two_modules_of_the_emulator_import_each_other() {
    let pairs = mutual_pairs(&uprelay_tests::workspace_root().join("emulator/src"));
    assert!(pairs.is_empty(), "modules that import each other:\n{}", pairs.join("\n"));
}

/// The emulator is the fake Google: it may not lean on the relay it stands in for.
#[test]
fn the_emulator_depends_on_nothing_of_the_server() {
    let root = uprelay_tests::workspace_root();
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(root.join("emulator/Cargo.toml")).unwrap()).unwrap();
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(table).and_then(|t| t.as_table()) {
            for (name, spec) in deps {
                let path = spec.get("path").and_then(|p| p.as_str()).unwrap_or("");
                assert!(name != "uprelay" && !path.contains("server"), "emulator/Cargo.toml [{table}] {name} = {spec}");
            }
        }
    }
    let uses_server = std::fs::read_dir(root.join("emulator/src"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .any(|src| src.contains("uprelay::"));
    assert!(!uses_server, "emulator/src refers to uprelay::");
}
