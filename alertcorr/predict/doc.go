// Package predict scores the health of an entity from its metrics and
// predicts trouble from their history: memory leaks, thread leaks and
// traffic anomalies, with the time to exhaustion.
//
// A health score starts at 100 and loses points for every metric that has
// been abnormal for at least three samples in a row, by severity (info 5,
// warning 15, critical 40): more abnormal metrics and worse ones mean a
// lower score, a spike shorter than three samples is ignored, and each
// finding says why.
//
// DetectLeak follows the floor of the GC sawtooth (the minimum of each
// bucket) after a warm-up, and compares it season over season, so a
// daily cycle is not mistaken for a leak. DetectTrafficAnomaly compares
// the latest samples with the same time of day in earlier seasons.
// Series come from a Source; PrometheusSource reads query_range.
//
//	src := &predict.PrometheusSource{URL: "http://127.0.0.1:9090"}
//	series, _ := src.Range(ctx, `jvm_memory_used_bytes{area="heap"}`, now.Add(-72*time.Hour), now, time.Minute)
//	for _, s := range series {
//		l, _ := predict.DetectLeak(s.Samples, limit, predict.LeakConfig{})
//		if l.Leaking {
//			fmt.Println(s.Labels, l.Exhaustion, l.Reason)
//		}
//	}
package predict
