//! Function URL hosts the server recognizes (the form it hands out is
//! `archfn_model::url_host::function_url`).

use archfn_model::url_host::split_port;

/// The length of a URL id.
const URL_ID_LEN: usize = 32;

/// The URL id and region a `Host` header names, when it is a function URL's.
pub(crate) fn parse_host(host: &str) -> Option<(String, String)> {
    let (name, _) = split_port(host.trim());
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut labels = name.splitn(4, '.');
    let id = labels.next()?;
    if labels.next()? != "lambda-url" {
        return None;
    }
    let region = labels.next()?;
    labels.next().filter(|rest| !rest.is_empty())?;
    let id_ok = id.len() == URL_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !id_ok || !archfn_sigv4::is_region(region) {
        return None;
    }
    Some((id.to_string(), region.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "abcdefghijklmnopqrstuvwxyz012345";

    #[test]
    fn recognizes_url_hosts() {
        let want = Some((ID.to_string(), "us-east-1".to_string()));
        assert_eq!(
            parse_host(&format!("{ID}.lambda-url.us-east-1.localhost:9001")),
            want
        );
        assert_eq!(
            parse_host(&format!("{ID}.lambda-url.us-east-1.on.aws")),
            want
        );
        assert_eq!(parse_host("127.0.0.1:9001"), None);
        assert_eq!(parse_host("lambda.us-east-1.amazonaws.com"), None);
        assert_eq!(parse_host(&format!("{ID}.lambda-url.nowhere.on.aws")), None);
        assert_eq!(parse_host(&format!("{ID}.lambda-url.us-east-1")), None);
        assert_eq!(parse_host("short.lambda-url.us-east-1.on.aws"), None);
    }
}
