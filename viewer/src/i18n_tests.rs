//! The interface's translation tables (`web/i18n/LANG.json`): complete in
//! every language, and covering every text of the page and its script.

use std::collections::{BTreeMap, BTreeSet};

use crate::assets::{ASSETS, INDEX, LANGUAGES};

fn table(lang: &str) -> BTreeMap<String, String> {
    let (_, text) = LANGUAGES
        .iter()
        .find(|(l, _)| *l == lang)
        .unwrap_or_else(|| panic!("no {lang} table"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{lang}.json: {e}"))
}

/// The `{name}` placeholders of a text.
fn placeholders(s: &str) -> BTreeSet<&str> {
    s.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect()
}

/// A key as the tables write them: `family.name` in lower case.
fn is_key(s: &str) -> bool {
    s.contains('.')
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The double-quoted keys in `s`.
fn quoted_keys(s: &str) -> Vec<&str> {
    s.split('"')
        .skip(1)
        .step_by(2)
        .filter(|k| is_key(k))
        .collect()
}

/// The keys app.js names literally: the quoted keys of each `t(…)` call's
/// first argument (a ternary names several), each `tn(…)`'s as its `.one`
/// and `.other` forms.
fn script_keys() -> BTreeSet<String> {
    let js = ASSETS
        .iter()
        .find(|(name, _, _)| *name == "app.js")
        .unwrap()
        .2;
    let mut keys = BTreeSet::new();
    for (call, plural) in [("t(", false), ("tn(", true)] {
        for (at, _) in js.match_indices(call) {
            let before = js[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            // The first argument: up to a comma, `{` or the closing parenthesis.
            let rest = &js[at + call.len()..];
            let mut depth = 0;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => return true,
                        ')' => depth -= 1,
                        ',' | '{' if depth == 0 => return true,
                        _ => {}
                    }
                    false
                })
                .map_or(rest.len(), |(i, _)| i);
            for k in quoted_keys(&rest[..end]) {
                if plural {
                    keys.insert(format!("{k}.one"));
                    keys.insert(format!("{k}.other"));
                } else {
                    keys.insert(k.to_string());
                }
            }
        }
    }
    keys
}

/// One tag of the page: its name, whether it closes, and its attributes' text.
struct Tag<'a> {
    name: String,
    closing: bool,
    attrs: &'a str,
}

/// The page as tags and the text between them.
fn html_parts(html: &str) -> Vec<Result<Tag<'_>, &str>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push(Err(&rest[..open]));
        let close = rest[open..].find('>').expect("a closed tag") + open;
        let inner = &rest[open + 1..close];
        if !inner.starts_with('!') {
            let closing = inner.starts_with('/');
            let body = inner.trim_start_matches('/');
            let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
            out.push(Ok(Tag {
                name: body[..name_end].to_ascii_lowercase(),
                closing,
                attrs: &body[name_end..],
            }));
        }
        rest = &rest[close + 1..];
    }
    out.push(Err(rest));
    out
}

/// An attribute's value in a tag's attribute text.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let pattern = format!("{name}=\"");
    let (at, _) = attrs
        .match_indices(&pattern)
        .find(|(i, _)| attrs[..*i].ends_with(char::is_whitespace))?;
    attrs[at + pattern.len()..].split('"').next()
}

/// Text that says something in words: letters once character references
/// (`&#9733;`, `&middot;`) are left out.
fn has_words(text: &str) -> bool {
    let mut words = String::new();
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        words.push_str(&rest[..amp]);
        rest = rest[amp..].split_once(';').map_or("", |(_, r)| r);
    }
    words.push_str(rest);
    words.chars().any(char::is_alphabetic)
}

const VOID: [&str; 6] = ["meta", "link", "input", "img", "br", "hr"];
const TRANSLATED_ATTRS: [&str; 3] = ["title", "placeholder", "aria-label"];

#[test]
fn every_language_has_every_key_with_its_placeholders() {
    let en = table("en");
    assert!(en.len() > 300, "{} keys", en.len());
    for (lang, _) in LANGUAGES {
        let other = table(lang);
        let missing: Vec<&String> = en.keys().filter(|k| !other.contains_key(*k)).collect();
        let extra: Vec<&String> = other.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{lang}: missing {missing:?}, extra {extra:?}"
        );
        for (k, v) in &other {
            assert!(!v.trim().is_empty(), "{lang}: {k} is empty");
            let want = placeholders(&en[k]);
            let have = placeholders(v);
            assert!(
                want.is_subset(&have),
                "{lang}: {k} lacks {:?}",
                want.difference(&have).collect::<Vec<_>>()
            );
            if let Some(base) = k.strip_suffix(".one") {
                assert!(
                    other.contains_key(&format!("{base}.other")),
                    "{lang}: {k} without .other"
                );
            }
        }
        // The locale of dates, numbers and lists.
        assert!(
            other["meta.locale"].starts_with(lang),
            "{lang}: {}",
            other["meta.locale"]
        );
    }
    // Translated, not copied: most French texts differ from the English.
    let fr = table("fr");
    let same = en.iter().filter(|(k, v)| fr[*k] == **v).count();
    assert!(
        same * 10 < en.len(),
        "{same} of {} French texts are the English ones",
        en.len()
    );
    assert_eq!(fr["filter.top_picks"], "Meilleures photos");
    assert_eq!(fr["hidden.blink"], "Yeux fermés");
}

#[test]
fn the_page_and_its_script_name_only_keys_of_the_tables() {
    let tables: Vec<(&str, BTreeMap<String, String>)> =
        LANGUAGES.iter().map(|(l, _)| (*l, table(l))).collect();
    let mut used = script_keys();
    assert!(used.len() > 100, "{} keys in app.js", used.len());
    assert!(
        used.contains("count.photos.other") && used.contains("login.wrong_password"),
        "{used:?}"
    );
    for tag in html_parts(INDEX).into_iter().flatten() {
        for name in [
            "data-i18n",
            "data-i18n-title",
            "data-i18n-placeholder",
            "data-i18n-aria-label",
        ] {
            if let Some(k) = attr(tag.attrs, name) {
                used.insert(k.to_string());
            }
        }
    }
    for (lang, t) in &tables {
        let missing: Vec<&String> = used.iter().filter(|k| !t.contains_key(*k)).collect();
        assert!(missing.is_empty(), "{lang}.json lacks {missing:?}");
    }
}

#[test]
fn no_text_of_the_page_is_left_untranslated() {
    // The open elements, each with whether it carries `data-i18n`.
    let mut open: Vec<(String, bool)> = Vec::new();
    let mut untranslated = Vec::new();
    for part in html_parts(INDEX) {
        match part {
            Ok(tag) if tag.closing => {
                let at = open.iter().rposition(|(n, _)| *n == tag.name);
                open.truncate(at.expect("a closing tag that was opened"));
            }
            Ok(tag) => {
                for a in TRANSLATED_ATTRS {
                    if attr(tag.attrs, a).is_some_and(has_words)
                        && attr(tag.attrs, &format!("data-i18n-{a}")).is_none()
                    {
                        untranslated.push(format!("<{} {a}=…>", tag.name));
                    }
                }
                if !VOID.contains(&tag.name.as_str()) && !tag.attrs.trim_end().ends_with('/') {
                    open.push((tag.name.clone(), attr(tag.attrs, "data-i18n").is_some()));
                }
            }
            Err(text) => {
                let translated = open.last().is_some_and(|(_, t)| *t);
                let code = open.iter().any(|(n, _)| n == "script" || n == "style");
                if has_words(text) && !translated && !code {
                    untranslated.push(text.trim().to_string());
                }
            }
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert!(untranslated.is_empty(), "untranslated: {untranslated:?}");
    // The checks themselves see what they must.
    assert!(has_words("Top pick") && !has_words("&#9733; &times; 0–10"));
    assert_eq!(attr(" id=\"x\" title=\"Hi\"", "title"), Some("Hi"));
}
