//! Send-call validation as Bland does it: the phone number formats its docs list, `task` or
//! `pathway_id`, and field types, each problem as one message of the 400's `errors` list.

use serde_json::{Map, Value};

/// What the simulator needs from a valid send-call body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValidSend {
    /// E.164.
    pub to: String,
    pub webhook: Option<String>,
    pub answered_by_enabled: bool,
    /// Minutes.
    pub max_duration: f64,
    pub record: bool,
    pub metadata: Value,
}

/// Reads a number the way Bland documents: `+12223334444` (E.164) expected; ten NANP digits with
/// spaces, dashes, dots or parentheses accepted as +1; anything else (11 digits without `+`,
/// letters, extensions) refused.
pub(crate) fn normalise_phone(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (plus, rest) = match raw.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    if plus {
        let ok = match digits.as_bytes().first() {
            None | Some(b'0') => false,
            Some(b'1') => digits.len() == 11,
            Some(_) => (8..=15).contains(&digits.len()),
        };
        ok.then(|| format!("+{digits}"))
    } else if digits.len() == 10 && !digits.starts_with(['0', '1']) {
        Some(format!("+1{digits}"))
    } else {
        None
    }
}

/// Checks a send-call body; `Err` holds every problem found, in Bland's wording where its docs
/// give one.
pub(crate) fn validate_send(body: &Value) -> Result<ValidSend, Vec<String>> {
    let Some(map) = body.as_object() else {
        return Err(vec!["Request body must be a JSON object.".into()]);
    };
    let mut errors = Vec::new();
    let to = match map.get("phone_number") {
        None | Some(Value::Null) => {
            errors.push("Missing required parameter: phone_number.".into());
            None
        }
        Some(Value::String(s)) => phone_or_error(s, &mut errors),
        Some(Value::Number(n)) => phone_or_error(&n.to_string(), &mut errors),
        Some(_) => {
            errors.push("Phone number must be a string or number.".into());
            None
        }
    };
    match (map.get("task"), map.get("pathway_id")) {
        (None | Some(Value::Null), None | Some(Value::Null)) => {
            errors.push("Missing required parameter: task.".into());
        }
        (Some(t), _) if !t.is_null() && !t.is_string() => {
            errors.push("Task must be a string.".into());
        }
        (_, Some(p)) if !p.is_null() && !p.is_string() => {
            errors.push("Pathway ID must be a string.".into());
        }
        _ => {}
    }
    let webhook = match map.get("webhook") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_http_url(s) => Some(s.clone()),
        Some(_) => {
            errors.push("Webhook must be a valid http(s) URL.".into());
            None
        }
    };
    let answered_by_enabled = bool_field(map, "answered_by_enabled", &mut errors);
    let record = bool_field(map, "record", &mut errors);
    let max_duration = match map.get("max_duration") {
        None | Some(Value::Null) => 30.0,
        Some(v) => match number(v) {
            Some(m) if m > 0.0 => m,
            _ => {
                errors.push("Max duration must be a positive number of minutes.".into());
                30.0
            }
        },
    };
    let metadata = match map.get("metadata") {
        None | Some(Value::Null) => Value::Null,
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            errors.push("Metadata must be an object.".into());
            Value::Null
        }
    };
    if let Some(v) = map.get("request_data")
        && !(v.is_null() || v.is_object())
    {
        errors.push("Request data must be an object.".into());
    }
    match (to, errors.is_empty()) {
        (Some(to), true) => Ok(ValidSend { to, webhook, answered_by_enabled, max_duration, record, metadata }),
        _ => Err(errors),
    }
}

fn phone_or_error(raw: &str, errors: &mut Vec<String>) -> Option<String> {
    let phone = normalise_phone(raw);
    if phone.is_none() {
        errors.push(format!("Invalid phone number: {raw}. Use E.164 format, e.g. +12223334444."));
    }
    phone
}

fn bool_field(map: &Map<String, Value>, key: &str, errors: &mut Vec<String>) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(format!("{key} must be a boolean."));
            false
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn is_http_url(s: &str) -> bool {
    reqwest::Url::parse(s).map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phone_numbers_follow_the_formats_blands_docs_list() {
        for (raw, want) in [
            ("+12223334444", "+12223334444"),
            ("+91223334444", "+91223334444"),
            ("+61223334444", "+61223334444"),
            ("2223334444", "+12223334444"),
            ("+1 (222) 333-4444", "+12223334444"),
            ("+1 222 333 4444", "+12223334444"),
            ("222-333-4444", "+12223334444"),
        ] {
            assert_eq!(normalise_phone(raw).as_deref(), Some(want), "{raw}");
        }
        for raw in
            ["12223334444", "552223334444", "222333444a", "2223334444 ext. 123", "+1222333444", "+0123456789", "", "+"]
        {
            assert_eq!(normalise_phone(raw), None, "{raw}");
        }
    }

    #[test]
    fn an_empty_body_gets_blands_two_missing_parameter_messages() {
        let errors = validate_send(&json!({})).unwrap_err();
        assert_eq!(errors, vec!["Missing required parameter: phone_number.", "Missing required parameter: task."]);
    }

    #[test]
    fn wrong_types_are_each_reported() {
        let errors = validate_send(&json!({
            "phone_number": ["x"], "task": 5, "webhook": "not a url", "metadata": "m",
            "answered_by_enabled": "yes"
        }))
        .unwrap_err();
        assert!(errors.contains(&"Phone number must be a string or number.".to_string()));
        assert!(errors.contains(&"Task must be a string.".to_string()));
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn a_valid_body_yields_the_normalised_number_and_settings() {
        let v = validate_send(&json!({
            "phone_number": 2223334444u64, "pathway_id": "pw", "webhook": "http://127.0.0.1:9/h",
            "answered_by_enabled": true, "max_duration": "5", "metadata": {"a": 1}
        }))
        .unwrap();
        assert_eq!(v.to, "+12223334444");
        assert!(v.answered_by_enabled);
        assert_eq!(v.max_duration, 5.0);
        assert_eq!(v.metadata, json!({"a": 1}));
        assert_eq!(v.webhook.as_deref(), Some("http://127.0.0.1:9/h"));
    }
}
