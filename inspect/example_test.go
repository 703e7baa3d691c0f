package inspect_test

import (
	"fmt"

	"github.com/shoalkit/shoal/inspect"
)

// A spec of three checks, one of them limited to zone b.
func ExampleParseSpec() {
	spec, err := inspect.ParseSpec([]byte(`{"version": 4, "checks": [
		{"id": "ip-forward", "kind": "sysctl", "key": "net.ipv4.ip_forward", "want": "1", "fix": {"sysctl": "1"}},
		{"id": "kernel", "kind": "kernel", "want": "5.10", "op": "ge"},
		{"id": "oom", "kind": "kernellog", "key": "Out of memory", "window": "10m", "select": {"zone": "b"}}
	]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	i, _ := spec.Index("oom")
	fmt.Println(len(spec.Checks), spec.Selects(i, map[string]string{"zone": "a"}))
	// Output: 3 false
}

// A verdict of 500 checks with every other one failed still fits 64 bytes.
func ExampleEncodeVerdict() {
	var failed []int
	for i := 0; i < 500; i += 2 {
		failed = append(failed, i)
	}
	b := inspect.EncodeVerdict(1234, inspect.Verdict{Failed: failed})
	v, err := inspect.DecodeVerdict(b, 1234, 500)
	fmt.Println(len(b), len(v.Failed), err)
	fmt.Println(len(inspect.EncodeVerdict(1234, inspect.Verdict{})))
	// Output:
	// 64 250 <nil>
	// 1
}

// A bad spec is refused with a message that names the problem.
func ExampleSpec_Validate() {
	s := &inspect.Spec{Version: 1, Checks: []inspect.Check{{ID: "x", Kind: "sysctl"}}}
	fmt.Println(s.Validate())
	// Output: inspect: check x: kind sysctl needs a key
}
