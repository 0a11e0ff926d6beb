//! Every relative link in README.md and docs/*.md points at a file that exists, and every `#anchor` into a
//! markdown file names one of its headings (GitHub's rule: lowercase, spaces to '-', punctuation dropped).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::repo;

/// README.md and every markdown file directly under docs/.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of `text` outside fenced code blocks, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// `line` with the contents of its inline code spans blanked out, so that code is not read as links.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(c);
        } else if in_code {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// The targets of the `[text](target)` links on `line`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        // An optional title follows the target after a space: [text](target "title").
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.to_owned());
        rest = &rest[end + 1..];
    }
    targets
}

/// GitHub's anchor for a heading: lowercase, spaces to '-', punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings; a repeated heading gets `-1`, `-2`, ... as on GitHub.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.push(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// What is wrong with the link `target` in `file`, if anything.
fn check(file: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("empty link".to_owned());
    }
    if ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| target.starts_with(scheme))
    {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let linked = if path.is_empty() {
        file.to_path_buf()
    } else {
        file.parent().expect("a file has a directory").join(path)
    };
    if !linked.exists() {
        return Some("no such file".to_owned());
    }
    let anchor = anchor?;
    if linked.extension().is_none_or(|ext| ext != "md") {
        return None;
    }
    let text = fs::read_to_string(&linked).expect("a linked markdown file is readable");
    let known = anchors(&text);
    if known.iter().any(|a| a == anchor) {
        None
    } else {
        Some(format!(
            "no heading has the anchor #{anchor} (the file's anchors: {})",
            known.join(", ")
        ))
    }
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = repo();
    let mut broken = Vec::new();
    let mut links = 0;
    for file in documents(&root) {
        let text = fs::read_to_string(&file).expect("a document is readable");
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                links += 1;
                if let Some(problem) = check(&file, &target) {
                    let name = file.strip_prefix(&root).unwrap_or(&file).display();
                    broken.push(format!("{name}:{number}: ({target}) {problem}"));
                }
            }
        }
    }
    assert!(links > 0, "no links found: the scan itself is broken");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_github() {
    assert_eq!(
        slug("Checking a file: tickstream validate"),
        "checking-a-file-tickstream-validate"
    );
    assert_eq!(
        slug("Files, segments and rolls"),
        "files-segments-and-rolls"
    );
    assert_eq!(slug("The `kafka` sink"), "the-kafka-sink");
    assert_eq!(
        anchors("# A\n## A\n```\n# not a heading\n```\n"),
        ["a", "a-1"]
    );
    assert_eq!(
        link_targets("[a](x.md#y) and `[b](not-a-link)` and [c](https://e.org \"t\")"),
        ["x.md#y", "https://e.org"]
    );
}
