//! How figures are written in reasons and renderings.

/// Milliseconds with a precision that suits their size: `4.25 ms`, `12.3 ms`, `1532 ms`.
pub(crate) fn ms(value: f64) -> String {
    format!("{} ms", ms_number(value))
}

/// Milliseconds without the unit.
pub(crate) fn ms_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude < 10.0 {
        format!("{value:.2}")
    } else if magnitude < 1000.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// Dollars with a precision that suits their size: `$0.000021`, `$0.2104`, `$210.40`.
pub(crate) fn usd(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 10.0 {
        format!("${value:.2}")
    } else if magnitude >= 0.01 || magnitude == 0.0 {
        format!("${value:.4}")
    } else {
        format!("${value:.6}")
    }
}

/// A label list: `a`, `a and b`, `a, b and c`.
pub(crate) fn list(labels: &[String]) -> String {
    match labels {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_follows_size() {
        assert_eq!(ms(4.254), "4.25 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(1532.4), "1532 ms");
        assert_eq!(usd(0.210_42), "$0.2104");
        assert_eq!(usd(210.4), "$210.40");
        assert_eq!(usd(0.000_021), "$0.000021");
        assert_eq!(usd(0.0), "$0.0000");
    }

    #[test]
    fn lists_read_as_prose() {
        let l = |v: &[&str]| list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["a"]), "a");
        assert_eq!(l(&["a", "b"]), "a and b");
        assert_eq!(l(&["a", "b", "c"]), "a, b and c");
    }
}
