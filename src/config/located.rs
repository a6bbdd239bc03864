//! Errors that point at the place in a config file where the problem is: file, line, column,
//! key. Every config and spec error goes through here so they all read the same way.

use std::fmt;
use std::ops::Range;

/// A config or spec problem the operator has to fix, or a file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line and column, when the problem is at a place in the file.
    pub line: Option<(usize, usize)>,
    /// The key path, as written in the file (`schedule.hours."mon-fri"`).
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.line {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A file being parsed: its display name and text, to turn byte spans into line:column.
#[derive(Clone, Copy)]
pub struct SourceFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl<'a> SourceFile<'a> {
    pub fn new(name: &'a str, text: &'a str) -> Self {
        Self { name, text }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// An error at a span of the file, for the given key.
    pub fn at(&self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.name.to_string(),
            line: Some(self.line_col(span.start)),
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// An error about a key whose place in the file is not known (a missing key, say).
    pub fn key(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError { file: self.name.to_string(), line: None, key: Some(key.into()), message: message.into() }
    }

    /// A TOML syntax or shape error, rewritten to name the place and, for an unknown key, the
    /// key that was probably meant.
    pub fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = err.message().trim().to_string();
        let message = match unknown_field(&message) {
            Some((field, expected)) => {
                let mut m = format!("unknown key `{field}`");
                if let Some(best) = did_you_mean(&field, expected.iter().map(String::as_str)) {
                    m.push_str(&format!("; did you mean `{best}`?"));
                }
                if !expected.is_empty() {
                    m.push_str(&format!(" (known keys here: {})", expected.join(", ")));
                }
                m
            }
            None => message,
        };
        ConfigError {
            file: self.name.to_string(),
            line: err.span().map(|s| self.line_col(s.start)),
            key: None,
            message,
        }
    }
}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Picks serde's "unknown field `x`, expected one of `a`, `b`" apart.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).map(str::to_string).collect();
    Some((field.to_string(), expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_one_based_line_and_column() {
        let f = SourceFile::new("c.toml", "a = 1\nbb = 2\n");
        let e = f.at(8..9, "bb", "bad");
        assert_eq!(e.line, Some((2, 3)));
        assert_eq!(e.to_string(), "c.toml:2:3: `bb`: bad");
    }

    #[test]
    fn typos_get_a_suggestion_and_unrelated_words_do_not() {
        let keys = ["name", "call", "schedule", "limits", "retry"];
        assert_eq!(did_you_mean("nmae", keys), Some("name"));
        assert_eq!(did_you_mean("shedule", keys), Some("schedule"));
        assert_eq!(did_you_mean("banana", keys), None);
    }

    #[test]
    fn serde_unknown_field_messages_are_picked_apart() {
        let (f, e) = unknown_field("unknown field `nmae`, expected one of `id`, `name`").unwrap();
        assert_eq!(f, "nmae");
        assert_eq!(e, vec!["id", "name"]);
    }
}
