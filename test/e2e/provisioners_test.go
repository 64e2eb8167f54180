//go:build e2e

package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The StorageClasses of the local cluster, one per provisioner shape.
var storageClasses = []string{"nfs", "nfs-subdir", "nfs-csi"}

// useStorageClass makes every PVC of the repo's base ask for class.
func (r *configRepo) useStorageClass(class string) {
	r.t.Helper()
	base := filepath.Join(r.Dir, "base")
	n := 0
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(b), "storageClassName: nfs\n", "storageClassName: "+class+"\n")
		if s != string(b) {
			n++
		}
		return os.WriteFile(p, []byte(s), 0o644)
	})
	if err != nil || n == 0 && class != "nfs" {
		r.t.Fatalf("setting storageClassName %s in %s: %v (%d files)", class, base, err, n)
	}
}

type pathRow struct {
	PVC, Namespace, Volume, Status, Released, Server, Path, StorageClass, Source string
}

func pathRows(t *testing.T, x *Test, inst string) []pathRow {
	t.Helper()
	var out struct{ Items []pathRow }
	x.Qxsms("pvc-nfs-path", inst, "-o", "json").Run().Success().JSON(&out)
	return out.Items
}

// localDir is where the local NFS server keeps an exported path.
func localDir(t *testing.T, exported string) string {
	t.Helper()
	rel, ok := strings.CutPrefix(exported, "/srv/nfs/")
	if !ok {
		t.Fatalf("path %q is not under the export root /srv/nfs", exported)
	}
	return filepath.Join(env.nfsRoot, filepath.FromSlash(rel))
}

// wantShape checks a printed path against how the class's provisioner names
// its directories.
func wantShape(t *testing.T, class string, r pathRow) {
	t.Helper()
	want := "/srv/nfs/" + r.Volume
	if class != "nfs" {
		want = fmt.Sprintf("/srv/nfs/%s-%s-%s", r.Namespace, r.PVC, r.Volume)
	}
	if r.Path != want || r.Server != "nfs.qxsms.local" {
		t.Errorf("%s: %s:%s, want nfs.qxsms.local:%s", class, r.Server, r.Path, want)
	}
	if wantSource := map[bool]string{true: "csi", false: "nfs"}[class == "nfs-csi"]; r.Source != wantSource {
		t.Errorf("%s: source %q, want %q", class, r.Source, wantSource)
	}
}

// writeMarks writes file into every current volume's directory, named after
// the PV, and returns claim → row.
func writeMarks(t *testing.T, class string, rows []pathRow, file string) map[string]pathRow {
	t.Helper()
	out := map[string]pathRow{}
	for _, r := range rows {
		if r.Status != "Bound" {
			continue
		}
		wantShape(t, class, r)
		if err := os.WriteFile(filepath.Join(localDir(t, r.Path), file), []byte(r.Volume), 0o644); err != nil {
			t.Fatalf("%s: printed path %s is no directory of the NFS server: %v", r.PVC, r.Path, err)
		}
		out[r.PVC] = r
	}
	if len(out) != 4 {
		t.Fatalf("%d bound volumes, want 4: %+v", len(out), rows)
	}
	return out
}

// ensureRsync installs rsync on a bare machine rather than skipping.
func ensureRsync(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err == nil {
		return
	}
	cmd := exec.Command("sh", "-c", "apt-get install -y --no-install-recommends rsync || (apt-get update && apt-get install -y --no-install-recommends rsync)")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rsync is missing and could not be installed: %v\n%s", err, out)
	}
}

// standInSSH runs the remote side of rsync on this machine, through a
// shell, as sshd would on the NFS server.
const standInSSH = `#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in -l|-p|-o|-i) shift 2 ;; -*) shift ;; *) break ;; esac
done
shift
exec sh -c "$*"
`

// TestVolumesAcrossProvisioners runs teardown, pvc-nfs-path and pv-released
// on each provisioner shape, over two generations of the same instance, and
// checks that every printed path is the directory that holds the data.
func TestVolumesAcrossProvisioners(t *testing.T) {
	ensureRsync(t)
	for _, class := range storageClasses {
		t.Run(class, func(t *testing.T) {
			inst := uniqueName("e2e-pv")
			repo := newConfigRepo(t, "staging", inst)
			repo.useStorageClass(class)
			x := NewTest(t).WithRoot(repo.Dir)
			ns := "qxsms-" + inst
			bound := func() {
				x.Qxsms("deploy", "staging", inst, "--wait").Run().Success()
				x.Kubectl("wait", "-n", ns, "--for=jsonpath={.status.phase}=Bound", "pvc", "--all", "--timeout=60s").Run().Success()
			}

			// Generation 1.
			bound()
			gen1 := writeMarks(t, class, pathRows(t, x, inst), "gen1.txt")
			x.Qxsms("teardown", "staging", inst, "--yes", "--timeout", "2m").Run().Success().StdoutContains(gen1["qxsms-data"].Path)
			for _, r := range pathRows(t, x, inst) {
				g := gen1[r.PVC]
				if r.Status != "Deleted" || r.Volume != g.Volume || r.Path != g.Path || r.Released == "" {
					t.Errorf("after teardown: %+v, want %s Deleted at %s with a released time", r, g.Volume, g.Path)
				}
			}

			// Generation 2 under the same names: each claim's volume is its own,
			// the old one is listed apart, and neither hides the other.
			bound()
			rows := pathRows(t, x, inst)
			gen2 := writeMarks(t, class, rows, "gen2.txt")
			for claim, r := range gen2 {
				var volumeName string
				out := x.Kubectl("get", "pvc", "-n", ns, claim, "-o", "jsonpath={.spec.volumeName}").Run().Success()
				volumeName = out.Stdout
				if r.Volume != volumeName || r.Volume == gen1[claim].Volume {
					t.Errorf("%s: current volume %s, want spec.volumeName %s (generation 1 was %s)", claim, r.Volume, volumeName, gen1[claim].Volume)
				}
			}
			if len(rows) != 8 {
				t.Fatalf("%d rows, want 4 current and 4 of generation 1: %+v", len(rows), rows)
			}
			for _, r := range rows[4:] {
				if r.Status != "Deleted" || r.Volume != gen1[r.PVC].Volume {
					t.Errorf("generation 1 row: %+v, want %s Deleted", r, gen1[r.PVC].Volume)
				}
			}

			// The Retain check looks at the current PV, not the older one.
			victim := gen2["qxsms-media"].Volume
			x.Kubectl("patch", "pv", victim, "-p", `{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}`).Run().Success()
			x.Qxsms("teardown", "staging", inst, "--yes").Run().Failure().StderrContains("kubectl patch pv "+victim, "nothing was deleted")
			x.Kubectl("patch", "pv", victim, "-p", `{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}`).Run().Success()
			x.Qxsms("teardown", "staging", inst, "--yes", "--timeout", "2m").Run().Success()

			// Every generation is copied into its own DEST/<pvc>-<pv>/ by the
			// printed commands, run as printed with a real rsync.
			bin, dest := t.TempDir(), filepath.Join(t.TempDir(), "restore here")
			if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(standInSSH), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			cmds := x.Qxsms("pvc-nfs-path", inst, "--rsync", dest, "--export-root", "/srv/nfs="+env.nfsRoot).Run().Success()
			n := 0
			for _, line := range strings.Split(cmds.Stdout, "\n") {
				if !strings.HasPrefix(line, "rsync ") {
					continue
				}
				n++
				sh := exec.Command("sh", "-c", line)
				sh.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
				if out, err := sh.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", line, err, out)
				}
			}
			if n != 8 {
				t.Fatalf("%d rsync commands, want 8:\n%s", n, cmds.Stdout)
			}
			for gen, marks := range map[string]map[string]pathRow{"gen1.txt": gen1, "gen2.txt": gen2} {
				for claim, r := range marks {
					b, err := os.ReadFile(filepath.Join(dest, claim+"-"+r.Volume, gen))
					if err != nil || string(b) != r.Volume {
						t.Errorf("%s of %s (%s) not restored into DEST/%s-%s: %v", gen, claim, class, claim, r.Volume, err)
					}
				}
			}

			// pv-released lists both generations, newest first, and deletes
			// them with their exact paths; the data stays.
			listed := x.Qxsms("pv-released", inst, "-o", "name").Run().Success()
			if got := len(strings.Fields(listed.Stdout)); got != 8 {
				t.Fatalf("pv-released listed %d PVs, want 8:\n%s", got, listed.Stdout)
			}
			del := x.Qxsms("pv-released", inst, "--delete", "--yes").Run().Success()
			for claim, r := range gen1 {
				del.StderrContains("nfs.qxsms.local:" + r.Path)
				for gen, marks := range map[string]map[string]pathRow{"gen1.txt": gen1, "gen2.txt": gen2} {
					if _, err := os.Stat(filepath.Join(localDir(t, marks[claim].Path), gen)); err != nil {
						t.Errorf("%s of %s gone after the PVs were deleted: %v", gen, claim, err)
					}
				}
			}
			if !t.Failed() {
				area := "Data, per provisioner"
				record(area, class+": teardown, then a deploy under the same names", "pvc-nfs-path shows the current PV (the claim's spec.volumeName) and the old generation apart; each printed path is the directory holding the file written before teardown")
				record(area, class+": teardown while the current PV has reclaim policy Delete", "refused, nothing deleted")
				record(area, class+": the printed rsync commands, run as printed", "every generation restored into its own DEST/<pvc>-<pv>/")
				record(area, class+": pv-released --delete of both generations", "PVs deleted; the data stays at the printed server path")
			}
		})
	}
}
