//! Wildcards (`*`, `?`), ARNs segment by segment, and policy variables.

use crate::context::Context;

/// A `*` or `?` that a policy variable put into a pattern (`${*}`, or a value holding one): it
/// matches that very character, never as a wildcard. Private-use characters, so no ARN or
/// policy text has them.
const LITERAL_STAR: char = '\u{E000}';
const LITERAL_QUESTION: char = '\u{E001}';

/// A substituted text with its literal marks back to the characters (for exact comparisons).
pub(crate) fn literal(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            LITERAL_STAR => '*',
            LITERAL_QUESTION => '?',
            other => other,
        })
        .collect()
}

/// A variable's value in a pattern: its wildcard characters are literal.
fn escaped(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '*' => LITERAL_STAR,
            '?' => LITERAL_QUESTION,
            other => other,
        })
        .collect()
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` any one.
pub(crate) fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    // Actions, ARNs and most condition values are ASCII: matched byte by byte, allocating
    // nothing (this runs for every statement of every request).
    if pattern.is_ascii() && text.is_ascii() {
        let same = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
        return wildcard(pattern.as_bytes(), text.as_bytes(), b'*', b'?', same);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        let a = match a {
            LITERAL_STAR => '*',
            LITERAL_QUESTION => '?',
            other => other,
        };
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    wildcard(&p, &t, '*', '?', same)
}

/// `*` matches any run, `?` any one symbol, anything else what `same` says.
fn wildcard<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    any_run: T,
    any_one: T,
    same: impl Fn(T, T) -> bool,
) -> bool {
    let (mut i, mut j) = (0, 0);
    // Where the last `*` was, and where in the text it started matching: to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == any_one || (p[i] != any_run && same(p[i], t[j]))) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == any_run {
            star = Some((i, j));
            i += 1;
        } else if let Some((s, matched)) = star {
            i = s + 1;
            j = matched + 1;
            star = Some((s, matched + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == any_run)
}

/// ARN matching (`Resource`, `ArnLike`, `ArnEquals`): each of the six colon-separated parts
/// against the pattern's part, wildcards within a part; `*` alone matches every resource.
pub(crate) fn arn_like(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern_parts: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    if pattern_parts.len() != 6 || arn_parts.len() != 6 {
        // Not ARNs: the whole text, as a wildcard pattern.
        return pattern_parts.len() != 6 && arn_parts.len() != 6 && glob(pattern, arn, false);
    }
    pattern_parts.iter().zip(&arn_parts).all(|(p, a)| glob(p, a, false))
}

/// `text` with its policy variables replaced from `context`: `None` when one has no value and
/// no default (the element it is in does not apply). `${*}`, `${?}`, `${$}` are the literal
/// characters; `${key, 'default'}` falls back to the default. What a variable puts in is
/// literal: its `*` and `?` are no wildcards.
pub(crate) fn substitute(text: &str, context: &Context) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(out);
        };
        let inside = &after[..end];
        let (name, default) = match inside.split_once(',') {
            Some((name, default)) => {
                let default = default.trim();
                let quoted = default.strip_prefix('\'').and_then(|d| d.strip_suffix('\''));
                (name.trim(), quoted)
            }
            None => (inside.trim(), None),
        };
        match name {
            "*" => out.push(LITERAL_STAR),
            "?" => out.push(LITERAL_QUESTION),
            "$" => out.push('$'),
            _ => match context.single(name).or(default) {
                Some(value) => out.push_str(&escaped(value)),
                None => return None,
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}
