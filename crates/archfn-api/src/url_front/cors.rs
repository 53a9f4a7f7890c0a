//! CORS for function URLs, answered by Lambda's front end: the preflight (`OPTIONS` with
//! `Origin` and `Access-Control-Request-Method`) of a URL with a CORS configuration is
//! answered without invoking the function, and the CORS headers of a real answer are the
//! configuration's, replacing any the function set (AWS's "Invoking Lambda function URLs",
//! CORS).

use archfn_control::Cors;

/// Whether `origin` is allowed: `*`, an exact origin (case-insensitive), or a pattern with one
/// `*` (`https://*.example.com`). Returns the `Access-Control-Allow-Origin` value.
pub(crate) fn allow_origin(cors: &Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or(&[]);
    if origins.iter().any(|o| o == "*") {
        return Some("*".into());
    }
    let matches = |pattern: &str| match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(origin),
        Some((head, tail)) => {
            let o = origin.to_ascii_lowercase();
            o.len() >= head.len() + tail.len()
                && o.starts_with(&head.to_ascii_lowercase())
                && o.ends_with(&tail.to_ascii_lowercase())
        }
    };
    origins
        .iter()
        .any(|p| matches(p))
        .then(|| origin.to_string())
}

fn join(list: &Option<Vec<String>>) -> Option<String> {
    list.as_ref().filter(|l| !l.is_empty()).map(|l| l.join(","))
}

/// The headers of a preflight answer for `origin`, or none when the origin is not allowed.
pub(crate) fn preflight_headers(cors: &Cors, origin: &str) -> Vec<(&'static str, String)> {
    let Some(allow) = allow_origin(cors, origin) else {
        return Vec::new();
    };
    let mut h = vec![("access-control-allow-origin", allow)];
    if let Some(m) = join(&cors.allow_methods) {
        h.push(("access-control-allow-methods", m));
    }
    if let Some(hs) = join(&cors.allow_headers) {
        h.push(("access-control-allow-headers", hs));
    }
    if let Some(age) = cors.max_age {
        h.push(("access-control-max-age", age.to_string()));
    }
    if cors.allow_credentials == Some(true) {
        h.push(("access-control-allow-credentials", "true".into()));
    }
    h
}

/// The CORS headers of a real answer to a request from `origin`.
pub(crate) fn response_headers(cors: &Cors, origin: &str) -> Vec<(&'static str, String)> {
    let Some(allow) = allow_origin(cors, origin) else {
        return Vec::new();
    };
    let mut h = vec![("access-control-allow-origin", allow)];
    if let Some(e) = join(&cors.expose_headers) {
        h.push(("access-control-expose-headers", e));
    }
    if cors.allow_credentials == Some(true) {
        h.push(("access-control-allow-credentials", "true".into()));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_by_pattern() {
        let c = Cors {
            allow_origins: Some(vec![
                "https://a.example".into(),
                "https://*.b.example".into(),
            ]),
            ..Cors::default()
        };
        assert_eq!(
            allow_origin(&c, "https://a.example").as_deref(),
            Some("https://a.example")
        );
        assert!(allow_origin(&c, "https://x.b.example").is_some());
        assert!(allow_origin(&c, "https://evil.example").is_none());
        let any = Cors {
            allow_origins: Some(vec!["*".into()]),
            ..Cors::default()
        };
        assert_eq!(allow_origin(&any, "https://x").as_deref(), Some("*"));
    }
}
