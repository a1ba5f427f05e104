//! The runtime reads bottom-up: no module imports one of a higher layer.
//!
//! Layers, lowest first: foundation → datastore → identity → account logic → web →
//! fairing and the public facade. Every `crate::<module>` path in a file's code (imports
//! and inline paths alike; comments are skipped) must name a module of the file's own
//! layer or a lower one. The one pair allowed to point both ways is `model` ↔
//! `datastore` (a model's rows and the store that reads them).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Each top-level module of `security-runtime/src` and its layer.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "error",
            "config",
            "messages",
            "model",
            "tokens",
            "hashing",
            "headers",
            "signals",
            "mechanism",
            "validation",
            "mail",
            "memo",
            "html",
            "redirect",
            "totp",
            "recovery_codes",
            "sms",
            "log_filter",
            "throttle",
            "webauthn",
        ],
    ),
    ("datastore", &["datastore"]),
    (
        "identity",
        &[
            "state",
            "session",
            "csrf",
            "auth",
            "signin",
            "second_factor",
            "lockout",
        ],
    ),
    ("account logic", &["account"]),
    (
        "web",
        &["guards", "input", "responses", "render", "flows", "web"],
    ),
    (
        "fairing",
        &["fairing", "launch", "report", "__private", "lib"],
    ),
];

/// Pairs that may import each other whatever their layers.
const ALLOWED: &[(&str, &str)] = &[("model", "datastore")];

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, mods))| mods.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`flows/login.rs` → `flows`, `lib.rs` → `lib`);
/// `None` for binaries, which sit above everything.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?;
    if first == "bin" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_owned())
}

/// The modules named by `crate::<name>` in code (not comments); a `use crate::{a, b::c}`
/// group names each of its top-level items (`a`, `b`).
fn imported_modules(code: &str) -> Vec<(usize, String)> {
    // Line comments out, line structure kept.
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let line_at = |i: usize| code[..i].matches('\n').count() + 1;
    let ident_at = |i: usize| -> String {
        code[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let mut i = from + found + "crate::".len();
        from = i;
        if bytes.get(i) != Some(&b'{') {
            out.push((line_at(i), ident_at(i)));
            continue;
        }
        // A group: the first identifier after `{` or a `,` at depth 1.
        let mut depth = 0;
        let mut expect_item = false;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => {
                    depth += 1;
                    expect_item = depth == 1;
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                b',' if depth == 1 => expect_item = true,
                c if expect_item && (c.is_ascii_alphanumeric() || c == b'_') => {
                    out.push((line_at(i), ident_at(i)));
                    expect_item = false;
                }
                _ => {}
            }
            i += 1;
        }
        from = i;
    }
    out
}

fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let rel = file.strip_prefix(src.parent().unwrap()).unwrap().display();
        let Some((own, own_name)) = layer_of(&module) else {
            problems.push(format!(
                "{rel}: module `{module}` has no layer in tests/architecture.rs"
            ));
            continue;
        };
        let code = std::fs::read_to_string(file).unwrap();
        for (line, target) in imported_modules(&code) {
            if target == module || ALLOWED.contains(&(module.as_str(), target.as_str())) {
                continue;
            }
            // Items re-exported at the crate root (`crate::Result`, `crate::SecurityError`)
            // are capitalised; they are looked up by what they name.
            let target_module = match target.as_str() {
                "Result" | "SecurityError" => "error",
                "Mechanism" => "mechanism",
                "SecurityConfig" => "config",
                t if t.starts_with(char::is_uppercase) => "lib",
                t => t,
            };
            if target_module == module {
                continue;
            }
            let Some((theirs, their_name)) = layer_of(target_module) else {
                problems.push(format!(
                    "{rel}:{line}: imports `crate::{target}`, a module with no layer"
                ));
                continue;
            };
            if theirs > own {
                problems.push(format!(
                    "{rel}:{line}: `{module}` ({own_name}) imports `crate::{target}` \
                     (src/{target_module}, {their_name}): an upward import"
                ));
            }
        }
    }
    problems
}

#[test]
fn no_runtime_module_imports_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = upward_imports(&src);
    assert!(
        problems.is_empty(),
        "the runtime's layers point upward:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    let dir = std::env::temp_dir().join(format!("arch-check-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("flows")).unwrap();
    std::fs::write(src.join("config.rs"), "use crate::flows::x;\n").unwrap();
    std::fs::write(
        src.join("session.rs"),
        "use crate::{\n    config::A,\n    guards::B,\n};\n// crate::fairing in a comment\n",
    )
    .unwrap();
    std::fs::write(src.join("flows/mod.rs"), "use crate::state::S;\n").unwrap();
    let problems = upward_imports(&src);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("src/config.rs:1: `config` (foundation) imports `crate::flows`"));
    assert!(problems[1].contains("src/session.rs:3: `session` (identity) imports `crate::guards`"));
}
