package storm

import (
	"github.com/shoalkit/shoal/alertcorr"
)

// Score is how well incidents match a storm's truth.
type Score struct {
	Alerts, Incidents, Faults int
	// Compression is 1 − incidents ÷ alerts.
	Compression float64
	// Top1 is the share of faults whose main incident (the one holding
	// most of the fault's alerts) has the fault's root as its root.
	Top1 float64
	// Precision, Recall and F1 count pairs of alerts: a pair is predicted
	// together when in one incident, truly together when of one fault.
	Precision, Recall, F1 float64
	// Merges are incidents holding alerts of more than one fault; Splits
	// are faults whose alerts are in more than one incident.
	Merges, Splits int
	// Unassigned are alerts of the storm in no incident.
	Unassigned int
}

// Score compares incidents with the truth.
func (s *Storm) Score(incidents []alertcorr.Incident) Score {
	sc := Score{Alerts: len(s.Truth), Incidents: len(incidents), Faults: len(s.Faults)}
	cell := map[[2]string]int{}
	incSize := map[string]int{}
	faultSize := map[string]int{}
	incFaults := map[string]map[string]bool{}
	faultIncs := map[string]map[string]bool{}
	assigned := 0
	for _, in := range incidents {
		for _, fp := range in.Members {
			f, ok := s.Truth[fp]
			if !ok {
				continue
			}
			assigned++
			cell[[2]string{in.ID, f}]++
			incSize[in.ID]++
			faultSize[f]++
			if incFaults[in.ID] == nil {
				incFaults[in.ID] = map[string]bool{}
			}
			incFaults[in.ID][f] = true
			if faultIncs[f] == nil {
				faultIncs[f] = map[string]bool{}
			}
			faultIncs[f][in.ID] = true
		}
	}
	sc.Unassigned = len(s.Truth) - assigned
	if sc.Alerts > 0 {
		sc.Compression = 1 - float64(sc.Incidents)/float64(sc.Alerts)
	}
	pairs := func(n int) float64 { return float64(n) * float64(n-1) / 2 }
	var tp, pred, truth float64
	for _, n := range cell {
		tp += pairs(n)
	}
	for _, n := range incSize {
		pred += pairs(n)
	}
	for _, n := range faultSize {
		truth += pairs(n)
	}
	sc.Precision, sc.Recall = 1, 1
	if pred > 0 {
		sc.Precision = tp / pred
	}
	if truth > 0 {
		sc.Recall = tp / truth
	}
	if sc.Precision+sc.Recall > 0 {
		sc.F1 = 2 * sc.Precision * sc.Recall / (sc.Precision + sc.Recall)
	}
	for _, fs := range incFaults {
		if len(fs) > 1 {
			sc.Merges++
		}
	}
	for _, is := range faultIncs {
		if len(is) > 1 {
			sc.Splits++
		}
	}
	byID := map[string]alertcorr.Incident{}
	for _, in := range incidents {
		byID[in.ID] = in
	}
	hits := 0
	for _, f := range s.Faults {
		best, n := "", 0
		for k, c := range cell {
			if k[1] == f.ID && (c > n || (c == n && k[0] < best)) {
				best, n = k[0], c
			}
		}
		if in, ok := byID[best]; ok && in.Root.Kind == f.Root.Kind && in.Root.ID == f.Root.ID {
			hits++
		}
	}
	if len(s.Faults) > 0 {
		sc.Top1 = float64(hits) / float64(len(s.Faults))
	}
	return sc
}
