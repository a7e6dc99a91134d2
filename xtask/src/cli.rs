//! A small command-line parser: flags, `--name value` options and positional arguments.

use anyhow::{Context, Result, bail};

/// The arguments of one command, consumed piece by piece; [`finish`](Self::finish) rejects
/// whatever is left so that a typo never passes silently.
#[derive(Debug, Clone, Default)]
pub struct Args {
    rest: Vec<String>,
}

impl Args {
    /// Wraps the arguments that follow the command name.
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        Args {
            rest: args.into_iter().collect(),
        }
    }

    /// Removes `--name` and says whether it was there.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// Removes `--name value` or `--name=value` and returns the value.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(index) = self.rest.iter().position(|arg| arg.starts_with(&prefix)) {
            let arg = self.rest.remove(index);
            return Ok(Some(arg[prefix.len()..].to_owned()));
        }
        let Some(index) = self.rest.iter().position(|arg| arg == name) else {
            return Ok(None);
        };
        if index + 1 >= self.rest.len() {
            bail!("`{name}` needs a value");
        }
        let value = self.rest.remove(index + 1);
        self.rest.remove(index);
        Ok(Some(value))
    }

    /// Removes the first argument that is not an option and returns it.
    pub fn positional(&mut self) -> Option<String> {
        let index = self.rest.iter().position(|arg| !arg.starts_with('-'))?;
        Some(self.rest.remove(index))
    }

    /// Like [`positional`](Self::positional), but missing it is an error naming `what`.
    pub fn required(&mut self, what: &str) -> Result<String> {
        self.positional().with_context(|| format!("missing {what}"))
    }

    /// Everything not consumed yet, for commands that pass arguments through.
    pub fn take_rest(&mut self) -> Vec<String> {
        std::mem::take(&mut self.rest)
    }

    /// Fails when arguments are left over.
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            bail!("unexpected argument(s): {}", self.rest.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_values_and_positionals_are_taken_in_any_order() {
        let mut a = args(&[
            "--dry-run",
            "reel-core",
            "--crate=x",
            "patch",
            "--out",
            "dir",
        ]);
        assert!(a.flag("--dry-run"));
        assert!(!a.flag("--plan"));
        assert_eq!(a.value("--crate").unwrap().as_deref(), Some("x"));
        assert_eq!(a.value("--out").unwrap().as_deref(), Some("dir"));
        assert_eq!(a.required("crate").unwrap(), "reel-core");
        assert_eq!(a.positional().as_deref(), Some("patch"));
        assert!(a.positional().is_none());
        a.finish().unwrap();
    }

    #[test]
    fn leftovers_and_missing_values_are_errors() {
        let mut a = args(&["--crate"]);
        assert!(a.value("--crate").is_err());
        let a = args(&["--bogus"]);
        let err = a.finish().unwrap_err().to_string();
        assert!(err.contains("--bogus"), "{err}");
        assert!(args(&[]).required("crate name").is_err());
    }
}
