package predict

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sample is one point of a time series.
type Sample struct {
	T time.Time
	V float64
}

// Series is a labelled time series, samples in time order.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// Source returns the series a query selects between start and end at
// step resolution. Prometheus is one (PrometheusSource); a test or a
// metrics store can be another.
type Source interface {
	Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error)
}

// PrometheusSource reads series through Prometheus's HTTP API
// (/api/v1/query_range).
type PrometheusSource struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:9090.
	URL string
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
}

var _ Source = (*PrometheusSource)(nil)

// maxPoints bounds the samples read from one answer (Prometheus itself
// refuses more than 11,000 points per series).
const maxPoints = 10_000_000

// Range runs query_range.
func (p *PrometheusSource) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 || !end.After(start) {
		return nil, newError(ErrInvalid, "range %s..%s step %v is empty", start.Format(time.RFC3339), end.Format(time.RFC3339), step)
	}
	q := url.Values{}
	q.Set("query", query)
	q.Set("start", strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64))
	q.Set("end", strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64))
	q.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	u := strings.TrimSuffix(p.URL, "/") + "/api/v1/query_range?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, wrapError(ErrInvalid, err, "query_range request")
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "query_range %q", query)
	}
	defer resp.Body.Close()
	out, err := DecodeQueryRange(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, wrapError(ErrUnavailable, err, "query_range %q answered %s", query, resp.Status)
	}
	return out, nil
}

// DecodeQueryRange parses a Prometheus query_range answer (a matrix).
func DecodeQueryRange(r io.Reader) ([]Series, error) {
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string    `json:"metric"`
				Values [][2]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r).Decode(&body); err != nil {
		return nil, wrapError(ErrInvalid, err, "decoding query_range answer")
	}
	if body.Status != "success" {
		return nil, newError(ErrInvalid, "query_range status %q: %s", body.Status, body.Error)
	}
	if body.Data.ResultType != "matrix" {
		return nil, newError(ErrInvalid, "query_range result type %q, want matrix", body.Data.ResultType)
	}
	out := make([]Series, 0, len(body.Data.Result))
	points := 0
	for _, res := range body.Data.Result {
		s := Series{Labels: res.Metric, Samples: make([]Sample, 0, len(res.Values))}
		for _, v := range res.Values {
			points++
			if points > maxPoints {
				return nil, newError(ErrInvalid, "query_range answer has more than %d points", maxPoints)
			}
			var ts float64
			var vs string
			if err := json.Unmarshal(v[0], &ts); err != nil {
				return nil, wrapError(ErrInvalid, err, "sample time %s", truncate(string(v[0])))
			}
			if err := json.Unmarshal(v[1], &vs); err != nil {
				return nil, wrapError(ErrInvalid, err, "sample value %s", truncate(string(v[1])))
			}
			f, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				return nil, wrapError(ErrInvalid, err, "sample value %q", truncate(vs))
			}
			if math.IsInf(ts, 0) || math.IsNaN(ts) || ts < 0 || ts > 1e11 {
				return nil, newError(ErrInvalid, "sample time %v out of range", ts)
			}
			sec, frac := math.Modf(ts)
			s.Samples = append(s.Samples, Sample{T: time.Unix(int64(sec), int64(frac*1e9)).UTC(), V: f})
		}
		out = append(out, s)
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
