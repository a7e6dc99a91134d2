//! Checks of the example binaries' command lines.

use std::path::Path;

/// Runs `program --help` in an empty scratch directory, with the backends it would contact
/// (`DATABASE_URL`, `SEARCH_URL`, `REDIS_URL`, `REEL_*`) pointed at a port where nothing
/// listens, and asserts that `--help` does nothing else: exit status 0, the help text on
/// stdout containing `expected`, nothing on stderr and no file written.
///
/// # Panics
///
/// When any of those does not hold (this is a test assertion).
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub fn assert_help_without_side_effects(program: &str, expected: &str) {
    let name = Path::new(program)
        .file_name()
        .map_or_else(|| "bin".into(), |n| n.to_string_lossy().into_owned());
    let dir = tempfile_dir(&name);
    let output = std::process::Command::new(program)
        .arg("--help")
        .current_dir(&dir)
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("SEARCH_URL", "http://127.0.0.1:1")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("REEL_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("REEL_ES_URL", "http://127.0.0.1:1")
        .output()
        .expect("the example binary runs");
    assert!(output.status.success(), "{name} --help: {output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains(expected),
        "{name} --help does not mention `{expected}`:\n{help}"
    );
    assert!(
        output.stderr.is_empty(),
        "{name} --help wrote to stderr: {output:?}"
    );
    let written = std::fs::read_dir(&dir).expect("scratch dir").count();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(written, 0, "{name} --help wrote files");
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reel-help-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    let _ = std::fs::remove_dir_all(&dir);
    #[allow(clippy::expect_used)]
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
