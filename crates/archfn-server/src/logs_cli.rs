//! `archfn logs FUNCTION`: a function's log through the server's CloudWatch Logs
//! (FilterLogEvents on the function's log group), signed with SigV4, from any directory.

use std::collections::HashSet;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Where and how to read.
#[derive(Debug, Clone)]
pub struct LogsArgs {
    /// Function name.
    pub function: String,
    /// Keep printing as new lines arrive.
    pub follow: bool,
    /// The server's URL.
    pub endpoint: String,
    /// Region of the function.
    pub region: String,
    /// Only lines from this long ago (`30s`, `10m`, `2h`, `1d`, `1w`) or since this time
    /// (RFC 3339), if given.
    pub since: Option<String>,
    /// Access key id, secret and session token to sign with (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); without them a placeholder key signs,
    /// which a server in open mode accepts.
    pub credentials: Option<(String, String, Option<String>)>,
}

/// Unix milliseconds of `--since`: a duration back from `now_ms`, or a time.
pub fn parse_since(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let t = text.trim();
    let unit = |c: char| match c {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        'w' => Some(604_800_000),
        _ => None,
    };
    if let Some(last) = t.chars().last()
        && let Some(ms) = unit(last)
        && let Ok(n) = t[..t.len() - 1].parse::<i64>()
    {
        return Ok(now_ms - n.saturating_mul(ms));
    }
    t.parse::<jiff::Timestamp>()
        .map(|ts| ts.as_millisecond())
        .with_context(|| {
            format!(
                "--since takes a duration (30s, 10m, 2h, 1d, 1w) or an RFC 3339 time, not {t:?}"
            )
        })
}

struct Client {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    key: String,
    secret: String,
    token: Option<String>,
}

impl Client {
    /// Sends a signed request; answers (status, body).
    async fn send(
        &self,
        method: &str,
        path: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, String)> {
        let url = format!("{}{path}", self.endpoint.trim_end_matches('/'));
        let parsed = reqwest::Url::parse(&url).with_context(|| format!("endpoint {url:?}"))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => bail!("the endpoint {:?} names no host", self.endpoint),
        };
        let now = jiff::Timestamp::now();
        let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        let date = now.strftime("%Y%m%d").to_string();
        let mut all: Vec<(String, String)> =
            vec![("host".into(), host), ("x-amz-date".into(), amz_date)];
        for (k, v) in headers {
            all.push((k.to_ascii_lowercase(), (*v).to_string()));
        }
        if let Some(t) = &self.token {
            all.push(("x-amz-security-token".into(), t.clone()));
        }
        all.sort();
        let payload_hash = archfn_sigv4::payload_hash(&body);
        let auth = archfn_sigv4::Authorization {
            access_key: self.key.clone(),
            date,
            region: self.region.clone(),
            service: service.to_string(),
            signed_headers: all.iter().map(|(k, _)| k.clone()).collect(),
            signature: String::new(),
        };
        let parts = archfn_sigv4::RequestParts {
            method,
            raw_path: parsed.path(),
            raw_query: parsed.query().unwrap_or(""),
            headers: &all,
            payload_hash: &payload_hash,
        };
        let signature = archfn_sigv4::signature(&parts, &auth, &self.secret)
            .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={signature}",
            auth.access_key,
            auth.scope(),
            auth.signed_headers.join(";")
        );
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(method, parsed).body(body);
        for (k, v) in &all {
            if k != "host" {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        let resp = req
            .header("authorization", authorization)
            .send()
            .await
            .with_context(|| format!("reaching archfn at {}", self.endpoint))?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    async fn logs(&self, operation: &str, input: &Value) -> anyhow::Result<(u16, Value)> {
        let target = format!("{}{operation}", archfn_logs::TARGET_PREFIX);
        let (status, body) = self
            .send(
                "POST",
                "/",
                "logs",
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", &target),
                ],
                input.to_string().into_bytes(),
            )
            .await?;
        let value = serde_json::from_str(&body)
            .with_context(|| format!("{operation} answered {status}: {body}"))?;
        Ok((status, value))
    }
}

/// The function's log group: its `LoggingConfig.LogGroup`, or Lambda's default when the
/// function is not there (its logs outlive it).
async fn log_group(client: &Client, function: &str) -> anyhow::Result<String> {
    let path = format!("/2015-03-31/functions/{function}/configuration");
    let (status, body) = client.send("GET", &path, "lambda", &[], Vec::new()).await?;
    let default = archfn_model::logging::default_log_group(function);
    match status {
        200 => Ok(serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["LoggingConfig"]["LogGroup"].as_str().map(str::to_string))
            .unwrap_or(default)),
        404 => Ok(default),
        _ => bail!("GetFunctionConfiguration answered {status}: {body}"),
    }
}

/// Prints the function's log (and, with `--follow`, what arrives after).
pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    if !archfn_sigv4::is_region(&args.region) {
        bail!(
            "--region must be an AWS region such as us-east-1, got {:?}",
            args.region
        );
    }
    if !archfn_model::validation::is_plain_name(&args.function, 64) {
        bail!("{:?} is not a function name", args.function);
    }
    let (key, secret, token) = args
        .credentials
        .clone()
        .unwrap_or_else(|| ("archfn".into(), "archfn".into(), None));
    let client = Client {
        http: reqwest::Client::new(),
        endpoint: args.endpoint.clone(),
        region: args.region.clone(),
        key,
        secret,
        token,
    };
    let group = log_group(&client, &args.function).await?;
    let now = archfn_model::time::now_ms();
    let mut start = match &args.since {
        Some(s) => Some(parse_since(s, now)?),
        None => None,
    };
    // Events already printed at the latest timestamp printed (the next poll starts there).
    let mut seen_at_start: HashSet<String> = HashSet::new();
    let mut out = tokio::io::stdout();
    loop {
        let mut token: Option<String> = None;
        let mut newest: Option<i64> = None;
        let mut newest_ids: HashSet<String> = HashSet::new();
        loop {
            let mut input = json!({ "logGroupName": group, "interleaved": true });
            if let Some(s) = start {
                input["startTime"] = json!(s);
            }
            if let Some(t) = &token {
                input["nextToken"] = json!(t);
            }
            let (status, answer) = client.logs("FilterLogEvents", &input).await?;
            if status != 200 {
                let kind = answer["__type"].as_str().unwrap_or("");
                if kind.ends_with("ResourceNotFoundException") {
                    if args.follow {
                        break;
                    }
                    bail!(
                        "no log for {} in {} yet (log group {group})",
                        args.function,
                        args.region
                    );
                }
                bail!(
                    "FilterLogEvents: {kind}: {}",
                    answer["message"].as_str().unwrap_or("")
                );
            }
            let mut text = String::new();
            for e in answer["events"].as_array().into_iter().flatten() {
                let id = e["eventId"].as_str().unwrap_or("").to_string();
                let ts = e["timestamp"].as_i64().unwrap_or(0);
                if Some(ts) == start && seen_at_start.contains(&id) {
                    continue;
                }
                let message = e["message"].as_str().unwrap_or("");
                text.push_str(message);
                if !message.ends_with('\n') {
                    text.push('\n');
                }
                if newest != Some(ts) {
                    newest = Some(ts);
                    newest_ids.clear();
                }
                newest_ids.insert(id);
            }
            out.write_all(text.as_bytes()).await?;
            out.flush().await?;
            token = answer["nextToken"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if !args.follow {
            return Ok(());
        }
        if let Some(ts) = newest {
            if Some(ts) != start {
                seen_at_start.clear();
            }
            seen_at_start.extend(newest_ids);
            start = Some(ts);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() -> anyhow::Result<()> {
        assert_eq!(parse_since("10m", 1_000_000)?, 400_000);
        assert_eq!(parse_since("2s", 5_000)?, 3_000);
        assert_eq!(parse_since("2023-11-14T22:13:20Z", 0)?, 1_700_000_000_000);
        assert!(parse_since("soon", 0).is_err());
        Ok(())
    }
}
