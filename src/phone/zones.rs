//! libphonenumber's number-prefix → IANA time-zone map, embedded from
//! `data/phone_timezones.tsv` (written by `tools/gen_phone_timezones.py`; source, version and
//! licence in `data/README.md`).
//!
//! The text is parsed once, on first use, into a digit trie so that a lookup is one walk over
//! the number's digits (the longest prefix present in the data wins, as in libphonenumber).
//! Nothing enters at run time: the data is part of the binary.

use std::sync::LazyLock;

use chrono_tz::Tz;

const DATA: &str = include_str!("../../data/phone_timezones.tsv");

/// Immutable, embedded data parsed once: a shared static rather than a value passed around,
/// because `PhoneNumber::time_zones` hands out `&'static` slices of it.
static MAP: LazyLock<PrefixMap> = LazyLock::new(|| PrefixMap::parse(DATA));

pub(super) fn warm_up() {
    LazyLock::force(&MAP);
}

/// The zones of the longest prefix of `digits` (an E.164 number without its '+') that the data
/// names; empty when none matches.
pub(super) fn for_digits(digits: &str) -> &'static [Tz] {
    MAP.longest_match(digits.as_bytes())
}

/// The +1 prefixes of the data (`1`, `1201`, `1807223`, …), for tests elsewhere in `phone`.
#[cfg(test)]
pub(super) fn nanp_prefixes_for_tests() -> Vec<String> {
    let mut prefixes: Vec<String> = MAP.entries().into_iter().map(|(p, _)| p).filter(|p| p.starts_with('1')).collect();
    prefixes.sort();
    prefixes
}

const NO_ZONES: u32 = u32::MAX;

struct Node {
    /// Index of the child node for each digit; 0 means none (the root is never a child).
    children: [u32; 10],
    /// Index into `zone_sets`, or `NO_ZONES` when this prefix is not in the data itself.
    zones: u32,
}

impl Node {
    const fn empty() -> Node {
        Node { children: [0; 10], zones: NO_ZONES }
    }
}

struct PrefixMap {
    nodes: Vec<Node>,
    zone_sets: Vec<Box<[Tz]>>,
}

impl PrefixMap {
    /// Parses the embedded file. A malformed line is a defect of the shipped data (a unit test
    /// loads it), so it panics with the line number rather than returning an error.
    fn parse(text: &str) -> PrefixMap {
        let mut map = PrefixMap { nodes: vec![Node::empty()], zone_sets: Vec::new() };
        let mut set_index = std::collections::HashMap::<&str, u32>::new();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| -> ! { panic!("data/phone_timezones.tsv line {}: {what}: {line:?}", i + 1) };
            let Some((prefix, zones)) = line.split_once('\t') else { bad("expected PREFIX<TAB>ZONES") };
            if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                bad("the prefix is not all digits");
            }
            let next_set = map.zone_sets.len() as u32;
            let set = *set_index.entry(zones).or_insert(next_set);
            if set == next_set {
                let parsed: Box<[Tz]> =
                    zones.split('&').map(|z| z.parse::<Tz>().unwrap_or_else(|_| bad("unknown time zone"))).collect();
                map.zone_sets.push(parsed);
            }
            let node = map.insert(prefix.as_bytes());
            if map.nodes[node].zones != NO_ZONES {
                bad("duplicate prefix");
            }
            map.nodes[node].zones = set;
        }
        map
    }

    fn insert(&mut self, prefix: &[u8]) -> usize {
        let mut node = 0;
        for &b in prefix {
            let d = usize::from(b - b'0');
            let child = self.nodes[node].children[d];
            node = if child == 0 {
                self.nodes.push(Node::empty());
                let new = self.nodes.len() - 1;
                self.nodes[node].children[d] = new as u32;
                new
            } else {
                child as usize
            };
        }
        node
    }

    fn longest_match(&self, digits: &[u8]) -> &[Tz] {
        let mut node = 0;
        let mut best = NO_ZONES;
        let mut shortest = NO_ZONES;
        for &b in digits {
            let Some(d) = b.checked_sub(b'0').filter(|d| *d < 10) else {
                break;
            };
            let child = self.nodes[node].children[usize::from(d)];
            if child == 0 {
                break;
            }
            node = child as usize;
            if self.nodes[node].zones != NO_ZONES {
                best = self.nodes[node].zones;
                if shortest == NO_ZONES {
                    shortest = best;
                }
            }
        }
        match best {
            NO_ZONES => &[],
            // Only the country-wide entry matched and it names several zones (toll-free and
            // other non-geographic numbers: all 42 NANP zones for +1 8XX). That says nothing
            // about where the person is, so it counts as unknown: the import then falls back to
            // a timezone column or the campaign's zone rather than a window that never opens.
            set if set == shortest && self.zone_sets[set as usize].len() > 1 => &[],
            set => &self.zone_sets[set as usize],
        }
    }

    /// Every (prefix, zones) entry, for tests that check properties of the whole data set.
    #[cfg(test)]
    fn entries(&self) -> Vec<(String, &[Tz])> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, String::new())];
        while let Some((node, prefix)) = stack.pop() {
            if self.nodes[node].zones != NO_ZONES {
                out.push((prefix.clone(), &*self.zone_sets[self.nodes[node].zones as usize]));
            }
            for (d, &child) in self.nodes[node].children.iter().enumerate() {
                if child != 0 {
                    stack.push((child as usize, format!("{prefix}{d}")));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_loads_and_holds_every_country_not_only_nanp() {
        let entries = MAP.entries();
        let data_lines = DATA.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
        assert_eq!(entries.len(), data_lines);
        assert!(entries.len() > 3000, "{} prefixes", entries.len());
        for cc in ["1", "44", "61", "91", "49", "7", "55", "86", "81"] {
            assert!(entries.iter().any(|(p, _)| p == cc), "no entry for country code {cc}");
        }
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        let map = PrefixMap::parse(
            "# c\n1\tAmerica/New_York&America/Chicago\n1807\tAmerica/Toronto\n1807223\tAmerica/Winnipeg\n",
        );
        assert_eq!(map.longest_match(b"18072231234"), [Tz::America__Winnipeg]);
        assert_eq!(map.longest_match(b"18072241234"), [Tz::America__Toronto]);
        // Only the country-wide, several-zone entry matches: unknown.
        assert!(map.longest_match(b"18002231234").is_empty());
        assert!(map.longest_match(b"442071234567").is_empty());
        assert!(map.longest_match(b"").is_empty());
    }

    #[test]
    fn identical_zone_lists_are_stored_once() {
        let map = PrefixMap::parse("1201\tAmerica/New_York\n1202\tAmerica/New_York\n1205\tAmerica/Chicago\n");
        assert_eq!(map.zone_sets.len(), 2);
    }

    #[test]
    #[should_panic(expected = "line 2: unknown time zone")]
    fn an_unknown_zone_name_in_the_data_is_reported_with_its_line() {
        PrefixMap::parse("1\tAmerica/New_York\n44\tEurope/Atlantis\n");
    }

    #[test]
    fn no_prefix_outside_nanp_names_a_zone_of_the_united_states() {
        // A foreign number given one of these would be called on US daylight-saving rules.
        // (Upstream maps Nicaragua to Chicago and part of Mexico to New York; the generator
        // corrects those, and this test keeps a regeneration from bringing them back.)
        let us: Vec<Tz> = [
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "America/Adak",
            "America/Juneau",
            "America/Boise",
            "America/Detroit",
            "America/North_Dakota/Center",
            "America/Indiana/Indianapolis",
            "America/Kentucky/Louisville",
            "Pacific/Honolulu",
        ]
        .iter()
        .map(|z| z.parse().unwrap())
        .collect();
        let entries = MAP.entries();
        for (prefix, zones) in &entries {
            if prefix.starts_with('1') {
                continue;
            }
            for z in zones.iter() {
                assert!(!us.contains(z), "{prefix} names the US zone {z}");
            }
        }
        // The check itself can fail: NANP prefixes do name these zones.
        assert!(entries.iter().any(|(p, z)| p == "1212" && z.contains(&Tz::America__New_York)));
    }
}
