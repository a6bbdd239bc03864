//! Opt-outs: did the person ask not to be called again? A pure function of a finished call's
//! `analysis` answers, its transcript and the campaign's `[compliance]` (`opt_out_field`,
//! `opt_out_phrases`). The outcome path asks it for every call that reached a person and, when
//! it answers, puts the number on the do-not-call list in the same transaction as the outcome,
//! so no retry of any campaign can reach it.
//!
//! Erring towards an opt-out is safe (one number too many suppressed); missing one is not. So a
//! phrase counts wherever the person says it ("I do not call back" suppresses too), and a
//! transcript without speaker labels is searched whole.

use serde_json::Value;

use crate::config::ComplianceSpec;

/// Lowercase, straight apostrophes, single spaces: how phrases and transcripts are compared.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(
            word.chars()
                .map(|c| if matches!(c, '\u{2019}' | '\u{2018}' | '`') { '\'' } else { c })
                .flat_map(char::to_lowercase),
        );
    }
    out
}

/// Why the call is an opt-out (the DNC list's reason, with `call_id`), or `None`.
pub fn opt_out_reason(
    spec: &ComplianceSpec,
    call_id: &str,
    analysis: Option<&Value>,
    transcript: Option<&str>,
) -> Option<String> {
    if let Some(field) = &spec.opt_out_field
        && let Some(answer) = analysis.and_then(|a| a.get(field))
        && says_yes(answer)
    {
        return Some(format!("opted out on call {call_id} ({field} = {answer})"));
    }
    let said = transcript.and_then(|t| said_phrase(t, &spec.opt_out_phrases))?;
    Some(format!("opted out on call {call_id} (said \"{said}\")"))
}

/// `true`, `"yes"`, `"true"`, `"y"`, `1`: the person asked.
fn says_yes(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "yes" | "true" | "y"),
        _ => false,
    }
}

/// The first of `phrases` the person said: in the lines a speaker label gives to the person
/// (`user:`, as Bland's `concatenated_transcript` writes them), or anywhere when no line has a
/// label.
fn said_phrase<'p>(transcript: &str, phrases: &'p [String]) -> Option<&'p str> {
    fn labelled(line: &str) -> Option<(String, &str)> {
        line.split_once(':').map(|(who, rest)| (who.trim().to_ascii_lowercase(), rest))
    }
    let any_label = transcript.lines().any(|l| labelled(l).is_some_and(|(who, _)| who == "user" || who == "assistant"));
    let spoken: String = if any_label {
        transcript
            .lines()
            .filter_map(labelled)
            .filter(|(who, _)| who == "user")
            .map(|(_, text)| normalise(text))
            .collect::<Vec<_>>()
            .join(" | ")
    } else {
        normalise(transcript)
    };
    phrases.iter().find(|p| spoken.contains(p.as_str())).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::DEFAULT_OPT_OUT_PHRASES;

    fn spec(field: Option<&str>) -> ComplianceSpec {
        ComplianceSpec {
            opt_out_field: field.map(str::to_string),
            opt_out_phrases: DEFAULT_OPT_OUT_PHRASES.iter().map(|p| p.to_string()).collect(),
            ..ComplianceSpec::default()
        }
    }

    #[test]
    fn a_yes_in_the_opt_out_field_is_an_opt_out_naming_the_call() {
        for yes in [json!(true), json!("Yes"), json!("true"), json!(1)] {
            let analysis = json!({ "do_not_call": yes });
            let reason = opt_out_reason(&spec(Some("do_not_call")), "c-1", Some(&analysis), None);
            assert_eq!(reason, Some(format!("opted out on call c-1 (do_not_call = {yes})")));
        }
        for no in [json!(false), json!("no"), json!(null), json!(0)] {
            let analysis = json!({ "do_not_call": no });
            assert_eq!(opt_out_reason(&spec(Some("do_not_call")), "c-1", Some(&analysis), None), None, "{no}");
        }
        // Without opt_out_field the answer is not looked at.
        let analysis = json!({ "do_not_call": true });
        assert_eq!(opt_out_reason(&spec(None), "c-1", Some(&analysis), None), None);
    }

    #[test]
    fn a_phrase_said_by_the_person_is_an_opt_out_and_the_agent_saying_it_is_not() {
        let person = "assistant: Hello, this is Maya.\nuser: Please STOP   calling me.\nassistant: Sorry.";
        assert_eq!(
            opt_out_reason(&spec(None), "c-2", None, Some(person)).as_deref(),
            Some("opted out on call c-2 (said \"stop calling\")")
        );
        let agent = "assistant: You can say stop calling at any time.\nuser: Okay, go ahead.";
        assert_eq!(opt_out_reason(&spec(None), "c-2", None, Some(agent)), None);
        // Curly apostrophes as speech-to-text writes them.
        let curly = "user: Don\u{2019}t call this number again";
        assert!(opt_out_reason(&spec(None), "c-2", None, Some(curly)).is_some());
        // No speaker labels: the whole text is searched (suppressing too much is the safe side).
        assert!(opt_out_reason(&spec(None), "c-2", None, Some("take me off your list")).is_some());
        assert_eq!(opt_out_reason(&spec(None), "c-2", None, Some("user: Okay, go ahead.")), None);
    }

    #[test]
    fn normalising_lowercases_straightens_apostrophes_and_collapses_spaces() {
        assert_eq!(normalise("  Don\u{2019}T \t CALL\nme "), "don't call me");
    }
}
