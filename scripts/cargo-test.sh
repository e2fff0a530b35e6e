#!/usr/bin/env bash
# Runs the workspace's tests (arguments go to `cargo test`) and closes with one line that adds
# up every test binary's result, so the last line of `make test` says how many tests ran.
set -uo pipefail
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"${CARGO:-cargo}" test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
read -r passed failed ignored < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) g += $(i-1) } } END { print p+0, f+0, g+0 }' "$log")
echo "tests: $passed passed, $failed failed, $ignored skipped"
exit "$status"
