//! Semantic versions, bumps and the simple version requirements reel's manifests use.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, bail};

/// A semantic version `MAJOR.MINOR.PATCH[-PRE]` (build metadata is not used by reel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Incompatible API changes.
    pub major: u64,
    /// Compatible additions.
    pub minor: u64,
    /// Compatible fixes.
    pub patch: u64,
    /// A pre-release label such as `alpha.1`, if any.
    pub pre: Option<String>,
}

impl Version {
    /// A release version without a pre-release label.
    pub fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
            pre: None,
        }
    }
}

impl FromStr for Version {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Version> {
        let text = text.trim();
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_owned())),
            Some(_) => bail!("`{text}` is not a version: empty pre-release label"),
            None => (text, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 {
            bail!("`{text}` is not a version: expected MAJOR.MINOR.PATCH");
        }
        let number = |part: &str| -> Result<u64> {
            if part.len() > 1 && part.starts_with('0') {
                bail!("`{text}` is not a version: leading zero in `{part}`");
            }
            part.parse()
                .with_context(|| format!("`{text}` is not a version: `{part}`"))
        };
        Ok(Version {
            major: number(parts[0])?,
            minor: number(parts[1])?,
            patch: number(parts[2])?,
            pre,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                // A pre-release comes before its release.
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre(a, b),
            })
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// How to choose the next version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bump {
    /// `x.y.z` → `x.y.(z+1)` (or the release of a pre-release).
    Patch,
    /// `x.y.z` → `x.(y+1).0`.
    Minor,
    /// `x.y.z` → `(x+1).0.0`.
    Major,
    /// An explicit version, which must be greater than the current one.
    Exact(Version),
}

impl FromStr for Bump {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Bump> {
        Ok(match text {
            "patch" => Bump::Patch,
            "minor" => Bump::Minor,
            "major" => Bump::Major,
            other => Bump::Exact(other.parse().with_context(|| {
                format!("`{other}` is neither patch, minor, major nor a version X.Y.Z")
            })?),
        })
    }
}

impl Bump {
    /// The version that follows `current`.
    pub fn apply(&self, current: &Version) -> Result<Version> {
        let Version {
            major,
            minor,
            patch,
            ..
        } = *current;
        let pre = current.pre.is_some();
        let next = match self {
            Bump::Patch if pre => Version::new(major, minor, patch),
            Bump::Patch => Version::new(major, minor, patch + 1),
            Bump::Minor if pre && patch == 0 => Version::new(major, minor, 0),
            Bump::Minor => Version::new(major, minor + 1, 0),
            Bump::Major if pre && patch == 0 && minor == 0 => Version::new(major, 0, 0),
            Bump::Major => Version::new(major + 1, 0, 0),
            Bump::Exact(version) => {
                if version <= current {
                    bail!("the new version {version} must be greater than the current {current}");
                }
                version.clone()
            }
        };
        Ok(next)
    }
}

/// The requirement a dependent should have on `new`, given its current requirement `req`, or
/// `None` when `req` needs no change. Simple requirements (`0.1`, `^1.2`, `~0.3.1`, `=2.0.0`)
/// keep their operator and precision: `0.1` stays `0.1` for 0.1.4 and becomes `0.2` for 0.2.0,
/// `0.1.0` becomes `0.1.4`. Anything more complex is refused, to be edited by hand.
pub fn bump_requirement(req: &str, new: &Version) -> Result<Option<String>> {
    let trimmed = req.trim();
    let (operator, rest) = match trimmed.chars().next() {
        Some(op @ ('^' | '~' | '=')) => (op.to_string(), trimmed[1..].trim_start()),
        _ => (String::new(), trimmed),
    };
    let unsupported = || {
        anyhow::anyhow!(
            "cannot rewrite the version requirement `{req}` automatically; \
             edit it by hand to accept {new}"
        )
    };
    if rest.contains([',', '<', '>', '*', ' ']) || rest.is_empty() {
        return Err(unsupported());
    }
    let (core, has_pre) = match rest.split_once('-') {
        Some((core, _)) => (core, true),
        None => (rest, false),
    };
    let precision = core.split('.').count();
    if precision > 3 || core.split('.').any(|p| p.parse::<u64>().is_err()) {
        return Err(unsupported());
    }
    if operator == "=" || has_pre || new.pre.is_some() {
        let wanted = format!("{operator}{new}");
        return Ok((wanted != trimmed).then_some(wanted));
    }
    let numbers = [new.major, new.minor, new.patch];
    let wanted_core: Vec<String> = numbers[..precision].iter().map(u64::to_string).collect();
    let wanted = format!("{operator}{}", wanted_core.join("."));
    Ok((wanted != trimmed).then_some(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_versions() {
        assert_eq!(v("0.1.0"), Version::new(0, 1, 0));
        assert_eq!(v("1.2.3-alpha.1").to_string(), "1.2.3-alpha.1");
        for bad in ["1.2", "1.2.3.4", "01.2.3", "a.b.c", "1.2.3-", ""] {
            assert!(bad.parse::<Version>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn orders_pre_releases_before_releases() {
        assert!(v("1.0.0-alpha") < v("1.0.0"));
        assert!(v("1.0.0-alpha.2") < v("1.0.0-alpha.10"));
        assert!(v("1.0.0-alpha") < v("1.0.0-beta"));
        assert!(v("0.9.9") < v("0.10.0"));
    }

    #[test]
    fn bumps_each_part() {
        let current = v("0.1.3");
        assert_eq!(Bump::Patch.apply(&current).unwrap(), v("0.1.4"));
        assert_eq!(Bump::Minor.apply(&current).unwrap(), v("0.2.0"));
        assert_eq!(Bump::Major.apply(&current).unwrap(), v("1.0.0"));
        assert_eq!(
            "0.5.0".parse::<Bump>().unwrap().apply(&current).unwrap(),
            v("0.5.0")
        );
        assert!(Bump::Exact(v("0.1.3")).apply(&current).is_err());
        assert!(Bump::Exact(v("0.1.2")).apply(&current).is_err());
        assert!("huge".parse::<Bump>().is_err());
    }

    #[test]
    fn bumping_a_pre_release_releases_it() {
        assert_eq!(Bump::Patch.apply(&v("1.0.0-rc.1")).unwrap(), v("1.0.0"));
        assert_eq!(Bump::Minor.apply(&v("0.2.0-rc.1")).unwrap(), v("0.2.0"));
        assert_eq!(Bump::Major.apply(&v("2.0.0-rc.1")).unwrap(), v("2.0.0"));
        assert_eq!(Bump::Minor.apply(&v("0.2.1-rc.1")).unwrap(), v("0.3.0"));
    }

    #[test]
    fn requirements_keep_operator_and_precision() {
        let cases = [
            ("0.1", "0.1.4", None),
            ("0.1", "0.2.0", Some("0.2")),
            ("0.1.0", "0.1.4", Some("0.1.4")),
            ("^0.1.0", "0.1.4", Some("^0.1.4")),
            ("~0.3.1", "0.3.2", Some("~0.3.2")),
            ("=2.0.0", "2.0.1", Some("=2.0.1")),
            ("1", "1.4.0", None),
            ("1", "2.0.0", Some("2")),
            ("0.1", "0.2.0-rc.1", Some("0.2.0-rc.1")),
        ];
        for (req, new, want) in cases {
            let got = bump_requirement(req, &v(new)).unwrap();
            assert_eq!(got.as_deref(), want, "{req} for {new}");
        }
    }

    #[test]
    fn complex_requirements_are_refused_with_advice() {
        for req in [">=0.1, <0.3", "*", "0.*", ""] {
            let err = bump_requirement(req, &v("0.2.0")).unwrap_err().to_string();
            assert!(err.contains("by hand"), "{req}: {err}");
        }
    }
}
