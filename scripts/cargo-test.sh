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
if [ "$status" -ne 0 ]; then
    # What CI shows of a run is its end: say there why it failed (a build error, a test that
    # crashed, a full disk) rather than only that it did.
    echo "cargo test failed (exit $status); its first errors and the space left:"
    grep -E '^(error|thread .* panicked|failures:|test .* FAILED)' "$log" | head -n 12
    grep -E 'process didn.t exit successfully' "$log" | head -n 3
    df -h . "${TMPDIR:-/tmp}" 2>/dev/null | sed 's/^/  /'
fi
exit "$status"
