//! The header of a per-recipient export, and where each recipient's values go in it.
//!
//! The operator's columns come first, as the files had them: the union of the campaign's
//! imports' columns in the order first met (a column is its name and which occurrence of that
//! name in its file it is, so a file with two `notes` columns keeps both). Then switchboard's
//! own ([`OURS`]), then one column per `analysis_schema` field (in the spec's key order, which
//! is alphabetical once stored) and one per `[analysis]` question (the union over the
//! campaign's answered question sets, in the order first answered).
//!
//! Names never collide: switchboard's columns keep their names (they are the export's contract),
//! and any other column whose name is already taken — compared without case, as spreadsheets
//! and CRMs compare headers — gets a suffix saying where it came from: `_original` for the
//! operator's (a file's `state` or `timezone` becomes `state_original`, `timezone_original`),
//! `_analysis` for a schema field, `_question` for a question; then `_2`, `_3`, … if still
//! taken.
//!
//! With `--columns original` the header is exactly the files' columns, the phone column
//! included where the file had it and named as it was (imports from before switchboard kept
//! that name give it as `phone`, first): a list that imports straight back.

use std::collections::{HashMap, HashSet};

use crate::store::{ImportColumns, Variables};

/// switchboard's columns of a per-recipient export, in order.
pub const OURS: [&str; 14] = [
    "phone_e164",
    "timezone",
    "state",
    "outcome",
    "attempts",
    "first_attempt_utc",
    "first_attempt_local",
    "last_attempt_utc",
    "last_attempt_local",
    "call_id",
    "answered_by",
    "call_length_min",
    "cost_usd",
    "summary",
];

/// The columns of a per-attempt export, in order.
pub const ATTEMPT_COLUMNS: [&str; 23] = [
    "attempt_id",
    "phone_e164",
    "attempt_no",
    "dialed_utc",
    "dialed_local",
    "timezone",
    "zones_considered",
    "zone_source",
    "timezones",
    "number_zones",
    "window",
    "campaign_hours",
    "guard",
    "window_open",
    "state",
    "outcome",
    "answered_by",
    "call_id",
    "call_length_min",
    "price_usd",
    "error_message",
    "regions",
    "rules_version",
];

/// Which columns a per-recipient export has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnSet {
    /// The operator's columns, then switchboard's, then the answers.
    #[default]
    All,
    /// Exactly the files' columns, the phone column included.
    Original,
}

/// A file column: its name and which occurrence of the name in its file it is.
type Key = (String, usize);

/// Where each value of a recipient goes.
#[derive(Debug)]
pub struct Layout {
    /// The header, in order.
    pub names: Vec<String>,
    /// Per import: the column of each of its variables (in `imports.columns` order).
    by_import: HashMap<i64, ImportSlots>,
    /// Columns of variables stored by name (jobs not from an import).
    by_name: HashMap<String, usize>,
    /// Where the phone of a job stored by name goes (`--columns original`).
    named_phone: Option<usize>,
    /// The first of switchboard's columns (`All` only).
    pub ours: Option<usize>,
    /// The schema fields, and the column of the first.
    pub schema: Vec<String>,
    pub schema_at: usize,
    /// The questions, and the column of the first.
    pub questions: Vec<String>,
    pub questions_at: usize,
}

#[derive(Debug, Default)]
struct ImportSlots {
    variables: Vec<usize>,
    /// The phone's column (`--columns original`).
    phone: Option<usize>,
}

impl Layout {
    /// The layout for `set`, given the campaign's imports (oldest first), the names of
    /// variables stored by name, the schema fields and the question sets.
    pub fn new(
        set: ColumnSet,
        imports: &[ImportColumns],
        named: &[String],
        schema: &[String],
        question_sets: &[Vec<(String, String)>],
    ) -> Layout {
        let original = set == ColumnSet::Original;
        let mut keys: Vec<Key> = Vec::new();
        let mut find_or_add = |key: Key| match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        };
        let mut by_import = HashMap::new();
        for import in imports {
            // The file's columns in its order, the phone (when wanted) where it stood.
            let mut file: Vec<(&str, Option<usize>)> =
                import.columns.iter().enumerate().map(|(i, c)| (c.as_str(), Some(i))).collect();
            if original {
                let name = import.phone_column.as_deref().unwrap_or("phone");
                let at = import.phone_position.unwrap_or(0).min(file.len());
                file.insert(at, (name, None));
            }
            let mut seen: HashMap<&str, usize> = HashMap::new();
            let mut slots = ImportSlots { variables: vec![0; import.columns.len()], phone: None };
            for (name, variable) in file {
                let nth = seen.entry(name).and_modify(|n| *n += 1).or_insert(0);
                let column = find_or_add((name.to_string(), *nth));
                match variable {
                    Some(i) => slots.variables[i] = column,
                    None => slots.phone = Some(column),
                }
            }
            by_import.insert(import.import_id, slots);
        }
        let by_name: HashMap<String, usize> =
            named.iter().map(|name| (name.clone(), find_or_add((name.clone(), 0)))).collect();
        let named_phone = (original && !named.is_empty()).then(|| find_or_add(("phone".to_string(), 0)));

        let mut names: Vec<String> = Vec::new();
        // switchboard's names are reserved first, whatever comes before them in the header.
        let mut taken: HashSet<String> = OURS.iter().map(|s| s.to_string()).collect();
        let mut push = |names: &mut Vec<String>, name: &str, suffix: &str| {
            let mut unique = name.to_string();
            if taken.contains(&unique.to_lowercase()) {
                unique = format!("{name}{suffix}");
                let mut n = 2;
                while taken.contains(&unique.to_lowercase()) {
                    unique = format!("{name}{suffix}_{n}");
                    n += 1;
                }
            }
            taken.insert(unique.to_lowercase());
            names.push(unique);
        };
        if original {
            names = keys.into_iter().map(|(name, _)| name).collect();
            return Layout {
                schema_at: names.len(),
                questions_at: names.len(),
                names,
                by_import,
                by_name,
                named_phone,
                ours: None,
                schema: Vec::new(),
                questions: Vec::new(),
            };
        }
        for (name, _) in &keys {
            push(&mut names, name, "_original");
        }
        let ours = names.len();
        names.extend(OURS.iter().map(|s| s.to_string()));
        let schema_at = names.len();
        for field in schema {
            push(&mut names, field, "_analysis");
        }
        let mut questions: Vec<String> = Vec::new();
        for (q, _) in question_sets.iter().flatten() {
            if !questions.contains(q) {
                questions.push(q.clone());
            }
        }
        let questions_at = names.len();
        for q in &questions {
            push(&mut names, q, "_question");
        }
        Layout {
            names,
            by_import,
            by_name,
            named_phone,
            ours: Some(ours),
            schema: schema.to_vec(),
            schema_at,
            questions,
            questions_at,
        }
    }

    /// Puts a recipient's variables (and, for `--columns original`, its phone) into `cells`.
    /// A job of an import the layout does not know (none: imports are read in the same
    /// snapshot) leaves its columns empty.
    pub fn place<'v>(
        &self,
        import_id: Option<i64>,
        variables: &'v Variables,
        phone: &'v str,
        mut put: impl FnMut(usize, &'v str),
    ) {
        match variables {
            Variables::Values(values) => {
                let Some(slots) = import_id.and_then(|id| self.by_import.get(&id)) else { return };
                for (value, &column) in values.iter().zip(&slots.variables) {
                    put(column, value);
                }
                if let Some(column) = slots.phone {
                    put(column, phone);
                }
            }
            Variables::Named(pairs) => {
                for (name, value) in pairs {
                    if let Some(&column) = self.by_name.get(name) {
                        put(column, value);
                    }
                }
                if let Some(column) = self.named_phone {
                    put(column, phone);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(id: i64, columns: &[&str], phone: Option<(&str, usize)>) -> ImportColumns {
        ImportColumns {
            import_id: id,
            columns: columns.iter().map(|s| s.to_string()).collect(),
            phone_column: phone.map(|p| p.0.to_string()),
            phone_position: phone.map(|p| p.1),
        }
    }

    fn placed(layout: &Layout, import: Option<i64>, vars: Variables, phone: &str) -> Vec<String> {
        let mut cells = vec![String::new(); layout.names.len()];
        layout.place(import, &vars, phone, |i, v| cells[i] = v.to_string());
        cells
    }

    fn values(v: &[&str]) -> Variables {
        Variables::Values(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn several_imports_give_the_union_of_their_columns_in_first_seen_order() {
        let imports =
            [import(1, &["name", "policy"], Some(("Phone", 1))), import(2, &["policy", "city", "name"], None)];
        let layout = Layout::new(ColumnSet::All, &imports, &[], &[], &[]);
        assert_eq!(&layout.names[..3], ["name", "policy", "city"]);
        assert_eq!(&layout.names[3..], OURS);
        assert_eq!(placed(&layout, Some(2), values(&["P-2", "Paris", "Bo"]), "+1")[..3], ["Bo", "P-2", "Paris"]);
        assert_eq!(placed(&layout, Some(1), values(&["Ada", "P-1"]), "+1")[..3], ["Ada", "P-1", ""]);
    }

    #[test]
    fn a_column_named_like_one_of_ours_or_an_earlier_one_gets_a_suffix_by_its_origin() {
        let imports = [import(1, &["State", "timezone", "notes", "notes", "timezone_original"], None)];
        let schema = ["summary".to_string(), "wants_renewal".to_string()];
        let questions =
            [vec![("outcome".to_string(), "string".to_string()), ("Renew?".to_string(), "boolean".to_string())]];
        let layout = Layout::new(ColumnSet::All, &imports, &[], &schema, &questions);
        assert_eq!(
            &layout.names[..5],
            ["State_original", "timezone_original", "notes", "notes_original", "timezone_original_original"]
        );
        assert_eq!(&layout.names[5..5 + OURS.len()], OURS);
        assert_eq!(
            &layout.names[5 + OURS.len()..],
            ["summary_analysis", "wants_renewal", "outcome_question", "Renew?"]
        );
        let lower: HashSet<String> = layout.names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(lower.len(), layout.names.len(), "every name is unique without case");
        // The two `notes` columns keep their own values.
        let cells = placed(&layout, Some(1), values(&["CA", "America/Chicago", "a", "b", "x"]), "+1");
        assert_eq!(&cells[..5], ["CA", "America/Chicago", "a", "b", "x"]);
    }

    #[test]
    fn original_columns_are_the_files_with_the_phone_where_it_stood() {
        let imports = [
            import(1, &["first_name", "policy"], Some(("Mobile Phone", 1))),
            import(2, &["first_name", "city"], Some(("Mobile Phone", 0))),
            import(3, &["first_name"], None),
        ];
        let layout = Layout::new(ColumnSet::Original, &imports, &[], &["x".into()], &[]);
        assert_eq!(layout.names, ["first_name", "Mobile Phone", "policy", "city", "phone"]);
        assert_eq!(placed(&layout, Some(1), values(&["Ada", "P-1"]), "+1415"), ["Ada", "+1415", "P-1", "", ""]);
        assert_eq!(placed(&layout, Some(2), values(&["Bo", "Rome"]), "+1212"), ["Bo", "+1212", "", "Rome", ""]);
        assert_eq!(placed(&layout, Some(3), values(&["Cy"]), "+1305"), ["Cy", "", "", "", "+1305"]);
        assert_eq!(layout.ours, None);
    }

    #[test]
    fn variables_stored_by_name_fill_their_columns_and_add_new_ones() {
        let imports = [import(1, &["name"], Some(("phone", 0)))];
        let named = ["name".to_string(), "vip".to_string()];
        let layout = Layout::new(ColumnSet::All, &imports, &named, &[], &[]);
        assert_eq!(&layout.names[..2], ["name", "vip"]);
        let vars = Variables::Named(vec![("vip".into(), "yes".into()), ("name".into(), "Di".into())]);
        assert_eq!(placed(&layout, None, vars, "+1")[..2], ["Di", "yes"]);
    }

    #[test]
    fn questions_are_the_union_of_the_answered_sets_in_first_seen_order() {
        let sets = [
            vec![("Renew?".to_string(), "boolean".to_string()), ("When?".to_string(), "string".to_string())],
            vec![("Renew?".to_string(), "boolean".to_string()), ("Human?".to_string(), "boolean".to_string())],
        ];
        let layout = Layout::new(ColumnSet::All, &[], &[], &[], &sets);
        assert_eq!(layout.questions, ["Renew?", "When?", "Human?"]);
        assert_eq!(&layout.names[layout.questions_at..], ["Renew?", "When?", "Human?"]);
    }
}
