package graphite_test

import (
	"strconv"
	"time"
)

func formatValue(v float64) string  { return strconv.FormatFloat(v, 'f', -1, 64) }
func formatTime(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
