package autoscale

import (
	"math"
	"time"
)

// predict returns the load expected Lead after now: the larger of the
// seasonal estimate (the level now plus the change seen between the same
// two moments one Season earlier) and the rising linear trend over
// TrendWindow. It errs when the history covers neither.
func predict(f *Forecast, pts []Point, now time.Time, loadNow float64) (float64, error) {
	best, ok := math.Inf(-1), false
	if f.Season > 0 {
		from, okFrom := loadAt(pts, now.Add(-f.Season))
		to, okTo := loadAt(pts, now.Add(f.Lead-f.Season))
		if okFrom && okTo {
			best, ok = max(best, loadNow+(to-from)), true
		}
	}
	if f.TrendWindow > 0 {
		if slope, okSlope := trend(pts, now, f.TrendWindow, loadNow); okSlope {
			est := loadNow
			if slope > 0 {
				est += slope * f.Lead.Seconds()
			}
			best, ok = max(best, est), true
		}
	}
	if !ok || math.IsNaN(best) || math.IsInf(best, 0) {
		return 0, errNoForecast
	}
	return max(best, 0), nil
}

// loadAt interpolates the recorded load at t; ok is false outside the
// recorded span or next to an unreadable reading.
func loadAt(pts []Point, t time.Time) (float64, bool) {
	if len(pts) == 0 || t.Before(pts[0].At) || t.After(pts[len(pts)-1].At) {
		return 0, false
	}
	// Readings are in time order: find the first at or after t.
	lo, hi := 0, len(pts)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if pts[mid].At.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	b := pts[lo]
	if !b.OK {
		return 0, false
	}
	if b.At.Equal(t) || lo == 0 {
		return b.Load, true
	}
	a := pts[lo-1]
	if !a.OK {
		return 0, false
	}
	span := b.At.Sub(a.At).Seconds()
	if span <= 0 {
		return b.Load, true
	}
	w := t.Sub(a.At).Seconds() / span
	return a.Load + w*(b.Load-a.Load), true
}

// trend fits a least-squares line through the readings of the window and
// the load now; ok needs three readings spanning half the window.
func trend(pts []Point, now time.Time, window time.Duration, loadNow float64) (float64, bool) {
	cut := now.Add(-window)
	var n, sx, sy, sxx, sxy float64
	var first time.Time
	add := func(at time.Time, load float64) {
		x := at.Sub(now).Seconds()
		n++
		sx += x
		sy += load
		sxx += x * x
		sxy += x * load
	}
	for i := len(pts) - 1; i >= 0 && pts[i].At.After(cut); i-- {
		if !pts[i].OK {
			continue
		}
		first = pts[i].At
		add(pts[i].At, pts[i].Load)
	}
	add(now, loadNow)
	if n < 3 || now.Sub(first) < window/2 {
		return 0, false
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, false
	}
	return (n*sxy - sx*sy) / den, true
}
