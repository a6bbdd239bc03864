#!/usr/bin/env bash
# Import throughput: `switchboard import` against the sqlite3 CLI's own `.import` of the same
# file into a plain table, in the same run. Prints both times, the ratio and switchboard's peak
# RSS for each round, then the medians. The two alternate round by round, so a machine that
# slows down for a while (a shared VM does) slows both.
#
# Given a PostgreSQL server (--pg URL, or BENCH_PG=URL: postgres://user@host:port/db, a role
# that may create databases), each round also imports the same file into PostgreSQL with
# `switchboard --db URL import` (a fresh database each round, `bench_import_sb`) and times
# `psql -c "\copy …"` of it into a plain table of text columns (a fresh database each round,
# `bench_import_ref`), and prints the same figures for that pair. Both databases are dropped at
# the end.
#
# Usage: bench/import.sh [--pg URL] [ROWS] [ROUNDS]   (default 1000000 rows, 7 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
pg=${BENCH_PG:-}
if [ "${1:-}" = "--pg" ]; then
    pg=${2:?--pg needs a URL}
    shift 2
fi
rows=${1:-1000000}
rounds=${2:-7}
out=bench-out
mkdir -p "$out"
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 CLI (apt-get install sqlite3)" >&2; exit 1; }
if [ -n "$pg" ]; then
    command -v psql >/dev/null || { echo "needs the psql CLI (apt-get install postgresql-client)" >&2; exit 1; }
    case "$pg" in postgres://*|postgresql://*) ;; *) echo "--pg: not a postgres:// URL: $pg" >&2; exit 1 ;; esac
fi
cargo build --release --quiet
csv="$out/recipients-$rows.csv"
[ -s "$csv" ] || python3 bench/gen_recipients.py "$rows" > "$csv"
echo "file: $csv ($(wc -l < "$csv") lines, $(du -h "$csv" | cut -f1)); $rounds rounds${pg:+; PostgreSQL too}"
bin=target/release/switchboard
export SWITCHBOARD_CONFIG=/dev/null

# PostgreSQL: the server URL with another database (and its query, if any, kept).
pg_db() {
    local base=${pg%%\?*} query=""
    [ "$base" = "$pg" ] || query="?${pg#*\?}"
    echo "${base%/*}/$1$query"
}
# Drops and creates database $1 on the server.
pg_fresh() {
    psql -X -q -v ON_ERROR_STOP=1 "$pg" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}
# The reference's table: the file's columns, every one text.
columns=$(head -1 "$csv" | tr -d '\r' | awk -F, '{ for (i = 1; i <= NF; i++) printf "%s\"%s\" text", (i > 1 ? ", " : ""), $i }')

results=()
pg_results=()
for round in $(seq "$rounds"); do
    rm -f "$out"/ref.db*
    ref=$( { /usr/bin/time -f '%e %M' sqlite3 "$out/ref.db" ".mode csv" ".import $csv recipients" ; } 2>&1 | tail -1)
    stored=$(sqlite3 "$out/ref.db" 'select count(*) from recipients')
    rm -f "$out"/sb.db*
    "$bin" --db "$out/sb.db" campaign create bench/campaign.toml >/dev/null 2>&1
    sb=$( { /usr/bin/time -f '%e %M' "$bin" --db "$out/sb.db" import bench "$csv" --json > "$out/import.out" ; } 2>&1 | tail -1)
    echo "round $round: sqlite3 .import ${ref% *}s ($stored rows)   switchboard import ${sb% *}s, peak RSS $((${sb#* } / 1024)) MB  $(tail -1 "$out/import.out")"
    results+=("${ref% *} ${sb% *} ${sb#* }")
    if [ -n "$pg" ]; then
        pg_fresh bench_import_ref
        ref_url=$(pg_db bench_import_ref)
        psql -X -q -v ON_ERROR_STOP=1 "$ref_url" -c "CREATE TABLE recipients ($columns)" >/dev/null
        pref=$( { /usr/bin/time -f '%e %M' psql -X -q -v ON_ERROR_STOP=1 "$ref_url" \
            -c "\\copy recipients FROM '$csv' WITH (FORMAT csv, HEADER true)" >/dev/null ; } 2>&1 | tail -1)
        pstored=$(psql -X -qtA "$ref_url" -c 'select count(*) from recipients')
        pg_fresh bench_import_sb
        sb_url=$(pg_db bench_import_sb)
        "$bin" --db "$sb_url" campaign create bench/campaign.toml >/dev/null 2>&1
        psb=$( { /usr/bin/time -f '%e %M' "$bin" --db "$sb_url" import bench "$csv" --json > "$out/import-pg.out" ; } 2>&1 | tail -1)
        echo "round $round: psql \\copy ${pref% *}s ($pstored rows)   switchboard --db postgres import ${psb% *}s, peak RSS $((${psb#* } / 1024)) MB  $(tail -1 "$out/import-pg.out")"
        pg_results+=("${pref% *} ${psb% *} ${psb#* }")
    fi
done
echo "== SQLite"
printf '%s\n' "${results[@]}" | bench/summarise.py "$rows" "sqlite3 .import" "switchboard import"
if [ -n "$pg" ]; then
    echo "== PostgreSQL"
    printf '%s\n' "${pg_results[@]}" | python3 -c '
import statistics, sys
n = int(sys.argv[1])
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
ratios = sorted(sb / ref for ref, sb, _ in rows)
ref = statistics.median(r for r, _, _ in rows)
sb = statistics.median(s for _, s, _ in rows)
print(f"median: psql \\copy {ref:.2f}s ({n / ref:,.0f} rows/s)   switchboard import (PostgreSQL) {sb:.2f}s ({n / sb:,.0f} rows/s)")
print("ratio switchboard/psql \\copy per round: " + " / ".join(f"{r:.2f}" for r in ratios) + f"   median {statistics.median(ratios):.2f}")
print(f"switchboard peak RSS: {max(m for _, _, m in rows) / 1024:.0f} MB (largest of the rounds)")
' "$rows"
    psql -X -q "$pg" -c "DROP DATABASE IF EXISTS bench_import_ref WITH (FORCE)" -c "DROP DATABASE IF EXISTS bench_import_sb WITH (FORCE)" >/dev/null
fi
