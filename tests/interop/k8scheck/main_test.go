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
		{"unknown kind", "secret", "kind: Secret", "kind: ConfigMap", "unexpected object"},
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
