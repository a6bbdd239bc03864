//! A question set: the `goal` and `questions` one `/analyze` request asks, with the key that
//! names it in the store. The key is the hex SHA-256 of the canonical JSON
//! `{"goal":…,"questions":[[question,type],…]}` — exactly the request body, keys in that order,
//! no whitespace — so the same goal and questions, from a campaign's `[analysis]` or from a
//! `--questions` file, are the same set, and one changed word is another.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bland::AnalyzeRequest;
use crate::config::AnalysisSpec;

/// What is asked of a call, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionSet {
    goal: String,
    questions: Vec<(String, String)>,
    key: String,
    questions_json: String,
}

#[derive(Serialize)]
struct Canonical<'a> {
    goal: &'a str,
    questions: &'a [(String, String)],
}

impl QuestionSet {
    pub fn new(goal: impl Into<String>, questions: Vec<(String, String)>) -> Self {
        let goal = goal.into();
        let canonical =
            serde_json::to_string(&Canonical { goal: &goal, questions: &questions }).expect("strings always serialise");
        let key = hex::encode(Sha256::digest(canonical.as_bytes()));
        let questions_json = serde_json::to_string(&questions).expect("strings always serialise");
        Self { goal, questions, key, questions_json }
    }

    /// The set a campaign's `[analysis]` asks, if it asks anything.
    pub fn of(spec: &AnalysisSpec) -> Option<Self> {
        spec.asks().then(|| Self::new(spec.goal.clone(), spec.questions.clone()))
    }

    /// `call_analyses.question_set`: hex SHA-256 of the canonical JSON.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn goal(&self) -> &str {
        &self.goal
    }

    pub fn questions(&self) -> &[(String, String)] {
        &self.questions
    }

    /// `call_analyses.questions`: `[[question, type], …]`.
    pub fn questions_json(&self) -> &str {
        &self.questions_json
    }

    /// The body of `POST /v1/calls/{id}/analyze`.
    pub fn request(&self) -> AnalyzeRequest {
        AnalyzeRequest { goal: self.goal.clone(), questions: self.questions.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn the_key_is_the_sha256_of_the_canonical_request_body() {
        let set = QuestionSet::new("Renewal", q(&[("Will they renew?", "boolean")]));
        let canonical = r#"{"goal":"Renewal","questions":[["Will they renew?","boolean"]]}"#;
        assert_eq!(set.key(), hex::encode(Sha256::digest(canonical.as_bytes())));
        assert_eq!(set.questions_json(), r#"[["Will they renew?","boolean"]]"#);
        assert_eq!(serde_json::to_string(&set.request()).unwrap(), canonical, "the key names exactly what is sent");
    }

    #[test]
    fn the_same_questions_are_the_same_set_and_any_change_is_another() {
        let a = QuestionSet::new("g", q(&[("A?", "boolean"), ("B?", "string")]));
        assert_eq!(a.key(), QuestionSet::new("g", q(&[("A?", "boolean"), ("B?", "string")])).key());
        for other in [
            QuestionSet::new("g ", q(&[("A?", "boolean"), ("B?", "string")])),
            QuestionSet::new("g", q(&[("B?", "string"), ("A?", "boolean")])),
            QuestionSet::new("g", q(&[("A?", "bool"), ("B?", "string")])),
            QuestionSet::new("g", q(&[("A?", "boolean")])),
        ] {
            assert_ne!(a.key(), other.key(), "{other:?}");
        }
        // Quotes and non-ASCII are escaped by JSON, never confused with the structure.
        let tricky = QuestionSet::new("\"]],[[", q(&[("Ça va ?", "string")]));
        assert_eq!(tricky.key().len(), 64);
    }

    #[test]
    fn a_spec_without_questions_asks_nothing() {
        let spec = AnalysisSpec { goal: "g".into(), questions: vec![], max_spend_usd: None };
        assert_eq!(QuestionSet::of(&spec), None);
        let spec = AnalysisSpec { questions: q(&[("A?", "boolean")]), ..spec };
        assert_eq!(QuestionSet::of(&spec).unwrap().questions().len(), 1);
    }
}
