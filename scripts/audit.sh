#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database, offline: the snapshot in
# ../shared/advisory-db (these machines cannot fetch it; its date is in its SNAPSHOT.md). Without
# the snapshot it says so loudly and checks nothing. cargo-audit is installed into
# target/tools on first use (a pinned version, from crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
db=../shared/advisory-db
if [[ ! -d "$db/crates" ]]; then
    echo "NOTICE: $db is absent: dependencies were NOT checked against the RustSec advisories" >&2
    exit 0
fi
tools=target/tools
if [[ ! -x "$tools/bin/cargo-audit" ]]; then
    echo "installing cargo-audit 0.22.2 into $tools (once) ..." >&2
    "${CARGO:-cargo}" install cargo-audit --version 0.22.2 --locked --root "$tools" --quiet
fi
# --stale: the snapshot is old on purpose; --no-fetch: nothing is downloaded.
"$tools/bin/cargo-audit" audit --db "$db" --no-fetch --stale
