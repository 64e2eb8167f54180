//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestVersionReportsServer(t *testing.T) {
	var out struct {
		APIVersion, Kind string
		Plugin           struct{ Version, GoVersion, ClientGoVersion string }
		ServerVersion    *struct{ GitVersion string }
	}
	NewTest(t).Qxsms("version", "-o", "json").Run().Success().JSON(&out)
	if out.APIVersion != "qxsms.io/v1alpha1" || out.Kind != "Version" {
		t.Errorf("version -o json is %s %s, want qxsms.io/v1alpha1 Version", out.APIVersion, out.Kind)
	}
	if out.ServerVersion == nil || out.ServerVersion.GitVersion != "v1.37.2" {
		t.Fatalf("server version %+v, want v1.37.2", out.ServerVersion)
	}
	if out.Plugin.ClientGoVersion != "v0.37.2" {
		t.Errorf("client-go version %q, want v0.37.2", out.Plugin.ClientGoVersion)
	}
}

func TestPluginDiscoveredByKubectl(t *testing.T) {
	NewTest(t).Kubectl("plugin", "list").Run().Success().StdoutContains("kubectl-qxsms")
}

// The local cluster behaves as the real ones do for what the plugin relies on:
// kubectl apply -k brings the stack up, PVCs bind to provisioned NFS PVs with a
// real directory, and deleting the namespace leaves the PVs Released with their data.
func TestClusterApplyKAndReleasedVolumes(t *testing.T) {
	inst := uniqueName("e2e-cluster")
	repo := newConfigRepo(t, "staging", inst)
	x := NewTest(t)
	ns := "qxsms-" + inst
	x.Kubectl("apply", "-k", repo.overlay("staging", inst)).Run().Success()
	x.Kubectl("wait", "-n", ns, "--for=condition=Available", "deployment", "--all", "--timeout=90s").Run().Success()
	x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=60s").Run().Success()

	pvs := pvsOf(t, inst)
	if len(pvs) != 4 {
		t.Fatalf("%d PVs bound in %s, want 4", len(pvs), ns)
	}
	for _, p := range pvs {
		if p.Spec.NFS == nil || p.Spec.NFS.Path != "/srv/nfs/"+p.Metadata.Name {
			t.Fatalf("PV %s: nfs %+v, want path /srv/nfs/%s", p.Metadata.Name, p.Spec.NFS, p.Metadata.Name)
		}
		if p.Spec.ReclaimPolicy != "Retain" {
			t.Errorf("PV %s: reclaim policy %s, want Retain", p.Metadata.Name, p.Spec.ReclaimPolicy)
		}
		if err := os.WriteFile(hostDir(p)+"/marker", []byte(p.Metadata.Name), 0o644); err != nil {
			t.Fatalf("PV %s has no directory on the data root: %v", p.Metadata.Name, err)
		}
	}

	x.Kubectl("delete", "namespace", ns, "--timeout=120s").Run().Success()
	if namespaceExists(t, ns) {
		t.Fatalf("namespace %s still exists after delete", ns)
	}
	eventually(t, 60*time.Second, "PVs Released", func() error {
		for _, p := range pvsOf(t, inst) {
			if p.Status.Phase != "Released" {
				return fmt.Errorf("PV %s is %s", p.Metadata.Name, p.Status.Phase)
			}
		}
		return nil
	})
	for _, p := range pvsOf(t, inst) {
		if p.Spec.ClaimRef == nil || p.Spec.ClaimRef.UID == "" {
			t.Errorf("PV %s lost its claimRef", p.Metadata.Name)
		}
		if b, err := os.ReadFile(hostDir(p) + "/marker"); err != nil || string(b) != p.Metadata.Name {
			t.Errorf("PV %s: data gone after namespace deletion: %v", p.Metadata.Name, err)
		}
	}
}
