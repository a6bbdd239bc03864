//! `switchboard rules [--state XX] [--year YEAR]`: prints the state calling rules in force —
//! the built-in set narrowed by the daemon config — with each rule's source. Needs no database.

use chrono::{Datelike, Utc};
use clap::Args;

use super::Failure;
use crate::compliance::{Region, RuleSet, StateRules};
use crate::config::DaemonConfig;
use crate::config::daemon::ComplianceSection;

pub(super) const LONG_ABOUT: &str = "\
The state calling rules in force, with the law each comes from.

Telemarketing campaigns (the default [compliance] purpose) obey, on top of the federal guard
([compliance] earliest/latest, 08:00-21:00 recipient local time), the rules of every state the
recipient may be in (the CSV state column and the number's area code): narrower hours, days
without calls (Sunday bans), legal holidays with the dates they are observed on, and rolling
frequency caps counted across campaigns with the same subject. The built-in rules are compiled
into the binary and versioned; every call attempt records the version. The daemon config's
[compliance.states.XX] may narrow them (the version then gets a +config.<hash> suffix); an
override that would widen one is refused when the config is loaded.";

pub(super) const AFTER_HELP: &str = "Examples:\n  switchboard rules\n  switchboard rules --state LA --year 2027";

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Only this state or province (two-letter code or name: FL, Florida)
    #[arg(long, value_name = "XX", value_parser = |s: &str| Region::parse(s).map_err(|e| e.to_string()))]
    pub state: Option<Region>,
    /// List the holidays' dates in this year [default: the current year]
    #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i32).range(1900..=2200))]
    pub year: Option<i32>,
}

pub(super) fn rules(args: RulesArgs, config: &DaemonConfig) -> Result<(), Failure> {
    let year = args.year.unwrap_or_else(|| Utc::now().year());
    print!("{}", render(&config.compliance, args.state, year));
    Ok(())
}

/// The text `switchboard rules` prints.
pub fn render(compliance: &ComplianceSection, only: Option<Region>, year: i32) -> String {
    let rules: &RuleSet = &compliance.rules;
    let guard = crate::window::Compliance { earliest: compliance.earliest, latest: compliance.latest };
    let mut out = format!(
        "State calling rules, version {}\n\
         For telemarketing calls, on top of the federal guard ({guard} recipient local time); holiday dates for {year}.\n",
        rules.version()
    );
    let states: Vec<&StateRules> = rules.states().iter().filter(|s| only.is_none_or(|r| r == s.region)).collect();
    if let (Some(region), true) = (only, states.is_empty()) {
        out.push_str(&format!("\n{region}  {}: no state rule beyond the federal guard ({guard}).\n", region.name()));
        return out;
    }
    for s in states {
        out.push('\n');
        state(&mut out, s, year);
    }
    if only.is_none() {
        let without: Vec<&str> = Region::all().filter(|r| rules.state(*r).is_none()).map(Region::code).collect();
        out.push_str(&format!("\nFederal guard only: {}.\n", without.join(", ")));
    }
    out
}

/// The weekdays without hours (`sat`, `sun`), Monday first.
fn closed_days(hours: &crate::window::WeeklyHours) -> Vec<&'static str> {
    use chrono::Weekday::*;
    [(Mon, "mon"), (Tue, "tue"), (Wed, "wed"), (Thu, "thu"), (Fri, "fri"), (Sat, "sat"), (Sun, "sun")]
        .into_iter()
        .filter(|(d, _)| hours.ranges(*d).is_empty())
        .map(|(_, n)| n)
        .collect()
}

const INDENT: &str = "              ";

fn narrowed(yes: bool) -> &'static str {
    if yes { " (narrowed by the daemon config)" } else { "" }
}

fn state(out: &mut String, s: &StateRules, year: i32) {
    out.push_str(&format!("{}  {}\n", s.region, s.name));
    match &s.hours {
        Some(h) => {
            let closed = closed_days(&h.hours);
            let mut hours = h.hours.to_string();
            if !closed.is_empty() {
                hours.push_str(&format!("; {} closed", closed.join(", ")));
            }
            out.push_str(&format!("  hours       {hours}{}\n{INDENT}{}\n", narrowed(h.narrowed), h.citation));
        }
        None => out.push_str("  hours       federal guard only\n"),
    }
    match &s.holidays {
        Some(h) => {
            out.push_str(&format!(
                "  holidays    no calls on these days{}\n{INDENT}{}\n",
                narrowed(h.narrowed),
                h.citation
            ));
            if let Some(list) = &h.list_citation {
                out.push_str(&format!("{INDENT}list: {list}\n"));
            }
            let width = h.holidays.iter().map(|x| x.name.chars().count()).max().unwrap_or(0);
            for holiday in &h.holidays {
                let dates: Vec<String> =
                    holiday.observed_dates(year).iter().map(|d| d.format("%a %Y-%m-%d").to_string()).collect();
                let dates = if dates.is_empty() { format!("none in {year}") } else { dates.join(", ") };
                let rule = format!("{} (observed: {})", holiday.date, holiday.observed);
                out.push_str(&format!("{INDENT}{:<width$}  {rule:<36}  {dates}\n", holiday.name));
            }
        }
        None => out.push_str("  holidays    none\n"),
    }
    match &s.frequency_cap {
        Some(c) => out.push_str(&format!(
            "  cap         {} to one number on the same subject{}\n{INDENT}{}\n",
            c.cap,
            narrowed(c.narrowed),
            c.citation
        )),
        None => out.push_str("  cap         none\n"),
    }
    if let Some(note) = &s.note {
        out.push_str(&format!("  note        {note}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> ComplianceSection {
        DaemonConfig::defaults().compliance
    }

    #[test]
    fn one_state_prints_its_hours_holidays_with_this_years_dates_and_sources() {
        let text = render(&defaults(), Some(Region::parse("AL").unwrap()), 2026);
        assert!(text.starts_with("State calling rules, version 2026-12-01\n"), "{text}");
        assert!(
            text.contains("For telemarketing calls, on top of the federal guard (08:00-21:00 recipient local time)")
        );
        assert!(text.contains("AL  Alabama\n  hours       mon-sat 08:00-20:00; sun closed\n"), "{text}");
        assert!(text.contains("Ala. Admin. Code r. 770-X-5-.17(1)(b)"));
        assert!(text.contains("list: Ala. Code § 1-3-8"));
        // Independence Day 2026 is a Saturday, kept on Friday the 3rd too.
        let july = text.lines().find(|l| l.contains("Independence Day")).unwrap();
        assert!(july.ends_with("Fri 2026-07-03, Sat 2026-07-04"), "{july}");
        assert!(text.contains("  cap         none\n"));
        assert!(!text.contains("FL  Florida"));
        assert!(!text.contains("Federal guard only"));
    }

    #[test]
    fn the_cap_and_states_without_rules_are_shown() {
        let text = render(&defaults(), None, 2026);
        assert!(text.contains("FL  Florida\n"));
        assert!(text.contains("  cap         3 calls per 24h to one number on the same subject\n"), "{text}");
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("Federal guard only: AK, AR, AS, AZ, CA,"), "{last}");
        let ca = render(&defaults(), Some(Region::parse("California").unwrap()), 2026);
        assert!(ca.ends_with("\nCA  California: no state rule beyond the federal guard (08:00-21:00).\n"), "{ca}");
    }

    #[test]
    fn overridden_rules_are_marked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, "[compliance.states.FL]\nhours = { \"mon-fri\" = \"09:00-17:00\" }\n").unwrap();
        let c = DaemonConfig::load(Some(&path), std::iter::empty()).unwrap();
        let text = render(&c.compliance, Some(Region::parse("FL").unwrap()), 2026);
        assert!(
            text.contains("  hours       mon-fri 09:00-17:00; sat, sun closed (narrowed by the daemon config)\n"),
            "{text}"
        );
        assert!(text.starts_with("State calling rules, version 2026-12-01+config."), "{text}");
    }
}
