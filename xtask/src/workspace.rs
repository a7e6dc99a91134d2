//! Facts about the workspace: its root, the tools directory and `cargo metadata`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::{Shell, cmd};

/// The workspace root: the parent of this crate's directory. `cargo run` (the `xtask` alias)
/// sets `CARGO_MANIFEST_DIR` for the process too, which stays right if the clone has moved
/// since xtask was built; the path baked in at build time is the fallback.
pub fn project_root() -> Result<PathBuf> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = manifest_dir.join("..");
    root.canonicalize()
        .with_context(|| format!("cannot resolve the workspace root {}", root.display()))
}

/// Where `cargo xtask setup` puts the Python venv (`reel-venv`) and npm prefix (`reel-node`):
/// `$REEL_TOOLS_DIR`, else `$CARGO_TARGET_DIR`, else `<workspace>/target`. reel-testkit looks
/// in the same places.
pub fn tools_dir(root: &Path) -> PathBuf {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(|v| root.join(PathBuf::from(v)))
    };
    from_env("REEL_TOOLS_DIR")
        .or_else(|| from_env("CARGO_TARGET_DIR"))
        .unwrap_or_else(|| root.join("target"))
}

/// A shell whose working directory is `root`.
pub fn shell_at(root: &Path) -> Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    Ok(sh)
}

/// Whether `program` is on `PATH`.
pub fn has_program(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(program);
            candidate.is_file()
                && std::fs::metadata(&candidate)
                    .map(|m| {
                        use std::os::unix::fs::PermissionsExt;
                        m.permissions().mode() & 0o111 != 0
                    })
                    .unwrap_or(false)
        })
    })
}

/// Whether `cargo <subcommand>` is installed (`cargo-<subcommand>` on `PATH` or in cargo's bin).
pub fn has_cargo_subcommand(sh: &Shell, subcommand: &str) -> bool {
    cmd!(sh, "cargo {subcommand} --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}

/// One workspace package, as `cargo metadata --no-deps` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The package name.
    pub name: String,
    /// Its current version.
    pub version: String,
    /// The absolute path of its `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// Whether it may be published (`publish = false` makes this false).
    pub publishable: bool,
    /// Names of the packages it depends on, normal and build dependencies.
    pub dependencies: Vec<String>,
    /// Names of the packages it depends on as dev-dependencies.
    pub dev_dependencies: Vec<String>,
    /// The features `cargo xtask bench` turns on: those its `[[bench]]` targets require
    /// (`required-features`; `cargo bench` silently skips a bench whose features are off),
    /// then `[package.metadata.xtask] bench-features` (features that add contenders),
    /// deduplicated in order.
    pub bench_features: Vec<String>,
}

impl Package {
    /// The package's directory.
    pub fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }
}

/// The parts of `cargo metadata --format-version 1 --no-deps` that xtask uses.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// The workspace root.
    pub workspace_root: PathBuf,
    /// The target directory cargo uses (honours `CARGO_TARGET_DIR` and config).
    pub target_directory: PathBuf,
    /// The workspace members.
    pub packages: Vec<Package>,
}

impl Metadata {
    /// Runs `cargo metadata` in `sh`'s working directory.
    pub fn load(sh: &Shell) -> Result<Metadata> {
        let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps --offline")
            .quiet()
            .read()
            .or_else(|_| {
                cmd!(sh, "cargo metadata --format-version 1 --no-deps")
                    .quiet()
                    .read()
            })
            .context("`cargo metadata` failed")?;
        Metadata::parse(&json)
    }

    /// Parses the JSON printed by `cargo metadata --format-version 1`.
    pub fn parse(json: &str) -> Result<Metadata> {
        let value: Value = serde_json::from_str(json).context("cargo metadata printed bad JSON")?;
        let text = |v: &Value, key: &str| -> Result<String> {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("cargo metadata: missing `{key}`"))
        };
        let mut packages = Vec::new();
        for package in value
            .get("packages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut dependencies = Vec::new();
            let mut dev_dependencies = Vec::new();
            for dep in package
                .get("dependencies")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = text(dep, "name")?;
                match dep.get("kind").and_then(Value::as_str) {
                    Some("dev") => dev_dependencies.push(name),
                    _ => dependencies.push(name),
                }
            }
            let mut bench_features: Vec<String> = Vec::new();
            for target in package
                .get("targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let is_bench = target
                    .get("kind")
                    .and_then(Value::as_array)
                    .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"));
                if !is_bench {
                    continue;
                }
                for feature in target
                    .get("required-features")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !bench_features.iter().any(|f| f == feature) {
                        bench_features.push(feature.to_owned());
                    }
                }
            }
            for feature in package
                .pointer("/metadata/xtask/bench-features")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !bench_features.iter().any(|f| f == feature) {
                    bench_features.push(feature.to_owned());
                }
            }
            let publishable = match package.get("publish") {
                Some(Value::Array(registries)) => !registries.is_empty(),
                _ => true,
            };
            packages.push(Package {
                name: text(package, "name")?,
                version: text(package, "version")?,
                manifest_path: PathBuf::from(text(package, "manifest_path")?),
                publishable,
                dependencies,
                dev_dependencies,
                bench_features,
            });
        }
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Metadata {
            workspace_root: PathBuf::from(text(&value, "workspace_root")?),
            target_directory: PathBuf::from(text(&value, "target_directory")?),
            packages,
        })
    }

    /// The member named `name`.
    pub fn package(&self, name: &str) -> Result<&Package> {
        self.packages
            .iter()
            .find(|p| p.name == name)
            .with_context(|| {
                let names: Vec<&str> = self.packages.iter().map(|p| p.name.as_str()).collect();
                format!(
                    "no workspace crate named `{name}` (crates: {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_members_dependencies_and_publish_flag() {
        let json = r#"{
          "workspace_root": "/w", "target_directory": "/w/target",
          "packages": [
            {"name": "b", "version": "0.2.0", "manifest_path": "/w/b/Cargo.toml", "publish": null,
             "dependencies": [{"name": "a", "kind": null}, {"name": "t", "kind": "dev"},
                              {"name": "cc", "kind": "build"}],
             "targets": [{"kind": ["lib"], "name": "b", "required-features": ["nope"]},
                         {"kind": ["bench"], "name": "x", "required-features": ["redis"]},
                         {"kind": ["bench"], "name": "y", "required-features": ["memcache", "redis"]},
                         {"kind": ["bench"], "name": "z"}],
             "metadata": {"xtask": {"bench-features": ["redis", "openssl"]}}},
            {"name": "a", "version": "0.1.0", "manifest_path": "/w/a/Cargo.toml", "publish": [],
             "dependencies": []}
          ]}"#;
        let meta = Metadata::parse(json).unwrap();
        assert_eq!(meta.target_directory, Path::new("/w/target"));
        let names: Vec<_> = meta.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let b = meta.package("b").unwrap();
        assert!(b.publishable);
        assert_eq!(b.dependencies, ["a", "cc"]);
        assert_eq!(b.dev_dependencies, ["t"]);
        assert_eq!(b.bench_features, ["redis", "memcache", "openssl"]);
        assert!(meta.package("a").unwrap().bench_features.is_empty());
        assert_eq!(b.dir(), Path::new("/w/b"));
        assert!(!meta.package("a").unwrap().publishable);
        let err = meta.package("zz").unwrap_err().to_string();
        assert!(err.contains("a, b"), "{err}");
    }
}
