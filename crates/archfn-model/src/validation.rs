//! Collects request-model violations and renders them as Lambda renders them:
//! `N validation errors detected: Value '<v>' at '<field>' failed to satisfy constraint: <c>; …`.

/// The regular expression Lambda quotes for a bad function name.
pub const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";
/// The regular expression Lambda quotes for a bad alias name.
pub const ALIAS_NAME_PATTERN: &str = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)";
/// The regular expression Lambda quotes for a bad layer name.
pub const LAYER_NAME_PATTERN: &str =
    r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+";
/// The regular expression Lambda quotes for a bad role.
pub const ROLE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";
/// The constraint text for a bad architecture list member.
pub const ARCH_ENUM_CONSTRAINT: &str = "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]";

/// Every violation found in one request, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    items: Vec<String>,
}

impl ValidationErrors {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `value` at `field` breaks `constraint`.
    pub fn push(&mut self, value: &str, field: &str, constraint: &str) {
        self.items.push(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Records that `field` is absent where `constraint` needs it (`Value null at …`).
    pub fn push_null(&mut self, field: &str, constraint: &str) {
        self.items.push(format!(
            "Value null at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Records a violation of a sensitive member, whose value Lambda does not echo
    /// (`Value at 'environment.variables' failed to …`).
    pub fn push_unshown(&mut self, field: &str, constraint: &str) {
        self.items.push(format!(
            "Value at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `Ok(())` when empty, otherwise the collection as an error.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The message as Lambda words it.
    pub fn message(&self) -> String {
        let n = self.items.len();
        let noun = if n == 1 { "error" } else { "errors" };
        format!("{n} validation {noun} detected: {}", self.items.join("; "))
    }

    /// A collection holding one violation.
    pub fn single(value: &str, field: &str, constraint: &str) -> Self {
        let mut v = Self::new();
        v.push(value, field, constraint);
        v
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ValidationErrors {}

/// Whether `s` is a plain name: 1 to `max` letters, digits, hyphens and underscores (what
/// Lambda's function, layer and alias patterns allow, and so never `.`, `..` or a `/`).
pub fn is_plain_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Renders a list Java-style, as Lambda echoes it: `[a, b]`.
pub fn java_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", inner.join(", "))
}

/// Renders a double Java-style: `2.0`, `0.25`.
pub fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.is_finite() {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_and_many() {
        let mut v = ValidationErrors::new();
        v.push("[X86_64]", "architectures", ARCH_ENUM_CONSTRAINT);
        assert_eq!(
            v.message(),
            "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"
        );
        v.push("a", "b", "c");
        assert!(v.message().starts_with("2 validation errors detected: "));
    }

    #[test]
    fn plain_names_exclude_dots_and_slashes() {
        for bad in ["", ".", "..", "...", "a/b", "a.b", "a b", "é"] {
            assert!(!is_plain_name(bad, 64), "{bad:?}");
        }
        assert!(is_plain_name("my-function_1", 64));
        assert!(!is_plain_name(&"a".repeat(65), 64));
    }

    #[test]
    fn renders_java_values() {
        assert_eq!(java_list(&["x86_64", "arm64"]), "[x86_64, arm64]");
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(-1.0), "-1.0");
        assert_eq!(java_double(0.25), "0.25");
    }
}
