package prom

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series is one sample sent to a scrape: what prometheus.MustNewConstMetric
// makes, without building and sorting its label pairs for every sample.
// The pairs come from a labelSet kept from one scrape to the next; they
// are shared and never modified (a dto.Metric's labels are immutable by
// client_golang's contract).
type series struct {
	desc    *prometheus.Desc
	labels  *labels
	value   float64
	counter bool
	c       dto.Counter
	g       dto.Gauge
}

// labels are the label pairs of series, sorted by name as client_golang
// keeps them, and the same rendered for the text exposition
// (`{name="value",...}`, "" for none).
type labels struct {
	pairs []*dto.LabelPair
	text  string
}

func newLabels(pairs []*dto.LabelPair) *labels {
	l := &labels{pairs: pairs}
	if len(pairs) == 0 {
		return l
	}
	var b []byte
	for i, p := range pairs {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		b = append(b, sep)
		b = append(b, p.GetName()...)
		b = append(b, `="`...)
		b = appendEscaped(b, p.GetValue(), true)
		b = append(b, '"')
	}
	b = append(b, '}')
	l.text = string(b)
	return l
}

var _ prometheus.Metric = (*series)(nil)

// Desc returns the series' descriptor.
func (s *series) Desc() *prometheus.Desc { return s.desc }

// Write fills out with the series' labels and value.
func (s *series) Write(out *dto.Metric) error {
	out.Label = s.labels.pairs
	if s.counter {
		s.c.Value = &s.value
		out.Counter = &s.c
		return nil
	}
	s.g.Value = &s.value
	out.Gauge = &s.g
	return nil
}

// seriesChunk is how many series are allocated at once: a scrape sends
// thousands, and each is handed out by pointer, so they live in chunks
// that never move.
const seriesChunk = 256

// labelSet is the label pairs of one container (or of the node: none),
// and those with one more label, sorted by name as client_golang keeps
// them.
type labelSet struct {
	base  *labels
	extra map[[2]string]*labels
	gen   uint64 // the last scrape that used it
}

// maxExtraLabels bounds the extra label values kept per container
// (interfaces and devices come from outside).
const maxExtraLabels = 1024

func newLabelSet(names, values []string) *labelSet {
	ls := &labelSet{extra: map[[2]string]*labels{}}
	var base []*dto.LabelPair
	for i := range names {
		base = append(base, pair(names[i], values[i]))
	}
	slices.SortFunc(base, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
	ls.base = newLabels(base)
	return ls
}

func pair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

// with returns the base pairs and name=value, sorted.
func (ls *labelSet) with(name, value string) *labels {
	key := [2]string{name, value}
	if l, ok := ls.extra[key]; ok {
		return l
	}
	base := ls.base.pairs
	p := make([]*dto.LabelPair, 0, len(base)+1)
	i, _ := slices.BinarySearchFunc(base, name, func(a *dto.LabelPair, n string) int { return cmp.Compare(a.GetName(), n) })
	p = append(p, base[:i]...)
	p = append(p, pair(name, value))
	p = append(p, base[i:]...)
	l := newLabels(p)
	if len(ls.extra) < maxExtraLabels {
		ls.extra[key] = l
	}
	return l
}

// writer sends the series of one scrape to a Collect's channel, or, when
// ch is nil, gathers them in out for the text exposition.
type writer struct {
	ch    chan<- prometheus.Metric
	chunk []series
	out   []series
	ls    *labelSet // the labels of what is being written
}

func (w *writer) send(d *prometheus.Desc, counter bool, v float64, l *labels) {
	if w.ch == nil {
		w.out = append(w.out, series{desc: d, labels: l, value: v, counter: counter})
		return
	}
	if len(w.chunk) == cap(w.chunk) {
		w.chunk = make([]series, 0, seriesChunk)
	}
	w.chunk = append(w.chunk, series{desc: d, labels: l, value: v, counter: counter})
	w.ch <- &w.chunk[len(w.chunk)-1]
}

func (w *writer) gauge(d *prometheus.Desc, v float64) { w.send(d, false, v, w.ls.base) }

func (w *writer) counter(d *prometheus.Desc, v float64) { w.send(d, true, v, w.ls.base) }

// gaugeWith and counterWith add the label name=value.
func (w *writer) gaugeWith(d *prometheus.Desc, v float64, name, value string) {
	w.send(d, false, v, w.ls.with(name, value))
}

func (w *writer) counterWith(d *prometheus.Desc, v float64, name, value string) {
	w.send(d, true, v, w.ls.with(name, value))
}
