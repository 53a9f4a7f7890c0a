//! References that follow the transform: to a layer version whose logical id took a hash, and to
//! `Fn.Alias` / `Fn.Version`, the alias and version `AutoPublishAlias` generated.

use serde_json::Value;
use std::collections::BTreeMap;

/// Rewrites `Ref`, `Fn::GetAtt`, `Fn::Sub` `${…}` and `DependsOn` names through `changed` (old
/// logical id to new) and `Ref`/`Fn::GetAtt`/`Fn::Sub` of `Fn.Alias`/`Fn.Version` through `properties`.
pub(crate) fn rewrite(
    template: &mut Value,
    changed: &BTreeMap<String, String>,
    properties: &BTreeMap<String, String>,
) {
    if let Some(Value::Object(resources)) = template.get_mut("Resources") {
        for resource in resources.values_mut() {
            match resource.get_mut("DependsOn") {
                Some(Value::String(name)) => {
                    if let Some(new) = changed.get(name.as_str()) {
                        *name = new.clone();
                    }
                }
                Some(Value::Array(names)) => {
                    for name in names.iter_mut() {
                        if let Some(new) = name.as_str().and_then(|n| changed.get(n)) {
                            *name = Value::String(new.clone());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    walk(template, changed, properties);
}

fn target<'a>(
    name: &str,
    changed: &'a BTreeMap<String, String>,
    properties: &'a BTreeMap<String, String>,
) -> Option<&'a String> {
    changed.get(name).or_else(|| properties.get(name))
}

fn walk(
    value: &mut Value,
    changed: &BTreeMap<String, String>,
    properties: &BTreeMap<String, String>,
) {
    match value {
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(Value::String(name)) = map.get_mut("Ref") {
                    if let Some(new) = target(name, changed, properties) {
                        *name = new.clone();
                    }
                    return;
                }
                if let Some(Value::Array(parts)) = map.get_mut("Fn::GetAtt")
                    && let Some(Value::String(name)) = parts.first_mut()
                    && let Some(new) = target(name, changed, properties)
                {
                    *name = new.clone();
                }
                if let Some(Value::String(name)) = map.get_mut("Fn::GetAtt") {
                    // "Fn.Alias.Arn" or "Layer.Arn" form.
                    if let Some((head, rest)) = split_dotted(name, changed, properties) {
                        *name = format!("{head}.{rest}");
                    }
                }
                match map.get_mut("Fn::Sub") {
                    Some(Value::String(text)) => *text = rewrite_sub(text, changed, properties),
                    Some(Value::Array(parts)) => {
                        if let Some(Value::String(text)) = parts.first_mut() {
                            *text = rewrite_sub(text, changed, properties);
                        }
                    }
                    _ => {}
                }
            }
            for item in map.values_mut() {
                walk(item, changed, properties);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, changed, properties);
            }
        }
        _ => {}
    }
}

fn split_dotted(
    name: &str,
    changed: &BTreeMap<String, String>,
    properties: &BTreeMap<String, String>,
) -> Option<(String, String)> {
    let mut split = name.len();
    while let Some(dot) = name[..split].rfind('.') {
        if let Some(new) = target(&name[..dot], changed, properties) {
            return Some((new.clone(), name[dot + 1..].to_owned()));
        }
        split = dot;
    }
    None
}

fn rewrite_sub(
    text: &str,
    changed: &BTreeMap<String, String>,
    properties: &BTreeMap<String, String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let replaced = if name.starts_with('!') {
            None
        } else if let Some(new) = target(name, changed, properties) {
            Some(new.clone())
        } else {
            split_dotted(name, changed, properties).map(|(head, tail)| format!("{head}.{tail}"))
        };
        out.push_str("${");
        out.push_str(replaced.as_deref().unwrap_or(name));
        out.push('}');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_follow_renamed_and_generated_resources() {
        let changed: BTreeMap<String, String> = [("L".to_owned(), "L0123456789".to_owned())].into();
        let properties: BTreeMap<String, String> =
            [("F.Alias".to_owned(), "FAliaslive".to_owned())].into();
        let mut template = json!({"Resources": {"X": {"DependsOn": ["L"], "Properties": {
            "A": {"Ref": "L"}, "B": {"Ref": "F.Alias"}, "C": {"Fn::GetAtt": ["L", "Arn"]},
            "D": {"Fn::Sub": "${F.Alias} ${L} ${F.Alias.Arn} ${Other}"}, "E": {"Fn::GetAtt": "F.Alias.Arn"}}}}});
        rewrite(&mut template, &changed, &properties);
        assert_eq!(
            template,
            json!({"Resources": {"X": {"DependsOn": ["L0123456789"], "Properties": {
            "A": {"Ref": "L0123456789"}, "B": {"Ref": "FAliaslive"}, "C": {"Fn::GetAtt": ["L0123456789", "Arn"]},
            "D": {"Fn::Sub": "${FAliaslive} ${L0123456789} ${FAliaslive.Arn} ${Other}"}, "E": {"Fn::GetAtt": "FAliaslive.Arn"}}}}})
        );
    }
}
