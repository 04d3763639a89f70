//! Finds the line of a dotted YAML path in the source text, so that every
//! diagnostic can name its line. Handles block mappings and the inline
//! `{ key: value }` style; list indices (`after[1]`) resolve to their key.

/// 1-based line of `path` (`stages.decode.with.max_side`) in `text`, or of its
/// deepest ancestor that exists.
pub fn locate(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found: Option<usize> = None;
    let mut start = 0usize;
    let mut parent_indent: isize = -1;
    let mut inline: Option<usize> = None; // the parent's value sits on this line
    for segment in path.split('.') {
        let key = segment.split('[').next().unwrap_or(segment);
        if key.is_empty() {
            continue;
        }
        if let Some(l) = inline {
            if has_inline_key(lines[l], key) {
                found = Some(l);
                continue;
            }
            return found.map(|l| l + 1);
        }
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as isize;
            if indent <= parent_indent && i > start.saturating_sub(0) && found.is_some() {
                break;
            }
            if indent > parent_indent && is_key(trimmed, key) {
                hit = Some((i, indent));
                break;
            }
        }
        match hit {
            Some((i, indent)) => {
                found = Some(i);
                start = i + 1;
                parent_indent = indent;
                let after = lines[i].trim_start()[key.len()..]
                    .trim_start_matches([':', '"', '\''])
                    .trim();
                inline = (after.starts_with('{') || after.starts_with('[')).then_some(i);
            }
            None => break,
        }
    }
    found.map(|l| l + 1)
}

fn is_key(trimmed: &str, key: &str) -> bool {
    let t = trimmed.strip_prefix("- ").unwrap_or(trimmed);
    let t = t.trim_start_matches(['"', '\'']);
    t.strip_prefix(key).is_some_and(|rest| {
        rest.trim_start_matches(['"', '\''])
            .trim_start()
            .starts_with(':')
    })
}

fn has_inline_key(line: &str, key: &str) -> bool {
    line.match_indices(key).any(|(i, _)| {
        let before = line[..i].trim_end();
        let after = line[i + key.len()..].trim_start();
        (before.ends_with('{') || before.ends_with(',')) && after.starts_with(':')
    })
}

#[cfg(test)]
mod tests {
    use super::locate;

    const DOC: &str = "version: 1\nstore: ./x\nstages:\n  scan: { uses: scan }\n  decode:\n    uses: decode\n    after: [scan]\n    with:\n      max_side: 2048\n  exif: { uses: exif, after: [scan], with: { bogus: 1 } }\n";

    #[test]
    fn block_and_inline_paths() {
        assert_eq!(locate(DOC, "version"), Some(1));
        assert_eq!(locate(DOC, "stages.decode.with.max_side"), Some(9));
        assert_eq!(locate(DOC, "stages.decode.after[0]"), Some(7));
        assert_eq!(locate(DOC, "stages.exif.with.bogus"), Some(10));
        assert_eq!(locate(DOC, "stages.scan.uses"), Some(4));
    }

    #[test]
    fn missing_leaf_falls_back_to_parent() {
        assert_eq!(locate(DOC, "stages.decode.with.nope"), Some(8));
        assert_eq!(locate(DOC, "nothing"), None);
    }
}
