// Command testreport reads `go test -json` on standard input and prints what a
// CI log needs: every failing test's whole output, every skipped test with its
// reason, a line per package, how many real components the integration tests
// started (internal/testenv logs "testenv: started <component>"), and a
// closing "N passed, N failed, N skipped" line. It exits 1 when a test, a
// package or a build failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build events
	Test       string
	Elapsed    float64
	Output     string
}

type tally struct{ passed, failed, skipped int }

var startedRE = regexp.MustCompile(`testenv: started (\S+)`)

func main() {
	ok, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// report consumes the event stream and reports whether everything passed.
func report(in io.Reader, out io.Writer) (bool, error) {
	w := bufio.NewWriter(out)
	defer w.Flush()

	outputs := map[string]*strings.Builder{} // package + "\x00" + test -> output
	perPkg := map[string]*tally{}
	components := map[string]int{}
	var total tally
	var skips []string
	buildFailed := false

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		key := ev.Package + "\x00" + ev.Test
		switch ev.Action {
		case "build-output":
			fmt.Fprint(w, ev.Output)
			continue
		case "build-fail":
			buildFailed = true
			fmt.Fprintf(w, "BUILD FAIL %s\n", ev.ImportPath)
			continue
		case "output":
			if m := startedRE.FindStringSubmatch(ev.Output); m != nil {
				components[m[1]]++
			}
			b := outputs[key]
			if b == nil {
				b = &strings.Builder{}
				outputs[key] = b
			}
			b.WriteString(ev.Output)
			continue
		}
		t := perPkg[ev.Package]
		if t == nil {
			t = &tally{}
			perPkg[ev.Package] = t
		}
		text := ""
		if b := outputs[key]; b != nil {
			text = b.String()
			delete(outputs, key)
		}
		switch {
		case ev.Test != "" && ev.Action == "pass":
			t.passed++
		case ev.Test != "" && ev.Action == "skip":
			t.skipped++
			skips = append(skips, fmt.Sprintf("SKIP %s %s: %s", ev.Package, ev.Test, skipReason(text)))
		case ev.Test != "" && ev.Action == "fail":
			t.failed++
			fmt.Fprintf(w, "--- FAIL %s %s\n%s", ev.Package, ev.Test, text)
		case ev.Test == "" && ev.Action == "fail":
			fmt.Fprintf(w, "FAIL %s (%.1fs) %d passed, %d failed, %d skipped\n%s", ev.Package, ev.Elapsed, t.passed, t.failed, t.skipped, packageNoise(text))
			if t.failed == 0 {
				t.failed++ // a package that failed outside any test (panic, TestMain, timeout)
			}
		case ev.Test == "" && ev.Action == "pass":
			fmt.Fprintf(w, "ok   %s (%.1fs) %d passed, %d skipped\n", ev.Package, ev.Elapsed, t.passed, t.skipped)
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}

	for _, s := range skips {
		fmt.Fprintln(w, s)
	}
	if len(components) > 0 {
		names := make([]string, 0, len(components))
		for c := range components {
			names = append(names, c)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, c := range names {
			parts[i] = fmt.Sprintf("%s x%d", c, components[c])
		}
		fmt.Fprintf(w, "real components started: %s\n", strings.Join(parts, ", "))
	}
	for _, t := range perPkg {
		total.passed += t.passed
		total.failed += t.failed
		total.skipped += t.skipped
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", total.passed, total.failed, total.skipped)
	return total.failed == 0 && !buildFailed, nil
}

// skipReason keeps the lines a skipped test logged, minus go test's own
// "=== RUN" and "--- SKIP" lines.
func skipReason(output string) string {
	var kept []string
	for l := range strings.SplitSeq(output, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, " | ")
}

// packageNoise drops the lines go test prints for every package so that a
// failed package shows only what explains the failure.
func packageNoise(output string) string {
	var kept []string
	for l := range strings.SplitSeq(output, "\n") {
		if l == "" || l == "FAIL" || l == "PASS" || strings.HasPrefix(l, "FAIL\t") || strings.HasPrefix(l, "ok  \t") {
			continue
		}
		kept = append(kept, l)
	}
	if len(kept) == 0 {
		return ""
	}
	return strings.Join(kept, "\n") + "\n"
}
