//! Fuzzing on stable: property tests over what arrives from outside — campaign specs, webhook
//! bodies and their signatures. Whatever the input: no panic, and every error is the typed
//! error with a bounded message (an operator's terminal or a log line never receives a
//! megabyte of echoed input).

use proptest::prelude::*;
use switchboard::bland::{parse_webhook, sign, verify_signature};
use switchboard::config::CampaignSpec;
use switchboard::config::campaign::{MAX_CALL_MINUTES, max_retry_delay};
use switchboard::secret::Secret;
use switchboard::window::Compliance;

/// The longest error message any input may produce.
const MAX_MESSAGE: usize = 2_000;

fn compliance() -> Compliance {
    Compliance::default()
}

/// A spec with arbitrary values in the places operators write values.
fn spec_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[a-z0-9:. -]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("1e300".to_string()),
        Just("\"99999999999d\"".to_string()),
    ];
    (value.clone(), value.clone(), value.clone(), value.clone(), value.clone(), "[a-z0-9:-]{0,14}").prop_map(
        |(dur, cpm, conc, attempts, delay, hours)| {
            format!(
                "name = \"P\"\n[call]\ntask = \"Hi {{{{first_name}}}}\"\nmax_duration = {dur}\n\
                 [schedule]\ntimezone = \"America/New_York\"\nhours = {{ \"mon-fri\" = \"{hours}\" }}\n\
                 [limits]\ncalls_per_minute = {cpm}\nmax_concurrent = {conc}\n\
                 [retry]\nmax_attempts = {attempts}\ndelays = [{delay}]\n"
            )
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_text_as_a_spec_is_parsed_or_refused_with_a_bounded_message(text in "\\PC{0,400}") {
        if let Err(e) = CampaignSpec::parse("fuzz.toml", &text, &compliance()) {
            prop_assert!(e.to_string().len() <= MAX_MESSAGE, "{} chars", e.to_string().len());
        }
    }

    #[test]
    fn any_values_in_a_spec_stay_within_their_bounds_or_are_refused_naming_the_key(text in spec_text()) {
        match CampaignSpec::parse("fuzz.toml", &text, &compliance()) {
            Ok(spec) => {
                let minutes = spec.call.get("max_duration").and_then(|v| v.as_f64()).unwrap_or(30.0);
                prop_assert!(minutes > 0.0 && minutes <= MAX_CALL_MINUTES, "{minutes}");
                prop_assert!(spec.retry.delays.iter().all(|d| *d > chrono::Duration::zero() && *d <= max_retry_delay()));
                prop_assert!(spec.retry.max_attempts >= 1 && spec.retry.max_attempts <= 20);
                prop_assert!(spec.limits.max_concurrent.is_none_or(|c| (1..=100_000).contains(&c)));
            }
            Err(e) => {
                prop_assert!(e.key.is_some() || e.line.is_some(), "the error says where: {e}");
                prop_assert!(e.to_string().len() <= MAX_MESSAGE);
            }
        }
    }

    #[test]
    fn any_bytes_as_a_webhook_body_are_read_or_refused_with_a_bounded_message(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Err(e) = parse_webhook(&body) {
            prop_assert!(e.len() <= MAX_MESSAGE, "{} chars", e.len());
        }
    }

    #[test]
    fn any_json_object_as_a_webhook_body_never_panics(
        call_id in proptest::option::of(prop_oneof![
            "[a-z0-9-]{0,40}".prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ]),
        completed in proptest::option::of(prop_oneof![any::<bool>().prop_map(serde_json::Value::from), "[a-z]{0,6}".prop_map(serde_json::Value::from)]),
        status in proptest::option::of("[a-z_-]{0,12}"),
        answered_by in proptest::option::of("[a-z_-]{0,12}"),
        price in proptest::option::of(prop_oneof![any::<f64>().prop_map(|f| serde_json::json!(f)), "[0-9.]{0,8}".prop_map(serde_json::Value::from)]),
        call_length in proptest::option::of(any::<f64>()),
    ) {
        let mut map = serde_json::Map::new();
        let mut put = |k: &str, v: Option<serde_json::Value>| { if let Some(v) = v { map.insert(k.into(), v); } };
        put("call_id", call_id);
        put("completed", completed);
        put("status", status.map(Into::into));
        put("answered_by", answered_by.map(Into::into));
        put("price", price);
        put("call_length", call_length.map(|f| serde_json::json!(f)));
        let body = serde_json::Value::Object(map).to_string();
        if let Err(e) = parse_webhook(body.as_bytes()) {
            prop_assert!(e.len() <= MAX_MESSAGE);
        }
    }

    #[test]
    fn a_signature_verifies_its_own_body_only(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        flip in any::<prop::sample::Index>(),
        header in "\\PC{0,200}",
    ) {
        let secret = Secret::new("whsec-fuzz");
        let signature = sign(&secret, &body);
        prop_assert!(verify_signature(&secret, &body, &signature));
        let mut changed = body.clone();
        let i = flip.index(changed.len());
        changed[i] ^= 0x01;
        prop_assert!(!verify_signature(&secret, &changed, &signature));
        // Any header text at all: a verdict, never a panic; random text is never valid.
        prop_assert!(!verify_signature(&secret, &body, &header) || header.trim() == signature);
    }
}
