//! The full-text document and query, built in Rust with the domain's word rules.
//!
//! Words are what `domain::query::search_score` calls words: runs of alphanumeric characters,
//! lower-cased by Rust. PostgreSQL's `to_tsvector` parser disagrees in ways users would notice
//! (`bob@example.com` and `example.com/path` are single tokens, `e-mail` yields `e-mail` as well as
//! its parts, and under the C locale `lower()` leaves `É` alone), so the adapter writes the
//! `tsvector` itself, as a literal whose lexemes are taken verbatim, and the query likewise as a
//! `tsquery` literal: no parser, no dictionary, no locale, and no user text ever read as query
//! syntax. Title words carry weight A, description words weight B, ranked by
//! `ts_rank('{0,0,0.1,1}')`: a title hit weighs ten times a description hit, as in the domain.
//!
//! Every lexeme is prefixed with a tag derived from the user id. The GIN index then holds each
//! user's words apart, so a prefix query (`'tag'||'mil':*`) walks only this user's lexemes and
//! posting lists: the cost of a search grows with the user's matches, not with everybody's. The
//! tag is a 32-bit hash; two users who share one merely share index entries, since every query
//! also filters on `user_id`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::domain::UserId;

/// PostgreSQL's limits on a tsvector: a lexeme is shorter than 2 KiB, positions run to 16383, and
/// a lexeme keeps at most 256 of them.
const MAX_LEXEME_BYTES: usize = 2046;
const MAX_POSITION: usize = 16_383;
const MAX_POSITIONS_PER_LEXEME: usize = 256;

/// Lower-cased alphanumeric words, as `domain::query::search_score` splits text.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// FNV-1a, 32 bits: stable across Rust versions and processes (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The user's lexeme prefix: eight hex digits and a separator no word contains.
pub(crate) fn user_tag(user: &UserId) -> String {
    format!("{:08x}_", fnv1a(user.as_str().as_bytes()))
}

/// `tag` + `word`, cut to PostgreSQL's lexeme limit on a character boundary (a prefix of a very
/// long word still finds it).
fn lexeme(tag: &str, word: &str) -> String {
    let mut out = String::with_capacity(tag.len() + word.len());
    out.push_str(tag);
    for c in word.chars() {
        if out.len() + c.len_utf8() > MAX_LEXEME_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// A quoted tsvector/tsquery lexeme: quotes and backslashes are doubled. (Words are alphanumeric
/// and tags hex, so neither ever occurs; quoting keeps that an assumption nobody relies on.)
fn push_quoted(out: &mut String, lexeme: &str) {
    out.push('\'');
    for c in lexeme.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

/// The `tasks.search_doc` literal for a task (bound as text and cast to tsvector).
pub(crate) fn document(user: &UserId, title: &str, description: Option<&str>) -> String {
    let tag = user_tag(user);
    let mut positions: BTreeMap<String, Vec<(usize, char)>> = BTreeMap::new();
    let title_words = words(title).map(|w| (w, 'A'));
    let desc_words = description.into_iter().flat_map(words).map(|w| (w, 'B'));
    for (i, (word, weight)) in title_words.chain(desc_words).enumerate() {
        let at = positions.entry(lexeme(&tag, &word)).or_default();
        if at.len() < MAX_POSITIONS_PER_LEXEME {
            at.push(((i + 1).min(MAX_POSITION), weight));
        }
    }
    let mut out = String::new();
    for (lexeme, at) in positions {
        if !out.is_empty() {
            out.push(' ');
        }
        push_quoted(&mut out, &lexeme);
        out.push(':');
        // Positions past the limit all collapse onto the last one; keep them distinct.
        let mut last = 0;
        for (j, (pos, weight)) in at.into_iter().enumerate() {
            if pos == last {
                continue;
            }
            last = pos;
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "{pos}{weight}");
        }
    }
    out
}

/// Every term required, each as a prefix of a word: the `tsquery` literal, or `None` when the
/// text has no words.
pub(crate) fn query(user: &UserId, terms: &[String]) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    let tag = user_tag(user);
    let mut out = String::new();
    for term in terms {
        if !out.is_empty() {
            out.push_str(" & ");
        }
        push_quoted(&mut out, &lexeme(&tag, term));
        out.push_str(":*");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserId {
        UserId::parse("alice").unwrap()
    }

    #[test]
    fn document_weights_title_a_and_description_b_with_positions() {
        let tag = user_tag(&alice());
        let doc = document(&alice(), "Buy milk, MILK!", Some("remember the e-mail"));
        assert_eq!(
            doc,
            format!(
                "'{tag}buy':1A '{tag}e':6B '{tag}mail':7B '{tag}milk':2A,3A \
                 '{tag}remember':4B '{tag}the':5B"
            )
        );
    }

    #[test]
    fn words_are_the_domains_words() {
        let tag = user_tag(&alice());
        let doc = document(&alice(), "École bob@example.com", None);
        assert!(doc.contains(&format!("'{tag}école':1A")), "{doc}");
        assert!(doc.contains(&format!("'{tag}example':3A")), "{doc}");
        assert!(doc.contains(&format!("'{tag}com':4A")), "{doc}");
        assert_eq!(document(&alice(), "!!!", None), "");
    }

    #[test]
    fn query_requires_every_term_as_a_prefix() {
        let tag = user_tag(&alice());
        let terms = vec!["buy".to_owned(), "mil".to_owned()];
        assert_eq!(
            query(&alice(), &terms).unwrap(),
            format!("'{tag}buy':* & '{tag}mil':*")
        );
        assert_eq!(query(&alice(), &[]), None);
    }

    #[test]
    fn tags_differ_between_users_and_are_stable() {
        let bob = UserId::parse("bob").unwrap();
        assert_ne!(user_tag(&alice()), user_tag(&bob));
        // FNV-1a of "alice": a change here would orphan every stored document.
        assert_eq!(user_tag(&alice()), format!("{:08x}_", fnv1a(b"alice")));
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }

    #[test]
    fn limits_of_postgresql_are_respected() {
        let long = "x".repeat(5000);
        let doc = document(&alice(), &long, None);
        assert!(doc.len() < MAX_LEXEME_BYTES + 10, "{}", doc.len());
        let many = vec!["w"; 20_000].join(" ");
        let doc = document(&alice(), "t", Some(&many));
        let commas = doc.matches(',').count();
        assert_eq!(
            commas,
            MAX_POSITIONS_PER_LEXEME - 1,
            "one lexeme, 256 positions"
        );
        assert_eq!(push_quote("it's"), "'it''s'");
    }

    fn push_quote(s: &str) -> String {
        let mut out = String::new();
        push_quoted(&mut out, s);
        out
    }
}
