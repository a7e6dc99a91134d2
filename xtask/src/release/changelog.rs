//! Keep a Changelog files: moving `Unreleased` under a version, reading a version's notes.

use anyhow::{Result, bail};

/// Where a `## ...` section's body starts and ends (byte offsets into the file's lines).
struct Section {
    heading: usize,
    body_start: usize,
    body_end: usize,
}

fn is_heading(line: &str) -> bool {
    line.starts_with("## ")
}

/// Link reference definitions (`[0.1.0]: https://...`) end the last section.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]: ")
}

fn find_section(lines: &[&str], matches: impl Fn(&str) -> bool) -> Option<Section> {
    let heading = lines
        .iter()
        .position(|line| is_heading(line) && matches(line))?;
    let body_start = heading + 1;
    let body_end = lines[body_start..]
        .iter()
        .position(|line| is_heading(line) || is_link_definition(line))
        .map_or(lines.len(), |offset| body_start + offset);
    Some(Section {
        heading,
        body_start,
        body_end,
    })
}

fn is_unreleased(line: &str) -> bool {
    line.trim_start_matches('#')
        .trim()
        .to_ascii_lowercase()
        .starts_with("[unreleased]")
}

/// Whether a section body has entries: sub-headings (`### Added`) alone do not count.
fn has_entries(body: &[&str]) -> bool {
    body.iter().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("###") && !line.starts_with("<!--")
    })
}

/// Moves the entries of `## [Unreleased]` under `## [version] - date` and leaves a fresh,
/// empty `Unreleased` section above it. Fails when there is no `Unreleased` section or it has
/// no entries: a release without notes is a mistake.
pub fn release_unreleased(text: &str, version: &str, date: &str) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(section) = find_section(&lines, is_unreleased) else {
        bail!("the changelog has no `## [Unreleased]` section");
    };
    if find_section(&lines, |line| line.starts_with(&format!("## [{version}]"))).is_some() {
        bail!("the changelog already has a section for {version}");
    }
    let mut body = &lines[section.body_start..section.body_end];
    if !has_entries(body) {
        bail!("the `Unreleased` section of the changelog is empty: write the release notes first");
    }
    while body.first().is_some_and(|l| l.trim().is_empty()) {
        body = &body[1..];
    }
    while body.last().is_some_and(|l| l.trim().is_empty()) {
        body = &body[..body.len() - 1];
    }
    let mut out: Vec<String> = lines[..section.heading]
        .iter()
        .map(|l| l.to_string())
        .collect();
    out.push(lines[section.heading].to_owned());
    out.push(String::new());
    out.push(format!("## [{version}] - {date}"));
    out.push(String::new());
    out.extend(body.iter().map(|l| l.to_string()));
    if section.body_end < lines.len() {
        out.push(String::new());
        out.extend(lines[section.body_end..].iter().map(|l| l.to_string()));
    }
    let mut result = out.join("\n");
    result.push('\n');
    Ok(result)
}

/// Whether the `Unreleased` section has entries (sub-headings alone do not count).
pub fn unreleased_has_entries(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    find_section(&lines, is_unreleased)
        .is_some_and(|s| has_entries(&lines[s.body_start..s.body_end]))
}

/// Adds `entry` (a `- ...` line) to the `Unreleased` section under `subheading` (such as
/// `### Changed`): at the end of that sub-section when it exists, else in a new one at the end
/// of the section.
pub fn add_unreleased_entry(text: &str, subheading: &str, entry: &str) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(section) = find_section(&lines, is_unreleased) else {
        bail!("the changelog has no `## [Unreleased]` section");
    };
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let last_text_before = |from: usize, end: usize| {
        (from..end)
            .rev()
            .find(|&i| !lines[i].trim().is_empty())
            .unwrap_or(from)
    };
    let existing = lines[section.body_start..section.body_end]
        .iter()
        .position(|l| l.trim() == subheading)
        .map(|offset| section.body_start + offset);
    match existing {
        Some(at) => {
            // After the last line of that sub-section, before the next `###` or the section end.
            let end = lines[at + 1..section.body_end]
                .iter()
                .position(|l| l.starts_with("###"))
                .map_or(section.body_end, |o| at + 1 + o);
            let last = last_text_before(at, end);
            out.insert(last + 1, entry.to_owned());
        }
        None => {
            let last = last_text_before(section.heading, section.body_end);
            let mut added = vec![String::new(), subheading.to_owned(), entry.to_owned()];
            if section.body_end < lines.len() {
                added.push(String::new());
            }
            out.splice(last + 1..section.body_end, added);
        }
    }
    let mut result = out.join("\n");
    result.push('\n');
    Ok(result)
}

/// The notes of `version` (the body under `## [version]`), trimmed, or `None` when the
/// changelog has no such section.
pub fn section(text: &str, version: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let heading = format!("## [{version}]");
    let section = find_section(&lines, |line| {
        line.starts_with(&heading)
            && !line[heading.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
    })?;
    let body = lines[section.body_start..section.body_end].join("\n");
    Some(body.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGELOG: &str = "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Added\n- Clocks.\n- Backoff.\n\n## [0.1.0] - 2026-01-02\n\n### Added\n- First.\n";

    #[test]
    fn moves_unreleased_entries_under_the_version() {
        let out = release_unreleased(CHANGELOG, "0.2.0", "2026-11-23").unwrap();
        assert_eq!(
            out,
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n## [0.2.0] - 2026-11-23\n\n### Added\n- Clocks.\n- Backoff.\n\n## [0.1.0] - 2026-01-02\n\n### Added\n- First.\n"
        );
        assert_eq!(
            section(&out, "0.2.0").unwrap(),
            "### Added\n- Clocks.\n- Backoff."
        );
        assert_eq!(section(&out, "0.1.0").unwrap(), "### Added\n- First.");
        assert!(section(&out, "0.1").is_none());
        // The fresh Unreleased section is empty, so releasing again is refused.
        assert!(release_unreleased(&out, "0.2.1", "2026-11-24").is_err());
    }

    #[test]
    fn works_when_unreleased_is_the_last_section_before_links() {
        let text = "# Changelog\n## [Unreleased]\n- Fix.\n\n[Unreleased]: https://example.invalid/compare\n";
        let out = release_unreleased(text, "0.1.1", "2026-11-23").unwrap();
        assert_eq!(
            out,
            "# Changelog\n## [Unreleased]\n\n## [0.1.1] - 2026-11-23\n\n- Fix.\n\n[Unreleased]: https://example.invalid/compare\n"
        );
    }

    #[test]
    fn adds_entries_under_their_sub_heading() {
        let out = add_unreleased_entry(CHANGELOG, "### Added", "- Third.").unwrap();
        assert!(
            out.contains("### Added\n- Clocks.\n- Backoff.\n- Third.\n\n## [0.1.0]"),
            "{out}"
        );
        let out = add_unreleased_entry(CHANGELOG, "### Changed", "- Dep.").unwrap();
        assert!(
            out.contains("- Backoff.\n\n### Changed\n- Dep.\n\n## [0.1.0]"),
            "{out}"
        );
        let empty = "# C\n\n## [Unreleased]\n\n## [0.1.0] - x\n- a\n";
        assert!(!unreleased_has_entries(empty));
        let out = add_unreleased_entry(empty, "### Changed", "- Dep.").unwrap();
        assert_eq!(
            out,
            "# C\n\n## [Unreleased]\n\n### Changed\n- Dep.\n\n## [0.1.0] - x\n- a\n"
        );
        assert!(unreleased_has_entries(&out));
        let last = add_unreleased_entry("## [Unreleased]\n", "### Changed", "- D.").unwrap();
        assert_eq!(last, "## [Unreleased]\n\n### Changed\n- D.\n");
    }

    #[test]
    fn refuses_missing_empty_or_duplicate_sections() {
        let err = release_unreleased("# Changelog\n", "1.0.0", "d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `## [Unreleased]`"), "{err}");
        let empty = "## [Unreleased]\n\n### Added\n\n## [0.1.0] - x\n- a\n";
        let err = release_unreleased(empty, "0.2.0", "d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty"), "{err}");
        let err = release_unreleased(CHANGELOG, "0.1.0", "d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("already"), "{err}");
    }
}
