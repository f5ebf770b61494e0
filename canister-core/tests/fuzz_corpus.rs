//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the fuzz targets'
//! bodies (`fuzz/src/`, compiled here as a module), so every seed and every regression input
//! is checked by a plain `cargo test` on stable. See `HARDENING.md`.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
#[allow(
    unreachable_pub,
    reason = "the fuzz crate's public API, used here as a module"
)]
mod fuzz_targets;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// Runs every file of `fuzz/corpus/<name>/` through the target `name`.
fn replay(name: &str) {
    let dir = corpus_root().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    files.sort();
    assert!(!files.is_empty(), "no corpus for {name}");
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| fuzz_targets::run(name, &data));
        assert!(outcome.is_ok(), "{name}: {} fails", file.display());
    }
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    let mut dirs: Vec<String> = std::fs::read_dir(corpus_root())
        .expect("fuzz/corpus")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = fuzz_targets::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    targets.sort();
    assert_eq!(dirs, targets);
}

#[test]
fn cookie_corpus() {
    replay("cookie");
}

#[test]
fn authorization_corpus() {
    replay("authorization");
}

#[test]
fn jwt_corpus() {
    replay("jwt");
}

#[test]
fn params_corpus() {
    replay("params");
}

#[test]
fn config_corpus() {
    replay("config");
}

#[test]
fn cors_csrf_corpus() {
    replay("cors_csrf");
}

#[test]
fn engine_corpus() {
    replay("engine");
}
