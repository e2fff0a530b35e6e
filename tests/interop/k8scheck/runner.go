// The rules of the multi-tenant runner's manifests (deploy/kubernetes/runner): a StatefulSet
// whose replicas each run `serve --tenants FILE` and take the tenants whose hash falls to
// their ordinal, its headless governing Service, the tenants file in a ConfigMap and the
// tenants' secrets mounted from a Secret.
package main

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// checkRunner asserts what the runner needs to work and to be safe.
func checkRunner(m *manifests) []string {
	var p problems
	if len(m.statefulSets) != 1 || len(m.configMaps) != 1 || len(m.services) != 1 || len(m.secrets) < 1 {
		p.add("want one StatefulSet, one ConfigMap, one Service and a Secret; found %d, %d, %d and %d", len(m.statefulSets), len(m.configMaps), len(m.services), len(m.secrets))
		return p.list
	}
	s := m.statefulSets[0]
	name := "StatefulSet " + s.Name
	service := m.services[0]
	if s.Spec.ServiceName != service.Name {
		p.add("%s: serviceName %q is not the Service %q", name, s.Spec.ServiceName, service.Name)
	}
	if service.Spec.ClusterIP != corev1.ClusterIPNone {
		p.add("Service %s: a StatefulSet's governing Service is headless (clusterIP: None)", service.Name)
	}
	if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		p.add("%s: podManagementPolicy must be Parallel (replicas are independent)", name)
	}
	if s.Spec.Replicas == nil || *s.Spec.Replicas < 1 {
		p.add("%s: spec.replicas must be set, at least 1", name)
		return p.list
	}
	if s.Spec.Selector == nil || len(s.Spec.Selector.MatchLabels) == 0 {
		p.add("%s: spec.selector.matchLabels is empty", name)
	} else {
		for k, v := range s.Spec.Selector.MatchLabels {
			if s.Spec.Template.Labels[k] != v || service.Spec.Selector[k] != v {
				p.add("%s: selector %s=%s does not match the pod template's or the Service's", name, k, v)
			}
		}
	}
	pod := s.Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		p.add("%s: automountServiceAccountToken must be false (the runner never calls the API)", name)
	}
	if len(pod.Containers) != 1 {
		p.add("%s: want exactly one container, found %d", name, len(pod.Containers))
		return p.list
	}
	c := pod.Containers[0]
	where := fmt.Sprintf("%s container %s", name, c.Name)
	if repo := imageRepository(c.Image); repo != imageName && !strings.HasSuffix(repo, "/"+imageName) {
		p.add("%s: image %q is not %s[:tag]", where, c.Image, imageName)
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		p.add("%s: args must start with serve", where)
	}
	if hasFlag(c.Args, "--once") {
		p.add("%s: --once would exit after one round and restart the pod for ever", where)
	}

	// Sharding: the replica count the runner is told is the StatefulSet's.
	shards := ""
	for _, e := range c.Env {
		if e.Name == "BATON_SHARDS" {
			shards = e.Value
		}
	}
	if shards != strconv.Itoa(int(*s.Spec.Replicas)) {
		p.add("%s: env BATON_SHARDS is %q but spec.replicas is %d: change both together", where, shards, *s.Spec.Replicas)
	}

	// The tenants file from the ConfigMap.
	tenants, _ := flagValue(c.Args, "--tenants")
	if tenants == "" {
		p.add("%s: no --tenants FILE", where)
	} else if mount, volume := mountOf(c, pod.Volumes, path.Dir(tenants)); mount == nil {
		p.add("%s: nothing is mounted at %s, where --tenants points", where, path.Dir(tenants))
	} else if volume == nil || volume.ConfigMap == nil || volume.ConfigMap.Name != m.configMaps[0].Name {
		p.add("%s: %s is not the ConfigMap %s", where, mount.MountPath, m.configMaps[0].Name)
	} else if _, ok := m.configMaps[0].Data[path.Base(tenants)]; !ok {
		p.add("ConfigMap %s: no key %s, the file --tenants names", m.configMaps[0].Name, path.Base(tenants))
	}

	// Secrets as read-only files from a Secret the manifests define.
	secretMounted := false
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		secretMounted = true
		defined := false
		for _, secret := range m.secrets {
			defined = defined || secret.Name == v.Secret.SecretName
		}
		if !defined {
			p.add("%s: volume %s names Secret %q, which the manifests do not define", where, v.Name, v.Secret.SecretName)
		}
		if v.Secret.DefaultMode != nil && *v.Secret.DefaultMode&0o007 != 0 {
			p.add("%s: volume %s makes secrets readable by others (defaultMode %o)", where, v.Name, *v.Secret.DefaultMode)
		}
		for _, mount := range c.VolumeMounts {
			if mount.Name == v.Name && !mount.ReadOnly {
				p.add("%s: the secrets at %s are not mounted read-only", where, mount.MountPath)
			}
		}
	}
	if !secretMounted {
		p.add("%s: no Secret is mounted (tenants' secrets come from files)", where)
	}

	// Outputs on the replica's own volume.
	claimed := false
	for _, claim := range s.Spec.VolumeClaimTemplates {
		for _, mount := range c.VolumeMounts {
			if mount.Name == claim.Name && !mount.ReadOnly {
				claimed = true
			}
		}
	}
	if !claimed {
		p.add("%s: no writable volume from volumeClaimTemplates for the tenants' files", where)
	}

	// Probes on the --listen port.
	listen, _ := flagValue(c.Args, "--listen")
	host, portText, found := strings.Cut(listen, ":")
	if !found || host != "0.0.0.0" {
		p.add("%s: --listen=%q: the kubelet probes the pod IP, listen on 0.0.0.0:PORT", where, listen)
	}
	var port *corev1.ContainerPort
	for i := range c.Ports {
		if strconv.Itoa(int(c.Ports[i].ContainerPort)) == portText {
			port = &c.Ports[i]
		}
	}
	if port == nil {
		p.add("%s: no containerPort for --listen %s", where, listen)
	}
	checkProbe(&p, where, "livenessProbe", c.LivenessProbe, healthPath, port)
	checkProbe(&p, where, "readinessProbe", c.ReadinessProbe, readyPath, port)

	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			p.add("%s: no %s request", where, res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			p.add("%s: no %s limit", where, res)
		}
	}
	checkSecurity(&p, where, pod.SecurityContext, c.SecurityContext)
	return p.list
}

// mountOf is the container's mount at dir and the volume behind it.
func mountOf(c corev1.Container, volumes []corev1.Volume, dir string) (*corev1.VolumeMount, *corev1.Volume) {
	for i := range c.VolumeMounts {
		if path.Clean(c.VolumeMounts[i].MountPath) == path.Clean(dir) {
			return &c.VolumeMounts[i], volume(volumes, c.VolumeMounts[i].Name)
		}
	}
	return nil, nil
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}
