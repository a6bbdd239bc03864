//! `{{placeholder}}` filling for the campaign's `[call]` fields, from a recipient's variables.
//!
//! Names match as Bland's own variables do: case-insensitive, surrounding spaces ignored. A
//! placeholder with no value (absent or empty) is an error, never left in the text: a person
//! must never hear "Hi {{first_name}}".

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A recipient's variables, keyed by lowercased, trimmed column name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables(HashMap<String, String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the recipient has no value for `{{{{{0}}}}}` (used in call.{1})")]
    Missing(String, String),
}

impl Variables {
    /// From a job's stored variables: a JSON array of values named by `names` (a JSON array:
    /// its import's columns), or without names a JSON object. Non-string values are used as
    /// their JSON text.
    pub fn from_stored(values: &str, names: Option<&str>) -> Self {
        match names {
            Some(names) => {
                let names: Vec<String> = serde_json::from_str(names).unwrap_or_default();
                let values: Vec<Value> = serde_json::from_str(values).unwrap_or_default();
                Self::from_pairs(names.into_iter().zip(values))
            }
            None => Self::from_json(values),
        }
    }

    /// From a JSON object of name → value.
    pub fn from_json(json: &str) -> Self {
        let map: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
        Self::from_pairs(map.into_iter())
    }

    fn from_pairs(pairs: impl Iterator<Item = (String, Value)>) -> Self {
        Self(
            pairs
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k.trim().to_lowercase(), v)
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.trim().to_lowercase()).map(String::as_str)
    }

    /// The variables as Bland's `request_data` object (original values, normalised keys).
    pub fn to_request_data(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }
}

/// Fills every `{{name}}` in `text`; `field` names the call field for the error.
pub fn fill(text: &str, vars: &Variables, field: &str) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        out.push_str(&rest[..open]);
        match vars.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => out.push_str(v),
            _ => {
                return Err(TemplateError::Missing(name.to_lowercase(), field.to_string()));
            }
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `[call]` table with every string (at any depth) filled.
pub fn fill_call(call: &Map<String, Value>, vars: &Variables) -> Result<Map<String, Value>, TemplateError> {
    call.iter().map(|(k, v)| Ok((k.clone(), fill_value(v, vars, k)?))).collect()
}

fn fill_value(v: &Value, vars: &Variables, field: &str) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) if s.contains("{{") => Value::String(fill(s, vars, field)?),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| fill_value(i, vars, field)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| Ok((k.clone(), fill_value(i, vars, field)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        Variables::from_json(r#"{" First_Name ": "Ada", "policy": "P-1", "empty": "  ", "n": 5}"#)
    }

    #[test]
    fn values_stored_as_an_array_are_named_by_the_import_columns() {
        let stored =
            Variables::from_stored(r#"["Ada","P-1","  ",5]"#, Some(r#"[" First_Name ","policy","empty","n"]"#));
        assert_eq!(stored, vars());
        assert_eq!(Variables::from_stored(r#"{"policy": "P-1"}"#, None).get("Policy"), Some("P-1"));
    }

    #[test]
    fn placeholders_match_case_insensitively_and_ignore_spaces() {
        assert_eq!(fill("Hi {{first_name}}, {{ POLICY }}!", &vars(), "task").unwrap(), "Hi Ada, P-1!");
        assert_eq!(fill("n={{n}}", &vars(), "task").unwrap(), "n=5");
        assert_eq!(fill("no placeholders {here}", &vars(), "task").unwrap(), "no placeholders {here}");
    }

    #[test]
    fn a_missing_or_empty_variable_is_an_error_naming_it_and_the_field() {
        let e = fill("Hi {{last_name}}", &vars(), "first_sentence").unwrap_err();
        assert_eq!(e.to_string(), "the recipient has no value for `{{last_name}}` (used in call.first_sentence)");
        assert!(fill("{{empty}}", &vars(), "task").is_err());
    }

    #[test]
    fn every_string_of_the_call_table_is_filled_at_any_depth() {
        let call: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "task": "Call {{first_name}}",
            "max_duration": 5,
            "tools": [{"description": "policy {{policy}}"}],
        }))
        .unwrap();
        let filled = fill_call(&call, &vars()).unwrap();
        assert_eq!(filled["task"], "Call Ada");
        assert_eq!(filled["max_duration"], 5);
        assert_eq!(filled["tools"][0]["description"], "policy P-1");
    }
}
