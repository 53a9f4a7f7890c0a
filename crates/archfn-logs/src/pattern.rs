//! Filter patterns of unstructured log events, as CloudWatch Logs reads them: terms that must
//! all appear (`ERROR Exception`), quoted phrases (`"Task timed out"`), terms of which any one
//! is enough (`?ERROR ?WARN`), and terms that must not appear (`-DEBUG`). Matching is
//! case-sensitive. JSON (`{ $.x = 1 }`), space-delimited (`[a, b]`) and regular-expression
//! (`%…%`) patterns are refused: archfn does not evaluate them.

/// A parsed filter pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterPattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

/// Why a pattern is refused, in CloudWatch Logs' words where it has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A pattern CloudWatch Logs itself refuses.
    #[error("{0}")]
    Invalid(String),
    /// A kind of pattern archfn does not evaluate.
    #[error("{0}")]
    Unsupported(String),
}

fn plain_term_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl FilterPattern {
    /// Parses `text`; an empty pattern matches every event.
    pub fn parse(text: &str) -> Result<FilterPattern, PatternError> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            if !trimmed.ends_with('}') {
                return Err(PatternError::Invalid(
                    "If a filter pattern starts with '{' it must end with '}'".into(),
                ));
            }
            return Err(PatternError::Unsupported(
                "archfn does not evaluate JSON filter patterns ({ $.field = value }); use terms or quoted phrases".into(),
            ));
        }
        if trimmed.starts_with('[') {
            if !trimmed.ends_with(']') {
                return Err(PatternError::Invalid(
                    "If a filter pattern starts with '[' it must end with ']'".into(),
                ));
            }
            return Err(PatternError::Unsupported(
                "archfn does not evaluate space-delimited filter patterns ([a, b]); use terms or quoted phrases".into(),
            ));
        }
        if trimmed.len() > 1 && trimmed.starts_with('%') && trimmed.ends_with('%') {
            return Err(PatternError::Unsupported(
                "archfn does not evaluate regular-expression filter patterns (%…%); use terms or quoted phrases".into(),
            ));
        }
        let mut pattern = FilterPattern::default();
        let mut chars = trimmed.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let kind = match first {
                '?' | '-' => {
                    chars.next();
                    first
                }
                _ => ' ',
            };
            let term = if chars.peek() == Some(&'"') {
                chars.next();
                let mut phrase = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                phrase.push(escaped);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => phrase.push(c),
                    }
                }
                if !closed {
                    return Err(PatternError::Invalid("Invalid filter pattern".into()));
                }
                if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                    return Err(PatternError::Invalid("Invalid filter pattern".into()));
                }
                phrase
            } else {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    word.push(c);
                }
                if word.is_empty() || !word.chars().all(plain_term_char) {
                    let shown = if word.is_empty() {
                        kind.to_string()
                    } else {
                        word
                    };
                    return Err(PatternError::Invalid(format!(
                        "Invalid character(s) in term '{shown}'"
                    )));
                }
                word
            };
            match kind {
                '?' => pattern.any.push(term),
                '-' => pattern.none.push(term),
                _ => pattern.all.push(term),
            }
        }
        Ok(pattern)
    }

    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        FilterPattern::parse(p)
            .map(|p| p.matches(msg))
            .unwrap_or(false)
    }

    #[test]
    fn terms_phrases_any_and_exclusions() {
        assert!(m("", "anything"));
        assert!(m("ERROR Exception", "ERROR: an Exception here"));
        assert!(!m("ERROR Exception", "ERROR alone"));
        assert!(!m("error", "ERROR"), "case-sensitive");
        assert!(m(
            "\"Task timed out\"",
            "x Task timed out after 3.00 seconds"
        ));
        assert!(!m("\"Task timed out\"", "Task out timed"));
        assert!(m("?ERROR ?WARN", "a WARN line"));
        assert!(!m("?ERROR ?WARN", "an INFO line"));
        assert!(m("REPORT -Init", "REPORT Duration"));
        assert!(!m("REPORT -Init", "REPORT Init Duration"));
        assert!(m("-\"Init Duration\"", "REPORT Duration"));
        assert!(m("\"say \\\"hi\\\"\"", "they say \"hi\""));
    }

    #[test]
    fn refuses_what_cloudwatch_refuses_and_what_archfn_does_not_evaluate() {
        for bad in ["\"open", "a@b.com", "?", "{ $.a = 1", "[a, b"] {
            assert!(
                matches!(FilterPattern::parse(bad), Err(PatternError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(
            FilterPattern::parse("a@b.com"),
            Err(PatternError::Invalid(
                "Invalid character(s) in term 'a@b.com'".into()
            ))
        );
        for unsupported in ["{ $.a = 1 }", "[a, b]", "%ab+%"] {
            assert!(
                matches!(
                    FilterPattern::parse(unsupported),
                    Err(PatternError::Unsupported(_))
                ),
                "{unsupported}"
            );
        }
    }
}
