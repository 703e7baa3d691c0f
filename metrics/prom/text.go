package prom

import (
	"bufio"
	"context"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// The text exposition written here is what a Registry's Gather and
// expfmt's text encoder make of Collect, byte for byte (a golden test
// holds both to one file): families sorted by name, each with its HELP
// and TYPE, its series sorted by label values. It is written from the
// series with their label text rendered once per container and kept, so
// a scrape that serves the collector's snapshot costs the formatting of
// its values and little else: no dto.Metric, hash and consistency check
// per series as Gather does.

// textState is what the text exposition keeps between scrapes; guarded
// by the exporter's textMu.
type textState struct {
	series   []series  // this scrape's, reused
	byFamily [][]int32 // indices into series, by desc index
	orders   []familyOrder
}

// familyOrder is the sorted order of a family's series at the last
// scrape, kept while the same labels come in the same order (the
// containers did not change): sorting is done when they do.
type familyOrder struct {
	labels []*labels // in the order written
	order  []int32   // positions into labels, sorted by label values
}

// sorted returns the positions of ls sorted by label values as
// client_golang sorts a family's metrics.
func (f *familyOrder) sorted(ls []*labels) []int32 {
	if len(ls) == len(f.labels) {
		same := true
		for i := range ls {
			if ls[i] != f.labels[i] {
				same = false
				break
			}
		}
		if same {
			return f.order
		}
	}
	f.labels = append(f.labels[:0], ls...)
	f.order = f.order[:0]
	for i := range ls {
		f.order = append(f.order, int32(i)) //nolint:gosec // bounded by the series of one scrape
	}
	sortByLabels(f.order, f.labels)
	return f.order
}

// sortByLabels sorts positions into ls by label values in label-name
// order (client_golang's MetricSorter: fewer labels first, then value by
// value).
func sortByLabels(order []int32, ls []*labels) {
	less := func(a, b *labels) int {
		if len(a.pairs) != len(b.pairs) {
			return len(a.pairs) - len(b.pairs)
		}
		for i := range a.pairs {
			if c := strings.Compare(a.pairs[i].GetValue(), b.pairs[i].GetValue()); c != 0 {
				return c
			}
		}
		return 0
	}
	slices.SortStableFunc(order, func(x, y int32) int { return less(ls[x], ls[y]) })
}

// WriteText writes one scrape in the Prometheus text format (version
// 0.0.4): the same exposition a Registry holding only the exporter
// would gather and expfmt encode, built without them (see Handler). The
// snapshot is chosen as by Collect.
func (e *Exporter) WriteText(ctx context.Context, w io.Writer) error {
	bp := e.buffer()
	defer e.bufs.Put(bp)
	*bp = e.appendText(ctx, (*bp)[:0])
	_, err := w.Write(*bp)
	return err
}

// buffer returns a buffer to build an exposition in, from e.bufs.
func (e *Exporter) buffer() *[]byte {
	if bp, ok := e.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// appendText appends one scrape's exposition to b.
func (e *Exporter) appendText(ctx context.Context, b []byte) []byte {
	e.textMu.Lock()
	defer e.textMu.Unlock()
	st := &e.text
	w := &writer{out: st.series[:0]}
	e.scrape(ctx, w)
	d := e.d
	st.series = w.out
	if len(st.byFamily) != len(d.all) {
		st.byFamily = make([][]int32, len(d.all))
		st.orders = make([]familyOrder, len(d.all))
	}
	for i := range st.byFamily {
		st.byFamily[i] = st.byFamily[i][:0]
	}
	for i := range st.series {
		f := d.families[st.series[i].desc]
		st.byFamily[f] = append(st.byFamily[f], int32(i)) //nolint:gosec // bounded by the series of one scrape
	}
	var ls []*labels
	for _, f := range d.byName {
		idx := st.byFamily[f]
		if len(idx) == 0 {
			continue
		}
		name := d.names[f]
		b = append(b, "# HELP "...)
		b = append(b, name...)
		b = append(b, ' ')
		b = appendHelp(b, d.helps[f])
		b = append(b, "\n# TYPE "...)
		b = append(b, name...)
		if st.series[idx[0]].counter {
			b = append(b, " counter\n"...)
		} else {
			b = append(b, " gauge\n"...)
		}
		ls = ls[:0]
		for _, i := range idx {
			ls = append(ls, st.series[i].labels)
		}
		for _, k := range st.orders[f].sorted(ls) {
			s := &st.series[idx[k]]
			b = append(b, name...)
			b = append(b, s.labels.text...)
			b = append(b, ' ')
			b = appendFloat(b, s.value)
			b = append(b, '\n')
		}
	}
	// The series point into label sets that may go: drop them.
	clear(st.series)
	return b
}

// appendHelp appends a HELP text escaped as the text format wants.
func appendHelp(b []byte, help string) []byte {
	if !strings.ContainsAny(help, "\\\n") {
		return append(b, help...)
	}
	return appendEscaped(b, help, false)
}

// appendEscaped appends s with backslashes and newlines escaped, and
// double quotes when quote is set (a label value), as the text format
// wants.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := range len(s) {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as expfmt does.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// Handler serves the exporter's exposition (WriteText) in the text
// format, followed by the families of others (the process's own metrics,
// a Registry the exporter is not registered on; nil for none), encoded by
// expfmt. It is the cheap way to serve a scrape: no Gather of the
// exporter's thousands of series. A family of others named as one of the
// exporter's is left out (a scrape must not hold a family twice). The
// response is not compressed: compressing costs more CPU than writing
// it, and the scraper is on the node's own network.
func (e *Exporter) Handler(others prometheus.Gatherer) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		bp := e.buffer()
		defer e.bufs.Put(bp)
		*bp = e.appendText(r.Context(), (*bp)[:0])
		rw.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		bw := bufio.NewWriterSize(rw, 32<<10)
		if _, err := bw.Write(*bp); err != nil {
			return
		}
		if others != nil {
			mfs, err := others.Gather()
			if err != nil {
				e.logger.Warn("gather other metrics", "err", err)
			}
			enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if _, ours := e.d.byNameIndex[mf.GetName()]; ours {
					continue
				}
				if err := enc.Encode(mf); err != nil {
					e.logger.Warn("encode other metrics", "err", err)
					return
				}
			}
		}
		_ = bw.Flush()
	})
}
