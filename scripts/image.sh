#!/usr/bin/env bash
# Builds the container image of baton-confluence-datacenter without a container daemon,
# with umoci (Debian package umoci), into the OCI layout target/image/oci (tag latest).
#
#   scripts/image.sh [debug|release]      (default debug; `make image` builds the binary first)
#
# The image is a minimal root filesystem: the host binary and the connector component
# beside it in /usr/local/bin (with its precompiled form), the shared libraries the binary links (from ldd) and the
# dynamic loader, /etc/passwd and /etc/group with the non-root user 65532, the build
# machine's CA certificates and an empty /tmp. No shell, no package manager.
# Settings: IMAGE_DIR (default target/image), IMAGE_TAG (default latest).
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-${IMAGE_PROFILE:-debug}}"
case "$profile" in debug | release) ;; *) echo "usage: $0 [debug|release]" >&2; exit 2 ;; esac
bin="target/$profile/baton-confluence-datacenter"
wasm="target/wasm32-wasip2/guest/confluence_connector.wasm"
out="${IMAGE_DIR:-target/image}"
tag="${IMAGE_TAG:-latest}"
oci="$out/oci"
bundle="$out/bundle"
ca=/etc/ssl/certs/ca-certificates.crt
uid=65532
appdir=/usr/local/bin

die() { echo "image.sh: $*" >&2; exit 1; }
for tool in umoci objcopy ldd readelf; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y umoci binutils libc-bin)"
done
[[ $(id -u) -eq 0 ]] || die "run as root: the image's files must be owned by root (umoci unpack/repack keep owners)"
[[ -x "$bin" ]] || die "$bin is missing: build it first (make build, or make image IMAGE_PROFILE=$profile)"
[[ -f "$wasm" ]] || die "$wasm is missing: build it first (make component)"
[[ -f "$ca" ]] || die "$ca is missing (apt-get install -y ca-certificates)"

started=$(date +%s)
rm -rf "$oci" "$bundle"
mkdir -p "$out"

umoci init --layout "$oci"
umoci new --image "$oci:$tag"
umoci unpack --image "$oci:$tag" "$bundle"
rootfs="$bundle/rootfs"

# The program and its component, side by side (the host looks for the component beside
# itself; BATON_COMPONENT below names it too, for runtimes without /proc).
install -d -m 0755 "$rootfs$appdir"
objcopy --strip-debug "$bin" "$rootfs$appdir/baton-confluence-datacenter"
chmod 0755 "$rootfs$appdir/baton-confluence-datacenter"
install -m 0644 "$wasm" "$rootfs$appdir/confluence_connector.wasm"
# The component compiled for this machine's kind of CPU, beside it: the image starts without
# compiling (a pod's cache folder is empty at every start). Another CPU compiles as usual.
"$bin" component precompile --component "$rootfs$appdir/confluence_connector.wasm" >/dev/null
chmod 0644 "$rootfs$appdir"/confluence_connector.wasm.*.cwasm

# The shared libraries, at the paths the loader resolves them to, and the loader itself.
if ldd "$bin" | grep -q 'not found'; then
    ldd "$bin" >&2
    die "$bin links libraries that are not installed"
fi
interpreter=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[[ -n "$interpreter" ]] || die "$bin has no program interpreter (not dynamically linked?)"
libs=("$interpreter")
while read -r path; do
    libs+=("$path")
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
for lib in "${libs[@]}"; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done

# Users, name resolution, CA certificates, /tmp.
install -d -m 0755 "$rootfs/etc" "$rootfs/etc/ssl/certs"
cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$uid:$uid:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<EOF
root:x:0:
nonroot:x:$uid:
EOF
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
install -m 0644 "$(readlink -f "$ca")" "$rootfs$ca"
install -d -m 1777 "$rootfs/tmp"
install -d -m 0700 -o "$uid" -g "$uid" "$rootfs/home/nonroot"
install -d -m 0700 "$rootfs/root"

umoci repack --image "$oci:$tag" "$bundle"
umoci config --image "$oci:$tag" \
    --author "baton-confluence-datacenter" \
    --config.entrypoint "$appdir/baton-confluence-datacenter" \
    --config.user "$uid:$uid" \
    --config.workingdir /tmp \
    --config.env "PATH=$appdir" \
    --config.env "TMPDIR=/tmp" \
    --config.env "XDG_CACHE_HOME=/tmp/.cache" \
    --config.env "BATON_COMPONENT=$appdir/confluence_connector.wasm" \
    --config.env "SSL_CERT_FILE=$ca" \
    --config.exposedports 8081/tcp \
    --config.label "org.opencontainers.image.title=baton-confluence-datacenter" \
    --config.label "org.opencontainers.image.description=ConductorOne/Baton connector for Confluence Data Center" \
    --history.comment "baton-confluence-datacenter ($profile build) with its component and runtime libraries" \
    --history.created_by "scripts/image.sh $profile"
umoci gc --layout "$oci"
rm -rf "$bundle"

size=$(du -sh "$oci" | cut -f1)
echo "image.sh: built $oci:$tag ($profile, $size, $(( $(date +%s) - started ))s): entrypoint $appdir/baton-confluence-datacenter, user $uid"
echo "image.sh: files: $appdir/{baton-confluence-datacenter,confluence_connector.wasm,confluence_connector.wasm.*.cwasm} ${libs[*]} /etc/{passwd,group,nsswitch.conf} $ca /tmp"
