package deploy

import (
	"path"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Security properties of the manifests: credentials from Secrets, the Raft port closed to
// everything but the members, a pinned image, bounded memory.

// credentialFlags are the flags naming key, certificate and token files: each must be read
// from a mounted Secret.
var credentialFlags = []string{"peer-tls-cert", "peer-tls-key", "peer-tls-ca",
	"tls-cert", "tls-key", "tls-ca", "tls-client-ca", "auth-tokens-file", "node-token-file"}

// TestCredentialsFromSecrets: peer mTLS is on, and every credential file a flag names lies
// in a read-only mount of a Secret volume, mounted whole (a subPath mount never sees a
// rotated Secret).
func TestCredentialsFromSecrets(t *testing.T) {
	known := binaryFlags(t)
	m := loadManifests(t)
	c := m.octopusContainer(t)
	where := m.stsWhere + " container " + c.Name
	cl := parseArgs(c.Args, known)
	for _, f := range []string{"peer-tls-cert", "peer-tls-key", "peer-tls-ca"} {
		if _, ok := known[f]; !ok {
			t.Fatalf("the binary has no --%s flag", f)
		}
		if _, ok := cl.get(f); !ok {
			t.Errorf("%s: --%s is not set: the Raft port would accept any process that reaches it", where, f)
		}
	}
	secretVolumes := map[string]string{}
	for _, v := range m.sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret.SecretName
		}
	}
	for _, f := range credentialFlags {
		file, ok := cl.get(f)
		if !ok {
			continue
		}
		file = path.Clean(file)
		found := false
		for _, vm := range c.VolumeMounts {
			dir := path.Clean(vm.MountPath)
			if !strings.HasPrefix(file, dir+"/") {
				continue
			}
			found = true
			if secretVolumes[vm.Name] == "" {
				t.Errorf("%s: --%s=%s is in mount %q, which is not a Secret volume", where, f, file, vm.Name)
			}
			if vm.SubPath != "" {
				t.Errorf("%s: --%s=%s: mount %q uses subPath, so Secret updates (certificate rotation) never reach it", where, f, file, vm.Name)
			}
			if !vm.ReadOnly {
				t.Errorf("%s: mount %q of --%s is not readOnly", where, vm.Name, f)
			}
		}
		if !found {
			t.Errorf("%s: --%s=%s is not under any volume mount", where, f, file)
		}
	}
}

// TestNetworkPolicy: a policy selects the pods, and the Raft port admits only the
// StatefulSet's own pods; the client port stays reachable.
func TestNetworkPolicy(t *testing.T) {
	m := loadManifests(t)
	c := m.octopusContainer(t)
	podLabels := m.sts.Spec.Template.Labels
	raftOpen, clientOpen, selected := false, false, false
	for _, p := range m.policies {
		if !selects(p.Spec.PodSelector.MatchLabels, podLabels) {
			continue
		}
		if len(p.Spec.PolicyTypes) > 0 && !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		selected = true
		for i, rule := range p.Spec.Ingress {
			covers := func(port int) bool {
				if len(rule.Ports) == 0 {
					return true // every port
				}
				for _, rp := range rule.Ports {
					if rp.Port == nil {
						return true
					}
					n, ok := resolvePort(c, *rp.Port)
					if ok && (n == port || (rp.EndPort != nil && n <= port && port <= int(*rp.EndPort))) {
						return true
					}
				}
				return false
			}
			onlyMembers := len(rule.From) > 0
			for _, f := range rule.From {
				if f.PodSelector == nil || f.NamespaceSelector != nil || f.IPBlock != nil || !selects(f.PodSelector.MatchLabels, podLabels) {
					onlyMembers = false
				}
			}
			if covers(raftPort) {
				raftOpen = true
				if !onlyMembers {
					t.Errorf("NetworkPolicy %s ingress rule %d opens the Raft port %d to more than the StatefulSet's pods", p.Name, i, raftPort)
				}
			}
			if covers(clientPort) {
				clientOpen = true
			}
		}
	}
	if !selected {
		t.Fatalf("no NetworkPolicy selects the pods %v for ingress: the Raft port is open to every pod", podLabels)
	}
	if !raftOpen {
		t.Errorf("the NetworkPolicies close the Raft port %d to the members themselves", raftPort)
	}
	if !clientOpen {
		t.Errorf("the NetworkPolicies close the client port %d (clients, probes)", clientPort)
	}
}

// TestImagePinned: the image has a tag other than latest, in the StatefulSet and in the
// kustomization's override.
func TestImagePinned(t *testing.T) {
	m := loadManifests(t)
	c := m.octopusContainer(t)
	ref := c.Image
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	name, tag, _ := strings.Cut(ref, ":")
	if !strings.Contains(c.Image, "@sha256:") && (tag == "" || tag == "latest") {
		t.Errorf("%s: image %q: pin a tag (not latest), so every member runs the same build", m.stsWhere, c.Image)
	}
	if m.kustomize != nil {
		for _, img := range m.kustomize.Images {
			if img.Name == name && img.Digest == "" && (img.NewTag == "" || img.NewTag == "latest") {
				t.Errorf("%s: images sets %s to tag %q: pin a tag (not latest)", m.kustomizeDoc, img.Name, img.NewTag)
			}
		}
	}
}

// TestMemoryBounded: memory is requested and limited (request ≤ limit), and GOMEMLIMIT, when
// set, is below the limit.
func TestMemoryBounded(t *testing.T) {
	m := loadManifests(t)
	c := m.octopusContainer(t)
	req, okR := c.Resources.Requests[corev1.ResourceMemory]
	lim, okL := c.Resources.Limits[corev1.ResourceMemory]
	if !okR || req.Sign() <= 0 {
		t.Errorf("%s: memory request %q", m.stsWhere, req.String())
	}
	if !okL || lim.Sign() <= 0 {
		t.Fatalf("%s: memory limit %q: set one, so a runaway node is restarted instead of starving its neighbours", m.stsWhere, lim.String())
	}
	limB := lim.Value()
	if okR && req.Cmp(lim) > 0 {
		t.Errorf("%s: memory request %s above the limit %s", m.stsWhere, req.String(), lim.String())
	}
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" || e.ValueFrom != nil {
			continue
		}
		q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B")) // Go's 900MiB is 900Mi
		if err != nil || q.Value() >= limB {
			t.Errorf("%s: GOMEMLIMIT=%s is not below the memory limit %s", m.stsWhere, e.Value, lim.String())
		}
	}
}
