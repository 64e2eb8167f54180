// Package waves plans and runs a progressive rollout over instances: the
// canaries first, then the others in waves, each finished before the next
// starts, stopping once more instances failed than allowed. It knows
// nothing of what a step does: deploy and restart both use it.
package waves

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Spec is what the user asked for.
type Spec struct {
	// Canaries go first, alone, in this order.
	Canaries []string
	// Waves splits the other instances into this many waves of near-equal
	// size; 0 with an empty Size means one wave.
	Waves int
	// Size is the size of each wave instead: "N" instances or "P%" of the
	// non-canary instances (rounded up).
	Size string
	// Order puts these instances first, in this order (k8s/qxsms.yaml);
	// the others follow by name.
	Order []string
	// MaxFailures is how many failed instances the rollout tolerates before
	// it stops; a failed canary always stops it.
	MaxFailures int
}

// Progressive reports whether the spec asks for more than one parallel step.
func (s Spec) Progressive() bool {
	return len(s.Canaries) > 0 || s.Waves > 0 || s.Size != ""
}

// Wave is one step of the rollout.
type Wave struct {
	// Number counts from 1; canaries are wave 0.
	Number int
	Canary bool
	Names  []string
}

// String is "the canary" or "wave N", as in "stopped after wave 2".
func (w Wave) String() string {
	if w.Canary {
		return "the canary"
	}
	return "wave " + strconv.Itoa(w.Number)
}

// Title names w in progress lines: "Canary", or "Wave 2/3" counting the
// waves of plan after the canaries.
func Title(w Wave, plan []Wave) string {
	if w.Canary {
		return "Canary"
	}
	n := len(plan)
	if n > 0 && plan[0].Canary {
		n--
	}
	return fmt.Sprintf("Wave %d/%d", w.Number, n)
}

// Plan orders names into waves: the canaries that are among names, then
// the rest. A canary not among names is an error: the user meant an
// instance this rollout does not touch.
func Plan(names []string, s Spec) ([]Wave, error) {
	if s.Waves < 0 {
		return nil, fmt.Errorf("--waves must not be negative, got %d", s.Waves)
	}
	if s.Waves > 0 && s.Size != "" {
		return nil, fmt.Errorf("--waves and --wave-size cannot be combined: give the number of waves or their size")
	}
	if s.MaxFailures < 0 {
		return nil, fmt.Errorf("--max-failures must not be negative, got %d", s.MaxFailures)
	}
	var plan []Wave
	isCanary := map[string]bool{}
	for _, c := range s.Canaries {
		if !slices.Contains(names, c) {
			return nil, fmt.Errorf("canary %q is not one of the instances of this rollout (%s): name one of them, or select it too", c, strings.Join(names, ", "))
		}
		isCanary[c] = true
	}
	if len(s.Canaries) > 0 {
		plan = append(plan, Wave{Canary: true, Names: slices.Compact(slices.Clone(s.Canaries))})
	}
	var rest []string
	for _, n := range names {
		if !isCanary[n] {
			rest = append(rest, n)
		}
	}
	rank := map[string]int{}
	for i, n := range s.Order {
		if _, dup := rank[n]; !dup {
			rank[n] = i
		}
	}
	sort.SliceStable(rest, func(i, j int) bool {
		ri, iok := rank[rest[i]]
		rj, jok := rank[rest[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return rest[i] < rest[j]
	})
	if len(rest) == 0 {
		return plan, nil
	}
	size, err := waveSize(len(rest), s)
	if err != nil {
		return nil, err
	}
	for i, n := 0, 1; i < len(rest); i, n = i+size, n+1 {
		plan = append(plan, Wave{Number: n, Names: rest[i:min(i+size, len(rest))]})
	}
	return plan, nil
}

// waveSize is how many instances each wave holds.
func waveSize(n int, s Spec) (int, error) {
	switch {
	case s.Waves > 0:
		return int(math.Ceil(float64(n) / float64(s.Waves))), nil
	case s.Size == "":
		return n, nil
	case strings.HasSuffix(s.Size, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s.Size, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return 0, fmt.Errorf("--wave-size %q: want a count (e.g. 3) or a percentage in (0, 100] (e.g. 25%%)", s.Size)
		}
		return max(1, int(math.Ceil(p*float64(n)/100))), nil
	}
	size, err := strconv.Atoi(s.Size)
	if err != nil || size < 1 {
		return 0, fmt.Errorf("--wave-size %q: want a count (e.g. 3) or a percentage in (0, 100] (e.g. 25%%)", s.Size)
	}
	return size, nil
}

// Status is where one instance ended.
type Status string

// The statuses of a rollout.
const (
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	// Skipped instances were not touched: the rollout stopped first.
	Skipped Status = "skipped"
)

// Report is how a rollout ended.
type Report struct {
	Status map[string]Status
	// Stopped says why the rollout stopped early; empty when it ran to the end.
	Stopped string
	// StoppedAfter is the wave after which it stopped.
	StoppedAfter *Wave
}

// Remaining lists the instances a resumed rollout must still go through:
// the failed ones first (they try the fix), then the skipped ones, in plan order.
func (r *Report) Remaining(plan []Wave) (failed, skipped []string) {
	for _, w := range plan {
		for _, n := range w.Names {
			switch r.Status[n] {
			case Failed:
				failed = append(failed, n)
			case Skipped:
				skipped = append(skipped, n)
			}
		}
	}
	return failed, skipped
}

// Step runs one wave and returns the names that failed. It must finish what
// it started even when ctx is done (an interrupt): the runner stops after it.
type Step func(ctx context.Context, w Wave) (failed []string)

// Run runs the waves in order. It stops after a wave in which a canary
// failed, after which more than MaxFailures instances failed in total, or
// once ctx is done: the instances of the waves not started are Skipped.
func Run(ctx context.Context, plan []Wave, maxFailures int, step Step) *Report {
	r := &Report{Status: map[string]Status{}}
	failures := 0
	for i, w := range plan {
		failed := step(ctx, w)
		for _, n := range w.Names {
			r.Status[n] = Succeeded
		}
		for _, n := range failed {
			r.Status[n] = Failed
		}
		failures += len(failed)
		switch {
		case ctx.Err() != nil && i < len(plan)-1:
			// The wave's failures are likely the interrupted waits.
			r.Stopped = "interrupted"
		case w.Canary && len(failed) > 0:
			r.Stopped = fmt.Sprintf("the canary failed (%s)", strings.Join(failed, ", "))
		case failures > maxFailures:
			r.Stopped = fmt.Sprintf("%d instance(s) failed, more than --max-failures=%d", failures, maxFailures)
		}
		if r.Stopped != "" {
			r.StoppedAfter = &plan[i]
			for _, later := range plan[i+1:] {
				for _, n := range later.Names {
					r.Status[n] = Skipped
				}
			}
			return r
		}
	}
	return r
}
