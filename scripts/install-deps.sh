#!/usr/bin/env bash
# Installs what `make test` and `make image` need beyond Rust and Go, only when something is
# missing (a second run changes nothing): the wasm32-wasip2 Rust target, and the Debian
# packages of the container-image test (umoci builds the image, docker-registry serves it on
# 127.0.0.1, skopeo pushes and pulls it) and zstd (../shared/peers/install.sh unpacks the baton
# CLI and the Go connector with it), and libfaketime (the clock-jump tests move the wall clock of
# the host under test, and only it). Needs root for apt-get, as on this project's machines.
set -euo pipefail

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

debs=(umoci skopeo docker-registry ca-certificates binutils curl zstd libfaketime)
missing=()
for deb in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'install ok installed' || missing+=("$deb")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing Debian packages ${missing[*]}; install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# docker-registry's package would start a system registry on :5000; the test runs its own on
# 127.0.0.1, so keep services from starting during the install.
made_policy=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && made_policy=yes
fi
trap '[[ -n "$made_policy" ]] && rm -f /usr/sbin/policy-rc.d' EXIT
echo "install-deps: installing ${missing[*]}"
apt-get update
apt-get install -y "${missing[@]}"
