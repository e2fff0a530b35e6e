#!/usr/bin/env bash
# End-to-end test of the container image (`make image-test`, part of `make test`):
# starts a throwaway registry (Debian's docker-registry) on 127.0.0.1 with its storage in
# a temporary directory, pushes target/image/oci:latest to it with skopeo, pulls it back
# into a fresh OCI layout, unpacks that with umoci and runs the connector inside the
# unpacked root filesystem (chroot, as the image's user 65532, with the image's own
# entrypoint and environment), asserting it prints its usage with the flags that the
# component declares. Then stops the registry and removes everything it made.
# Every step is bounded in time; nothing leaves 127.0.0.1.
#
#   tests/image/test.sh [OCI_LAYOUT[:TAG]]    (default target/image/oci:latest)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source_ref="${1:-$root/target/image/oci:latest}"
repo=baton-confluence-datacenter
entrypoint=/usr/local/bin/baton-confluence-datacenter
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
die() { echo "image test: $*" >&2; echo "image: $passed passed, $((failed + 1)) failed"; exit 1; }

for tool in umoci skopeo docker-registry curl python3 chroot timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing (.ci/run installs umoci, skopeo and docker-registry with apt-get)"
done
[[ $(id -u) -eq 0 ]] || die "needs root (chroot, and umoci unpack keeping owners)"
[[ -f "${source_ref%:*}/index.json" ]] || die "no OCI layout at ${source_ref%:*}: run make image first"

started=$(date +%s)
tmp="$(mktemp -d)"
registry_pid=""
cleanup() {
    if [[ -n "$registry_pid" ]] && kill -0 "$registry_pid" 2>/dev/null; then
        kill "$registry_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$registry_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Only loopback: no proxy for it, and no credentials from the machine.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$tmp/policy.json"
skopeo=(timeout 180 skopeo --policy "$tmp/policy.json" --tmpdir "$tmp" copy --quiet)

# A free port on 127.0.0.1, then the registry on it.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/storage"
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
# timeout bounds it even if this script is killed before its trap runs.
timeout 600 docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
up=""
for _ in $(seq 100); do
    if curl -fsS --max-time 2 "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then up=yes; break; fi
    kill -0 "$registry_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$up" ]] || { cat "$tmp/registry.log" >&2; die "the registry did not start on 127.0.0.1:$port"; }
ok "registry up on 127.0.0.1:$port"

# Push, then pull back into a fresh layout.
dest="docker://127.0.0.1:$port/$repo:test"
if "${skopeo[@]}" --dest-tls-verify=false --dest-no-creds "oci:$source_ref" "$dest"; then
    ok "pushed oci:$source_ref to $dest"
else
    cat "$tmp/registry.log" >&2; die "push failed"
fi
tags=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/v2/$repo/tags/list")
if [[ "$tags" == *'"test"'* ]]; then ok "registry lists the tag: $tags"; else bad "registry tags: $tags"; fi
if "${skopeo[@]}" --src-tls-verify=false --src-no-creds "$dest" "oci:$tmp/pulled:test"; then
    ok "pulled $dest into a fresh OCI layout"
else
    die "pull failed"
fi
digest() { timeout 60 skopeo --policy "$tmp/policy.json" inspect --raw "$1" | sha256sum | cut -d' ' -f1; }
pushed=$(digest "oci:$source_ref")
pulled=$(digest "oci:$tmp/pulled:test")
if [[ "$pushed" == "$pulled" ]]; then ok "same manifest after the round trip (sha256:$pulled)"; else bad "manifest changed: sha256:$pushed -> sha256:$pulled"; fi

# Unpack and look at the runtime configuration umoci derives from the image config.
timeout 120 umoci unpack --image "$tmp/pulled:test" "$tmp/bundle" >/dev/null || die "umoci unpack failed"
rootfs="$tmp/bundle/rootfs"
# Prints: uid, gid, cwd, then the args (one per line), then ENV, then the environment.
mapfile -t spec < <(python3 - "$tmp/bundle/config.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["process"]
print(p["user"]["uid"]); print(p["user"]["gid"]); print(p.get("cwd", "/"))
for a in p["args"]: print(a)
print("ENV")
for e in p.get("env", []): print(e)
EOF
)
uid=${spec[0]} gid=${spec[1]} cwd=${spec[2]}
args=() envs=() seen_env=""
for line in "${spec[@]:3}"; do
    if [[ -z "$seen_env" && "$line" == ENV ]]; then seen_env=yes; continue; fi
    if [[ -n "$seen_env" ]]; then envs+=("$line"); else args+=("$line"); fi
done
if [[ "$uid:$gid" == 65532:65532 ]]; then ok "runs as 65532:65532"; else bad "image user is $uid:$gid, want 65532:65532"; fi
if [[ "${args[0]:-}" == "$entrypoint" ]]; then ok "entrypoint ${args[*]}"; else bad "entrypoint is '${args[*]}', want $entrypoint"; fi
for want in "TMPDIR=/tmp" "BATON_COMPONENT=/usr/local/bin/confluence_connector.wasm"; do
    if printf '%s\n' "${envs[@]}" | grep -qxF "$want"; then ok "env $want"; else bad "env lacks $want (has: ${envs[*]})"; fi
done

# The root filesystem holds what it should, and nothing of the build machine beyond it.
for f in "$entrypoint" /usr/local/bin/confluence_connector.wasm /etc/ssl/certs/ca-certificates.crt /etc/passwd /etc/group; do
    [[ -f "$rootfs$f" ]] && ok "has $f" || bad "lacks $f"
done
grep -q '^nonroot:x:65532:65532:' "$rootfs/etc/passwd" && ok "/etc/passwd has user 65532" || bad "/etc/passwd lacks user 65532"
grep -q '^nonroot:x:65532:' "$rootfs/etc/group" && ok "/etc/group has group 65532" || bad "/etc/group lacks group 65532"
mode=$(stat -c %a "$rootfs/tmp")
[[ "$mode" == 1777 ]] && ok "/tmp is mode 1777" || bad "/tmp is mode $mode"
[[ -z "$(ls -A "$rootfs/tmp")" ]] && ok "/tmp is empty" || bad "/tmp is not empty"
for absent in /bin/sh /usr/bin /sbin; do
    [[ ! -e "$rootfs$absent" ]] && ok "no $absent" || bad "$absent is in the image"
done

# Run it inside the unpacked root filesystem, as the image's user, with only its
# environment. Where mount namespaces are available (root here), as in the Kubernetes
# Deployment: the root filesystem read-only and a writable directory (the emptyDir) at
# /tmp, kept between the runs as an emptyDir is between container restarts.
chroot_bin=$(command -v chroot)
emptydir="$tmp/emptydir"
install -d -m 1777 "$emptydir"
readonly_root=""
if timeout 10 unshare --mount --propagation private true 2>/dev/null; then
    readonly_root=yes
else
    echo "note: no mount namespaces here: running in a plain chroot (root filesystem not read-only)"
fi
run() {
    if [[ -n "$readonly_root" ]]; then
        timeout 120 unshare --mount --propagation private bash -c '
            set -e
            root=$1 tmpdir=$2; shift 2
            mount --bind "$root" "$root"
            mount -o remount,ro,bind "$root"
            mount --bind "$tmpdir" "$root/tmp"
            if touch "$root/.writable" 2>/dev/null; then echo "the root filesystem is writable" >&2; exit 97; fi
            exec "$@"' run "$rootfs" "$emptydir" \
            env -i "${envs[@]}" "$chroot_bin" --userspec="$uid:$gid" "$rootfs" "${args[@]}" "$@"
    else
        timeout 120 env -i "${envs[@]}" "$chroot_bin" --userspec="$uid:$gid" "$rootfs" "${args[@]}" "$@"
    fi
}
where="in a plain chroot"
[[ -n "$readonly_root" ]] && where="read-only root, /tmp writable"
t0=$(date +%s)
if help=$(run --help 2>&1); then
    if [[ "$help" == *"Usage: baton-confluence-datacenter"* ]]; then
        ok "--help prints the usage inside the image ($where; $(( $(date +%s) - t0 ))s)"
    else
        bad "--help printed no usage: $help"
    fi
    # --hostname and --access-token come from the component's own declaration: this shows
    # the host loaded the .wasm from inside the image.
    if [[ "$help" == *"--hostname"* && "$help" == *"--access-token"* ]]; then
        ok "--help lists the component's settings (component loaded)"
    else
        bad "--help lacks the component's settings: $help"
    fi
else
    bad "--help failed inside the image: $help"
fi
# A fresh pod: /tmp (and so the compile cache in it) empty again.
find "$emptydir" -mindepth 1 -delete
t0=$(date +%s)
if caps=$(run capabilities 2>&1) && [[ "$caps" == *'"resourceTypeCapabilities"'* && "$caps" == *'"id": "space"'* ]]; then
    ok "capabilities runs the component inside the image ($where; $(( $(date +%s) - t0 ))s, $(printf '%s' "$caps" | wc -c) bytes of JSON)"
else
    bad "capabilities failed inside the image: $caps"
fi

# The first start in a fresh pod (empty /tmp) uses the precompiled component shipped beside
# the .wasm: no compile, so no "prepared the connector" line in the capabilities run's log.
if [[ -n "$caps" && "$caps" != *"prepared the connector for this machine"* ]]; then
    ok "the first start used the shipped precompiled component (no compile)"
else
    bad "the first start compiled the component: $caps"
fi
echo "image test took $(( $(date +%s) - started ))s"
echo "image: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
