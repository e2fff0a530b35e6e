package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const manifestDir = "../../../deploy/kubernetes"

func read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// run writes the two manifests into a temporary directory and checks them there.
func run(t *testing.T, secret, deployment string) []string {
	t.Helper()
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "secret.yaml"), filepath.Join(dir, "deployment.yaml")}
	for i, text := range []string{secret, deployment} {
		if err := os.WriteFile(paths[i], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, problems := load(paths)
	if len(problems) > 0 {
		return problems
	}
	return check(m)
}

func TestShippedManifestsPass(t *testing.T) {
	if problems := run(t, read(t, "secret.yaml"), read(t, "deployment.yaml")); len(problems) > 0 {
		t.Fatalf("deploy/kubernetes does not pass:\n%s", strings.Join(problems, "\n"))
	}
}

func TestBrokenManifestsFail(t *testing.T) {
	cases := []struct {
		name       string
		file       string // "secret" or "deployment"
		old, new   string
		wantSubstr string
	}{
		{"misspelt field", "deployment", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", "unknown field"},
		{"unknown field", "deployment", "replicas: 1", "replicas: 1\n  replica: 1", "unknown field"},
		{"wrong type", "deployment", "replicas: 1", `replicas: "one"`, "does not decode"},
		{"duplicate key", "deployment", "replicas: 1", "replicas: 1\n  replicas: 1", "already set"},
		{"two replicas", "deployment", "replicas: 1", "replicas: 2", "spec.replicas must be 1"},
		{"root user", "deployment", "        runAsUser: 65532", "        runAsUser: 0", "the pod's runAsUser is 0"},
		{"container root user", "deployment", "            runAsUser: 65532", "            runAsUser: 0", "runAsUser is 0"},
		{"non-root off", "deployment", "            runAsNonRoot: true", "            runAsNonRoot: false", "runAsNonRoot is not true"},
		{"writable root", "deployment", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"privilege escalation", "deployment", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"},
		{"capabilities kept", "deployment", "                - ALL", "                - NET_RAW", "do not drop ALL"},
		{"seccomp unconfined", "deployment", "            seccompProfile:\n              type: RuntimeDefault", "            seccompProfile:\n              type: Unconfined", "seccompProfile is not RuntimeDefault"},
		{"no health check", "deployment", "            - --health-check\n", "", "lack --health-check"},
		{"other health port", "deployment", "--health-check-port=8081", "--health-check-port=9090", "--health-check-port=9090"},
		{"startup path", "deployment", "path: /healthz", "path: /health", "startupProbe path"},
		{"liveness path", "deployment", "          livenessProbe:\n            httpGet:\n              path: /healthz", "          livenessProbe:\n            httpGet:\n              path: /health", "livenessProbe path"},
		{"readiness port", "deployment", "              path: /readyz\n              port: health", "              path: /readyz\n              port: 8080", "readinessProbe port"},
		{"other secret", "deployment", "                name: baton-confluence-datacenter", "                name: other", "do not define"},
		{"no tmp volume", "deployment", "              mountPath: /tmp", "              mountPath: /scratch", "nothing is mounted at TMPDIR"},
		{"request above limit", "deployment", "memory: 256Mi", "memory: 1Gi", "above its limit"},
		{"no limits", "deployment", "            limits:\n              cpu: \"1\"\n              memory: 512Mi\n", "", "no cpu limit"},
		{"other image", "deployment", "image: baton-confluence-datacenter:latest", "image: busybox:latest", "is not baton-confluence-datacenter"},
		{"secret lacks a key", "secret", "  BATON_PROVISIONING: \"false\"\n", "", "lacks BATON_PROVISIONING"},
		{"secret extra key", "secret", "  BATON_PROVISIONING: \"false\"\n", "  BATON_PROVISIONING: \"false\"\n  BATON_TOKEN: x\n", "does not read: BATON_TOKEN"},
		{"nameless container", "deployment", "        - name: connector\n", "        - stdin: false\n", "has no name"},
		{"unknown kind", "secret", "kind: Secret", "kind: Ingress", "unexpected object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret, deployment := read(t, "secret.yaml"), read(t, "deployment.yaml")
			target := &deployment
			if tc.file == "secret" {
				target = &secret
			}
			if !strings.Contains(*target, tc.old) {
				t.Fatalf("the %s manifest no longer contains %q: update this case", tc.file, tc.old)
			}
			*target = strings.Replace(*target, tc.old, tc.new, 1)
			problems := run(t, secret, deployment)
			if len(problems) == 0 {
				t.Fatalf("broken manifest passed")
			}
			joined := strings.Join(problems, "\n")
			if !strings.Contains(joined, tc.wantSubstr) {
				t.Fatalf("want a problem mentioning %q, got:\n%s", tc.wantSubstr, joined)
			}
		})
	}
}

func TestEffectiveRootUserFromThePod(t *testing.T) {
	// With runAsUser removed from the container, the pod's value is the effective one.
	deployment := strings.Replace(read(t, "deployment.yaml"), "            runAsUser: 65532\n", "", 1)
	deployment = strings.Replace(deployment, "        runAsUser: 65532", "        runAsUser: 0", 1)
	problems := run(t, read(t, "secret.yaml"), deployment)
	if !strings.Contains(strings.Join(problems, "\n"), "runAsUser is 0") {
		t.Fatalf("pod-level root user not caught: %v", problems)
	}
}

func TestImageRepository(t *testing.T) {
	for in, want := range map[string]string{
		"baton-confluence-datacenter:latest":                          "baton-confluence-datacenter",
		"registry.example.com:5000/baton-confluence-datacenter":       "registry.example.com:5000/baton-confluence-datacenter",
		"registry.example.com:5000/baton-confluence-datacenter:0.1.0": "registry.example.com:5000/baton-confluence-datacenter",
		"baton-confluence-datacenter@sha256:abc":                      "baton-confluence-datacenter",
	} {
		if got := imageRepository(in); got != want {
			t.Errorf("imageRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

// runRunner checks the runner's manifests, with `edit` applied to the StatefulSet's text.
func runRunner(t *testing.T, edit func(string) string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"configmap.yaml", "secret.yaml", "service.yaml", "statefulset.yaml"} {
		text := read(t, filepath.Join("runner", name))
		if name == "statefulset.yaml" {
			changed := edit(text)
			if changed == text && edit != nil && t.Name() != "TestShippedRunnerManifestsPass" {
				t.Fatalf("the edit changed nothing (statefulset.yaml changed?)")
			}
			text = changed
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	m, problems := load(paths)
	if len(problems) > 0 {
		return problems
	}
	return check(m)
}

func TestShippedRunnerManifestsPass(t *testing.T) {
	if problems := runRunner(t, func(s string) string { return s }); len(problems) > 0 {
		t.Fatalf("deploy/kubernetes/runner does not pass:\n%s", strings.Join(problems, "\n"))
	}
}

func TestRunnerRulesRejectBrokenCopies(t *testing.T) {
	cases := []struct{ old, new, want string }{
		{"replicas: 2", "replicas: 3", "BATON_SHARDS"},
		{"- --listen=0.0.0.0:9090", "- --listen=127.0.0.1:9090", "listen on 0.0.0.0"},
		{"podManagementPolicy: Parallel", "podManagementPolicy: OrderedReady", "Parallel"},
		{"defaultMode: 0440", "defaultMode: 0444", "readable by others"},
		{"- --tenants=/etc/baton/tenants.toml", "- --tenants=/etc/baton/other.toml", "no key other.toml"},
		{"automountServiceAccountToken: false", "automountServiceAccountToken: true", "automountServiceAccountToken"},
		{"            - --log-format=json", "            - --log-format=json\n            - --once", "--once"},
		{"allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation"},
	}
	for _, c := range cases {
		problems := runRunner(t, func(s string) string { return strings.Replace(s, c.old, c.new, 1) })
		if !strings.Contains(strings.Join(problems, "\n"), c.want) {
			t.Errorf("%q -> %q: want a problem naming %q, got:\n%s", c.old, c.new, c.want, strings.Join(problems, "\n"))
		}
	}
}
