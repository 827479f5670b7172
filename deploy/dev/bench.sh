#!/usr/bin/env bash
# The performance suite: starts (or installs) PostgreSQL and RabbitMQ, runs
# `cargo bench --bench suite`, writes target/bench-report.md and target/bench-report.json and
# prints the table. Every figure is a ratio to a baseline measured in the same run.
# Usage: deploy/dev/bench.sh            (full run, a few minutes)
#        BENCH_QUICK=1 deploy/dev/bench.sh   (small counts: checks the harness, not the figures)
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/dev/services.sh

# The servers services.sh started; ORDERGATE_TEST_PG and ORDERGATE_TEST_AMQP_URL point the
# suite elsewhere (defaults in tests/common/services.rs).
export BENCH_REPORT_DIR="${BENCH_REPORT_DIR:-$PWD/target}"

started=$(date +%s)
# The suite prints the table itself; the report files are the record.
cargo bench --locked --bench suite
echo "bench: $(( $(date +%s) - started )) s including the build; report: $BENCH_REPORT_DIR/bench-report.md" >&2
