//! Format-preserving edits of `Cargo.toml`: a package's version and the version requirements
//! other manifests have on it.

use anyhow::{Context, Result, bail};
use toml_edit::{DocumentMut, Item, TableLike, Value};

use super::version::{Version, bump_requirement};

const DEPENDENCY_TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

/// One requirement found by [`update_requirements`]; `old == new` when it already accepted the
/// new version and was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementChange {
    /// Where it is, such as `dependencies` or `target.'cfg(unix)'.dev-dependencies`.
    pub table: String,
    /// The requirement before.
    pub old: String,
    /// The requirement after.
    pub new: String,
}

impl RequirementChange {
    /// Whether the requirement was rewritten.
    pub fn is_change(&self) -> bool {
        self.old != self.new
    }
}

fn parse(text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>()
        .context("Cargo.toml is not valid TOML")
}

/// Replaces a string value, keeping the comments and spacing around it.
fn replace_string(value: &mut Value, new: &str) {
    let decor = value.decor().clone();
    *value = Value::from(new);
    *value.decor_mut() = decor;
}

/// Sets `[package] version`, keeping the rest of the file byte for byte.
pub fn set_package_version(text: &str, new: &Version) -> Result<String> {
    let mut doc = parse(text)?;
    let Some(package) = doc.get_mut("package").and_then(Item::as_table_like_mut) else {
        bail!("Cargo.toml has no [package] table");
    };
    let Some(value) = package.get_mut("version").and_then(Item::as_value_mut) else {
        bail!("[package] has no `version`");
    };
    if !value.is_str() {
        bail!("[package] version is not a plain string (inherited from the workspace?)");
    }
    replace_string(value, &new.to_string());
    Ok(doc.to_string())
}

/// Rewrites every requirement on `dependency` (in `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, their `[target.*]` forms and `[workspace.dependencies]`) so it
/// accepts `new`, and reports every requirement it found. Entries without a `version`
/// (path-only, `workspace = true`) are not requirements and are skipped.
pub fn update_requirements(
    text: &str,
    dependency: &str,
    new: &Version,
) -> Result<(String, Vec<RequirementChange>)> {
    let mut doc = parse(text)?;
    let mut changes = Vec::new();
    for name in DEPENDENCY_TABLES {
        if let Some(table) = doc.get_mut(name).and_then(Item::as_table_like_mut) {
            update_table(table, name, dependency, new, &mut changes)?;
        }
    }
    if let Some(targets) = doc.get_mut("target").and_then(Item::as_table_like_mut) {
        for (target, item) in targets.iter_mut() {
            let Some(target_table) = item.as_table_like_mut() else {
                continue;
            };
            for name in DEPENDENCY_TABLES {
                if let Some(table) = target_table.get_mut(name).and_then(Item::as_table_like_mut) {
                    let location = format!("target.'{}'.{name}", target.get());
                    update_table(table, &location, dependency, new, &mut changes)?;
                }
            }
        }
    }
    if let Some(table) = doc
        .get_mut("workspace")
        .and_then(Item::as_table_like_mut)
        .and_then(|ws| ws.get_mut("dependencies"))
        .and_then(Item::as_table_like_mut)
    {
        update_table(
            table,
            "workspace.dependencies",
            dependency,
            new,
            &mut changes,
        )?;
    }
    Ok((doc.to_string(), changes))
}

fn update_table(
    table: &mut dyn TableLike,
    location: &str,
    dependency: &str,
    new: &Version,
    changes: &mut Vec<RequirementChange>,
) -> Result<()> {
    for (key, item) in table.iter_mut() {
        let key = key.get().to_owned();
        let requirement: Option<&mut Value> = if let Some(entry) = item.as_table_like_mut() {
            let renamed = entry
                .get("package")
                .and_then(Item::as_str)
                .map(str::to_owned);
            if renamed.as_deref().unwrap_or(&key) != dependency {
                continue;
            }
            entry.get_mut("version").and_then(Item::as_value_mut)
        } else {
            if key != dependency {
                continue;
            }
            item.as_value_mut()
        };
        let Some(value) = requirement else { continue };
        let Some(old) = value.as_str().map(str::to_owned) else {
            bail!("the requirement on {dependency} in [{location}] is not a string");
        };
        let new_req =
            bump_requirement(&old, new).with_context(|| format!("in [{location}] `{key}`"))?;
        match new_req {
            Some(new_req) => {
                replace_string(value, &new_req);
                changes.push(RequirementChange {
                    table: location.to_owned(),
                    old,
                    new: new_req,
                });
            }
            None => {
                let new = old.clone();
                changes.push(RequirementChange {
                    table: location.to_owned(),
                    old,
                    new,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn sets_the_package_version_and_keeps_formatting() {
        let text = "[package]\nname = \"a\"   # the name\nversion = \"0.1.0\" # bumped by xtask\n\n[dependencies]\nx = \"1\"\n";
        let out = set_package_version(text, &v("0.2.0")).unwrap();
        assert_eq!(out, text.replace("\"0.1.0\"", "\"0.2.0\""));
        let inherited = "[package]\nname = \"a\"\nversion.workspace = true\n";
        assert!(set_package_version(inherited, &v("0.2.0")).is_err());
        assert!(set_package_version("[workspace]\n", &v("0.2.0")).is_err());
    }

    #[test]
    fn updates_requirements_in_every_dependency_table() {
        let text = r#"[package]
name = "b"
version = "0.3.0"

[dependencies]
reel-core = { path = "../reel-core", version = "0.1" } # shared core
serde = "1"

[dev-dependencies]
core-again = { package = "reel-core", path = "../reel-core", version = "0.1.0" }
reel-testkit = { path = "../reel-testkit" }

[target.'cfg(unix)'.build-dependencies]
reel-core = "=0.1.0"

[build-dependencies.reel-core]
path = "../reel-core"
version = "^0.1"
"#;
        let (out, changes) = update_requirements(text, "reel-core", &v("0.2.0")).unwrap();
        let expected = text
            .replace("version = \"0.1\" }", "version = \"0.2\" }")
            .replace("version = \"0.1.0\" }", "version = \"0.2.0\" }")
            .replace("reel-core = \"=0.1.0\"", "reel-core = \"=0.2.0\"")
            .replace("version = \"^0.1\"", "version = \"^0.2\"");
        assert_eq!(out, expected);
        let tables: Vec<&str> = changes.iter().map(|c| c.table.as_str()).collect();
        assert_eq!(
            tables,
            [
                "dependencies",
                "dev-dependencies",
                "build-dependencies",
                "target.'cfg(unix)'.build-dependencies"
            ]
        );
        assert_eq!(changes[0].old, "0.1");
        assert_eq!(changes[0].new, "0.2");
    }

    #[test]
    fn leaves_compatible_and_version_less_entries_alone() {
        let text = "[dependencies]\nreel-core = { path = \"../reel-core\", version = \"0.1\" }\n\n[dev-dependencies]\nreel-core = { path = \"../reel-core\" }\n\n[workspace.dependencies]\nreel-core = { version = \"0.1\", path = \"crates/reel-core\" }\n";
        let (out, changes) = update_requirements(text, "reel-core", &v("0.1.7")).unwrap();
        assert_eq!(out, text);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().all(|c| !c.is_change() && c.old == "0.1"));
        let (out, changes) = update_requirements(text, "reel-core", &v("0.2.0")).unwrap();
        assert_eq!(out.matches("\"0.2\"").count(), 2, "{out}");
        assert_eq!(changes.last().unwrap().table, "workspace.dependencies");
    }

    #[test]
    fn refuses_requirements_it_cannot_rewrite() {
        let text = "[dependencies]\nreel-core = \">=0.1, <0.2\"\n";
        let err = update_requirements(text, "reel-core", &v("0.2.0")).unwrap_err();
        assert!(format!("{err:#}").contains("by hand"), "{err:#}");
    }
}
