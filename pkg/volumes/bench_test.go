package volumes

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkReleased filters 5,000 PVs (half Released) page by page, as
// pv-released does; the fake client stands in for the server.
func BenchmarkReleased(b *testing.B) {
	var objs []runtime.Object
	for i := range 5000 {
		phase := corev1.VolumeBound
		if i%2 == 0 {
			phase = corev1.VolumeReleased
		}
		objs = append(objs, nfsPV(fmt.Sprintf("pvc-%05d", i), fmt.Sprintf("qxsms-i%02d", i%50), "data", phase))
	}
	client := fake.NewClientset(objs...)
	// i08 holds PVs 8, 58, 108, ...: all even, so all Released.
	f := ReleasedFilter{Instances: []string{"i08"}, Now: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		l, err := Released(context.Background(), client, f)
		if err != nil || len(l.PVs) != 100 {
			b.Fatalf("%d PVs, %v", len(l.PVs), err)
		}
	}
}
