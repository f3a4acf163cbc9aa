package deploy

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Security properties of the manifests: credentials from Secrets, the Raft port closed to
// everything but the members, a pinned image, bounded memory.

type volume struct {
	Name   string `yaml:"name"`
	Secret *struct {
		SecretName string `yaml:"secretName"`
	} `yaml:"secret"`
}

type networkPolicy struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		PodSelector labelSelector `yaml:"podSelector"`
		PolicyTypes []string      `yaml:"policyTypes"`
		Ingress     []struct {
			From []struct {
				PodSelector       *labelSelector `yaml:"podSelector"`
				NamespaceSelector *labelSelector `yaml:"namespaceSelector"`
				IPBlock           *struct {
					CIDR string `yaml:"cidr"`
				} `yaml:"ipBlock"`
			} `yaml:"from"`
			Ports []struct {
				Port    *intOrString `yaml:"port"`
				EndPort *int         `yaml:"endPort"`
			} `yaml:"ports"`
		} `yaml:"ingress"`
	} `yaml:"spec"`
}

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
	podLabels := m.sts.Spec.Template.Metadata.Labels
	var policies []networkPolicy
	for _, d := range m.docs {
		if d.head.Kind == "NetworkPolicy" {
			if d.head.APIVersion != "networking.k8s.io/v1" {
				t.Errorf("%s: NetworkPolicy apiVersion %q, want networking.k8s.io/v1", d.where, d.head.APIVersion)
			}
			var p networkPolicy
			d.decode(t, &p)
			policies = append(policies, p)
		}
	}
	raftOpen, clientOpen, selected := false, false, false
	for _, p := range policies {
		if !selects(p.Spec.PodSelector.MatchLabels, podLabels) {
			continue
		}
		if len(p.Spec.PolicyTypes) > 0 && !slices.Contains(p.Spec.PolicyTypes, "Ingress") {
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
					if ok && (n == port || (rp.EndPort != nil && n <= port && port <= *rp.EndPort)) {
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
					t.Errorf("NetworkPolicy %s ingress rule %d opens the Raft port %d to more than the StatefulSet's pods", p.Metadata.Name, i, raftPort)
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
	req, lim := c.Resources.Requests["memory"], c.Resources.Limits["memory"]
	reqB, okR := quantityBytes(req)
	limB, okL := quantityBytes(lim)
	if !okR {
		t.Errorf("%s: memory request %q", m.stsWhere, req)
	}
	if !okL {
		t.Fatalf("%s: memory limit %q: set one, so a runaway node is restarted instead of starving its neighbours", m.stsWhere, lim)
	}
	if okR && reqB > limB {
		t.Errorf("%s: memory request %s above the limit %s", m.stsWhere, req, lim)
	}
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" || e.ValueFrom != nil {
			continue
		}
		b, ok := quantityBytes(strings.TrimSuffix(e.Value, "B")) // Go's 900MiB is 900Mi
		if !ok || b >= limB {
			t.Errorf("%s: GOMEMLIMIT=%s is not below the memory limit %s", m.stsWhere, e.Value, lim)
		}
	}
}

// quantityBytes reads the binary-suffixed Kubernetes quantities used here (Ki, Mi, Gi) and
// plain byte counts.
func quantityBytes(q string) (int64, bool) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if s, ok := strings.CutSuffix(q, suffix); ok {
			q, mult = s, m
			break
		}
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n * mult, true
}
