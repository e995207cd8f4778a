#!/bin/sh
# The GPU check, as `cargo xtask gpu-pack DIR` packed it: run `DIR/run.sh [OUT] [--short]` on
# the machine with the GPU. It needs no Rust toolchain, no network and no model file:
#   1. the adapter wgpu picks (Vulkan, through the loader packed under vulkan/);
#   2. the kernel and sampler tests, and the forward pass on synthetic models, against that
#      adapter (the tests run both kernel variants themselves);
#   3. `samplescope bench` on synthetic models of released models' shapes and formats
#      (SmolLM2-135M Q4_1, Gemma 3 270M Q4_K_M, Llama 3.2 1B Q4_K_M, Qwen3 0.6B Q8_0; random
#      weights: a step's cost does not depend on their values).
# Everything it prints also goes to OUT/check.txt, the bench JSON to OUT/bench-*.json.
# --short (CI, on lavapipe): the kernel tests and one small bench only.
# Exit status: 0 when every part passed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$HERE/out"
SHORT=0
for a in "$@"; do
    case "$a" in
        --short) SHORT=1 ;;
        *) OUT="$a" ;;
    esac
done
mkdir -p "$OUT"
LOG="$OUT/check.txt"
: > "$LOG"
# The packed loader first; the machine's own ICDs (its GPU driver) are found as usual.
for d in "$HERE"/vulkan/usr/lib/*-linux-gnu; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
BIN="$HERE/bin"
FAILED=""

say() { echo "$*" | tee -a "$LOG"; }
step() {
    name="$1"; shift
    say ""
    say "==> $name"
    start=$(date +%s)
    "$@" 2>&1 | tee -a "$LOG"
    # The exit status of "$@", not tee's (POSIX sh has no pipefail).
    status=$(tail -n 1 "$OUT/.status" 2>/dev/null || echo 1)
    say "    ($(( $(date +%s) - start )) s, exit $status)"
    [ "$status" = 0 ] || FAILED="$FAILED
  $name"
}
# Runs a command and records its exit status for step().
record() { "$@"; echo $? >> "$OUT/.status"; }

say "samplescope GPU check, $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n), $(nproc 2>/dev/null || echo '?') cores"
say "load average: $(cat /proc/loadavg 2>/dev/null || echo n/a)"

step "adapter" record "$BIN/samplescope" adapter
if [ "$SHORT" = 1 ]; then
    step "kernel tests (both variants)" record "$BIN/samplescope-lib-test" --test-threads=1 kernels::
    step "bench: synthetic smollm2-135m (short)" record "$BIN/samplescope" bench --synthetic smollm2-135m \
        --lanes 1,4 --prompt-tokens 16 --tokens 8 --runs 1 --out "$OUT/bench-smollm2-135m.json"
else
    step "kernel and sampler unit tests (both variants)" record "$BIN/samplescope-lib-test" --test-threads=1 kernels:: sampling::
    for t in sampling model_synthetic; do
        step "tests/$t.rs" record "$BIN/$t-test" --test-threads=1
    done
    for shape in smollm2-135m gemma-3-270m llama-3.2-1b qwen3-0.6b; do
        step "bench: synthetic $shape" record "$BIN/samplescope" bench --synthetic "$shape" \
            --lanes 1,4,16,64 --prompt-tokens 128 --tokens 128 --runs 3 --out "$OUT/bench-$shape.json"
    done
fi
rm -f "$OUT/.status"

say ""
if [ -z "$FAILED" ]; then
    say "GPU check: every part passed; output in $OUT"
    exit 0
fi
say "GPU check: these parts failed:$FAILED"
say "output in $OUT"
exit 1
