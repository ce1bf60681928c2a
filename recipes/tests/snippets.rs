//! The book's recipe snippets compile on their own: for every module the
//! chapters include code from, and for every included block, this test
//! writes a scratch crate holding that module's blocks up to and including
//! the block (in the book's order: the `imports` block first), with the
//! dependencies the module's header tells a reader to add to `Cargo.toml`,
//! and runs `cargo check` on all of them at once.
//!
//! The fact a reader gets wrong: "the recipe compiles" (it is a crate's
//! module, `cargo test` builds it) says nothing about what the book shows.
//! A helper left out of every anchor, a `use` line above the first anchor,
//! a dependency feature the header forgets: each compiles here and fails in
//! a reader's crate. Only a crate built from the anchors alone sees it.
//!
//! The scratch crates form one workspace under the cargo target directory
//! (`target/recipe-snippets/`), sharing one target dir, and are checked
//! `--offline` first (the dependencies are in the registry cache once this
//! workspace has built; the workspace's `Cargo.lock` pins the same versions),
//! online only if that fails for want of a package. Snippets from `benches/`
//! are bench code, not recipes: they are skipped here (`cargo bench --no-run`
//! builds them). Without a `cargo` to run, the test says so and passes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One fenced `rust` block of a chapter: where it is and what it includes.
#[derive(Debug, Clone)]
struct Block {
    chapter: String,
    line: usize,
    /// (source file relative to the workspace root, anchor, text of the anchor)
    pieces: Vec<(String, String, String)>,
    /// Code written in the chapter itself, around the includes.
    literal: String,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("recipes/ has a parent")
        .to_path_buf()
}

/// The text between `ANCHOR: name` and `ANCHOR_END: name`, without any
/// anchor lines (mdBook's rule: other anchors inside are dropped too).
fn anchor(source: &str, name: &str) -> Option<String> {
    let start = format!("ANCHOR: {name}");
    let end = format!("ANCHOR_END: {name}");
    let mut lines = source.lines();
    lines.find(|l| l.trim_start().trim_start_matches('/').trim() == start)?;
    let mut out = String::new();
    for l in lines {
        let t = l.trim_start().trim_start_matches('/').trim();
        if t == end {
            return Some(out);
        }
        if t.starts_with("ANCHOR:") || t.starts_with("ANCHOR_END:") {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    None
}

/// Every `rust` block of `chapter` with its `{{#include path:anchor}}` lines.
fn blocks(root: &Path, chapter: &Path) -> Vec<Block> {
    let text = fs::read_to_string(chapter).unwrap_or_else(|e| panic!("{}: {e}", chapter.display()));
    let rel_chapter = chapter.strip_prefix(root).unwrap().display().to_string();
    let dir = chapter.parent().unwrap();
    let mut out = Vec::new();
    // Some(block) inside a fence; the block's chapter is empty for a non-rust fence.
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(info) = t.strip_prefix("```") {
            match current.take() {
                // A block without includes is the chapter's own code, not a recipe's.
                Some(mut block) if !block.chapter.is_empty() && !block.pieces.is_empty() => {
                    if !block.literal.trim().is_empty() {
                        let file = block.pieces[0].0.clone();
                        let literal = std::mem::take(&mut block.literal);
                        block
                            .pieces
                            .push((file, "(written in the chapter)".into(), literal));
                    }
                    out.push(block)
                }
                Some(_) => {}
                None => {
                    current = Some(Block {
                        chapter: if info.starts_with("rust") {
                            rel_chapter.clone()
                        } else {
                            String::new()
                        },
                        line: i + 1,
                        pieces: Vec::new(),
                        literal: String::new(),
                    })
                }
            }
            continue;
        }
        let Some(block) = current.as_mut() else {
            continue;
        };
        if block.chapter.is_empty() {
            continue; // inside a non-rust fence
        }
        let Some(inc) = t
            .strip_prefix("{{#include ")
            .and_then(|r| r.strip_suffix("}}"))
        else {
            // mdBook hides `# ` lines from the reader but they are still code.
            let code = line.strip_prefix("# ").unwrap_or(line);
            block.literal.push_str(code);
            block.literal.push('\n');
            continue;
        };
        let (path, name) = inc
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{rel_chapter}:{}: include without an anchor", i + 1));
        let file = dir.join(path).canonicalize().unwrap_or_else(|e| {
            panic!("{rel_chapter}:{}: {path}: {e}", i + 1);
        });
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        let source = fs::read_to_string(&file).unwrap();
        let body = anchor(&source, name)
            .unwrap_or_else(|| panic!("{rel_chapter}:{}: no anchor {name:?} in {rel}", i + 1));
        block.pieces.push((rel, name.to_string(), body));
    }
    out
}

/// The module a source file belongs to, for a reader who copies it: each
/// recipe file is one module; the real-world files are one module tree.
fn unit_of(file: &str) -> String {
    if file.starts_with("recipes/src/real_world/") {
        "real_world".to_string()
    } else {
        Path::new(file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

/// The `[dependencies]` lines of the first ```toml block of `file`'s `//!` header.
fn header_dependencies(root: &Path, file: &str) -> Option<Vec<String>> {
    let source = fs::read_to_string(root.join(file)).unwrap();
    let header: Vec<&str> = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim())
        .collect();
    let start = header.iter().position(|l| *l == "```toml")?;
    let body = &header[start + 1..];
    let end = body.iter().position(|l| *l == "```")?;
    Some(
        body[..end]
            .iter()
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
            .map(|l| l.to_string())
            .collect(),
    )
}

/// The first quoted string of a dependency line: its version requirement.
fn version_of(line: &str) -> &str {
    line.split('"').nth(1).unwrap_or("")
}

fn features_of(line: &str) -> Vec<String> {
    let Some((_, rest)) = line.split_once("features") else {
        return Vec::new();
    };
    let list = rest
        .split('[')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or("");
    list.split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

/// Each header dependency must be pinned as recipes/Cargo.toml pins it, with
/// features that crate really enables.
fn check_against_manifest(root: &Path, file: &str, deps: &[String]) {
    let manifest = fs::read_to_string(root.join("recipes/Cargo.toml")).unwrap();
    let section = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for dep in deps {
        let name = dep.split('=').next().unwrap().trim();
        let pinned = section
            .lines()
            .find(|l| l.split('=').next().map(str::trim) == Some(name))
            .unwrap_or_else(|| {
                panic!("{file}: header names {name}, which recipes/Cargo.toml lacks")
            });
        assert_eq!(
            version_of(dep),
            version_of(pinned),
            "{file}: header pins {name} unlike recipes/Cargo.toml"
        );
        let enabled = features_of(pinned);
        for f in features_of(dep) {
            assert!(
                enabled.contains(&f),
                "{file}: feature {f} of {name} is not enabled in recipes/Cargo.toml"
            );
        }
    }
}

/// The scratch crate's `src/lib.rs`: the blocks in order; for the real-world
/// tree, pieces of `mod.rs` at the root and each other file as a child module.
fn lib_rs(blocks: &[Block]) -> String {
    let mut root = String::from("#![allow(dead_code, unused_imports)]\n");
    let mut children: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for b in blocks {
        for (file, name, body) in &b.pieces {
            let piece = format!("// {file}:{name}\n{body}");
            if file.starts_with("recipes/src/real_world/") && !file.ends_with("/mod.rs") {
                let module = Path::new(file)
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if !children.contains_key(&module) {
                    order.push(module.clone());
                }
                children.entry(module).or_default().push_str(&piece);
            } else {
                root.push_str(&piece);
            }
        }
    }
    for m in order {
        root.push_str(&format!("\npub mod {m} {{\n{}}}\n", children[&m]));
    }
    root
}

fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

#[test]
fn every_included_snippet_compiles_in_a_fresh_crate() {
    let started = Instant::now();
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    if Command::new(&cargo).arg("--version").output().is_err() {
        eprintln!("SKIPPED: no `{cargo}` to run, so the book's snippets were not compiled");
        return;
    }

    let mut chapters: Vec<PathBuf> = fs::read_dir(root.join("book/src/recipes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    chapters.push(root.join("book/src/real-world.md"));

    // Per module: its blocks in the book's order.
    let mut units: BTreeMap<String, Vec<Block>> = BTreeMap::new();
    let mut included_files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chapter in &chapters {
        for block in blocks(&root, chapter) {
            let Some((first, _, _)) = block.pieces.first() else {
                continue;
            };
            if first.starts_with("benches/") {
                eprintln!(
                    "skipped {}:{}: bench code ({first}), built by `cargo bench --no-run`",
                    block.chapter, block.line
                );
                continue;
            }
            assert!(
                first.starts_with("recipes/src/"),
                "{}:{}: includes {first}, not a recipe",
                block.chapter,
                block.line
            );
            for (file, name, _) in &block.pieces {
                assert_eq!(
                    unit_of(file),
                    unit_of(first),
                    "{}:{}: one block, two modules",
                    block.chapter,
                    block.line
                );
                included_files
                    .entry(file.clone())
                    .or_default()
                    .push(name.clone());
            }
            units.entry(unit_of(first)).or_default().push(block);
        }
    }
    assert!(
        units.len() >= 6,
        "found snippets of only {:?}",
        units.keys()
    );

    // Every included file shows its imports first, and every module says what
    // to add to Cargo.toml, pinned as this workspace pins it.
    for (file, anchors) in &included_files {
        assert_eq!(
            anchors.first().map(String::as_str),
            Some("imports"),
            "{file}: the book must include its `imports` anchor before {anchors:?}"
        );
    }
    let mut deps_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for unit in units.keys() {
        let header_file = if unit == "real_world" {
            "recipes/src/real_world/mod.rs".to_string()
        } else {
            format!("recipes/src/{unit}.rs")
        };
        let deps = header_dependencies(&root, &header_file).unwrap_or_else(|| {
            panic!(
                "{header_file}: its header has no ```toml block saying what to add to Cargo.toml"
            )
        });
        check_against_manifest(&root, &header_file, &deps);
        deps_of.insert(unit.clone(), deps);
    }

    // One scratch workspace, one crate per (module, block): blocks 0..=k.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let scratch = target.join("recipe-snippets");
    let mut members = Vec::new();
    let mut what: BTreeMap<String, String> = BTreeMap::new();
    for (unit, blocks) in &units {
        for k in 0..blocks.len() {
            let name = format!("snippet-{}-{:02}", unit.replace('_', "-"), k);
            let b = &blocks[k];
            let anchors: Vec<String> = b
                .pieces
                .iter()
                .map(|(f, a, _)| format!("{f}:{a}"))
                .collect();
            what.insert(
                name.clone(),
                format!(
                    "{}:{} ({}), after the {} block(s) before it",
                    b.chapter,
                    b.line,
                    anchors.join(", "),
                    k
                ),
            );
            let manifest = format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[lib]\npath = \"lib.rs\"\n\n[dependencies]\n{}\n",
                deps_of[unit].join("\n")
            );
            write_if_changed(
                &scratch.join("crates").join(&name).join("Cargo.toml"),
                &manifest,
            );
            write_if_changed(
                &scratch.join("crates").join(&name).join("lib.rs"),
                &lib_rs(&blocks[..=k]),
            );
            members.push(name);
        }
    }
    // Crates of blocks that no longer exist would only slow the check down.
    if let Ok(entries) = fs::read_dir(scratch.join("crates")) {
        for e in entries.flatten() {
            if !members.iter().any(|m| e.file_name() == m.as_str()) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let list: Vec<String> = members
        .iter()
        .map(|m| format!("    \"crates/{m}\","))
        .collect();
    write_if_changed(
        &scratch.join("Cargo.toml"),
        &format!(
            "[workspace]\nresolver = \"2\"\nmembers = [\n{}\n]\n",
            list.join("\n")
        ),
    );
    // The workspace's lock file: the scratch crates get the versions this
    // workspace was tested with, already in the registry cache. (Cargo trims
    // the copy to what the scratch crates use; a changed original replaces it.)
    let lock = fs::read_to_string(root.join("Cargo.lock")).unwrap();
    if fs::read_to_string(scratch.join("Cargo.lock.source"))
        .ok()
        .as_deref()
        != Some(&lock)
    {
        fs::write(scratch.join("Cargo.lock"), &lock).unwrap();
        fs::write(scratch.join("Cargo.lock.source"), &lock).unwrap();
    }

    let check = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&scratch)
            .args([
                "check",
                "--workspace",
                "--keep-going",
                "--message-format",
                "short",
                "--quiet",
            ])
            .arg("--target-dir")
            .arg(scratch.join("target"))
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("cargo runs")
    };
    let mut out = check(true);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && stderr.contains("offline") {
        eprintln!("not every dependency is in the registry cache: checking online");
        out = check(false);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let failed: Vec<String> = what
            .iter()
            .filter(|(name, _)| stderr.contains(&format!("crates/{name}/")))
            .map(|(name, w)| format!("  {name}: {w}"))
            .collect();
        panic!(
            "book snippets that do not compile alone (scratch crates in {}):\n{}\n\ncargo said:\n{stderr}",
            scratch.display(),
            failed.join("\n")
        );
    }
    eprintln!(
        "{} snippet crates of {} modules checked in {:.1}s",
        members.len(),
        units.len(),
        started.elapsed().as_secs_f64()
    );
}
