// k8scheck checks the Kubernetes manifests of deploy/kubernetes without a cluster and
// without network access:
//
//   - every YAML document is decoded strictly into the real Kubernetes API types
//     (k8s.io/api apps/v1 Deployment, core/v1 Secret): an unknown or misspelt field, a
//     duplicate key or a value of the wrong type is an error;
//   - the Secret holds every setting the connector reads, as stringData;
//   - the Deployment runs one replica of the connector in service mode with the health
//     check, takes its settings from that Secret (envFrom), probes /healthz and /readyz
//     on the health port, has resource requests and limits, runs as a numeric non-root
//     user with a read-only root filesystem, no privilege escalation, no capabilities
//     and the RuntimeDefault seccomp profile, and gets a writable emptyDir at TMPDIR;
//   - the multi-tenant runner (deploy/kubernetes/runner, recognised by its StatefulSet) has
//     the rules of runner.go.
//
// Usage: k8scheck FILE.yaml... ; exit status 1 and one line per problem when a check fails.
package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The settings the connector reads in service mode; the Secret must carry each one.
var secretKeys = []string{
	"BATON_CLIENT_ID",
	"BATON_CLIENT_SECRET",
	"BATON_ACCESS_TOKEN",
	"BATON_HOSTNAME",
	"BATON_USERNAME",
	"BATON_PASSWORD",
	"BATON_PROVISIONING",
}

const (
	imageName  = "baton-confluence-datacenter"
	healthPath = "/healthz"
	readyPath  = "/readyz"
	healthPort = 8081
)

// manifests is what the files hold, by kind.
type manifests struct {
	secrets      []*corev1.Secret
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	configMaps   []*corev1.ConfigMap
	services     []*corev1.Service
}

// load decodes every document of every file strictly into its API type.
func load(paths []string) (*manifests, []string) {
	m := &manifests{}
	var problems []string
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for i, doc := range splitDocuments(data) {
			where := fmt.Sprintf("%s (document %d)", path, i+1)
			if err := m.decode(doc); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where, err))
			}
		}
	}
	return m, problems
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocuments splits a YAML stream on `---` lines, dropping documents that hold
// only comments or blank lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, part := range separator.Split(string(data), -1) {
		meaningful := false
		for _, line := range strings.Split(part, "\n") {
			trimmed := strings.TrimSpace(line)
			if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
				meaningful = true
				break
			}
		}
		if meaningful {
			docs = append(docs, []byte(part))
		}
	}
	return docs
}

func (m *manifests) decode(doc []byte) error {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 Secret":
		var s corev1.Secret
		if err := strict(doc, &s); err != nil {
			return err
		}
		m.secrets = append(m.secrets, &s)
	case "apps/v1 Deployment":
		var d appsv1.Deployment
		if err := strict(doc, &d); err != nil {
			return err
		}
		m.deployments = append(m.deployments, &d)
	case "apps/v1 StatefulSet":
		var s appsv1.StatefulSet
		if err := strict(doc, &s); err != nil {
			return err
		}
		m.statefulSets = append(m.statefulSets, &s)
	case "v1 ConfigMap":
		var c corev1.ConfigMap
		if err := strict(doc, &c); err != nil {
			return err
		}
		m.configMaps = append(m.configMaps, &c)
	case "v1 Service":
		var s corev1.Service
		if err := strict(doc, &s); err != nil {
			return err
		}
		m.services = append(m.services, &s)
	default:
		return fmt.Errorf("unexpected object %q %q (this checker knows v1 Secret, ConfigMap and Service, apps/v1 Deployment and StatefulSet)", meta.APIVersion, meta.Kind)
	}
	return nil
}

// strict decodes as the API server does: YAML to JSON (duplicate keys rejected), then
// case-sensitive JSON decoding with unknown and duplicate fields rejected.
func strict(doc []byte, into any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	strictErrs, err := sigsjson.UnmarshalStrict(js, into, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return fmt.Errorf("does not decode into %T: %w", into, err)
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("does not decode strictly into %T: %s", into, strings.Join(msgs, "; "))
	}
	return nil
}

// check runs every assertion over what was loaded.
func check(m *manifests) []string {
	if len(m.statefulSets) > 0 {
		return checkRunner(m)
	}
	var p problems
	if len(m.secrets) != 1 {
		p.add("want exactly one Secret, found %d", len(m.secrets))
	}
	if len(m.deployments) != 1 {
		p.add("want exactly one Deployment, found %d", len(m.deployments))
	}
	for _, s := range m.secrets {
		checkSecret(&p, s)
	}
	for _, d := range m.deployments {
		checkDeployment(&p, d, m.secrets)
	}
	return p.list
}

type problems struct{ list []string }

func (p *problems) add(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func checkSecret(p *problems, s *corev1.Secret) {
	name := "Secret " + s.Name
	if s.Name == "" {
		p.add("Secret has no metadata.name")
	}
	if s.Type != "" && s.Type != corev1.SecretTypeOpaque {
		p.add("%s: type %q, want Opaque", name, s.Type)
	}
	if len(s.Data) != 0 {
		p.add("%s: use stringData for the placeholders, not data", name)
	}
	var missing, unexpected []string
	for _, key := range secretKeys {
		if _, ok := s.StringData[key]; !ok {
			missing = append(missing, key)
		}
	}
	for key := range s.StringData {
		if !slices.Contains(secretKeys, key) {
			unexpected = append(unexpected, key)
		}
	}
	sort.Strings(unexpected)
	if len(missing) > 0 {
		p.add("%s: stringData lacks %s", name, strings.Join(missing, ", "))
	}
	if len(unexpected) > 0 {
		p.add("%s: stringData has keys the connector does not read: %s", name, strings.Join(unexpected, ", "))
	}
}

func checkDeployment(p *problems, d *appsv1.Deployment, secrets []*corev1.Secret) {
	name := "Deployment " + d.Name
	if d.Name == "" {
		p.add("Deployment has no metadata.name")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		p.add("%s: spec.replicas must be 1 (one connector instance takes the tasks)", name)
	}
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		p.add("%s: spec.selector.matchLabels is empty", name)
	} else {
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				p.add("%s: selector %s=%s does not match the pod template's labels", name, k, v)
			}
		}
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		p.add("%s: want exactly one container, found %d", name, len(pod.Containers))
		return
	}
	c := pod.Containers[0]
	where := fmt.Sprintf("%s container %s", name, c.Name)
	if c.Name == "" {
		p.add("%s: the container has no name (required)", name)
	}

	// Image and service mode.
	if repo := imageRepository(c.Image); repo != imageName && !strings.HasSuffix(repo, "/"+imageName) {
		p.add("%s: image %q is not %s[:tag]", where, c.Image, imageName)
	}
	if !slices.Contains(c.Args, "--health-check") {
		p.add("%s: args lack --health-check", where)
	}
	if v, ok := flagValue(c.Args, "--health-check-port"); ok && v != fmt.Sprint(healthPort) {
		p.add("%s: --health-check-port=%s, but the probes use %d", where, v, healthPort)
	}
	if v, ok := flagValue(c.Args, "--health-check-bind-address"); ok && v != "0.0.0.0" {
		p.add("%s: --health-check-bind-address=%s: the kubelet probes the pod IP, bind 0.0.0.0", where, v)
	}

	// Settings from the Secret.
	secretName := ""
	for _, from := range c.EnvFrom {
		if from.SecretRef != nil {
			secretName = from.SecretRef.Name
			if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
				p.add("%s: envFrom secretRef %s must not be optional", where, secretName)
			}
		}
	}
	if secretName == "" {
		p.add("%s: no envFrom secretRef", where)
	} else if len(secrets) > 0 && !slices.ContainsFunc(secrets, func(s *corev1.Secret) bool { return s.Name == secretName }) {
		p.add("%s: envFrom names Secret %q, which the manifests do not define", where, secretName)
	}
	for _, e := range c.Env {
		if slices.Contains(secretKeys, e.Name) {
			p.add("%s: env sets %s directly; it belongs in the Secret", where, e.Name)
		}
	}

	// Probes on the health port.
	port := healthContainerPort(c)
	if port == nil {
		p.add("%s: no containerPort %d", where, healthPort)
	}
	checkProbe(p, where, "livenessProbe", c.LivenessProbe, healthPath, port)
	checkProbe(p, where, "readinessProbe", c.ReadinessProbe, readyPath, port)
	if c.StartupProbe != nil {
		checkProbe(p, where, "startupProbe", c.StartupProbe, healthPath, port)
	}

	// Resources.
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		lim, hasLim := c.Resources.Limits[res]
		if !hasReq {
			p.add("%s: no %s request", where, res)
		}
		if !hasLim {
			p.add("%s: no %s limit", where, res)
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			p.add("%s: %s request %s is above its limit %s", where, res, req.String(), lim.String())
		}
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && lim.Cmp(resource.MustParse("256Mi")) < 0 {
		p.add("%s: memory limit %s is below one connector instance's default cap (256Mi)", where, lim.String())
	}

	checkSecurity(p, where, pod.SecurityContext, c.SecurityContext)

	// A writable emptyDir at TMPDIR.
	tmpdir := ""
	for _, e := range c.Env {
		if e.Name == "TMPDIR" {
			tmpdir = e.Value
		}
	}
	if tmpdir == "" {
		p.add("%s: env TMPDIR is not set", where)
	} else {
		mounted := false
		for _, m := range c.VolumeMounts {
			if m.MountPath != tmpdir {
				continue
			}
			mounted = true
			if m.ReadOnly {
				p.add("%s: the volume at TMPDIR %s is mounted read-only", where, tmpdir)
			}
			if v := volume(pod.Volumes, m.Name); v == nil {
				p.add("%s: volumeMount %s names no volume", where, m.Name)
			} else if v.EmptyDir == nil {
				p.add("%s: the volume at TMPDIR %s is not an emptyDir", where, tmpdir)
			}
		}
		if !mounted {
			p.add("%s: nothing is mounted at TMPDIR %s (the root filesystem is read-only)", where, tmpdir)
		}
	}
}

func checkProbe(p *problems, where, which string, probe *corev1.Probe, path string, port *corev1.ContainerPort) {
	if probe == nil {
		p.add("%s: no %s", where, which)
		return
	}
	if probe.HTTPGet == nil {
		p.add("%s: %s is not an httpGet probe", where, which)
		return
	}
	if probe.HTTPGet.Path != path {
		p.add("%s: %s path %q, want %q", where, which, probe.HTTPGet.Path, path)
	}
	if port == nil {
		return
	}
	target := probe.HTTPGet.Port
	switch {
	case target.Type == intstr.Int && target.IntVal == port.ContainerPort:
	case target.Type == intstr.String && port.Name != "" && target.StrVal == port.Name:
	default:
		p.add("%s: %s port %s is not the health port %d (%s)", where, which, target.String(), port.ContainerPort, port.Name)
	}
}

// checkSecurity asserts the effective settings: the container's own where it sets one,
// else the pod's.
func checkSecurity(p *problems, where string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if c == nil {
		p.add("%s: no securityContext", where)
		c = &corev1.SecurityContext{}
	}
	runAsNonRoot := first(c.RunAsNonRoot, pod.RunAsNonRoot)
	if runAsNonRoot == nil || !*runAsNonRoot {
		p.add("%s: runAsNonRoot is not true", where)
	}
	if uid := first(c.RunAsUser, pod.RunAsUser); uid == nil {
		p.add("%s: no numeric runAsUser (runAsNonRoot cannot be verified for a named user)", where)
	} else if *uid == 0 {
		p.add("%s: runAsUser is 0 (root)", where)
	}
	if gid := first(c.RunAsGroup, pod.RunAsGroup); gid == nil {
		p.add("%s: no numeric runAsGroup", where)
	} else if *gid == 0 {
		p.add("%s: runAsGroup is 0 (root)", where)
	}
	// The pod's settings must not say otherwise either, even where the container overrides them.
	if pod.RunAsNonRoot != nil && !*pod.RunAsNonRoot {
		p.add("%s: the pod's runAsNonRoot is false", where)
	}
	if pod.RunAsUser != nil && *pod.RunAsUser == 0 {
		p.add("%s: the pod's runAsUser is 0 (root)", where)
	}
	if pod.RunAsGroup != nil && *pod.RunAsGroup == 0 {
		p.add("%s: the pod's runAsGroup is 0 (root)", where)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		p.add("%s: readOnlyRootFilesystem is not true", where)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		p.add("%s: allowPrivilegeEscalation is not false", where)
	}
	if c.Privileged != nil && *c.Privileged {
		p.add("%s: privileged", where)
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") {
		p.add("%s: capabilities do not drop ALL", where)
	} else if len(c.Capabilities.Add) > 0 {
		p.add("%s: capabilities add %v", where, c.Capabilities.Add)
	}
	seccomp := c.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p.add("%s: seccompProfile is not RuntimeDefault", where)
	}
}

func first[T any](values ...*T) *T {
	for _, v := range values {
		if v != nil {
			return v
		}
	}
	return nil
}

func healthContainerPort(c corev1.Container) *corev1.ContainerPort {
	for i := range c.Ports {
		if c.Ports[i].ContainerPort == healthPort {
			return &c.Ports[i]
		}
	}
	return nil
}

func volume(volumes []corev1.Volume, name string) *corev1.Volume {
	for i := range volumes {
		if volumes[i].Name == name {
			return &volumes[i]
		}
	}
	return nil
}

// imageRepository is the image reference without its tag or digest.
func imageRepository(image string) string {
	if at := strings.Index(image, "@"); at >= 0 {
		image = image[:at]
	}
	if colon := strings.LastIndex(image, ":"); colon > strings.LastIndex(image, "/") {
		image = image[:colon]
	}
	return image
}

// flagValue finds `--flag=value` or `--flag value` among args.
func flagValue(args []string, flag string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
		if a == flag && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8scheck FILE.yaml...")
		os.Exit(2)
	}
	m, problems := load(os.Args[1:])
	if len(problems) == 0 {
		problems = check(m)
	}
	if len(problems) > 0 {
		var b bytes.Buffer
		for _, p := range problems {
			fmt.Fprintf(&b, "k8scheck: %s\n", p)
		}
		os.Stderr.Write(b.Bytes())
		os.Exit(1)
	}
	fmt.Printf("k8scheck: %s: %d Secret, %d Deployment, %d StatefulSet, %d ConfigMap, %d Service: strict decode and all checks passed\n",
		strings.Join(os.Args[1:], " "), len(m.secrets), len(m.deployments), len(m.statefulSets), len(m.configMaps), len(m.services))
}
