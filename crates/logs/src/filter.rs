//! CloudWatch filter patterns, the text form FilterLogEvents takes: terms separated by spaces
//! must all occur (`ERROR timeout`), `"quoted phrases"` occur as written, `?term` means any of
//! the `?` terms, `-term` excludes. Matching is case-sensitive, as CloudWatch's is; an empty
//! pattern matches every event. JSON (`{ $.x = 1 }`), space-delimited (`[a, b]`) and regular
//! expression (`%...%`) patterns are refused as unsupported, not misread as terms.

/// A parsed text pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterPattern {
    /// Every one must occur.
    all: Vec<String>,
    /// At least one must occur (when there are any).
    any: Vec<String>,
    /// None may occur.
    none: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{0} filter patterns are not supported by this server; use terms, \"quoted phrases\", ?any-of and -excluded terms")]
    Unsupported(&'static str),
    #[error("Invalid filter pattern: a quoted phrase is not closed")]
    UnclosedQuote,
    #[error("Invalid filter pattern: empty quoted phrase")]
    EmptyPhrase,
}

impl FilterPattern {
    pub fn parse(pattern: &str) -> Result<FilterPattern, FilterError> {
        let pattern = pattern.trim();
        match pattern.chars().next() {
            Some('{') => return Err(FilterError::Unsupported("JSON")),
            Some('[') => return Err(FilterError::Unsupported("Space-delimited")),
            Some('%') if pattern.len() > 1 && pattern.ends_with('%') => {
                return Err(FilterError::Unsupported("Regular expression"))
            }
            _ => {}
        }
        let mut parsed = FilterPattern::default();
        let mut chars = pattern.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let modifier = if matches!(first, '?' | '-') {
                chars.next();
                // A lone '?' or '-' is a term of its own.
                chars.peek().is_some_and(|c| !c.is_whitespace()).then_some(first)
            } else {
                None
            };
            let term = if chars.peek() == Some(&'"') {
                chars.next();
                let mut phrase = String::new();
                loop {
                    match chars.next() {
                        None => return Err(FilterError::UnclosedQuote),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => phrase.push(escaped),
                            None => return Err(FilterError::UnclosedQuote),
                        },
                        Some(c) => phrase.push(c),
                    }
                }
                if phrase.is_empty() {
                    return Err(FilterError::EmptyPhrase);
                }
                phrase
            } else {
                let mut word = String::new();
                if modifier.is_none() && matches!(first, '?' | '-') {
                    word.push(first);
                }
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    word.push(c);
                }
                word
            };
            match modifier {
                Some('?') => parsed.any.push(term),
                Some(_) => parsed.none.push(term),
                None => parsed.all.push(term),
            }
        }
        Ok(parsed)
    }

    /// Whether every event matches (no terms at all).
    pub fn matches_everything(&self) -> bool {
        self.all.is_empty() && self.any.is_empty() && self.none.is_empty()
    }

    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_cloudwatch_does() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "anything", true),
            ("   ", "anything", true),
            ("ERROR", "[ERROR] disk full", true),
            ("ERROR", "[error] disk full", false),
            ("ERROR disk", "[ERROR] disk full", true),
            ("ERROR disk", "[ERROR] memory full", false),
            ("\"disk full\"", "[ERROR] disk full", true),
            ("\"disk full\"", "[ERROR] full disk", false),
            ("\"ERROR: \"", "ERROR: x", true),
            ("?ERROR ?WARN", "WARN low", true),
            ("?ERROR ?WARN", "INFO ok", false),
            ("ERROR -timeout", "ERROR disk", true),
            ("ERROR -timeout", "ERROR timeout", false),
            ("ERROR -\"request timeout\"", "ERROR request timeout", false),
            ("ERROR -\"request timeout\"", "ERROR timeout", true),
            ("?\"disk full\" ?oom", "oom killed", true),
            ("-", "a-b", true),
            ("?", "why?", true),
            ("\"say \\\"hi\\\"\"", "they say \"hi\"", true),
            ("GET /api", "GET /api/x 200", true),
        ];
        for (pattern, message, expected) in cases {
            let parsed = FilterPattern::parse(pattern).expect(pattern);
            assert_eq!(parsed.matches(message), *expected, "{pattern:?} on {message:?}");
        }
    }

    #[test]
    fn parsed_shapes() {
        let parsed = FilterPattern::parse(" a  ?b -c ?\"d e\" -\"f\" ").expect("parses");
        assert_eq!(parsed.all, ["a"]);
        assert_eq!(parsed.any, ["b", "d e"]);
        assert_eq!(parsed.none, ["c", "f"]);
        assert!(FilterPattern::parse("").expect("empty").matches_everything());
        assert!(!parsed.matches_everything());
    }

    #[test]
    fn unsupported_and_malformed_patterns_are_refused() {
        assert_eq!(
            FilterPattern::parse("{ $.level = \"error\" }"),
            Err(FilterError::Unsupported("JSON"))
        );
        assert_eq!(
            FilterPattern::parse("[ip, user, ...]"),
            Err(FilterError::Unsupported("Space-delimited"))
        );
        assert_eq!(
            FilterPattern::parse("%ERR[0-9]+%"),
            Err(FilterError::Unsupported("Regular expression"))
        );
        assert_eq!(FilterPattern::parse("\"open"), Err(FilterError::UnclosedQuote));
        assert_eq!(FilterPattern::parse("a \"\""), Err(FilterError::EmptyPhrase));
    }
}
