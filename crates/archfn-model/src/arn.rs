//! Function names, partial and full ARNs, and qualifiers, as Lambda accepts them.

use crate::validation::{FUNCTION_NAME_PATTERN, ValidationErrors};

/// The region and account every resource of a request lives in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Twelve-digit account id.
    pub account: String,
}

impl Scope {
    /// The unqualified ARN of function `name`.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account
        )
    }

    /// The ARN of layer `name` (without a version).
    pub fn layer_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{name}",
            self.region, self.account
        )
    }
}

/// A version selector: `$LATEST`, a published version number, or an alias name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// The unpublished, editable version.
    Latest,
    /// A published version, numbered from 1.
    Version(u64),
    /// An alias name.
    Alias(String),
}

impl Qualifier {
    /// Parses a qualifier; `None` when it is not a valid one (empty, too long, bad characters).
    pub fn parse(s: &str) -> Option<Qualifier> {
        if s == "$LATEST" {
            return Some(Qualifier::Latest);
        }
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| is_alias_byte(b) || b == b'$') {
            return None;
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().ok().map(Qualifier::Version);
        }
        Some(Qualifier::Alias(s.to_string()))
    }
}

impl std::fmt::Display for Qualifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Qualifier::Latest => f.write_str("$LATEST"),
            Qualifier::Version(n) => write!(f, "{n}"),
            Qualifier::Alias(a) => f.write_str(a),
        }
    }
}

fn is_alias_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A function as a request names it: by name, partial ARN or full ARN, maybe qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The bare function name.
    pub name: String,
    /// The qualifier embedded in the name or ARN, as written.
    pub qualifier: Option<String>,
    /// The region named by a full ARN.
    pub region: Option<String>,
    /// The account named by a partial or full ARN.
    pub account: Option<String>,
}

impl FunctionRef {
    /// Parses `my-function`, `my-function:1`, `123456789012:function:my-function`, or
    /// `arn:aws:lambda:us-east-1:123456789012:function:my-function[:alias]`.
    pub fn parse(input: &str) -> Result<FunctionRef, ValidationErrors> {
        let bad = || {
            ValidationErrors::single(
                input,
                "functionName",
                &format!("Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"),
            )
        };
        if input.is_empty() || input.len() > 170 {
            return Err(bad());
        }
        let parts: Vec<&str> = input.split(':').collect();
        let (region, account, rest): (Option<&str>, Option<&str>, &[&str]) = if parts[0] == "arn" {
            if parts.len() < 7
                || !parts[1].starts_with("aws")
                || parts[2] != "lambda"
                || parts[5] != "function"
            {
                return Err(bad());
            }
            (Some(parts[3]), Some(parts[4]), &parts[6..])
        } else if parts.len() >= 3 && parts[1] == "function" {
            (None, Some(parts[0]), &parts[2..])
        } else {
            (None, None, &parts[..])
        };
        if let Some(r) = region
            && !valid_region(r)
        {
            return Err(bad());
        }
        if let Some(a) = account
            && (a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let (name, qualifier) = match rest {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            _ => return Err(bad()),
        };
        if name.is_empty() || !name.bytes().all(is_alias_byte) {
            return Err(bad());
        }
        if let Some(q) = qualifier
            && (q.is_empty() || !(q == "$LATEST" || q.bytes().all(is_alias_byte)))
        {
            return Err(bad());
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
            region: region.map(str::to_string),
            account: account.map(str::to_string),
        })
    }
}

/// Whether `r` has the shape of an AWS region (`us-east-1`, `us-gov-west-1`).
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let ok_word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase());
    let ok_digit = |w: &str| w.len() == 1 && w.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [cc, word, n] => cc.len() == 2 && ok_word(cc) && ok_word(word) && ok_digit(n),
        [cc, "gov", word, n] => cc.len() == 2 && ok_word(cc) && ok_word(word) && ok_digit(n),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        let f = FunctionRef::parse("my-function").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f.name.as_str(), f.qualifier), ("my-function", None));
        let f = FunctionRef::parse("my-function:prod").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.qualifier.as_deref(), Some("prod"));
        let f = FunctionRef::parse("123456789012:function:f").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.account.as_deref(), Some("123456789012"));
        let f = FunctionRef::parse("arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        assert_eq!(f.qualifier.as_deref(), Some("$LATEST"));
    }

    #[test]
    fn rejects_what_lambda_rejects() {
        for bad in [
            "my-function!",
            "*",
            "",
            "arn:aws:lambda:us-east-1:123456789012:function:f:1:2",
            "arn:aws:s3:us-east-1:123456789012:function:f",
            "arn:aws:lambda:nowhere:123456789012:function:f",
            ".",
            "..",
            "...",
            "a/b",
            "a.b",
            "arn:aws:lambda:us-east-1:123456789012:function:..",
        ] {
            assert!(FunctionRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_qualifiers() {
        assert_eq!(Qualifier::parse("$LATEST"), Some(Qualifier::Latest));
        assert_eq!(Qualifier::parse("12"), Some(Qualifier::Version(12)));
        assert_eq!(
            Qualifier::parse("live"),
            Some(Qualifier::Alias("live".into()))
        );
        assert_eq!(
            Qualifier::parse("$latest"),
            Some(Qualifier::Alias("$latest".into()))
        );
        assert_eq!(Qualifier::parse("a/b"), None);
    }
}
