#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml without a cluster and without network access at
# validation time (`make k8s-check`, part of `make test`):
#   1. JSON schemas: kubernetes-validate --strict (schemas of each Kubernetes version
#      ship in its PyPI wheel) against KUBE_VERSIONS: unknown fields, types, required fields;
#   2. k8scheck (Go, this directory): strict decoding into k8s.io/api's Deployment and
#      Secret types as the API server decodes, plus the deployment's own rules (service
#      mode, health probes, envFrom the Secret, resources, non-root/read-only/no
#      capabilities/RuntimeDefault seccomp, emptyDir at TMPDIR); its go test proves each
#      rule rejects a broken copy;
#   3. a deliberately broken copy in a temporary directory must fail both;
#   4. the same for the multi-tenant runner (deploy/kubernetes/runner), whose tenants file
#      must also pass the program's own `serve --check`.
# Installs what it needs: Go modules through the module proxy, the pinned
# requirements.txt into target/k8s-venv (once).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
manifests=("$root/deploy/kubernetes/secret.yaml" "$root/deploy/kubernetes/deployment.yaml")
KUBE_VERSIONS="${KUBE_VERSIONS:-1.29.0 1.33.0 1.37.0}"
venv="$root/target/k8s-venv"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }

# Tools.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/kubernetes-validate" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" > "$stamp"
fi
validate=("$venv/bin/kubernetes-validate" --strict --no-warn)
(cd "$here" && timeout 300 go build -o "$root/target/k8scheck" .)
k8scheck="$root/target/k8scheck"

# 1. The shipped manifests against the schemas.
for v in $KUBE_VERSIONS; do
    if timeout 60 "${validate[@]}" --quiet -k "$v" "${manifests[@]}"; then
        ok "schemas of Kubernetes $v"
    else
        bad "schemas of Kubernetes $v"
    fi
done

# 2. Strict typed decoding and the deployment's rules, and their negative cases.
if (cd "$here" && timeout 300 go test -count=1 ./...); then ok "k8scheck go test (each rule rejects a broken copy)"; else bad "k8scheck go test"; fi
if timeout 60 "$k8scheck" "${manifests[@]}"; then ok "k8scheck on deploy/kubernetes"; else bad "k8scheck on deploy/kubernetes"; fi

# 3. Broken copies must fail both validators.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
breakages=(
    # a misspelt field (case matters to the API server)
    's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/'
    # a number given as a word
    's/^  replicas: 1$/  replicas: "one"/'
    # a container without its required name
    's/^        - name: connector$/        - stdin: false/'
)
for breakage in "${breakages[@]}"; do
    cp "${manifests[@]}" "$tmp/"
    sed -i -e "$breakage" "$tmp/deployment.yaml"
    if cmp -s "$tmp/deployment.yaml" "${manifests[1]}"; then
        bad "sed '$breakage' changed nothing (deployment.yaml changed?)"
        continue
    fi
    if out="$(timeout 60 "${validate[@]}" "$tmp/secret.yaml" "$tmp/deployment.yaml" 2>&1)"; then
        bad "schema validation accepted a broken deployment ($breakage)"
    else
        echo "$out" | grep -v '^INFO' | sed 's/^/    expected: /'
        ok "schema validation rejects a broken deployment ($breakage)"
    fi
    if out="$(timeout 60 "$k8scheck" "$tmp/secret.yaml" "$tmp/deployment.yaml" 2>&1)"; then
        bad "k8scheck accepted a broken deployment ($breakage)"
    else
        echo "$out" | sed 's/^/    expected: /'
        ok "k8scheck rejects a broken deployment ($breakage)"
    fi
done
# An insecure but schema-valid copy: only k8scheck's rules catch it.
cp "${manifests[@]}" "$tmp/"
sed -i 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/' "$tmp/deployment.yaml"
if out="$(timeout 60 "$k8scheck" "$tmp/secret.yaml" "$tmp/deployment.yaml" 2>&1)"; then
    bad "k8scheck accepted allowPrivilegeEscalation: true"
else
    echo "$out" | sed 's/^/    expected: /'
    ok "k8scheck rejects allowPrivilegeEscalation: true"
fi

# 4. The multi-tenant runner (deploy/kubernetes/runner): schemas, rules, a broken copy, and
#    its tenants file as the program itself reads it.
runner_dir="$root/deploy/kubernetes/runner"
runner=("$runner_dir/configmap.yaml" "$runner_dir/secret.yaml" "$runner_dir/service.yaml" "$runner_dir/statefulset.yaml")
for v in $KUBE_VERSIONS; do
    if timeout 60 "${validate[@]}" --quiet -k "$v" "${runner[@]}"; then ok "runner: schemas of Kubernetes $v"; else bad "runner: schemas of Kubernetes $v"; fi
done
if timeout 60 "$k8scheck" "${runner[@]}"; then ok "k8scheck on deploy/kubernetes/runner"; else bad "k8scheck on deploy/kubernetes/runner"; fi
mkdir -p "$tmp/runner"
cp "${runner[@]}" "$tmp/runner/"
sed -i 's/^  replicas: 2$/  replicas: 3/' "$tmp/runner/statefulset.yaml"
if out="$(timeout 60 "$k8scheck" "$tmp"/runner/*.yaml 2>&1)"; then
    bad "k8scheck accepted replicas that BATON_SHARDS does not match"
else
    echo "$out" | sed 's/^/    expected: /'
    ok "k8scheck rejects replicas that BATON_SHARDS does not match"
fi
program="$root/target/debug/baton-confluence-datacenter"
if [[ -x "$program" ]]; then
    "$venv/bin/python" -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["data"]["tenants.toml"])' \
        "$runner_dir/configmap.yaml" > "$tmp/tenants.toml"
    if out="$(timeout 60 "$program" serve --tenants "$tmp/tenants.toml" --check 2>&1)"; then
        echo "$out" | sed 's/^/    /'
        ok "the runner's tenants file passes serve --check"
    else
        echo "$out" >&2
        bad "the runner's tenants file fails serve --check"
    fi
else
    bad "$program is missing: make build first (make test does)"
fi

echo "k8s-manifests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
