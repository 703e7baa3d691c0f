//go:build race

package inspect

// raceDetector is true under -race, which slows serf members about tenfold:
// the many-member tests scale down (and say so) rather than time out.
const raceDetector = true
