#!/usr/bin/env bash
# Export throughput: `switchboard export ID --out FILE` (one row per recipient: the file's
# columns, attempt aggregates, the last call, schema fields and [analysis] answers) against the
# sqlite3 CLI's `-csv` output of a comparable SELECT on the same database: the jobs joined with
# their attempts grouped per job and with their last attempt. The two alternate, ROUNDS times;
# the script prints every round, the medians and switchboard's peak RSS (/usr/bin/time).
#
# The database (RECIPIENTS recipients, finished attempts) is built once by
# bench/gen_results_db.sh and kept in bench-out/. Run on a quiet machine (`uptime`).
# Usage: bench/export.sh [RECIPIENTS] [ROUNDS]   (default 1000000 recipients, 7 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
recipients=${1:-1000000}
rounds=${2:-7}
out=bench-out
mkdir -p "$out"
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 CLI (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release --quiet --bin switchboard
db="$out/results-$recipients.db"
[ -s "$db" ] || bench/gen_results_db.sh "$db" "$recipients"
export SWITCHBOARD_CONFIG=/dev/null
bin=target/release/switchboard
# The reference: what one would ask the sqlite3 CLI for, as CSV.
reference="
SELECT j.id, j.phone, j.variables, j.timezones, j.state, j.outcome,
       g.n, g.first_at, g.last_at, g.cost, l.call_id, l.answered_by, l.call_length, l.summary, l.analysis
FROM jobs j
LEFT JOIN (SELECT job_id, COUNT(*) AS n, MIN(dialed_at) AS first_at, MAX(dialed_at) AS last_at,
                  SUM(price) AS cost, MAX(attempt_no) AS last_no
           FROM attempts WHERE state != 'not_sent' GROUP BY job_id) g ON g.job_id = j.id
LEFT JOIN attempts l ON l.job_id = j.id AND l.attempt_no = g.last_no AND l.state != 'not_sent'
WHERE j.campaign_id = 'results' ORDER BY j.id;"
echo "database: $db ($(du -h "$db" | cut -f1)); $(sqlite3 "$db" "SELECT COUNT(*) FROM jobs") recipients, $(sqlite3 "$db" "SELECT COUNT(*) FROM attempts WHERE state != 'not_sent'") attempts; $rounds rounds; $(uptime | sed 's/.*load/load/')"
results=()
for round in $(seq "$rounds"); do
    ref=$( { /usr/bin/time -f '%e %M' sqlite3 -csv "$db" "$reference" > "$out/export-ref.csv" ; } 2>&1 | tail -1)
    sb=$( { /usr/bin/time -f '%e %M' "$bin" --db "$db" export results --out "$out/export.csv" > /dev/null ; } 2>&1 | tail -1)
    echo "round $round: sqlite3 -csv ${ref% *}s ($(du -m "$out/export-ref.csv" | cut -f1) MB)   switchboard export ${sb% *}s ($(du -m "$out/export.csv" | cut -f1) MB), peak RSS $((${sb#* } / 1024)) MB"
    results+=("${ref% *} ${sb% *} ${sb#* }")
done
rm -f "$out/export.csv" "$out/export-ref.csv"
printf '%s\n' "${results[@]}" | bench/summarise.py "$recipients" "sqlite3 -csv" "switchboard export"
