//! The host names of function URLs: the form archfn hands out and the forms it recognizes.
//!
//! Lambda's URL is `https://<url-id>.lambda-url.<region>.on.aws/`. archfn serves URLs over
//! plain HTTP on its own listener, so the URL it returns is
//! `http://<url-id>.lambda-url.<region>.localhost:<port>/` when its public URL names this
//! machine (`localhost` or an IP address): `*.localhost` resolves to the loopback address
//! (curl and browsers do so without DNS). When the public URL names a host,
//! `http://<url-id>.lambda-url.<region>.<host>:<port>/` (a wildcard DNS record must point at
//! it). Any host `<url-id>.lambda-url.<region>.<anything>` is served as a function URL,
//! Lambda's `on.aws` form included.

/// The length of a URL id.
const URL_ID_LEN: usize = 32;

/// The function URL archfn returns for `url_id` in `region`, on the server's `public_url`.
pub(crate) fn function_url(public_url: &str, region: &str, url_id: &str) -> String {
    let (scheme, rest) = public_url.split_once("://").unwrap_or(("http", public_url));
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = split_port(authority);
    let local =
        host == "localhost" || host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok();
    let domain = if local { "localhost" } else { host };
    match port {
        Some(p) => format!("{scheme}://{url_id}.lambda-url.{region}.{domain}:{p}/"),
        None => format!("{scheme}://{url_id}.lambda-url.{region}.{domain}/"),
    }
}

/// `host[:port]` split; an IPv6 literal keeps its brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(end) = authority.find(']') {
        let host = &authority[..=end];
        let port = authority[end + 1..].strip_prefix(':');
        return (host, port);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (authority, None),
    }
}

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
    fn hands_out_localhost_urls_for_a_local_server() {
        assert_eq!(
            function_url("http://127.0.0.1:9001", "us-east-1", ID),
            format!("http://{ID}.lambda-url.us-east-1.localhost:9001/")
        );
        assert_eq!(
            function_url("http://localhost:9001/", "eu-west-1", ID),
            format!("http://{ID}.lambda-url.eu-west-1.localhost:9001/")
        );
        assert_eq!(
            function_url("http://lambda.example.com:8080", "us-east-1", ID),
            format!("http://{ID}.lambda-url.us-east-1.lambda.example.com:8080/")
        );
    }

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
