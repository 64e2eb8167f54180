package pvreleased

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func released(name, ns, claim string, age time.Duration) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Time{Time: now.Add(-age - time.Hour)}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "nfs",
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: claim},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs1", Path: "/srv/nfs/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased, LastPhaseTransitionTime: &metav1.Time{Time: now.Add(-age)}},
	}
}

func run(t *testing.T, client kubernetes.Interface, configure func(*Options)) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := &Options{IOStreams: streams, PrintFlags: genericclioptions.NewPrintFlags("").WithTypeSetter(nil), now: func() time.Time { return now },
		client: func() (kubernetes.Interface, error) { return client, nil }, isTerminal: func() bool { return false }}
	configure(o)
	if err := o.Validate(); err != nil {
		return out.String(), errOut.String(), err
	}
	err := o.Run(t.Context())
	return out.String(), errOut.String(), err
}

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plugins/pvreleased -update)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("output differs from %s:\n--- want\n%s--- got\n%s", path, want, got)
	}
}

func TestTables(t *testing.T) {
	client := fake.NewClientset(
		released("pvc-a", "qxsms-pprd", "qxsms-data", 3*time.Hour),
		released("pvc-b", "team-x", "db", 50*time.Hour),
	)
	for _, format := range []string{"", "wide", "name"} {
		t.Run("format="+format, func(t *testing.T) {
			out, _, err := run(t, client, func(o *Options) { *o.PrintFlags.OutputFormat = format })
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "table-"+format, out)
		})
	}
}

func TestNoneFound(t *testing.T) {
	out, errOut, err := run(t, fake.NewClientset(released("pvc-a", "qxsms-pprd", "d", time.Hour)), func(o *Options) { o.Instances = []string{"demo"} })
	if err != nil || out != "" || errOut != "No Released PersistentVolumes found\n" {
		t.Fatalf("out=%q errOut=%q err=%v", out, errOut, err)
	}
}

func TestDeleteNeedsConfirmation(t *testing.T) {
	client := fake.NewClientset(released("pvc-a", "qxsms-pprd", "d", time.Hour))
	_, _, err := run(t, client, func(o *Options) { o.Delete, o.Instances = true, []string{"pprd"} })
	if err == nil || !strings.Contains(err.Error(), "pass --yes") {
		t.Fatalf("--delete without a terminal or --yes: %v", err)
	}
	if _, err := client.CoreV1().PersistentVolumes().Get(t.Context(), "pvc-a", metav1.GetOptions{}); err != nil {
		t.Fatal("refused --delete deleted the PV")
	}
	out, errOut, err := run(t, client, func(o *Options) { o.Delete, o.Yes, o.Instances = true, true, []string{"pprd"} })
	if err != nil || !strings.Contains(out, "persistentvolume/pvc-a deleted") || !strings.Contains(errOut, "nfs1:/srv/nfs/pvc-a") {
		t.Fatalf("--delete --yes: out=%q errOut=%q err=%v", out, errOut, err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"rebind needs one PV", func(o *Options) { o.Rebind = "ns/pvc" }, "exactly one PV name"},
		{"rebind format", func(o *Options) { o.Rebind, o.Instances = "nopvc", []string{"pvc-a"} }, "want NAMESPACE/PVC"},
		{"rebind with delete", func(o *Options) { o.Rebind, o.Delete, o.Instances = "a/b", true, []string{"pvc-a"} }, "cannot be combined"},
		{"delete with export", func(o *Options) { o.Delete, o.Export = true, "/tmp/x" }, "export first"},
		{"dry run alone", func(o *Options) { o.DryRun = true }, "--dry-run applies to"},
		{"bad instance", func(o *Options) { o.Instances = []string{"../x"} }, "invalid instance name"},
		{"bad output", func(o *Options) { *o.PrintFlags.OutputFormat = "csv" }, `--output "csv" is not supported`},
		{"negative age", func(o *Options) { o.OlderThan = -time.Hour }, "must not be negative"},
		{"delete without a scope", func(o *Options) { o.Delete, o.Yes = true, true }, "name the instances, or pass --claim-namespace NS, or --all"},
		{"all with an instance", func(o *Options) { o.Delete, o.All, o.Instances = true, true, []string{"pprd"} }, "cannot be combined"},
		{"include-non-retain without delete", func(o *Options) { o.IncludeNonRetain = true }, "apply to --delete"},
		{"rebind claim not a subdomain", func(o *Options) { o.Rebind, o.Instances = "ns/Bad_Name", []string{"pvc-a"} }, "want NAMESPACE/PVC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, fake.NewClientset(), tc.set)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
