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

/// The function URL archfn returns for `url_id` in `region`, on the server's `public_url`.
pub fn function_url(public_url: &str, region: &str, url_id: &str) -> String {
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
pub fn split_port(authority: &str) -> (&str, Option<&str>) {
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
}
