//! ARCHITECTURE.md's invariants, checked by reading the sources, so that they cannot drift
//! again: which crate may start processes, mount, speak SQL, read archfn's configuration from
//! the environment, hold wire names, or depend on which other crate. A rule that must admit an
//! exception names it here, with the reason.

use std::path::{Path, PathBuf};

/// The workspace's `crates/` directory.
fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The crates (directory names under `crates/`).
fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(crates_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("Cargo.toml").is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The non-test source lines of a crate's `src/` (a file's `#[cfg(test)]` module and what
/// follows it are left out; comments too), with their file and line number.
fn source_lines(krate: &str) -> Vec<(PathBuf, usize, String)> {
    let mut out = Vec::new();
    for file in rust_files(&crates_dir().join(krate).join("src")) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("#[cfg(test)]") {
                break;
            }
            if t.starts_with("//") {
                continue;
            }
            out.push((file.clone(), i + 1, line.to_string()));
        }
    }
    out
}

/// Where `needle` appears in the sources of crates other than `allowed`.
fn found_outside(needle: &str, allowed: &[&str]) -> Vec<String> {
    crates()
        .iter()
        .filter(|c| !allowed.contains(&c.as_str()))
        .flat_map(|c| source_lines(c))
        .filter(|(_, _, l)| l.contains(needle))
        .map(|(f, n, l)| format!("{}:{n}: {}", f.display(), l.trim()))
        .collect()
}

fn assert_none(what: &str, found: Vec<String>) {
    assert!(found.is_empty(), "{what}:\n{}", found.join("\n"));
}

#[test]
fn only_the_sandbox_starts_and_confines_processes() {
    // archfn-migrate runs pip and npm on the host to fetch packages (never function code);
    // archfn-bench runs the tools it measures. Neither starts an execution environment.
    let allowed = ["archfn-sandbox", "archfn-migrate", "archfn-bench"];
    assert_none(
        "processes started outside archfn-sandbox",
        found_outside("Command::new", &allowed),
    );
    for needle in [
        "pre_exec",
        "nix::mount",
        "mount::mount",
        "unshare(",
        "setns(",
    ] {
        assert_none(
            &format!("`{needle}` outside archfn-sandbox"),
            found_outside(needle, &["archfn-sandbox"]),
        );
    }
}

#[test]
fn only_the_store_speaks_sql() {
    assert_none(
        "sqlx outside archfn-store",
        found_outside("sqlx::", &["archfn-store"]),
    );
    for word in ["SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM"] {
        let found: Vec<String> = found_outside(word, &["archfn-store", "archfn-bench"])
            .into_iter()
            .filter(|l| l.contains('"') && l.contains(word))
            .filter(|l| l.contains(" FROM ") || l.contains("INSERT INTO") || l.contains(" SET "))
            .collect();
        assert_none(&format!("SQL (`{word}`) outside archfn-store"), found);
    }
}

#[test]
fn only_the_server_reads_archfns_configuration() {
    // PATH is looked up where programs are found (bwrap, pasta); archfn's own settings
    // (`ARCHFN_*`) are read by archfn-server alone and passed down as configuration.
    let found: Vec<String> = found_outside("env::var", &["archfn-server", "archfn-bench"])
        .into_iter()
        .filter(|l| !l.contains("\"PATH\""))
        .collect();
    assert_none("environment variables read outside archfn-server", found);
}

#[test]
fn control_has_no_wire_format() {
    for needle in [
        "rename_all = \"PascalCase\"",
        "StatusCode",
        "x-amzn-",
        "axum::",
    ] {
        assert_none(
            &format!("`{needle}` in archfn-control"),
            source_lines("archfn-control")
                .into_iter()
                .filter(|(_, _, l)| l.contains(needle))
                .map(|(f, n, l)| format!("{}:{n}: {}", f.display(), l.trim()))
                .collect(),
        );
    }
}

#[test]
fn pure_crates_do_no_io() {
    for (krate, needles) in [
        (
            "archfn-model",
            &["std::fs", "tokio", "std::net", "std::process"][..],
        ),
        (
            "archfn-compare",
            &["std::fs", "tokio", "std::net", "now_ms", "SystemTime"][..],
        ),
        (
            "archfn-pricing",
            &["now_ms", "SystemTime", "tokio", "std::net"][..],
        ),
        ("archfn-sigv4", &["std::fs", "tokio", "std::net"][..]),
    ] {
        for needle in needles {
            assert_none(
                &format!("`{needle}` in {krate}"),
                source_lines(krate)
                    .into_iter()
                    .filter(|(_, _, l)| l.contains(needle))
                    .map(|(f, n, l)| format!("{}:{n}: {}", f.display(), l.trim()))
                    .collect(),
            );
        }
    }
}

/// The archfn crates `krate` depends on (its `[dependencies]`, not dev-dependencies).
fn archfn_dependencies(krate: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(crates_dir().join(krate).join("Cargo.toml")).unwrap_or_default();
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_string();
            continue;
        }
        if section == "[dependencies]"
            && let Some(name) = t.split(['.', ' ', '=']).next()
            && name.starts_with("archfn-")
        {
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn dependencies_point_one_way() {
    // Each crate and the archfn crates it may use; anything else is a layer crossed.
    let may_use: &[(&str, &[&str])] = &[
        ("archfn-model", &[]),
        ("archfn-sigv4", &[]),
        ("archfn-extract", &[]),
        ("archfn-pricing", &["archfn-model"]),
        ("archfn-compare", &["archfn-model", "archfn-pricing"]),
        ("archfn-store", &["archfn-model"]),
        // CloudWatch Logs: its operations over the store's log catalogue.
        ("archfn-logs", &["archfn-model", "archfn-store"]),
        ("archfn-blob", &["archfn-model"]),
        ("archfn-blob-s3", &["archfn-blob"]),
        ("archfn-scan", &["archfn-model"]),
        // The sandbox unpacks runtime downloads (Node.js) with the extraction crate's rules.
        ("archfn-sandbox", &["archfn-model", "archfn-extract"]),
        (
            "archfn-migrate",
            &["archfn-model", "archfn-scan", "archfn-extract"],
        ),
        (
            "archfn-invoke",
            &["archfn-model", "archfn-sandbox", "archfn-extract"],
        ),
        (
            "archfn-control",
            &[
                "archfn-model",
                "archfn-store",
                "archfn-blob",
                "archfn-scan",
                "archfn-extract",
            ],
        ),
        (
            // The console is a layer above the API (its pages share the API's state and Invoke's
            // request), beneath the binary.
            "archfn-console",
            &[
                "archfn-api",
                "archfn-compare",
                "archfn-compare-runner",
                "archfn-control",
                "archfn-model",
                "archfn-scan",
            ],
        ),
        (
            "archfn-cloudformation",
            &[
                "archfn-model",
                "archfn-store",
                "archfn-blob",
                "archfn-control",
                // The SAM transform is pure; traffic shifts come in through `AliasShifts`,
                // implemented by the binary, so this crate does not depend on archfn-deploy.
                "archfn-sam",
            ],
        ),
    ];
    for (krate, allowed) in may_use {
        let crossed: Vec<String> = archfn_dependencies(krate)
            .into_iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(crossed.is_empty(), "{krate} depends on {crossed:?}");
    }
    // Nothing below the API depends on it or on the binary.
    for krate in crates() {
        if krate == "archfn-server" || krate == "archfn-bench" || krate == "archfn-console" {
            continue;
        }
        let deps = archfn_dependencies(&krate);
        assert!(
            !deps.contains(&"archfn-server".to_string()),
            "{krate} depends on archfn-server"
        );
        if krate != "archfn-api" {
            assert!(
                !deps.contains(&"archfn-api".to_string()),
                "{krate} depends on archfn-api"
            );
        }
    }
}

#[test]
fn the_rules_read_real_sources() {
    // A rule that finds no sources passes vacuously: make sure they are there.
    assert!(crates().len() >= 14, "{:?}", crates());
    assert!(
        source_lines("archfn-sandbox")
            .iter()
            .any(|(_, _, l)| l.contains("pre_exec"))
    );
    assert!(!found_outside("Command::new", &[]).is_empty());
}
