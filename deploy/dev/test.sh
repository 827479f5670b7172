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
# Unit, integration and binary tests; the benchmark suite is deploy/dev/bench.sh.
cargo test --locked --lib --bins --tests "$@"
