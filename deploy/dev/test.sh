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
cargo test --locked --lib --bins --tests "$@"
# Last: the log scan over the whole run.
cargo test --locked --test security -- --ignored --exact log_scan
