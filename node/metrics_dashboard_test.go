package node_test

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	dto "github.com/prometheus/client_model/go"
)

const (
	dashboardFile = "../deploy/grafana/kmsnode-dashboard.json"
	alertsFile    = "../deploy/prometheus/kmsnode-alerts.yml"
	promFile      = "../deploy/prometheus/prometheus.yml"
)

// dashboard is the part of Grafana's dashboard model the test checks.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Time struct{ From, To string } `json:"time"`
}

type panel struct {
	ID         *int        `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	GridPos    *gridPos    `json:"gridPos"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
}

type gridPos struct{ H, W, X, Y int }

type datasource struct{ Type, UID string }

// panelTypes are Grafana's core panel types the dashboard may use.
var panelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "gauge": true, "bargauge": true,
	"table": true, "text": true, "heatmap": true, "state-timeline": true}

// promqlWords are PromQL functions, operators and labels that may appear
// in the expressions besides metric names.
var promqlWords = map[string]bool{
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "rate": true, "increase": true,
	"histogram_quantile": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "and": true, "or": true, "unless": true, "vector": true, "abs": true, "clamp_min": true,
	"region": true, "instance": true, "job": true, "le": true, "state": true, "operation": true, "code": true,
	"up": true, // Prometheus's own per target
}

var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	braces     = regexp.MustCompile(`\{[^}]*\}`)
	brackets   = regexp.MustCompile(`\[[^\]]*\]`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	variable   = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// names returns the identifiers of a PromQL expression outside label
// matchers, strings and range selectors: metric names, functions, keywords
// and the labels of by/on clauses.
func names(expr string) []string {
	e := quoted.ReplaceAllString(expr, `""`)
	e = braces.ReplaceAllString(e, "{}")
	e = brackets.ReplaceAllString(e, "[]")
	e = variable.ReplaceAllString(e, "")
	return identifier.FindAllString(e, -1)
}

// checkExpr reports every name in expr that is neither a family the node
// exported (or a histogram's _bucket, _sum, _count) nor a PromQL word.
func checkExpr(t *testing.T, where, expr string, exported map[string]*dto.MetricFamily, used map[string]bool) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
		return
	}
	for _, n := range names(expr) {
		if promqlWords[n] {
			continue
		}
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && exported[b] != nil && exported[b].GetType() == dto.MetricType_HISTOGRAM {
				base = b
			}
		}
		if exported[base] == nil {
			t.Errorf("%s: %q is not a metric the node exports (expression %s)", where, n, expr)
			continue
		}
		used[base] = true
	}
}

// TestDashboardAndAlerts checks deploy/grafana/kmsnode-dashboard.json
// against the essentials of Grafana's dashboard schema (schemaVersion, a
// uid, unique panel ids, grid positions inside the 24-column grid that do
// not overlap, targets with refIds and expressions, the variables they
// use), and checks that every metric the dashboard, the alert rules and
// the scrape configuration's companions name is one a real node exports:
// the node is scraped after some traffic.
func TestDashboardAndAlerts(t *testing.T) {
	t.Parallel()
	n := start(t, withMetrics)
	id := newKey(t, n.Client, nil)
	_, err := n.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	exported := scrape(t, nil, n.MetricsURL()).fams
	used := map[string]bool{}

	raw, err := os.ReadFile(dashboardFile)
	mustOK(t, "read the dashboard", err)
	var d dashboard
	mustOK(t, "parse the dashboard", json.Unmarshal(raw, &d))
	if d.SchemaVersion < 36 || d.UID == "" || len(d.UID) > 40 || d.Title == "" || d.Time.From == "" || d.Time.To == "" {
		t.Errorf("dashboard header: schemaVersion %d, uid %q, title %q, time %+v", d.SchemaVersion, d.UID, d.Title, d.Time)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		if v.Name == "" || v.Type == "" {
			t.Errorf("a template variable without name or type: %+v", v)
		}
		vars[v.Name] = true
	}
	if !vars["datasource"] {
		t.Error("no datasource variable")
	}
	ids := map[int]bool{}
	var placed []gridPos
	for i, p := range d.Panels {
		where := p.Title
		switch {
		case p.ID == nil || *p.ID <= 0 || ids[*p.ID]:
			t.Errorf("panel %d (%s): id missing, not positive or repeated", i, where)
		case !panelTypes[p.Type]:
			t.Errorf("panel %s: type %q", where, p.Type)
		case p.Title == "":
			t.Errorf("panel %d has no title", i)
		case p.GridPos == nil:
			t.Errorf("panel %s has no gridPos", where)
		}
		if p.ID != nil {
			ids[*p.ID] = true
		}
		if g := p.GridPos; g != nil {
			if g.W < 1 || g.W > 24 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("panel %s: gridPos %+v outside the grid", where, *g)
			}
			for _, o := range placed {
				if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
					t.Errorf("panel %s at %+v overlaps another at %+v", where, *g, o)
				}
			}
			placed = append(placed, *g)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %s has no targets", where)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %s: datasource %+v, want the ${datasource} variable", where, p.Datasource)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %s: refId %q missing or repeated", where, tg.RefID)
			}
			refs[tg.RefID] = true
			for _, m := range variable.FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[m[1]] && !strings.HasPrefix(m[1], "__") {
					t.Errorf("panel %s: expression uses $%s, which is not a variable", where, m[1])
				}
			}
			checkExpr(t, "dashboard panel "+where, tg.Expr, exported, used)
		}
	}
	// What the dashboard must show (issue 7).
	for _, m := range []string{"kmsnode_requests_total", "kmsnode_request_duration_seconds", "kmsnode_raft_state",
		"kmsnode_raft_term", "kmsnode_raft_commit_index", "kmsnode_lease_age_seconds", "kmsnode_keys",
		"kmsnode_audit_write_duration_seconds", "kmsnode_audit_fsync_duration_seconds", "kmsnode_audit_failures_total",
		"kmsnode_throttled_requests_total", "kmsnode_ready", "kmsnode_audit_healthy"} {
		if !used[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}

	// The alert rules: one expression per line (the file says so).
	rules := 0
	for i, line := range lines(t, alertsFile) {
		if expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			rules++
			checkExpr(t, alertsFile+":"+strconv.Itoa(i+1), expr, exported, used)
		}
	}
	if rules < 5 {
		t.Errorf("%d alert expressions in %s", rules, alertsFile)
	}

	// The scrape configuration: a job per region of the compose cluster,
	// each with its three nodes and its region label, and the rules file.
	conf := strings.Join(lines(t, promFile), "\n")
	for _, want := range []string{"job_name: kmsnode-us-east-1", "job_name: kmsnode-eu-west-1",
		`targets: ["e1:9464", "e2:9464", "e3:9464"]`, `targets: ["w1:9464", "w2:9464", "w3:9464"]`,
		"region: us-east-1", "region: eu-west-1", "- kmsnode-alerts.yml", "scheme: https"} {
		if !strings.Contains(conf, want) {
			t.Errorf("%s lacks %q", promFile, want)
		}
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	mustOK(t, "open "+path, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	mustOK(t, "read "+path, sc.Err())
	return out
}
