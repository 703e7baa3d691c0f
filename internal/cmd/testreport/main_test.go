package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	stream := strings.Join([]string{
		`{"Action":"start","Package":"p/a"}`,
		`{"Action":"run","Package":"p/a","Test":"TestOK"}`,
		`{"Action":"output","Package":"p/a","Test":"TestOK","Output":"    x_test.go:9: testenv: started ovsdb-server pid 7\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestOK","Output":"    x_test.go:9: testenv: started netns shoal-1\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestOK","Output":"    x_test.go:9: testenv: started netns shoal-2\n"}`,
		`{"Action":"pass","Package":"p/a","Test":"TestOK","Elapsed":0.1}`,
		`{"Action":"run","Package":"p/a","Test":"TestSkip"}`,
		`{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"=== RUN   TestSkip\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"    y_test.go:3: testenv: netns needs root\n"}`,
		`{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}`,
		`{"Action":"skip","Package":"p/a","Test":"TestSkip"}`,
		`{"Action":"pass","Package":"p/a","Elapsed":0.2}`,
		`{"Action":"run","Package":"p/b","Test":"TestBad"}`,
		`{"Action":"output","Package":"p/b","Test":"TestBad","Output":"    z_test.go:5: got 3, want 4\n"}`,
		`{"Action":"fail","Package":"p/b","Test":"TestBad"}`,
		`{"Action":"output","Package":"p/b","Output":"FAIL\n"}`,
		`{"Action":"fail","Package":"p/b","Elapsed":0.3}`,
		`not json from go vet`,
	}, "\n") + "\n"

	var out strings.Builder
	ok, err := report(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("report passed a stream with a failing test")
	}
	got := out.String()
	for _, want := range []string{
		"ok   p/a (0.2s) 1 passed, 1 skipped\n",
		"--- FAIL p/b TestBad\n    z_test.go:5: got 3, want 4\n",
		"FAIL p/b (0.3s) 0 passed, 1 failed, 0 skipped\n",
		"SKIP p/a TestSkip: y_test.go:3: testenv: netns needs root\n",
		"real components started: netns x2, ovsdb-server x1\n",
		"not json from go vet\n",
		"\n1 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q; got:\n%s", want, got)
		}
	}
}

func TestReportPackageFailureOutsideTests(t *testing.T) {
	stream := `{"Action":"output","Package":"p/c","Output":"panic: boom\n"}
{"Action":"fail","Package":"p/c","Elapsed":0.1}
{"ImportPath":"p/d","Action":"build-output","Output":"d.go:1: syntax error\n"}
{"ImportPath":"p/d","Action":"build-fail"}
`
	var out strings.Builder
	ok, err := report(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("report passed a package that panicked and one that did not build")
	}
	for _, want := range []string{"panic: boom", "d.go:1: syntax error", "BUILD FAIL p/d", "0 passed, 1 failed, 0 skipped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q; got:\n%s", want, out.String())
		}
	}
}
