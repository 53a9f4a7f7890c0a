//! The request side of the Lambda API model (`data/lambda-model.json`, written from botocore's
//! service model by `scripts/lambda-model.py`): operations with their HTTP bindings, and the
//! shapes a request can hold with their constraints. Loaded once; patterns compiled once.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const MODEL_JSON: &str = include_str!("../../data/lambda-model.json");

/// One operation's HTTP binding.
#[derive(Debug, Deserialize)]
pub(crate) struct Operation {
    /// HTTP method.
    pub method: String,
    /// The request URI template, with `{Member}` segments and sometimes a fixed query.
    pub uri: String,
    /// The input shape.
    pub input: Option<String>,
}

/// Where a member of an input travels.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Location {
    /// A path segment.
    Uri,
    /// A query string parameter.
    Querystring,
    /// A header.
    Header,
    /// Headers with a prefix (not used by Lambda's requests).
    Headers,
}

/// A member of a structure.
#[derive(Debug, Deserialize)]
pub(crate) struct Member {
    /// Its name (PascalCase), also its JSON key in a body.
    pub name: String,
    /// Its shape.
    pub shape: String,
    /// Where it travels; `None`: the JSON body.
    pub location: Option<Location>,
    /// The path segment, query parameter or header name.
    #[serde(rename = "locationName")]
    pub location_name: Option<String>,
}

/// A shape and its constraints.
#[derive(Debug, Deserialize)]
pub(crate) struct Shape {
    /// string, integer, long, double, boolean, blob, timestamp, list, map, structure.
    #[serde(rename = "type")]
    pub kind: String,
    /// Minimum length (strings, lists, maps) or value (numbers).
    pub min: Option<f64>,
    /// Maximum length or value.
    pub max: Option<f64>,
    /// A regular expression the whole value must match.
    pub pattern: Option<String>,
    /// The allowed values.
    #[serde(rename = "enum")]
    pub allowed: Option<Vec<String>>,
    /// Values not to be echoed in messages.
    #[serde(default)]
    pub sensitive: bool,
    /// The member that is the whole body (Invoke's payload).
    pub payload: Option<String>,
    /// Members that must be present.
    #[serde(default)]
    pub required: Vec<String>,
    /// A structure's members, in the model's order.
    #[serde(default)]
    pub members: Vec<Member>,
    /// A list's member shape.
    pub member: Option<String>,
    /// A map's key shape.
    pub key: Option<String>,
    /// A map's value shape.
    pub value: Option<String>,
}

/// The whole model.
#[derive(Debug, Deserialize)]
pub(crate) struct Model {
    /// Operations by name.
    pub operations: HashMap<String, Operation>,
    /// Shapes by name.
    pub shapes: HashMap<String, Shape>,
    /// Compiled patterns, by pattern text.
    #[serde(skip)]
    pub patterns: HashMap<String, Option<fancy_regex::Regex>>,
    /// Operations by (method, path template with `{}` for every variable segment).
    #[serde(skip)]
    routes: HashMap<(String, String), Vec<String>>,
}

impl Model {
    /// The shape called `name`.
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// Whether `value` matches `pattern` whole; a pattern that did not compile matches all.
    pub fn matches(&self, pattern: &str, value: &str) -> bool {
        match self.patterns.get(pattern) {
            Some(Some(re)) => re.is_match(value).unwrap_or(true),
            _ => true,
        }
    }

    /// The operation a request for `method` and the route `template` is (axum's template, its
    /// variables in braces), chosen among operations of that URI by the fixed query they need.
    pub fn operation(
        &self,
        method: &str,
        template: &str,
        query: &[(String, String)],
    ) -> Option<(&str, &Operation)> {
        let names = self.routes.get(&(method.to_owned(), normalize(template)))?;
        let mut fallback = None;
        for name in names {
            let Some(op) = self.operations.get(name) else {
                continue;
            };
            match op.uri.split_once('?') {
                Some((_, fixed)) => {
                    let (k, v) = fixed.split_once('=').unwrap_or((fixed, ""));
                    if query.iter().any(|(qk, qv)| qk == k && qv == v) {
                        return Some((name, op));
                    }
                }
                None => fallback = Some((name.as_str(), op)),
            }
        }
        fallback
    }
}

/// A URI template with every `{…}` segment as `{}` and no trailing slash or query.
fn normalize(template: &str) -> String {
    let path = template.split('?').next().unwrap_or("");
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The model, loaded on first use.
pub(crate) fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut m: Model = match serde_json::from_str(MODEL_JSON) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("the embedded Lambda model does not load: {e}");
                return Model {
                    operations: HashMap::new(),
                    shapes: HashMap::new(),
                    patterns: HashMap::new(),
                    routes: HashMap::new(),
                };
            }
        };
        let patterns: Vec<String> = m
            .shapes
            .values()
            .filter_map(|s| s.pattern.clone())
            .collect();
        for p in patterns {
            let compiled = fancy_regex::Regex::new(&format!("^(?:{p})$"))
                .map_err(|e| tracing::warn!("model pattern {p} does not compile: {e}"))
                .ok();
            m.patterns.insert(p, compiled);
        }
        let mut routes: HashMap<(String, String), Vec<String>> = HashMap::new();
        for (name, op) in &m.operations {
            routes
                .entry((op.method.clone(), normalize(&op.uri)))
                .or_default()
                .push(name.clone());
        }
        for names in routes.values_mut() {
            names.sort();
        }
        m.routes = routes;
        m
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_compiles_every_pattern() {
        let m = model();
        assert!(m.operations.len() >= 85, "{}", m.operations.len());
        let broken: Vec<&String> = m
            .patterns
            .iter()
            .filter(|(_, re)| re.is_none())
            .map(|(p, _)| p)
            .collect();
        assert!(
            broken.is_empty(),
            "patterns that do not compile: {broken:?}"
        );
    }

    #[test]
    fn finds_operations_by_route() {
        let m = model();
        let find = |method: &str, t: &str, q: &[(&str, &str)]| {
            let q: Vec<(String, String)> = q
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect();
            m.operation(method, t, &q).map(|(n, _)| n.to_owned())
        };
        assert_eq!(
            find("GET", "/2015-03-31/functions/{name}", &[]).as_deref(),
            Some("GetFunction")
        );
        assert_eq!(
            find("POST", "/2015-03-31/functions/{name}/invocations", &[]).as_deref(),
            Some("Invoke")
        );
        assert_eq!(
            find("GET", "/2018-10-31/layers", &[]).as_deref(),
            Some("ListLayers")
        );
        assert_eq!(
            find(
                "GET",
                "/2018-10-31/layers",
                &[("find", "LayerVersion"), ("Arn", "x")]
            )
            .as_deref(),
            Some("GetLayerVersionByArn")
        );
        assert_eq!(
            find("POST", "/2015-03-31/functions/", &[]).as_deref(),
            Some("CreateFunction")
        );
        assert_eq!(find("GET", "/archfn/v1/deployments", &[]), None);
    }

    #[test]
    fn patterns_match_whole_values_with_lookaround() {
        let m = model();
        let alias = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)";
        assert!(m.matches(alias, "live"));
        assert!(!m.matches(alias, "2024"));
        assert!(!m.matches(alias, "a b"));
        let bucket = r"[0-9A-Za-z\.\-_]*(?<!\.)";
        assert!(m.matches(bucket, "my.bucket"));
        assert!(!m.matches(bucket, "my.bucket."));
    }
}
