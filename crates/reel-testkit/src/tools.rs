//! Finds the tools `cargo xtask setup` installed inside the Cargo target directory.

use std::path::{Path, PathBuf};

/// The directory holding `reel-venv` (Python) and `reel-node` (npm packages).
///
/// `REEL_TOOLS_DIR` when set; otherwise the first ancestor of the running executable that
/// contains `reel-venv` or `reel-node` (test binaries live in `<target>/debug/deps`); otherwise
/// `<workspace>/target`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REEL_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            if dir.join("reel-venv").is_dir() || dir.join("reel-node").is_dir() {
                return dir.to_path_buf();
            }
        }
    }
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    workspace_root().join("target")
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A program installed in the testkit's Python venv (`reel-venv/bin/<name>`).
pub fn venv_bin(name: &str) -> PathBuf {
    tools_dir().join("reel-venv").join("bin").join(name)
}

/// The venv's Python interpreter, for running reference implementations such as botocore.
pub fn python() -> Result<PathBuf, crate::Error> {
    let path = venv_bin("python3");
    if path.exists() {
        Ok(path)
    } else {
        Err(crate::Error::Missing {
            program: path.display().to_string(),
            install: crate::SETUP_COMMAND.into(),
        })
    }
}

/// The `node_modules` directory of npm packages installed by `cargo xtask setup`.
pub fn node_modules() -> Result<PathBuf, crate::Error> {
    let path = tools_dir().join("reel-node").join("node_modules");
    if path.is_dir() {
        Ok(path)
    } else {
        Err(crate::Error::Missing {
            program: path.display().to_string(),
            install: crate::SETUP_COMMAND.into(),
        })
    }
}

/// Finds `program` on `PATH` or in the usual system directories.
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
