#!/usr/bin/env bash
# Checks the dependencies in Cargo.lock: their licences and sources against deny.toml
# (cargo-deny), and the RustSec advisories, offline, against the snapshot in ../shared/advisory-db
# (these machines cannot fetch it; its date is in its SNAPSHOT.md; without the snapshot it says
# so loudly and checks no advisory). Both tools are installed into target/tools on first use
# (pinned versions, from crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/tools
install() { # NAME VERSION
    if [[ ! -x "$tools/bin/$1" ]] || ! "$tools/bin/$1" --version | grep -q "$2"; then
        echo "installing $1 $2 into $tools (once) ..." >&2
        "${CARGO:-cargo}" install "$1" --version "$2" --locked --root "$tools" --quiet
    fi
}
install cargo-deny 0.20.2
"$tools/bin/cargo-deny" check licenses sources
db=../shared/advisory-db
if [[ ! -d "$db/crates" ]]; then
    echo "NOTICE: $db is absent: dependencies were NOT checked against the RustSec advisories" >&2
    exit 0
fi
install cargo-audit 0.22.2
# --stale: the snapshot is old on purpose; --no-fetch: nothing is downloaded.
"$tools/bin/cargo-audit" audit --db "$db" --no-fetch --stale
