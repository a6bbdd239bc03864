#!/usr/bin/env python3
"""Regenerates data/area_codes.tsv: NANP area code -> US state / DC / territory / Canadian province.

The source is the `phonenumbers` package on PyPI (the Python port of Google's libphonenumber,
Apache-2.0), pinned to the release the time-zone map comes from (see gen_phone_timezones.py):
- libphonenumber's English geocoding data for country code 1 (`phonenumbers/geodata/`, the
  resources/geocoding/en/1.txt of libphonenumber) describes each area code with a state or
  province name ("New Jersey", "Washington State", "Nova Scotia/Prince Edward Island") and
  many longer prefixes with a place ("Jersey City, NJ");
- libphonenumber's number metadata names the area codes of the NANP countries and territories
  other than the US and Canada (`leading_digits` of region PR: "787|939", and so on).

How an area code gets its regions:
1. an area code that the metadata gives to Puerto Rico, the US Virgin Islands, Guam, the
   Northern Mariana Islands or American Samoa maps to that territory (PR, VI, GU, MP, AS);
   one given to another NANP country (Jamaica, the Bahamas, ...) maps to none;
2. otherwise the area code's own entry (prefix `1` + 3 digits) in the geocoding data names
   the regions: a state or province name, several joined by '/', or "City, ST";
3. an area code without its own entry takes the regions that its longer prefixes name
   ("Bridgeport, CT" -> CT); when those disagree, every region they name is kept.
An area code that names nothing a US state/territory or Canadian province can be (toll-free
8XX, 900, 5XX personal numbers, unassigned codes) is left out of the file: it maps to none.

Usage (from the repository root):
    python3 tools/gen_area_codes.py [--version 9.0.33] [--out data/area_codes.tsv]

It runs `pip download --no-deps phonenumbers==VERSION` into a temporary directory, reads the
wheel without installing it and writes one line per area code, sorted:
`AREA_CODE<TAB>REGION&REGION...`. The output is deterministic, so a regeneration diff shows only
what the upstream data changed. It prints the area codes with several regions and those the
geocoding data describes but no region could be read from, for data/README.md.
"""

import argparse
import re
import sys

from phonenumbers_wheel import unpacked_phonenumbers

DEFAULT_VERSION = "9.0.33"

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}
CA_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "Manitoba": "MB", "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Northwest Territories": "NT",
    "Nunavut": "NU", "Ontario": "ON", "Prince Edward Island": "PE", "Quebec": "QC",
    "Saskatchewan": "SK", "Yukon": "YT",
}
# Spellings the geocoding data uses besides the plain names above.
ALIASES = {
    "Washington State": "WA",
    "Washington D.C.": "DC",
    "British Colombia": "BC",  # sic, upstream's spelling for 257
}
TERRITORIES = {"PR": "PR", "VI": "VI", "GU": "GU", "MP": "MP", "AS": "AS"}
CODES = set(US_STATES.values()) | set(CA_PROVINCES.values()) | {"DC"} | set(TERRITORIES.values())


def fetch(version):
    """Returns (geocoding data, {region: leading-digits regex}, wheel file name)."""
    with unpacked_phonenumbers(version) as (phonenumbers, wheel):
        from phonenumbers import PhoneMetadata  # noqa: PLC0415
        from phonenumbers.geodata import GEOCODE_DATA  # noqa: PLC0415

        leading = {}
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
            meta = PhoneMetadata.metadata_for_region(region)
            if meta.leading_digits:
                leading[region] = meta.leading_digits
        geo = {p: d["en"] for p, d in GEOCODE_DATA.items() if p.startswith("1") and "en" in d}
        return geo, leading, wheel


def regions_of(description):
    """The region codes a geocoding description names (empty when none)."""
    if description in ALIASES:
        return {ALIASES[description]}
    m = re.search(r", ([A-Z]{2})$", description)
    if m and m.group(1) in CODES:
        return {m.group(1)}
    out = set()
    for part in description.split("/"):
        part = part.strip()
        code = US_STATES.get(part) or CA_PROVINCES.get(part) or ALIASES.get(part)
        if code:
            out.add(code)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default=DEFAULT_VERSION)
    ap.add_argument("--out", default="data/area_codes.tsv")
    args = ap.parse_args()

    geo, leading, wheel = fetch(args.version)
    result = {}
    foreign = []
    for code in (f"{n:03d}" for n in range(200, 1000)):
        owner = [r for r, pattern in leading.items() if re.fullmatch(pattern, code)]
        if owner:
            if owner[0] in TERRITORIES:
                result[code] = {TERRITORIES[owner[0]]}
            else:
                foreign.append(f"{code} ({owner[0]})")
            continue
        own = geo.get("1" + code)
        if own is not None:
            regions = regions_of(own)
        else:
            regions = set()
            for prefix, description in geo.items():
                if prefix.startswith("1" + code) and len(prefix) > 4:
                    regions |= regions_of(description)
        if regions:
            result[code] = regions
        elif own is not None or any(p.startswith("1" + code) for p in geo):
            print(f"note: {code} is described ({own!r}) but names no region", file=sys.stderr)

    lines = [
        "# NANP area code -> US state / DC / territory / Canadian province (two-letter codes, '&'-separated).",
        f"# Generated by tools/gen_area_codes.py from {wheel} (PyPI `phonenumbers`, the",
        "# Python port of libphonenumber): its English geocoding data for country code 1",
        "# (resources/geocoding/en/1.txt) and the NANP territories' leading digits in its metadata,",
        "# Copyright (C) The Libphonenumber Authors, licensed under the Apache License, Version 2.0.",
        "# An area code not listed maps to no region (toll-free, non-geographic, other NANP countries).",
    ]
    for code in sorted(result):
        lines.append(f"{code}\t{'&'.join(sorted(result[code]))}")
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    several = [f"{c} {'&'.join(sorted(r))}" for c, r in sorted(result.items()) if len(r) > 1]
    print(f"wrote {len(result)} area codes to {args.out}")
    print("several regions: " + ", ".join(several))
    print("other NANP countries (no region): " + ", ".join(foreign))


if __name__ == "__main__":
    main()
