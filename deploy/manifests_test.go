package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"
)

// The values the deployment is built around (see API.md §5 and cmd/octopusmq).
const (
	manifestDir  = "kubernetes"
	wantReplicas = 3
	clientPort   = 4123 // --listen: gRPC + HTTP/JSON, /healthz, /readyz
	raftPort     = 4124 // --raft-bind
	readyPath    = "/readyz"
	livePath     = "/healthz"
	// testNamespace stands in for $(POD_NAMESPACE): a manifest that spells out a namespace
	// instead of using the variable or the short in-namespace names would not match it.
	testNamespace = "ns-under-test"
)

// ---------------------------------------------------------------------------------------
// The binary's flags, from `go run ./cmd/octopusmq --help`.

type flagInfo struct {
	typ  string // "" for a bool flag, else "string", "duration", ...
	def  string // default value as printed by --help ("" when none is printed)
	help string
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error

	helpOnce  sync.Once
	helpFlags map[string]flagInfo
	helpErr   error
)

// moduleRoot is the folder holding go.mod, from `go env GOMOD`.
func moduleRoot(t *testing.T) string {
	t.Helper()
	rootOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			rootErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			rootErr = errors.New("go env GOMOD: not inside a module")
			return
		}
		rootDir = filepath.Dir(gomod)
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

// binaryFlags runs the real binary's --help once and returns the flags it defines.
func binaryFlags(t *testing.T) map[string]flagInfo {
	t.Helper()
	root := moduleRoot(t)
	helpOnce.Do(func() { helpFlags, helpErr = readHelp(root) })
	if helpErr != nil {
		t.Fatal(helpErr)
	}
	return helpFlags
}

func readHelp(root string) (map[string]flagInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/octopusmq", "--help")
	cmd.Dir = root
	cmd.WaitDelay = 10 * time.Second
	// OCTOPUSMQ_* variables are read before the flags are parsed; keep them out of the way.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCTOPUSMQ_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("go run ./cmd/octopusmq --help: timed out after 5m\n%s", out)
	}
	if err != nil {
		return nil, fmt.Errorf("go run ./cmd/octopusmq --help: %v\n%s", err, out)
	}
	flags := parseHelp(string(out))
	if len(flags) == 0 {
		return nil, fmt.Errorf("go run ./cmd/octopusmq --help printed no flags:\n%s", out)
	}
	return flags, nil
}

var (
	helpFlagLine = regexp.MustCompile(`^\s{1,4}-([A-Za-z0-9][A-Za-z0-9._-]*)(?:\s+(\S+))?\s*$`)
	helpDefault  = regexp.MustCompile(`\(default (?:"(.*)"|(.*))\)\s*$`)
)

// parseHelp reads the flag package's PrintDefaults format: "  -name type" followed by
// indented usage lines, the last of which may end in "(default ...)".
func parseHelp(out string) map[string]flagInfo {
	flags := map[string]flagInfo{}
	var cur string
	var usage []string
	flush := func() {
		if cur == "" {
			return
		}
		fi := flags[cur]
		fi.help = strings.Join(usage, " ")
		if m := helpDefault.FindStringSubmatch(fi.help); m != nil {
			fi.def = m[1] + m[2]
		}
		flags[cur] = fi
		cur, usage = "", nil
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := helpFlagLine.FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, "    \t") {
			flush()
			cur = m[1]
			flags[cur] = flagInfo{typ: m[2]}
			continue
		}
		if cur != "" && strings.HasPrefix(line, "    \t") {
			usage = append(usage, strings.TrimSpace(line))
		}
	}
	flush()
	return flags
}

// ---------------------------------------------------------------------------------------
// Command lines as the binary's flag package reads them.

type flagUse struct {
	name, value string
}

type cmdline struct {
	uses       []flagUse
	positional []string // the binary takes none; the flag package stops at the first
}

// parseArgs splits argv (without the program name) the way flag.FlagSet.Parse does.
func parseArgs(args []string, known map[string]flagInfo) cmdline {
	var c cmdline
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			c.positional = append(c.positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			c.positional = append(c.positional, args[i:]...)
			break
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		if !hasValue {
			fi, ok := known[name]
			if (!ok || fi.typ != "") && i+1 < len(args) {
				i++
				value = args[i]
			}
		}
		c.uses = append(c.uses, flagUse{name: name, value: value})
	}
	return c
}

// get returns a flag's effective value: the last occurrence wins, as with the flag package.
func (c cmdline) get(name string) (string, bool) {
	for i := len(c.uses) - 1; i >= 0; i-- {
		if c.uses[i].name == name {
			return c.uses[i].value, true
		}
	}
	return "", false
}

// value is get falling back to the binary's default.
func (c cmdline) value(name string, known map[string]flagInfo) string {
	if v, ok := c.get(name); ok {
		return v
	}
	return known[name].def
}

// checkKnown reports every flag, and every OCTOPUSMQ_* variable, the binary does not define.
func checkKnown(t *testing.T, where string, c cmdline, envNames []string, known map[string]flagInfo) {
	t.Helper()
	for _, u := range c.uses {
		if _, ok := known[u.name]; !ok {
			t.Errorf("%s passes --%s, which octopusmq does not define (its flags: %s)", where, u.name, flagList(known))
		}
	}
	if len(c.positional) > 0 {
		t.Errorf("%s passes non-flag arguments %q: octopusmq takes none, and the flag package ignores everything after the first", where, c.positional)
	}
	for _, e := range envNames {
		name, ok := strings.CutPrefix(e, "OCTOPUSMQ_")
		if !ok {
			continue
		}
		name = strings.ReplaceAll(strings.ToLower(name), "_", "-")
		if _, ok := known[name]; !ok {
			t.Errorf("%s sets %s, but octopusmq has no --%s flag", where, e, name)
		}
	}
}

func flagList(known map[string]flagInfo) string {
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, "--"+n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func portOf(t *testing.T, where, flag, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: --%s=%q is not host:port: %v", where, flag, addr, err)
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Errorf("%s: --%s=%q has a non-numeric port", where, flag, addr)
	}
	return n
}

// ---------------------------------------------------------------------------------------
// Kubernetes objects: each document is decoded strictly into its real API type
// (k8s.io/api, with sigs.k8s.io/yaml: an unknown or misspelt field, a wrong type or a
// duplicate key is an error, as kubectl's server-side validation would report), so the
// checks below read the objects Kubernetes would build. No schema download is needed.

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// header is what every document must have, read before its kind is known.
type header struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

// apiTypes are the kinds the manifests may hold, by apiVersion/kind, each a new object of
// its real API type. Kustomization is not a Kubernetes API object (kustomize reads it).
var apiTypes = map[string]func() any{
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
}

// decodeStrict decodes one YAML document into its API type.
func decodeStrict(apiVersion, kind string, doc []byte) (any, error) {
	mk, ok := apiTypes[apiVersion+"/"+kind]
	if !ok {
		return nil, fmt.Errorf("%s %s is not a kind the manifests are checked as (add it to apiTypes)", apiVersion, kind)
	}
	obj := mk()
	if err := sigsyaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return obj, nil
}

type kustomization struct {
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
		Digest  string `yaml:"digest"`
	} `yaml:"images"`
}

// document is one YAML document of one manifest file.
type document struct {
	where string // file#index, for messages
	file  string
	head  header
	node  *yaml.Node
	obj   any // the decoded API object (nil for a Kustomization)
}

func (d document) decode(t *testing.T, v any) {
	t.Helper()
	if err := d.node.Decode(v); err != nil {
		t.Fatalf("%s: %v", d.where, err)
	}
}

type manifests struct {
	docs         []document
	files        []string // base names of the YAML files
	sts          appsv1.StatefulSet
	stsWhere     string
	headless     []corev1.Service
	client       []corev1.Service
	pdbs         []policyv1.PodDisruptionBudget
	policies     []networkingv1.NetworkPolicy
	kustomize    *kustomization
	kustomizeDoc string
}

// loadManifests parses every YAML document of every file in deploy/kubernetes.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML files in %s", manifestDir)
	}
	m := &manifests{}
	for _, f := range files {
		m.files = append(m.files, filepath.Base(f))
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(fh)
		for i := 0; ; i++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fh.Close()
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if n.Kind != yaml.DocumentNode || len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
				continue // an empty document ("---" with nothing after it)
			}
			d := document{where: fmt.Sprintf("%s#%d", f, i), file: filepath.Base(f), node: &n}
			d.decode(t, &d.head)
			if d.head.APIVersion == "" || d.head.Kind == "" {
				t.Errorf("%s: no apiVersion or kind", d.where)
				continue
			}
			if d.head.Kind != "Kustomization" {
				raw, err := yaml.Marshal(n.Content[0])
				if err != nil {
					t.Fatalf("%s: %v", d.where, err)
				}
				if d.obj, err = decodeStrict(d.head.APIVersion, d.head.Kind, raw); err != nil {
					t.Errorf("%s: %v", d.where, err)
					continue
				}
			}
			if d.head.Kind != "Kustomization" && d.head.Metadata.Name == "" {
				t.Errorf("%s: %s has no metadata.name", d.where, d.head.Kind)
			}
			if d.head.Metadata.Namespace != "" {
				t.Errorf("%s: %s %s sets metadata.namespace %q: leave it to kubectl -n / kustomize so the manifests work in any namespace",
					d.where, d.head.Kind, d.head.Metadata.Name, d.head.Metadata.Namespace)
			}
			m.docs = append(m.docs, d)
		}
		fh.Close()
	}

	var stsCount int
	for _, d := range m.docs {
		switch o := d.obj.(type) {
		case *appsv1.StatefulSet:
			stsCount++
			m.sts = *o
			m.stsWhere = d.where
		case *corev1.Service:
			if o.Spec.ClusterIP == corev1.ClusterIPNone {
				m.headless = append(m.headless, *o)
			} else {
				m.client = append(m.client, *o)
			}
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, *o)
		case *networkingv1.NetworkPolicy:
			m.policies = append(m.policies, *o)
		}
		if d.head.Kind == "Kustomization" {
			if m.kustomize != nil {
				t.Errorf("%s: a second Kustomization (first in %s)", d.where, m.kustomizeDoc)
			}
			m.kustomize = &kustomization{}
			d.decode(t, m.kustomize)
			m.kustomizeDoc = d.where
		}
	}
	if stsCount != 1 {
		t.Fatalf("want exactly one StatefulSet in %s, found %d", manifestDir, stsCount)
	}
	return m
}

// selects reports whether a selector picks pods labelled podLabels (and selects something).
func selects(selector, podLabels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if podLabels[k] != v {
			return false
		}
	}
	return true
}

// matchLabels is a selector's matchLabels (nil for no selector).
func matchLabels(s *metav1.LabelSelector) map[string]string {
	if s == nil {
		return nil
	}
	return s.MatchLabels
}

// octopusContainer is the container running the binary.
func (m *manifests) octopusContainer(t *testing.T) corev1.Container {
	t.Helper()
	cs := m.sts.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		t.Fatalf("%s: the pod template has no containers", m.stsWhere)
	}
	for _, c := range cs {
		if c.Name == "octopusmq" {
			return c
		}
	}
	return cs[0]
}

// resolvePort turns a probe's or Service's port (a number or a container port name) into a number.
func resolvePort(c corev1.Container, p intstr.IntOrString) (int, bool) {
	if p.Type == intstr.Int {
		return int(p.IntVal), true
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), true
		}
	}
	return 0, false
}

// ---------------------------------------------------------------------------------------
// Kubernetes tests.

func TestManifestKinds(t *testing.T) {
	m := loadManifests(t)
	if len(m.headless) != 1 {
		t.Errorf("want one headless Service (clusterIP: None) for the peers, found %d", len(m.headless))
	}
	if len(m.client) == 0 {
		t.Errorf("want a client Service (not headless), found none")
	}
	if len(m.pdbs) != 1 {
		t.Errorf("want one PodDisruptionBudget, found %d", len(m.pdbs))
	}
	if m.kustomize == nil {
		t.Fatalf("no kustomization.yaml in %s", manifestDir)
	}
	// kustomization.yaml lists every other manifest, and only files that exist.
	listed := map[string]bool{}
	for _, r := range m.kustomize.Resources {
		listed[path.Clean(r)] = true
		if !slices.Contains(m.files, path.Clean(r)) {
			t.Errorf("%s lists resource %q, which is not a file in %s", m.kustomizeDoc, r, manifestDir)
		}
	}
	for _, d := range m.docs {
		if d.head.Kind != "Kustomization" && !listed[d.file] {
			t.Errorf("%s (%s %s) is not listed in kustomization.yaml resources", d.file, d.head.Kind, d.head.Metadata.Name)
		}
	}
}

func TestStatefulSet(t *testing.T) {
	m := loadManifests(t)
	s := m.sts
	where := m.stsWhere
	if s.Spec.Replicas == nil {
		t.Errorf("%s: replicas is not set, want %d", where, wantReplicas)
	} else if *s.Spec.Replicas != wantReplicas {
		t.Errorf("%s: replicas %d, want %d", where, *s.Spec.Replicas, wantReplicas)
	}
	// OrderedReady would deadlock: pod 0 is ready only once a leader exists, which needs pod 1.
	if s.Spec.PodManagementPolicy != "Parallel" {
		t.Errorf("%s: podManagementPolicy %q, want Parallel", where, s.Spec.PodManagementPolicy)
	}
	podLabels := s.Spec.Template.Labels
	if !selects(matchLabels(s.Spec.Selector), podLabels) {
		t.Errorf("%s: selector %v does not select the template's labels %v", where, matchLabels(s.Spec.Selector), podLabels)
	}
	if len(m.headless) == 1 && s.Spec.ServiceName != m.headless[0].Name {
		t.Errorf("%s: serviceName %q, but the headless Service is %q: the pods' DNS names would not exist",
			where, s.Spec.ServiceName, m.headless[0].Name)
	}

	c := m.octopusContainer(t)
	// Probes: readiness /readyz, liveness /healthz, both on the client port.
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
		required   bool
	}{
		{"readinessProbe", readyPath, c.ReadinessProbe, true},
		{"livenessProbe", livePath, c.LivenessProbe, true},
		{"startupProbe", "", c.StartupProbe, false},
	} {
		if p.probe == nil {
			if p.required {
				t.Errorf("%s: container %s has no %s", where, c.Name, p.name)
			}
			continue
		}
		if p.probe.HTTPGet == nil {
			t.Errorf("%s: %s is not an httpGet probe", where, p.name)
			continue
		}
		if p.path != "" && p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: %s path %q, want %q", where, p.name, p.probe.HTTPGet.Path, p.path)
		}
		if p.path == "" && p.probe.HTTPGet.Path != livePath && p.probe.HTTPGet.Path != readyPath {
			t.Errorf("%s: %s path %q: the server serves %s and %s", where, p.name, p.probe.HTTPGet.Path, livePath, readyPath)
		}
		if port, ok := resolvePort(c, p.probe.HTTPGet.Port); !ok || port != clientPort {
			t.Errorf("%s: %s port %q resolves to %d, want the client port %d", where, p.name, p.probe.HTTPGet.Port.String(), port, clientPort)
		}
	}
	for _, want := range []int32{clientPort, raftPort} {
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == want }) {
			t.Errorf("%s: container %s does not declare port %d", where, c.Name, want)
		}
	}

	// Data on a PersistentVolumeClaim from the volumeClaimTemplates.
	claims := map[string]bool{}
	for _, vc := range s.Spec.VolumeClaimTemplates {
		claims[vc.Name] = true
		if q := vc.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
			t.Errorf("%s: volumeClaimTemplate %q requests no storage", where, vc.Name)
		}
	}
	if len(claims) == 0 {
		t.Errorf("%s: no volumeClaimTemplates: data would not survive a pod restart", where)
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		mounted = mounted || claims[vm.Name]
	}
	if !mounted {
		t.Errorf("%s: container %s mounts none of the claim templates %v", where, c.Name, claims)
	}

	// Runs as non-root, has requests, and its grace period outlasts the server's own drain.
	pod := s.Spec.Template.Spec
	podSC, cSC := pod.SecurityContext, c.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	if cSC == nil {
		cSC = &corev1.SecurityContext{}
	}
	nonRoot := (podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot) || (cSC.RunAsNonRoot != nil && *cSC.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("%s: runAsNonRoot is not set to true", where)
	}
	for _, u := range []*int64{podSC.RunAsUser, cSC.RunAsUser} {
		if u != nil && *u == 0 {
			t.Errorf("%s: runAsUser 0", where)
		}
	}
	if len(c.Resources.Requests) == 0 {
		t.Errorf("%s: container %s has no resource requests", where, c.Name)
	}
	if pod.TerminationGracePeriodSeconds == nil {
		t.Errorf("%s: terminationGracePeriodSeconds is not set", where)
	}

	// No hook that removes the member on termination: a restart must not leave the cluster.
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		h := c.Lifecycle.PreStop
		var text string
		if h.HTTPGet != nil {
			text = h.HTTPGet.Path
		}
		if h.Exec != nil {
			text += strings.Join(h.Exec.Command, " ")
		}
		if strings.Contains(text, "/v1/cluster/members") || strings.Contains(text, "DELETE") {
			t.Errorf("%s: the preStop hook removes the member (%q): every pod restart would shrink the cluster", where, text)
		}
	}
}

func TestServices(t *testing.T) {
	m := loadManifests(t)
	c := m.octopusContainer(t)
	podLabels := m.sts.Spec.Template.Labels
	hasPort := func(s corev1.Service, want int) bool {
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target == (intstr.IntOrString{}) {
				target = intstr.FromInt32(p.Port) // Kubernetes' default
			}
			if n, ok := resolvePort(c, target); ok && n == want && int(p.Port) == want {
				return true
			}
		}
		return false
	}
	for _, s := range m.headless {
		if !s.Spec.PublishNotReadyAddresses {
			t.Errorf("Service %s: publishNotReadyAddresses is not true: peers could not find each other before one is ready, and none becomes ready without them", s.Name)
		}
		if !selects(s.Spec.Selector, podLabels) {
			t.Errorf("Service %s: selector %v does not select the pods %v", s.Name, s.Spec.Selector, podLabels)
		}
		for _, p := range []int{raftPort, clientPort} {
			if !hasPort(s, p) {
				t.Errorf("Service %s: no port %d targeting the container's port %d", s.Name, p, p)
			}
		}
	}
	var clientOK bool
	for _, s := range m.client {
		if selects(s.Spec.Selector, podLabels) && hasPort(s, clientPort) {
			clientOK = true
		}
		if s.Spec.PublishNotReadyAddresses {
			t.Errorf("Service %s: a client Service must not publish pods that are not ready", s.Name)
		}
	}
	if !clientOK {
		t.Errorf("no client Service selects the pods %v with port %d", podLabels, clientPort)
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	m := loadManifests(t)
	podLabels := m.sts.Spec.Template.Labels
	for _, p := range m.pdbs {
		if p.APIVersion != "policy/v1" {
			t.Errorf("PodDisruptionBudget %s: apiVersion %q, want policy/v1", p.Name, p.APIVersion)
		}
		if p.Spec.MaxUnavailable == nil || *p.Spec.MaxUnavailable != intstr.FromInt32(1) {
			t.Errorf("PodDisruptionBudget %s: want maxUnavailable 1 (2 of 3 keep quorum)", p.Name)
		}
		if !selects(matchLabels(p.Spec.Selector), podLabels) {
			t.Errorf("PodDisruptionBudget %s: selector %v does not select the pods %v", p.Name, matchLabels(p.Spec.Selector), podLabels)
		}
	}
}

var kubeVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// TestStatefulSetFlags checks the command line each pod runs: Dockerfile ENTRYPOINT (unless
// the container sets command) plus the container args, with $(VAR) expanded as the kubelet
// would for pod octopusmq-N.
func TestStatefulSetFlags(t *testing.T) {
	known := binaryFlags(t)
	m := loadManifests(t)
	c := m.octopusContainer(t)
	where := m.stsWhere + " container " + c.Name

	argv := c.Command
	if len(argv) == 0 {
		argv = loadDockerfile(t).entrypoint
	}
	if len(argv) == 0 {
		t.Fatalf("%s: no command, and the Dockerfile has no ENTRYPOINT", where)
	}
	argv = append(slices.Clone(argv[1:]), c.Args...)

	var envNames []string
	for _, e := range c.Env {
		envNames = append(envNames, e.Name)
	}
	// Every flag must exist, before any expansion.
	checkKnown(t, where, parseArgs(argv, known), envNames, known)

	claims := map[string]bool{}
	for _, vc := range m.sts.Spec.VolumeClaimTemplates {
		claims[vc.Name] = true
	}
	svc := m.sts.Spec.ServiceName
	replicas := wantReplicas
	if m.sts.Spec.Replicas != nil {
		replicas = int(*m.sts.Spec.Replicas)
	}
	podNames := make([]string, replicas)
	for i := range podNames {
		podNames[i] = fmt.Sprintf("%s-%d", m.sts.Name, i)
	}

	for _, pod := range podNames {
		env := map[string]string{}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
				env[e.Name] = pod
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
				env[e.Name] = testNamespace
			case e.ValueFrom == nil:
				env[e.Name] = e.Value
			}
		}
		expanded := make([]string, len(argv))
		for i, a := range argv {
			expanded[i] = kubeVarRef.ReplaceAllStringFunc(a, func(ref string) string {
				name := ref[2 : len(ref)-1]
				v, ok := env[name]
				if !ok {
					t.Errorf("%s: %q refers to $(%s), which the container's env does not define: it would be passed literally", where, a, name)
					return ref
				}
				return v
			})
		}
		cl := parseArgs(expanded, known)
		pw := where + " (pod " + pod + ")"

		if id := cl.value("node-id", known); id != pod {
			t.Errorf("%s: --node-id is %q, want the pod name %q (use $(POD_NAME) from fieldRef metadata.name)", pw, id, pod)
		}

		// --data-dir is the mounted volume claim.
		dataDir := path.Clean(cl.value("data-dir", known))
		mounted := false
		for _, vm := range c.VolumeMounts {
			if claims[vm.Name] && path.Clean(vm.MountPath) == dataDir {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s: --data-dir=%s is not where a volumeClaimTemplate is mounted: data would be lost with the pod", pw, dataDir)
		}

		if p := portOf(t, pw, "listen", cl.value("listen", known)); p != clientPort {
			t.Errorf("%s: --listen port %d, but the probes and Services use %d", pw, p, clientPort)
		}
		raftBind := cl.value("raft-bind", known)
		if p := portOf(t, pw, "raft-bind", raftBind); p != raftPort {
			t.Errorf("%s: --raft-bind port %d, want %d", pw, p, raftPort)
		}
		if h, _, _ := net.SplitHostPort(raftBind); h != "" && h != "0.0.0.0" && h != "::" {
			t.Errorf("%s: --raft-bind=%s: bind all interfaces so peers can reach it", pw, raftBind)
		}
		if _, ok := cl.get("join"); ok {
			t.Errorf("%s: --join is set: octopusmq rejects --join together with --initial-cluster", pw)
		}

		// --initial-cluster names exactly the pods, at their stable names in the headless Service.
		initial, _ := cl.get("initial-cluster")
		members := map[string]string{}
		for _, part := range strings.Split(initial, ",") {
			id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || id == "" || addr == "" {
				t.Errorf("%s: --initial-cluster entry %q: want id=host:port", pw, part)
				continue
			}
			if _, dup := members[id]; dup {
				t.Errorf("%s: --initial-cluster names %q twice", pw, id)
			}
			members[id] = addr
			if p := portOf(t, pw, "initial-cluster", addr); p != raftPort {
				t.Errorf("%s: --initial-cluster %s=%s: port %d, want the Raft port %d", pw, id, addr, p, raftPort)
			}
			host, _, _ := net.SplitHostPort(addr)
			checkPeerHost(t, pw, "--initial-cluster "+id, host, id, svc)
		}
		var ids []string
		for id := range members {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if !slices.Equal(ids, podNames) {
			t.Errorf("%s: --initial-cluster ids %v, want the pod names %v", pw, ids, podNames)
		}

		// --raft-advertise must be exactly this pod's --initial-cluster address: a node
		// publishes it when it starts, and a different string would rewrite its address in
		// the Raft configuration.
		adv, ok := cl.get("raft-advertise")
		if !ok {
			t.Errorf("%s: no --raft-advertise: --raft-bind=%s cannot be advertised", pw, raftBind)
		} else if members[pod] != "" && adv != members[pod] {
			t.Errorf("%s: --raft-advertise=%s, but --initial-cluster lists %s=%s: they must be the same string", pw, adv, pod, members[pod])
		}

		// --advertise: the client address handed to clients and used for forwarding.
		if cadv, ok := cl.get("advertise"); !ok {
			t.Errorf("%s: no --advertise: the client address would be derived from --raft-advertise", pw)
		} else {
			if p := portOf(t, pw, "advertise", cadv); p != clientPort {
				t.Errorf("%s: --advertise=%s: port %d, want %d", pw, cadv, p, clientPort)
			}
			host, _, _ := net.SplitHostPort(cadv)
			checkPeerHost(t, pw, "--advertise", host, pod, svc)
		}

		// The grace period outlasts the server's own drain (--shutdown-grace).
		if g := m.sts.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace, err := time.ParseDuration(cl.value("shutdown-grace", known))
			if err != nil {
				t.Errorf("%s: --shutdown-grace: %v", pw, err)
			} else if time.Duration(*g)*time.Second <= grace {
				t.Errorf("%s: terminationGracePeriodSeconds %d does not outlast --shutdown-grace=%s", pw, *g, grace)
			}
		}
	}
}

// checkPeerHost checks host is pod.service, optionally followed by this pod's namespace
// and more domain labels; a hard-coded namespace would tie the manifests to it.
func checkPeerHost(t *testing.T, where, what, host, pod, svc string) {
	t.Helper()
	labels := strings.Split(host, ".")
	if len(labels) < 2 || labels[0] != pod || labels[1] != svc {
		t.Errorf("%s: %s host %q: want %s.%s[.namespace...], the pod's stable name in the headless Service", where, what, host, pod, svc)
		return
	}
	if len(labels) > 2 && labels[2] != testNamespace && !strings.Contains(labels[2], "$(") {
		t.Errorf("%s: %s host %q hard-codes namespace %q: use the short name or $(POD_NAMESPACE)", where, what, host, labels[2])
	}
}

// ---------------------------------------------------------------------------------------
// Dockerfile.

type instruction struct {
	cmd  string // upper case
	args string
	line int
}

type stage struct {
	image, name string
	instrs      []instruction
}

type dockerfile struct {
	stages     []stage
	entrypoint []string // exec form of the final stage
	cmd        []string
	env        []string // OCTOPUSMQ_* names set in the final stage
}

var dockerfileOnce struct {
	sync.Once
	df  *dockerfile
	err error
}

func loadDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	root := moduleRoot(t)
	dockerfileOnce.Do(func() {
		dockerfileOnce.df, dockerfileOnce.err = parseDockerfile(filepath.Join(root, "Dockerfile"))
	})
	if dockerfileOnce.err != nil {
		t.Fatal(dockerfileOnce.err)
	}
	return dockerfileOnce.df
}

func parseDockerfile(file string) (*dockerfile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var instrs []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		instrs = append(instrs, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	df := &dockerfile{}
	for _, in := range instrs {
		if in.cmd == "FROM" {
			var st stage
			fields := strings.Fields(in.args)
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:]
			}
			if len(fields) == 0 {
				return nil, fmt.Errorf("Dockerfile:%d: FROM without an image", in.line)
			}
			st.image = fields[0]
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
		}
		st := &df.stages[len(df.stages)-1]
		st.instrs = append(st.instrs, in)
	}
	if len(df.stages) == 0 {
		return nil, errors.New("Dockerfile: no FROM")
	}
	final := df.stages[len(df.stages)-1]
	for _, in := range final.instrs {
		switch in.cmd {
		case "ENTRYPOINT", "CMD":
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
				return nil, fmt.Errorf("Dockerfile:%d: %s is not in exec form (a JSON array): %v; the final image has no shell", in.line, in.cmd, err)
			}
			if in.cmd == "ENTRYPOINT" {
				df.entrypoint = argv
			} else {
				df.cmd = argv
			}
		case "ENV":
			for _, f := range strings.Fields(in.args) {
				if name, _, ok := strings.Cut(f, "="); ok && strings.HasPrefix(name, "OCTOPUSMQ_") {
					df.env = append(df.env, name)
				}
			}
		}
	}
	return df, nil
}

var goBuildOutput = regexp.MustCompile(`\s-o[ =](\S+)`)

func TestDockerfile(t *testing.T) {
	root := moduleRoot(t)
	df := loadDockerfile(t)

	if len(df.stages) < 2 {
		t.Fatalf("Dockerfile: %d stage(s), want a multi-stage build (builder + runtime)", len(df.stages))
	}
	// Builder: golang:1.26, modules downloaded in their own layer, then a static build.
	builderIdx := slices.IndexFunc(df.stages, func(s stage) bool { return strings.HasPrefix(s.image, "golang:1.26") })
	if builderIdx < 0 || builderIdx == len(df.stages)-1 {
		t.Fatalf("Dockerfile: no golang:1.26 builder stage before the final stage")
	}
	builder := df.stages[builderIdx]
	idx := func(match func(instruction) bool) int { return slices.IndexFunc(builder.instrs, match) }
	copyMod := idx(func(in instruction) bool {
		f := strings.Fields(in.args)
		return in.cmd == "COPY" && slices.Contains(f, "go.mod") && slices.Contains(f, "go.sum")
	})
	download := idx(func(in instruction) bool { return in.cmd == "RUN" && strings.Contains(in.args, "go mod download") })
	copyAll := idx(func(in instruction) bool {
		f := strings.Fields(in.args)
		return in.cmd == "COPY" && len(f) >= 2 && f[len(f)-2] == "."
	})
	build := idx(func(in instruction) bool { return in.cmd == "RUN" && strings.Contains(in.args, "go build") })
	if copyMod < 0 || download < 0 || copyAll < 0 || !(copyMod < download && download < copyAll) {
		t.Errorf("Dockerfile: want COPY go.mod go.sum, then RUN go mod download, then COPY . (module layer cached); got positions %d, %d, %d", copyMod, download, copyAll)
	}
	if build < 0 {
		t.Fatalf("Dockerfile: the builder stage has no RUN go build")
	}
	run := builder.instrs[build].args
	if build < copyAll {
		t.Errorf("Dockerfile: go build runs before the sources are copied")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags", "-s", "-w"} {
		if !strings.Contains(run, want) {
			t.Errorf("Dockerfile: go build (%q) lacks %s: want a static, stripped binary", run, want)
		}
	}
	out := goBuildOutput.FindStringSubmatch(run)
	if out == nil {
		t.Fatalf("Dockerfile: go build has no -o: %q", run)
	}
	binOut := out[1]
	fields := strings.Fields(run)
	pkg := fields[len(fields)-1]
	if !strings.HasPrefix(pkg, "./cmd/") {
		t.Errorf("Dockerfile: go build builds %q, want a ./cmd/... main package", pkg)
	} else if !isMainPackage(filepath.Join(root, filepath.FromSlash(pkg))) {
		t.Errorf("Dockerfile: go build builds %s, which is not a main package in this module", pkg)
	}

	// Runtime: non-root, the built binary as ENTRYPOINT.
	final := df.stages[len(df.stages)-1]
	user := ""
	for _, in := range final.instrs {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	switch {
	case user != "":
		if u, _, _ := strings.Cut(user, ":"); u == "root" || u == "0" {
			t.Errorf("Dockerfile: the final stage runs as USER %s", user)
		}
	case strings.HasSuffix(final.image, ":nonroot") || strings.Contains(final.image, ":nonroot-"):
	default:
		t.Errorf("Dockerfile: final stage %s sets no non-root USER", final.image)
	}
	if final.image != "scratch" && !strings.Contains(final.image, "distroless") {
		t.Errorf("Dockerfile: final image %s: want distroless or scratch for a static binary", final.image)
	}
	var binPath string
	builderRef := []string{strconv.Itoa(builderIdx), builder.name}
	for _, in := range final.instrs {
		f := strings.Fields(in.args)
		if in.cmd != "COPY" || len(f) < 3 {
			continue
		}
		var from string
		var rest []string
		for _, a := range f {
			if v, ok := strings.CutPrefix(a, "--from="); ok {
				from = v
			} else if !strings.HasPrefix(a, "--") {
				rest = append(rest, a)
			}
		}
		if slices.Contains(builderRef, from) && len(rest) == 2 && path.Clean(rest[0]) == path.Clean(binOut) {
			binPath = rest[1]
			if strings.HasSuffix(binPath, "/") {
				binPath += path.Base(binOut)
			}
		}
	}
	if binPath == "" {
		t.Errorf("Dockerfile: the final stage does not COPY --from=%s %s", builder.name, binOut)
	}
	if len(df.entrypoint) == 0 {
		t.Fatalf("Dockerfile: no ENTRYPOINT in the final stage")
	}
	if binPath != "" && path.Clean(df.entrypoint[0]) != path.Clean(binPath) {
		t.Errorf("Dockerfile: ENTRYPOINT runs %s, but the binary is copied to %s", df.entrypoint[0], binPath)
	}

	// Flags: all defined by the binary, and consistent with EXPOSE and VOLUME.
	known := binaryFlags(t)
	argv := append(slices.Clone(df.entrypoint[1:]), df.cmd...)
	cl := parseArgs(argv, known)
	checkKnown(t, "Dockerfile ENTRYPOINT/CMD", cl, df.env, known)
	var exposed, volumes []string
	for _, in := range final.instrs {
		switch in.cmd {
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
			}
		case "VOLUME":
			var vs []string
			if err := json.Unmarshal([]byte(in.args), &vs); err != nil {
				vs = strings.Fields(in.args)
			}
			for _, v := range vs {
				volumes = append(volumes, path.Clean(v))
			}
		}
	}
	for _, f := range []string{"listen", "raft-bind"} {
		p := portOf(t, "Dockerfile", f, cl.value(f, known))
		if !slices.Contains(exposed, strconv.Itoa(p)) {
			t.Errorf("Dockerfile: --%s port %d is not in EXPOSE %v", f, p, exposed)
		}
	}
	if d := path.Clean(cl.value("data-dir", known)); !slices.Contains(volumes, d) {
		t.Errorf("Dockerfile: --data-dir=%s is not a VOLUME (%v)", d, volumes)
	}
}

func isMainPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err == nil && regexp.MustCompile(`(?m)^package main\s*$`).Match(data) {
			return true
		}
	}
	return false
}

// TestDockerignore checks .dockerignore keeps every file the binary is built from.
func TestDockerignore(t *testing.T) {
	root := moduleRoot(t)
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no .dockerignore")
	}
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		re      *regexp.Regexp
		text    string
		include bool
	}
	var rules []rule
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		include := strings.HasPrefix(line, "!")
		p := path.Clean(strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/"))
		rules = append(rules, rule{re: globRegexp(p), text: line, include: include})
	}
	excludedBy := func(rel string) string {
		var by string
		// A pattern matching a parent folder excludes everything under it.
		parts := strings.Split(rel, "/")
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			for _, r := range rules {
				if r.re.MatchString(prefix) {
					if r.include {
						by = ""
					} else {
						by = r.text
					}
				}
			}
		}
		return by
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/octopusmq")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/octopusmq: %v\n%s", err, out)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err == nil {
			needed = append(needed, filepath.ToSlash(rel))
		}
	}
	for _, rel := range needed {
		if by := excludedBy(rel); by != "" {
			t.Errorf(".dockerignore pattern %q excludes %s, which the image build needs", by, rel)
		}
	}
}

// globRegexp converts a .dockerignore pattern (filepath.Match syntax plus **) to a regexp.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				if i+1 < len(p) && p[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
