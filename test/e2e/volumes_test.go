//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

type nfsRow struct {
	PVC, Volume, Status, Server, Path string
}

func nfsPaths(t *testing.T, x *Test, inst string) map[string]nfsRow {
	var out struct{ Items []nfsRow }
	x.Qxsms("pvc-nfs-path", inst, "-o", "json").Run().Success().JSON(&out)
	m := map[string]nfsRow{}
	for _, r := range out.Items {
		m[r.PVC] = r
	}
	return m
}

func TestVolumesLifecycle(t *testing.T) {
	inst, other := uniqueName("e2e-vol"), uniqueName("e2e-vol")
	repo := newConfigRepo(t, "staging", inst, other)
	x := NewTest(t).WithRoot(repo.Dir)
	ns := "qxsms-" + inst
	x.Qxsms("deploy", "staging", "--wait").Run().Success()
	for _, i := range []string{inst, other} {
		x.Kubectl("wait", "-n", "qxsms-"+i, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=30s").Run().Success()
	}

	// The reported paths are the provisioner's real directories.
	before := nfsPaths(t, x, inst)
	if len(before) != 4 {
		t.Fatalf("pvc-nfs-path found %d volumes, want 4: %v", len(before), before)
	}
	for pvc, r := range before {
		if r.Status != "Bound" || r.Server != "nfs.qxsms.local" || r.Path != "/srv/nfs/"+r.Volume {
			t.Errorf("%s: %+v", pvc, r)
		}
		dir := filepath.Join(env.nfsRoot, filepath.Base(r.Path))
		if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte(pvc), 0o644); err != nil {
			t.Fatalf("%s: path %s has no directory on the data root: %v", pvc, r.Path, err)
		}
	}
	media := before["qxsms-media"]
	x.Qxsms("pvc-nfs-path", inst, "qxsms-media", "--rsync", "/backup/it's here", "--ssh-user", "ops").Run().Success().
		StdoutContains("rsync -aHAX -s", "ops@nfs.qxsms.local:"+media.Path+"/", `'/backup/it'"'"'s here/qxsms-media-`+media.Volume+`/'`)

	x.Qxsms("teardown", "staging", inst, "--yes").Run().Success()

	// Found again through the PVs' claimRef.
	after := nfsPaths(t, x, inst)
	for pvc, r := range before {
		if a := after[pvc]; a.Path != r.Path || a.Volume != r.Volume || a.Status != "Deleted" {
			t.Errorf("%s after teardown: %+v, want path %s through claimRef", pvc, a, r.Path)
		}
	}

	// pv-released lists exactly this instance's PVs.
	listed := x.Qxsms("pv-released", inst, "-o", "name").Run().Success()
	var want []string
	for _, r := range before {
		want = append(want, "persistentvolume/"+r.Volume)
	}
	sort.Strings(want)
	got := strings.Fields(listed.Stdout) // newest first
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pv-released %s:\n got %v\nwant %v", inst, got, want)
	}
	x.Qxsms("pv-released", other).Run().Success().StderrContains("No Released PersistentVolumes found")
	x.Qxsms("pv-released", inst, "--older-than", "1h").Run().Success().StderrContains("No Released PersistentVolumes found")
	wide := x.Qxsms("pv-released", inst, "-o", "wide").Run().Success()
	wide.StdoutContains("NFS SERVER", "qxsms-"+inst+"/qxsms-data", before["qxsms-data"].Path)

	// Export, then rebind one volume to a new claim that sees the old files.
	exportDir := t.TempDir()
	x.Qxsms("pv-released", inst, "--export", exportDir).Run().Success()
	exported, err := os.ReadFile(filepath.Join(exportDir, before["qxsms-data"].Volume+".yaml"))
	// claimRef keeps the claim's namespace and name only: applied, the PV is
	// reserved for that claim, not free for any PVC of its class.
	if err != nil || !strings.Contains(string(exported), "claimRef") || !strings.Contains(string(exported), "name: qxsms-data") ||
		strings.Contains(string(exported), "uid:") || strings.Contains(string(exported), "resourceVersion") || !strings.Contains(string(exported), before["qxsms-data"].Path) {
		t.Fatalf("exported manifest is not clean (%v):\n%s", err, exported)
	}
	data := before["qxsms-data"]
	x.Qxsms("pv-released", data.Volume, "--rebind", ns+"/qxsms-data", "--dry-run=server").Run().Success().StderrContains("(server dry run)")
	claim := x.Qxsms("pv-released", data.Volume, "--rebind", ns+"/qxsms-data").Run().Success()
	claim.StdoutContains("volumeName: "+data.Volume, "kind: PersistentVolumeClaim")
	x.Kubectl("create", "namespace", ns).Run().Success()
	manifest := filepath.Join(t.TempDir(), "pvc.yaml")
	if err := os.WriteFile(manifest, []byte(claim.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	x.Kubectl("apply", "-f", manifest).Run().Success()
	x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Bound", "pvc/qxsms-data", "--timeout=30s").Run().Success()
	x.Kubectl("get", "-n", ns, "pvc/qxsms-data", "-o", "jsonpath={.spec.volumeName}").Run().Success().StdoutContains(data.Volume)
	if b, err := os.ReadFile(filepath.Join(env.nfsRoot, data.Volume, "file.txt")); err != nil || string(b) != "qxsms-data" {
		t.Errorf("the rebound volume does not hold the old file: %v", err)
	}

	// Delete the three still Released: refused without confirmation, then done; the data stays.
	x.Qxsms("pv-released", inst, "--delete").Run().Failure().StderrContains("pass --yes")
	x.Qxsms("pv-released", inst, "--delete", "--dry-run=client").Run().Success().StdoutContains(" deleted (dry run)")
	x.Qxsms("pv-released", inst, "--delete", "--dry-run=server").Run().Success().StdoutContains(" deleted (server dry run)")
	del := x.Qxsms("pv-released", inst, "--delete", "--yes").Run().Success()
	if n := strings.Count(del.Stdout, " deleted\n"); n != 3 {
		t.Fatalf("--delete deleted %d PVs, want 3:\n%s", n, del.Stdout)
	}
	del.StderrContains("does not delete its data", "nfs.qxsms.local:/srv/nfs/")
	x.Qxsms("pv-released", inst).Run().Success().StderrContains("No Released PersistentVolumes found")
	for pvc, r := range before {
		if b, err := os.ReadFile(filepath.Join(env.nfsRoot, r.Volume, "file.txt")); err != nil || string(b) != pvc {
			t.Errorf("%s: data gone after the PV was deleted: %v", pvc, err)
		}
	}
}
