#!/usr/bin/env python3
"""Medians of a benchmark's alternating rounds, shared by bench/import.sh and bench/export.sh.

Reads one line a round from stdin: `REFERENCE_SECONDS SWITCHBOARD_SECONDS SWITCHBOARD_PEAK_RSS_KB`,
and prints the medians (with rows/s for ROWS rows), the switchboard/reference ratio of every
round and their median, and the largest peak RSS.

Usage: ... | bench/summarise.py ROWS REFERENCE_LABEL SWITCHBOARD_LABEL
"""
import statistics
import sys

n, ref_label, sb_label = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
ratios = sorted(sb / ref for ref, sb, _ in rows)
ref = statistics.median(r for r, _, _ in rows)
sb = statistics.median(s for _, s, _ in rows)
print(f"median: {ref_label} {ref:.2f}s ({n / ref:,.0f} rows/s)   {sb_label} {sb:.2f}s ({n / sb:,.0f} rows/s)")
each = " / ".join(f"{r:.2f}" for r in ratios)
print(f"ratio switchboard/sqlite3 per round: {each}   median {statistics.median(ratios):.2f}")
print(f"switchboard peak RSS: {max(m for _, _, m in rows) / 1024:.0f} MB (largest of the rounds)")
