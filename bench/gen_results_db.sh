#!/usr/bin/env bash
# Builds a database of a finished campaign for the results benchmarks (export, report):
# RECIPIENTS recipients (default 1,000,000) imported through switchboard's import, each dialled
# 1-3 times with mixed outcomes, lengths, prices, summaries and analysis JSON, and [analysis]
# answers for part of the human calls. The campaign is `results`, completed. What the database
# holds, exactly, is described at the top of examples/results_db.rs; it is the same every time.
#
# Usage: bench/gen_results_db.sh OUT.db [RECIPIENTS]
#   OUT.db must not exist; 1M recipients take ~30 s and ~1.1 GB.
# Other benchmarks call it once and keep the file in bench-out/ (see bench/export.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/gen_results_db.sh OUT.db [RECIPIENTS]}
recipients=${2:-1000000}
cargo build --release --quiet --example results_db
target/release/examples/results_db --out "$out" --recipients "$recipients"
