//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// figures collects what the reliability tests tried, for RELIABILITY.md.
var figures struct {
	sync.Mutex
	rows []figure
}

type figure struct{ area, what, result string }

func record(area, what, result string) {
	figures.Lock()
	defer figures.Unlock()
	figures.rows = append(figures.rows, figure{area, what, result})
}

// writeReliability writes RELIABILITY.md when $RELIABILITY_OUT names it.
func writeReliability() {
	out := os.Getenv("RELIABILITY_OUT")
	if out == "" || len(figures.rows) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Reliability\n\nWritten by `make test` (test/e2e/reliability_test.go) on %s, against the local cluster.\n"+
		"Every row is checked by a test that fails otherwise.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	area := ""
	for _, f := range figures.rows {
		if f.area != area {
			area = f.area
			fmt.Fprintf(&b, "\n## %s\n\n| what was tried | result |\n|---|---|\n", area)
		}
		fmt.Fprintf(&b, "| %s | %s |\n", strings.ReplaceAll(f.what, "|", `\|`), strings.ReplaceAll(f.result, "|", `\|`))
	}
	_ = os.WriteFile(out, []byte(b.String()), 0o644)
}

// clusterState is what bad input could change: the identity and generation
// of everything in the instances' namespaces, and their PVs. Namespaces are
// checked apart (newNamespaces): earlier tests' cleanups still delete theirs.
func clusterState(t *testing.T, instances ...string) map[string]string {
	state := map[string]string{}
	for _, inst := range instances {
		for k, v := range identities(t, "qxsms-"+inst) {
			state["qxsms-"+inst+"/"+k] = v
		}
	}
	for _, p := range pvsOf(t, instances...) {
		state["pv/"+p.Metadata.Name] = p.Metadata.UID + "/" + p.Spec.ReclaimPolicy
	}
	return state
}

func namespaces(t *testing.T) map[string]bool {
	out := map[string]bool{}
	for _, name := range strings.Fields(NewTest(t).Kubectl("get", "namespaces", "-o", "name").Run().Success().Stdout) {
		out[name] = true
	}
	return out
}

func TestReliabilityBadInput(t *testing.T) {
	inst, other := uniqueName("e2e-bad"), uniqueName("e2e-bad")
	repo := newConfigRepo(t, "staging", inst, other)
	x := NewTest(t).WithRoot(repo.Dir)
	x.Qxsms("deploy", "staging", inst, "--wait").Run().Success()
	x.Kubectl("wait", "-n", "qxsms-"+inst, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=30s").Run().Success()
	ov := "overlays/staging/" + inst + "/"
	kust := ov + "kustomization.yml"
	cases := []struct {
		name   string
		mutate func(r *configRepo)
		args   []string
		want   []string
	}{
		{"malformed YAML in env.yml", func(r *configRepo) { r.write(ov+"env.yml", "kind: ConfigMap\nmetadata: [\n") }, nil, []string{"env.yml", "nothing was applied"}},
		{"tab-indented YAML", func(r *configRepo) {
			r.write(ov+"namespace.yml", "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: x\n")
		}, nil, []string{"namespace.yml"}},
		{"missing base", func(r *configRepo) { r.edit(kust, "../../../base", "../../../nobase") }, nil, []string{"nobase", "nothing was applied"}},
		{"resource file missing", func(r *configRepo) { r.edit(kust, "- ingress.yml", "- ingres.yml") }, nil, []string{"ingres.yml"}},
		{"secretGenerator file missing", func(r *configRepo) { r.edit(kust, "- secrets.env", "- secret.env") }, nil, []string{"secret.env"}},
		{"unknown kustomization field", func(r *configRepo) { r.edit(kust, "patches:", "patchez:") }, nil, []string{"patchez"}},
		{"duplicate objects", func(r *configRepo) {
			r.write(ov+"dup.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: qxsms-env\n")
			r.edit(kust, "  - env.yml\n", "  - env.yml\n  - dup.yml\n")
		}, nil, []string{"qxsms-env"}},
		{"unknown kind", func(r *configRepo) {
			r.write(ov+"w.yml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")
			r.edit(kust, "  - env.yml\n", "  - env.yml\n  - w.yml\n")
		}, nil, []string{"Widget", "is its CRD installed"}},
		{"CRD not installed (cert-manager Certificate)", func(r *configRepo) {
			r.write(ov+"cert.yml", "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: c\nspec: {secretName: s}\n")
			r.edit(kust, "  - env.yml\n", "  - env.yml\n  - cert.yml\n")
		}, nil, []string{"cert-manager.io/v1", "is its CRD installed"}},
		{"object in another namespace", func(r *configRepo) {
			r.write(ov+"x.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kube-system\n")
			r.edit(kust, "namespace: qxsms-"+inst+"\n", "")
			r.edit(kust, "  - env.yml\n", "  - env.yml\n  - x.yml\n")
		}, nil, []string{"kube-system", "not the instance's"}},
		{"cluster-scoped object in an overlay", func(r *configRepo) {
			r.write(ov+"cr.yml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: grab\n")
			r.edit(kust, "  - env.yml\n", "  - env.yml\n  - cr.yml\n")
		}, nil, []string{"cluster-scoped", "k8s/cluster/"}},
		{"Namespace missing from the overlay", func(r *configRepo) { r.edit(kust, "  - namespace.yml\n", "") }, nil, []string{"add namespace.yml"}},
		{"invalid qxsms.yaml", func(r *configRepo) { r.write("qxsms.yaml", "environment: {}\n") }, nil, []string{"qxsms.yaml is not valid"}},
		{"environment not in qxsms.yaml", func(r *configRepo) { r.write("qxsms.yaml", "environments:\n  production: {contexts: [kwok-qxsms]}\n") }, nil, []string{`"staging" is not listed`}},
		{"context not allowed for the environment", func(r *configRepo) { r.writeConfig("qxsms-preprod") }, nil, []string{"--allow-context-mismatch"}},
		{"unknown environment", nil, []string{"deploy", "qa"}, []string{"known environments are"}},
		{"unknown instance", nil, []string{"deploy", "staging", "ghost"}, []string{"known instances are"}},
		{"instance name not DNS-1123", nil, []string{"deploy", "staging", "Bad_Name"}, []string{"invalid instance name"}},
		{"instance name with ../", nil, []string{"deploy", "staging", "../production"}, []string{"invalid instance name"}},
		{"environment name with ../", nil, []string{"deploy", "../overlays"}, []string{"invalid environment name"}},
		{"--diff with --dry-run", nil, []string{"deploy", "staging", "--diff", "--dry-run=server"}, []string{"cannot be combined"}},
		{"--diff with -o json", nil, []string{"deploy", "staging", "--diff", "-o", "json"}, []string{"cannot be combined"}},
		{"--parallel -1", nil, []string{"deploy", "staging", "--parallel", "-1"}, []string{"--parallel must be 0 (all at once) or more"}},
		{"unsupported -o", nil, []string{"deploy", "staging", "-o", "wide"}, []string{`--output "wide" is not supported`}},
		{"--root without overlays", nil, []string{"deploy", "staging", "--root", "/tmp"}, []string{"holds no overlays/"}},
		{"teardown without confirmation", nil, []string{"teardown", "staging", inst}, []string{"pass --yes"}},
		{"teardown with a wrong --confirm", nil, []string{"teardown", "staging", inst, "--confirm=" + other}, []string{"does not match"}},
		{"restart with names and --all", nil, []string{"restart", inst, "--all"}, []string{"not both"}},
		{"restart --deployment with -l", nil, []string{"restart", inst, "--deployment", "x", "-l", "a=b"}, []string{"cannot be combined"}},
		{"restart of a bad Deployment name", nil, []string{"restart", inst, "--deployment", "../x"}, []string{"invalid deployment name"}},
		{"pv-released --rebind without NAMESPACE/PVC", nil, []string{"pv-released", "pvc-x", "--rebind", "nope"}, []string{"want NAMESPACE/PVC"}},
		{"pv-released --delete with --export", nil, []string{"pv-released", "--delete", "--export", "/tmp/x"}, []string{"export first"}},
		{"pvc-nfs-path --export-root malformed", nil, []string{"pvc-nfs-path", inst, "--export-root", "srv"}, []string{"EXPORT=FSPATH"}},
		{"pvc-nfs-path --rsync with -o json", nil, []string{"pvc-nfs-path", inst, "--rsync", "/b", "-o", "json"}, []string{"cannot be combined"}},
		{"new over an existing instance", nil, []string{"new", "staging", other, "--from", inst}, []string{"already exists"}},
		{"new with an invalid --host", nil, []string{"new", "staging", "fresh", "--from", inst, "--host", "bad_host"}, []string{"invalid host"}},
		{"new from an unknown instance", nil, []string{"new", "staging", "fresh", "--from", "ghost"}, []string{"no instance of that name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := repo.clone(t)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			args := tc.args
			if args == nil {
				args = []string{"deploy", "staging"}
			}
			before, nsBefore := clusterState(t, inst, other), namespaces(t)
			out := NewTest(t).WithRoot(r.Dir).Qxsms(args...).Run().Failure()
			out.StderrContains(tc.want...)
			if strings.Contains(out.Stderr, "panic") || strings.Count(out.Stderr, "error:") != 1 {
				t.Errorf("want exactly one clear error, got:\n%s", out.Stderr)
			}
			if after := clusterState(t, inst, other); !maps.Equal(before, after) {
				t.Errorf("bad input changed the cluster:\nbefore %v\nafter  %v", before, after)
			}
			for ns := range namespaces(t) {
				if !nsBefore[ns] {
					t.Errorf("bad input created %s", ns)
				}
			}
			if _, err := os.Stat(filepath.Join(r.Dir, "overlays", "staging", "fresh")); err == nil {
				t.Error("a refused new left a folder")
			}
			first := strings.SplitN(strings.TrimPrefix(out.Stderr[strings.Index(out.Stderr, "error:"):], "error: "), "\n", 2)[0]
			first = strings.ReplaceAll(first, r.Dir, "k8s")
			if len(first) > 240 {
				first = first[:237] + "..."
			}
			record("Bad input", tc.name+": `kubectl qxsms "+strings.Join(args, " ")+"`", "refused, 0 objects changed: "+first)
		})
	}
	t.Logf("%d bad inputs refused with the cluster unchanged", len(cases))
}
