//go:build !race

package inspect

// raceDetector is true under -race; see race_on_test.go.
const raceDetector = false
