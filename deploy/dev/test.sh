#!/usr/bin/env bash
# The test command: starts (or installs) the services the suite needs, then runs the whole
# suite against them. Usage: deploy/dev/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/dev/services.sh

# The servers services.sh started; ORDERGATE_TEST_PG and ORDERGATE_TEST_AMQP_URL point the
# suite elsewhere (defaults in tests/common/services.rs).

# Two cores: integration tests share the broker and the disk, so they run a few at a time.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
# security: every process of the run (in-process daemons, child `ordergate` processes) also
# writes its log lines here; the scan after the suite fails on any fixture's personal data or
# any secret of the suite in them (tests/security.rs, log_scan).
ORDERGATE_TEST_LOG_DIR="$(pwd)/target/test-logs"
export ORDERGATE_TEST_LOG_DIR
rm -rf "$ORDERGATE_TEST_LOG_DIR"
mkdir -p "$ORDERGATE_TEST_LOG_DIR"
# Unit, integration and binary tests; the benchmark suite is deploy/dev/bench.sh.
cargo test --locked --lib --bins --tests --no-run "$@"
# The partner outages' durations in CI (tests/faults_partners.rs): every partner (marketplace,
# warehouse, carrier, SMTP relay, subscriber) down together for FAULTS_OUTAGE_SECS; the SMTP
# relay and the subscriber down for FAULTS_NOTICE_OUTAGE_SECS before their slow and garbage
# phases. Set either to try other durations.
export FAULTS_OUTAGE_SECS="${FAULTS_OUTAGE_SECS:-600}"
export FAULTS_NOTICE_OUTAGE_SECS="${FAULTS_NOTICE_OUTAGE_SECS:-20}"
# The long outage (standalone profile, mostly waiting) runs beside the rest of the suite
# instead of after it; its output is printed at the end.
LONG_TEST=every_partner_down_for_minutes_orders_wait_then_each_effect_happens_once
long_bin="$(cargo test --locked --test faults_partners --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and m.get("target", {}).get("name") == "faults_partners":
        print(m["executable"])')"
long_log="$(pwd)/target/long-test.log"
"$long_bin" --exact "$LONG_TEST" >"$long_log" 2>&1 &
long_pid=$!
status=0
cargo test --locked --no-fail-fast --lib --bins --tests "$@" -- --skip "$LONG_TEST" || status=$?
long_status=0
wait "$long_pid" || long_status=$?
echo "--- faults_partners $LONG_TEST (every partner down ${FAULTS_OUTAGE_SECS} s, run beside the suite):"
cat "$long_log"
# Last: the log scan over the whole run.
scan_status=0
cargo test --locked --test security -- --ignored --exact log_scan || scan_status=$?
if [ "$status" -ne 0 ] || [ "$long_status" -ne 0 ] || [ "$scan_status" -ne 0 ]; then
  echo "test.sh: suite $status, partner outage of ${FAULTS_OUTAGE_SECS} s $long_status, log scan $scan_status" >&2
  exit 1
fi
