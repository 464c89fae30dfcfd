package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// serveFlags builds kmsnode once and returns the environment variable of
// each `kmsnode serve` flag (KMSNODE_<FLAG>), so that a misspelt variable in
// a manifest, which kmsnode would silently ignore, fails here.
var serveFlags = sync.OnceValues(func() (map[string]bool, error) {
	dir, err := os.MkdirTemp("", "kmsnode-deploy-test")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "kmsnode")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/kmsnode").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build kmsnode: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kmsnode serve --help: %v\n%s", err, out)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		vars["KMSNODE_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = true
	}
	if !vars["KMSNODE_REGION"] || !vars["KMSNODE_GOSSIP_KEY_FILE"] {
		return nil, fmt.Errorf("kmsnode serve --help lists no --region or --gossip-key-file:\n%s", out)
	}
	return vars, nil
})

// secretVars are read by kmsnode from the environment as secret values: a
// deployment file must point at files instead.
var secretVars = []string{"KMSNODE_SECRET_ACCESS_KEY", "KMSNODE_GOSSIP_KEY", "KMSNODE_SEAL_KEY", "KMSNODE_PKCS11_PIN"}

// checkVar fails the test unless name is a kmsnode serve variable and, if it
// is a secret, it is not given a value.
func checkVar(t *testing.T, where, name string) {
	t.Helper()
	flags, err := serveFlags()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(secretVars, name) {
		t.Errorf("%s: %s sets a secret inline; point a *_FILE variable at a mounted secret", where, name)
	} else if !flags[name] {
		t.Errorf("%s: %s is not a kmsnode serve flag variable", where, name)
	}
}

// noPEM fails if a deployment file carries a PEM block (a key or a
// certificate pasted inline).
func noPEM(t *testing.T, file string, b []byte) {
	t.Helper()
	if bytes.Contains(b, []byte("-----BEGIN")) {
		t.Errorf("%s holds a PEM block: secrets and certificates belong in mounted files", file)
	}
}

func portOf(t *testing.T, where, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: %q: %v", where, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s: %q: bad port", where, addr)
	}
	return n
}

// unit is a systemd unit file: section → key → values (repeated keys).
type unit map[string]map[string][]string

func parseUnit(r io.Reader) (unit, error) {
	u := unit{}
	sec := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[' && l[len(l)-1] == ']':
			sec = l[1 : len(l)-1]
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || sec == "" {
				return nil, fmt.Errorf("bad line %q", l)
			}
			u[sec][k] = append(u[sec][k], v)
		}
	}
	return u, sc.Err()
}

func (u unit) get(sec, key string) string {
	v := u[sec][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// TestSystemdUnit checks deploy/systemd: systemd-analyze verify has nothing
// to say, the offline security analysis rates the unit below 2.0 (on a scale
// to 10), the hardening the unit promises is there, and every variable it
// and the example environment file set is a kmsnode flag.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/kmsnode.service")
	if err != nil {
		t.Fatal(err)
	}
	noPEM(t, "kmsnode.service", b)
	u, err := parseUnit(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	s := "Service"
	for key, want := range map[string]string{
		"Type": "exec", "User": "kmsnode", "Group": "kmsnode",
		"ExecStart": "/usr/local/bin/kmsnode serve", "ExecReload": "/bin/kill -HUP $MAINPID",
		"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"ProtectHome": "yes", "PrivateTmp": "yes", "StateDirectory": "kmsnode",
		"ReadWritePaths": "/var/lib/kmsnode", "LimitNOFILE": "65536", "LimitCORE": "0",
		"CapabilityBoundingSet": "", "EnvironmentFile": "/etc/kmsnode/kmsnode.env",
	} {
		if got, ok := u[s][key]; !ok || got[len(got)-1] != want {
			t.Errorf("[Service] %s = %q, want %q", key, got, want)
		}
	}
	env := map[string]string{}
	for _, e := range u[s]["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		checkVar(t, "kmsnode.service", k)
		env[k] = v
	}
	if env["KMSNODE_DATA_DIR"] != u.get(s, "ReadWritePaths") {
		t.Errorf("the data directory %q is not the writable path %q", env["KMSNODE_DATA_DIR"], u.get(s, "ReadWritePaths"))
	}
	for k, v := range env {
		if strings.HasSuffix(k, "_FILE") && !strings.HasPrefix(v, "/etc/kmsnode/") {
			t.Errorf("%s=%s: files of the node live under /etc/kmsnode", k, v)
		}
	}

	sysusers, err := os.ReadFile("systemd/kmsnode.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(sysusers[bytes.LastIndex(sysusers, []byte("\nu ")):])); len(f) < 2 || f[1] != u.get(s, "User") {
		t.Errorf("kmsnode.sysusers creates %v, the unit runs as %s", f, u.get(s, "User"))
	}

	example, err := os.ReadFile("systemd/kmsnode.env.example")
	if err != nil {
		t.Fatal(err)
	}
	noPEM(t, "kmsnode.env.example", example)
	n := 0
	for _, l := range strings.Split(string(example), "\n") {
		// Commented-out settings must be real too: they are the ones an
		// operator uncomments.
		l = strings.TrimPrefix(strings.TrimSpace(l), "#")
		if k, _, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "KMSNODE_") {
			checkVar(t, "kmsnode.env.example", k)
			n++
		}
	}
	if n < 10 {
		t.Errorf("kmsnode.env.example sets %d variables; the region's settings are missing", n)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIPPED: systemd-analyze is not installed (apt-get install systemd): the unit was parsed but not verified")
	}
	// verify wants ExecStart to exist; point it at any executable.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "kmsnode.service")
	if err := os.WriteFile(tmp, bytes.ReplaceAll(b, []byte("ExecStart=/usr/local/bin/kmsnode"), []byte("ExecStart="+self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", tmp).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", tmp).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for kmsnode.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 or no verdict (%v):\n%s", err, out)
	} else {
		t.Logf("systemd-analyze security: exposure level %s (0 best, 10 worst)", m[1])
	}
}

// doc is one parsed YAML document.
type doc = map[string]any

// at walks a path of map keys and list indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := at(v, path...).(string)
	return s
}

func list(v any, path ...any) []any {
	l, _ := at(v, path...).([]any)
	return l
}

func loadYAML(t *testing.T, file string) []doc {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	noPEM(t, file, b)
	var docs []doc
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d doc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels any) bool {
	s, _ := sel.(map[string]any)
	l, _ := labels.(map[string]any)
	if len(s) == 0 {
		return false
	}
	for k, v := range s {
		if l[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetesManifests parses deploy/kubernetes and checks that the
// pieces fit: kustomization lists every file; the StatefulSet of 3 starts its
// pods in parallel under a headless Service that publishes not-ready pods;
// the client Service, the PodDisruptionBudget (maxUnavailable 1) and the
// StatefulSet select the pods; the probes are HTTPS /readyz and /healthz on
// the API port; container ports are the ones kmsnode's flags listen on; the
// security context is non-root 65532 with a read-only root; every file the
// node reads is on a read-only secret volume and its data on a volume claim;
// and no secret value is written in the manifests.
func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	byKind := map[string][]doc{}
	var resources []string
	for _, f := range files {
		for _, d := range loadYAML(t, f) {
			k := str(d, "kind")
			byKind[k] = append(byKind[k], d)
			if k == "Kustomization" {
				for _, r := range list(d, "resources") {
					resources = append(resources, "kubernetes/"+r.(string))
				}
				resources = append(resources, f)
			}
			if k == "Secret" {
				t.Errorf("%s: a Secret in the manifests; create it from files (deploy/README.md)", f)
			}
		}
	}
	slices.Sort(resources)
	if !slices.Equal(resources, files) {
		t.Errorf("kustomization resources %v, files %v", resources, files)
	}
	one := func(kind string) doc {
		t.Helper()
		if len(byKind[kind]) != 1 {
			t.Fatalf("%d %s, want 1", len(byKind[kind]), kind)
		}
		return byKind[kind][0]
	}
	sts, pdb := one("StatefulSet"), one("PodDisruptionBudget")
	pod := at(sts, "spec", "template")
	labels := at(pod, "metadata", "labels")

	if r, _ := at(sts, "spec", "replicas").(int); r != 3 {
		t.Errorf("replicas %v, want 3", at(sts, "spec", "replicas"))
	}
	if p := str(sts, "spec", "podManagementPolicy"); p != "Parallel" {
		t.Errorf("podManagementPolicy %q: the three nodes of a new region must start together (Parallel)", p)
	}
	if !subset(at(sts, "spec", "selector", "matchLabels"), labels) {
		t.Error("the StatefulSet selector does not match its pod labels")
	}
	if str(pdb, "apiVersion") != "policy/v1" || at(pdb, "spec", "maxUnavailable") != 1 {
		t.Errorf("PodDisruptionBudget %s maxUnavailable %v, want policy/v1 and 1", str(pdb, "apiVersion"), at(pdb, "spec", "maxUnavailable"))
	}
	if !subset(at(pdb, "spec", "selector", "matchLabels"), labels) {
		t.Error("the PodDisruptionBudget selector does not match the pod labels")
	}

	if len(list(pod, "spec", "containers")) != 1 {
		t.Fatal("want one container")
	}
	ctr := at(pod, "spec", "containers", 0)
	ports := map[string]string{} // name → "port/protocol"
	for _, p := range list(ctr, "ports") {
		proto := str(p, "protocol")
		if proto == "" {
			proto = "TCP"
		}
		ports[str(p, "name")] = fmt.Sprintf("%v/%s", at(p, "containerPort"), proto)
	}

	// Environment: real flags, no secret values, ports that match.
	podName := str(sts, "metadata", "name") + "-0"
	env := map[string]string{}
	for _, e := range list(ctr, "env") {
		name := str(e, "name")
		if name == "POD_NAME" || name == "POD_IP" {
			if at(e, "valueFrom", "fieldRef") == nil {
				t.Errorf("%s must come from the pod's fieldRef", name)
			}
			continue
		}
		checkVar(t, "statefulset.yaml", name)
		if at(e, "value") == nil {
			t.Errorf("%s has no value", name)
		}
		env[name] = strings.NewReplacer("$(POD_NAME)", podName, "$(POD_IP)", "10.0.0.1").Replace(str(e, "value"))
	}
	for v, port := range map[string]string{
		"KMSNODE_API_ADDR": "api", "KMSNODE_CLUSTER_ADDR": "cluster", "KMSNODE_CLUSTER_ADVERTISE": "cluster",
		"KMSNODE_GOSSIP_ADDR": "gossip-tcp", "KMSNODE_GOSSIP_ADVERTISE": "gossip-udp",
	} {
		want, _, _ := strings.Cut(ports[port], "/")
		if got := portOf(t, v, env[v]); strconv.Itoa(got) != want {
			t.Errorf("%s listens on %d, the container port %s is %s", v, got, port, want)
		}
	}
	if ports["gossip-tcp"] != strings.Replace(ports["gossip-udp"], "UDP", "TCP", 1) || !strings.HasSuffix(ports["gossip-udp"], "/UDP") {
		t.Errorf("gossip ports %s and %s: memberlist needs the same port over TCP and UDP", ports["gossip-tcp"], ports["gossip-udp"])
	}

	// Peers find each other by the headless Service's per-pod names.
	var headless, client doc
	for _, svc := range byKind["Service"] {
		if !subset(at(svc, "spec", "selector"), labels) {
			t.Errorf("Service %s does not select the pods", str(svc, "metadata", "name"))
		}
		for _, p := range list(svc, "spec", "ports") {
			target := str(p, "targetPort")
			proto := str(p, "protocol")
			if proto == "" {
				proto = "TCP"
			}
			if got := ports[target]; got != fmt.Sprintf("%v/%s", at(p, "port"), proto) {
				t.Errorf("Service %s port %v/%s targets %q = %q", str(svc, "metadata", "name"), at(p, "port"), proto, target, got)
			}
		}
		if str(svc, "spec", "clusterIP") == "None" {
			headless = svc
		} else {
			client = svc
		}
	}
	if headless == nil || client == nil {
		t.Fatal("want a headless Service for the peers and a client Service")
	}
	if str(headless, "metadata", "name") != str(sts, "spec", "serviceName") {
		t.Errorf("serviceName %q is not the headless Service %q", str(sts, "spec", "serviceName"), str(headless, "metadata", "name"))
	}
	if at(headless, "spec", "publishNotReadyAddresses") != true {
		t.Error("the headless Service must publish not-ready pods: a new region's nodes find each other before any is ready")
	}
	if p := list(client, "spec", "ports"); len(p) != 1 || str(p[0], "targetPort") != "api" {
		t.Errorf("the client Service exposes %v, want the API only", p)
	}
	gport := strings.TrimSuffix(ports["gossip-tcp"], "/TCP")
	var want []string
	for i := range 3 {
		want = append(want, fmt.Sprintf("%s-%d.%s:%s", str(sts, "metadata", "name"), i, str(headless, "metadata", "name"), gport))
	}
	if got := env["KMSNODE_JOIN"]; got != strings.Join(want, ",") {
		t.Errorf("KMSNODE_JOIN=%s, want %s", got, strings.Join(want, ","))
	}

	// Probes.
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"} {
		g := at(ctr, probe, "httpGet")
		if str(g, "path") != path || str(g, "scheme") != "HTTPS" || str(g, "port") != "api" {
			t.Errorf("%s: %v, want HTTPS %s on the api port", probe, g, path)
		}
	}

	// Security context.
	for _, c := range []struct {
		v    any
		path []any
		want any
	}{
		{pod, []any{"spec", "securityContext", "runAsNonRoot"}, true},
		{pod, []any{"spec", "securityContext", "runAsUser"}, 65532},
		{pod, []any{"spec", "securityContext", "fsGroup"}, 65532},
		{pod, []any{"spec", "automountServiceAccountToken"}, false},
		{ctr, []any{"securityContext", "readOnlyRootFilesystem"}, true},
		{ctr, []any{"securityContext", "allowPrivilegeEscalation"}, false},
		{ctr, []any{"securityContext", "runAsNonRoot"}, true},
		{ctr, []any{"securityContext", "runAsUser"}, 65532},
		{ctr, []any{"securityContext", "capabilities", "drop", 0}, "ALL"},
	} {
		if got := at(c.v, c.path...); got != c.want {
			t.Errorf("%v = %v, want %v", c.path, got, c.want)
		}
	}

	// Volumes: every file kmsnode reads is on a read-only secret volume,
	// its data on the volume claim.
	kinds := map[string]string{}
	for _, v := range list(pod, "spec", "volumes") {
		switch {
		case at(v, "secret") != nil:
			kinds[str(v, "name")] = "secret"
		case at(v, "emptyDir") != nil:
			kinds[str(v, "name")] = "emptyDir"
		}
	}
	for _, c := range list(sts, "spec", "volumeClaimTemplates") {
		kinds[str(c, "metadata", "name")] = "claim"
	}
	mountOf := func(path string) (kind string, readOnly bool) {
		best := ""
		for _, m := range list(ctr, "volumeMounts") {
			mp := str(m, "mountPath")
			if (path == mp || strings.HasPrefix(path, mp+"/")) && len(mp) > len(best) {
				best, kind, readOnly = mp, kinds[str(m, "name")], at(m, "readOnly") == true
			}
		}
		return kind, readOnly
	}
	for k, v := range env {
		if strings.HasSuffix(k, "_FILE") {
			if kind, ro := mountOf(v); kind != "secret" || !ro {
				t.Errorf("%s=%s is on a %q volume (read-only %v), want a read-only secret", k, v, kind, ro)
			}
		}
	}
	if kind, _ := mountOf(env["KMSNODE_DATA_DIR"]); kind != "claim" {
		t.Errorf("the data directory %s is on a %q volume, want the volume claim", env["KMSNODE_DATA_DIR"], kind)
	}
}

// TestComposeFile checks compose/docker-compose.yml without Docker: every
// node sets only real flags, advertises the fixed address it has on its
// region's network, joins the other two, reads every file from a defined
// secret, and has a health check; published ports do not collide.
func TestComposeFile(t *testing.T) {
	docs := loadYAML(t, "compose/docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	c := docs[0]
	secrets, _ := at(c, "secrets").(map[string]any)
	services, _ := at(c, "services").(map[string]any)
	published := map[string]string{}
	regions := map[string][]string{}
	ips := map[string]string{}
	for name, svc := range services {
		for _, p := range list(svc, "ports") {
			hp := strings.TrimSuffix(p.(string), ":8443")
			if other, dup := published[hp]; dup {
				t.Errorf("%s and %s both publish %s", name, other, hp)
			}
			published[hp] = name
		}
		mounted := map[string]bool{}
		for _, s := range list(svc, "secrets") {
			if _, ok := secrets[str(s, "source")]; !ok {
				t.Errorf("%s: secret %q is not defined", name, str(s, "source"))
			}
			mounted["/run/secrets/"+str(s, "target")] = true
		}
		if strings.HasPrefix(name, "lb-") {
			if cmd := fmt.Sprint(at(svc, "command")); !strings.Contains(cmd, "/run/secrets/ca.pem") {
				t.Errorf("%s: %s does not check the nodes against the region CA", name, cmd)
			}
			continue
		}
		env, _ := at(svc, "environment").(map[string]any)
		region := fmt.Sprint(env["KMSNODE_REGION"])
		regions[region] = append(regions[region], name)
		for k, v := range env {
			checkVar(t, name, k)
			if strings.HasSuffix(k, "_FILE") && !mounted[fmt.Sprint(v)] {
				t.Errorf("%s: %s=%v is not a mounted secret", name, k, v)
			}
		}
		ip := str(svc, "networks", region, "ipv4_address")
		_, subnet, err := net.ParseCIDR(str(c, "networks", region, "ipam", "config", 0, "subnet"))
		if err != nil || net.ParseIP(ip) == nil || !subnet.Contains(net.ParseIP(ip)) {
			t.Errorf("%s: address %q is not in the %s network's subnet (%v)", name, ip, region, err)
		}
		if at(c, "networks", region, "internal") != true {
			t.Errorf("the %s network must be internal: cluster traffic only", region)
		}
		ips[name] = ip
		if env["KMSNODE_CLUSTER_ADVERTISE"] != ip+":8300" || env["KMSNODE_GOSSIP_ADVERTISE"] != ip+":7946" {
			t.Errorf("%s advertises %v and %v, but its address is %s", name, env["KMSNODE_CLUSTER_ADVERTISE"], env["KMSNODE_GOSSIP_ADVERTISE"], ip)
		}
		hc := list(svc, "healthcheck", "test")
		if len(hc) < 3 || hc[1] != "/usr/local/bin/kmsctl" || hc[2] != "health" || !slices.Contains(hc, any("/run/secrets/ca.pem")) {
			t.Errorf("%s: health check %v does not probe with kmsctl health against the region CA", name, hc)
		}
	}
	for region, nodes := range regions {
		if len(nodes) != 3 {
			t.Errorf("region %s has nodes %v, want 3", region, nodes)
		}
		for _, n := range nodes {
			var want []string
			for _, o := range nodes {
				if o != n {
					want = append(want, ips[o]+":7946")
				}
			}
			slices.Sort(want)
			got := strings.Split(fmt.Sprint(at(services[n], "environment", "KMSNODE_JOIN")), ",")
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s joins %v, want the other nodes of %s %v", n, got, region, want)
			}
		}
	}
	if len(regions) != 2 {
		t.Errorf("regions %v, want 2", regions)
	}
}
