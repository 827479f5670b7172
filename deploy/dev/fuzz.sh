#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder that reads outside input (fuzz/, cargo-fuzz with
# libFuzzer): builds the targets, then runs each for a bounded time from its seed corpus
# (fuzz/corpus/<target>) plus the corpus earlier runs grew. A panic, an input taking longer
# than FUZZ_TIMEOUT seconds or a process above FUZZ_RSS_MB MiB is a crash: the script goes on
# with the other targets, then exits non-zero and names each crashing input's file.
#
# Usage: deploy/dev/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target)
# Replay a crash: cargo +nightly fuzz run -s none -a TARGET ARTIFACT_FILE
# Environment: ORDERGATE_FUZZ_DIR (build and corpus cache, default ~/.cache/ordergate/fuzz),
# FUZZ_TIMEOUT (10), FUZZ_RSS_MB (2048), FUZZ_TOOLCHAIN (nightly), FUZZ_CODEGEN_UNITS (unset: cargo-fuzz's 1).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-60}"
shift || true
cache="${ORDERGATE_FUZZ_DIR:-$HOME/.cache/ordergate/fuzz}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
timeout_s="${FUZZ_TIMEOUT:-10}"
rss_mb="${FUZZ_RSS_MB:-2048}"

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Safe Rust: no sanitizer (libFuzzer's coverage still guides it), but debug assertions and
# overflow checks on, so an arithmetic overflow is a crash too. The build is kept outside the
# clone so later runs are incremental. cargo-fuzz passes -Ccodegen-units=1 in RUSTFLAGS unless
# told otherwise, which overrides fuzz/Cargo.toml's profile: every crate's code generation then
# runs on one thread, and the largest (lopdf, printpdf, ordergate) each hold a cold build up for
# many minutes. FUZZ_CODEGEN_UNITS=16 gives them back parallel code generation (not the default
# yet: changing the flags rebuilds a warm cache from scratch, and the gain is not yet measured).
flags=(-s none -a --target-dir "$cache/target")
if [ -n "${FUZZ_CODEGEN_UNITS:-}" ]; then
  flags+=(--codegen-units "$FUZZ_CODEGEN_UNITS")
fi
cargo "+$toolchain" fuzz build "${flags[@]}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

failed=()
for target in "${targets[@]}"; do
    grown="$cache/corpus/$target"
    artifacts="$cache/artifacts/$target"
    mkdir -p "$grown" "$artifacts"
    stamp="$(mktemp)"
    echo "fuzz: $target for ${seconds}s"
    # The grown corpus first: libFuzzer adds new inputs there, never to the committed seeds.
    if ! cargo "+$toolchain" fuzz run "${flags[@]}" "$target" "$grown" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
        -artifact_prefix="$artifacts/" -print_final_stats=1 \
        >"$cache/$target.log" 2>&1; then
        tail -n 40 "$cache/$target.log"
        found="$(find "$artifacts" -type f -newer "$stamp" | tr '\n' ' ')"
        echo "fuzz: $target CRASHED; input: ${found:-see $cache/$target.log}" >&2
        failed+=("$target")
    else
        grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^Done" "$cache/$target.log" || true
        echo "fuzz: $target ok (log $cache/$target.log)"
    fi
    rm -f "$stamp"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashes in ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
