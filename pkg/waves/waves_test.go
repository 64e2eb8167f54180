package waves

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("i%d", i+1)
	}
	return out
}

func render(plan []Wave) string {
	var parts []string
	for _, w := range plan {
		parts = append(parts, w.String()+":"+strings.Join(w.Names, ","))
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		names   []string
		spec    Spec
		want    string
		wantErr string
	}{
		{name: "one wave by default", names: []string{"b", "a", "c"}, want: "wave 1:a,b,c"},
		{name: "canary then the rest by name", names: []string{"b", "a", "c"}, spec: Spec{Canaries: []string{"c"}}, want: "the canary:c wave 1:a,b"},
		{name: "nine in three waves", names: names(9), spec: Spec{Waves: 3}, want: "wave 1:i1,i2,i3 wave 2:i4,i5,i6 wave 3:i7,i8,i9"},
		{name: "uneven waves round up", names: names(7), spec: Spec{Waves: 3}, want: "wave 1:i1,i2,i3 wave 2:i4,i5,i6 wave 3:i7"},
		{name: "more waves than instances", names: names(2), spec: Spec{Waves: 5}, want: "wave 1:i1 wave 2:i2"},
		{name: "size count", names: names(5), spec: Spec{Size: "2"}, want: "wave 1:i1,i2 wave 2:i3,i4 wave 3:i5"},
		{name: "size percent rounds up", names: strings.Split("abcdefghij", ""), spec: Spec{Size: "25%"}, want: "wave 1:a,b,c wave 2:d,e,f wave 3:g,h,i wave 4:j"},
		{name: "tiny percent is one instance", names: names(3), spec: Spec{Size: "1%"}, want: "wave 1:i1 wave 2:i2 wave 3:i3"},
		{name: "config order first, then by name", names: []string{"a", "b", "c", "d"}, spec: Spec{Order: []string{"d", "b", "zz"}, Waves: 2}, want: "wave 1:d,b wave 2:a,c"},
		{name: "canary excluded from waves", names: names(4), spec: Spec{Canaries: []string{"i3"}, Waves: 3}, want: "the canary:i3 wave 1:i1 wave 2:i2 wave 3:i4"},
		{name: "only canaries", names: []string{"a"}, spec: Spec{Canaries: []string{"a"}}, want: "the canary:a"},
		{name: "unknown canary", names: []string{"a"}, spec: Spec{Canaries: []string{"x"}}, wantErr: `canary "x" is not one of`},
		{name: "waves and size", names: names(3), spec: Spec{Waves: 2, Size: "1"}, wantErr: "cannot be combined"},
		{name: "bad size", names: names(3), spec: Spec{Size: "0"}, wantErr: "--wave-size"},
		{name: "bad percent", names: names(3), spec: Spec{Size: "150%"}, wantErr: "--wave-size"},
		{name: "negative max failures", names: names(3), spec: Spec{MaxFailures: -1}, wantErr: "--max-failures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Plan(tc.names, tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := render(plan); got != tc.want {
				t.Errorf("plan = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRun(t *testing.T) {
	plan, err := Plan(names(7), Spec{Canaries: []string{"i1"}, Waves: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		fail        map[string]bool
		maxFailures int
		interruptAt int // wave index after which ctx is cancelled; -1: never
		wantRan     []string
		wantStatus  map[Status][]string
		wantStopped string
	}{
		{name: "all good", interruptAt: -1, wantRan: []string{"the canary", "wave 1", "wave 2", "wave 3"},
			wantStatus: map[Status][]string{Succeeded: names(7)}},
		{name: "canary fails", fail: map[string]bool{"i1": true}, maxFailures: 5, interruptAt: -1, wantRan: []string{"the canary"},
			wantStatus: map[Status][]string{Failed: {"i1"}, Skipped: {"i2", "i3", "i4", "i5", "i6", "i7"}}, wantStopped: "the canary failed"},
		{name: "one failure tolerated, second stops", fail: map[string]bool{"i2": true, "i5": true}, maxFailures: 1, interruptAt: -1,
			wantRan:     []string{"the canary", "wave 1", "wave 2"},
			wantStatus:  map[Status][]string{Succeeded: {"i1", "i3", "i4"}, Failed: {"i2", "i5"}, Skipped: {"i6", "i7"}},
			wantStopped: "2 instance(s) failed, more than --max-failures=1"},
		{name: "interrupt stops after the current wave", interruptAt: 1, wantRan: []string{"the canary", "wave 1"},
			wantStatus: map[Status][]string{Succeeded: {"i1", "i2", "i3"}, Skipped: {"i4", "i5", "i6", "i7"}}, wantStopped: "interrupted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var ran []string
			i := 0
			r := Run(ctx, plan, tc.maxFailures, func(_ context.Context, w Wave) []string {
				ran = append(ran, w.String())
				var failed []string
				for _, n := range w.Names {
					if tc.fail[n] {
						failed = append(failed, n)
					}
				}
				if i == tc.interruptAt {
					cancel()
				}
				i++
				return failed
			})
			if !reflect.DeepEqual(ran, tc.wantRan) {
				t.Errorf("ran %v, want %v", ran, tc.wantRan)
			}
			got := map[Status][]string{}
			for _, n := range names(7) {
				got[r.Status[n]] = append(got[r.Status[n]], n)
			}
			if !reflect.DeepEqual(got, tc.wantStatus) {
				t.Errorf("status %v, want %v", got, tc.wantStatus)
			}
			if !strings.HasPrefix(r.Stopped, tc.wantStopped) || (tc.wantStopped == "") != (r.Stopped == "") {
				t.Errorf("stopped %q, want %q", r.Stopped, tc.wantStopped)
			}
		})
	}
}

func TestRemainingPutsFailedFirst(t *testing.T) {
	plan := []Wave{{Canary: true, Names: []string{"c"}}, {Number: 1, Names: []string{"a", "b"}}, {Number: 2, Names: []string{"d"}}}
	r := &Report{Status: map[string]Status{"c": Succeeded, "a": Succeeded, "b": Failed, "d": Skipped}}
	failed, skipped := r.Remaining(plan)
	if !reflect.DeepEqual(failed, []string{"b"}) || !reflect.DeepEqual(skipped, []string{"d"}) {
		t.Errorf("remaining %v %v", failed, skipped)
	}
}

func TestTitle(t *testing.T) {
	plan := []Wave{{Canary: true, Names: []string{"c"}}, {Number: 1}, {Number: 2}}
	if got := Title(plan[0], plan) + "," + Title(plan[2], plan) + "," + Title(plan[1], plan[1:]); got != "Canary,Wave 2/2,Wave 1/2" {
		t.Errorf("titles %q", got)
	}
}
