package container_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalkit/shoal/examples/internal/container"
	"github.com/shoalkit/shoal/examples/internal/state"
	"github.com/shoalkit/shoal/internal/testenv"
)

// sysinfoCalls is how many sysinfo(2) calls the probe times in one run.
const sysinfoCalls = 20000

// BenchmarkSysinfo times sysinfo(2) as a process sees it (a static Go
// program calling it sysinfoCalls times, reporting ns/sysinfo): on the
// host, in a container with the default seccomp profile, and in the same
// container whose sysinfo goes to procview's AcceptSeccomp (a seccomp
// notification, the server's answer written into the caller's memory). One
// iteration is one container (256 MiB, half a CPU) running the probe.
func BenchmarkSysinfo(b *testing.B) {
	rt, cfg := newRuntime(b)
	if err := container.SeccompNotifySupported(); err != nil {
		b.Skip(err)
	}
	root := rootfs(b)
	probe := testenv.SysinfoProbe(b, filepath.Join(root, "bin"))
	sock, stop := serveSysinfo(b, cfg.CgroupParent)
	defer stop()

	b.Run("host", func(b *testing.B) {
		var sum float64
		for b.Loop() {
			out, err := exec.CommandContext(b.Context(), probe, "-n", fmt.Sprint(sysinfoCalls)).CombinedOutput()
			if err != nil {
				b.Fatalf("probe: %v\n%s", err, out)
			}
			sum += nsPerCall(b, string(out))
		}
		b.ReportMetric(sum/float64(b.N), "ns/sysinfo")
	})
	runs := 0 // container ids, unique across sub-benchmarks and their rounds
	for _, c := range []struct{ name, listener string }{{"container", ""}, {"container-listener", sock}} {
		b.Run(c.name, func(b *testing.B) {
			var sum float64
			for b.Loop() {
				runs++
				id := fmt.Sprintf("bench-%d", runs)
				_, err := rt.Start(b.Context(), container.Spec{
					ID: id, Rootfs: root, Args: []string{"/bin/sysinfo-probe", "-n", fmt.Sprint(sysinfoCalls)},
					Resources:       state.Resources{MemoryBytes: 256 << 20, CPUs: 0.5},
					SysinfoListener: c.listener,
				})
				if err != nil {
					b.Fatal(err)
				}
				if code, err := rt.Wait(b.Context(), id); err != nil || code != 0 {
					b.Fatalf("probe exited %d, %v", code, err)
				}
				out, err := os.ReadFile(rt.LogPath(id))
				if err != nil {
					b.Fatal(err)
				}
				if c.listener != "" && !strings.HasPrefix(string(out), "sysinfo totalram=268435456 ") {
					b.Fatalf("the listener did not answer: %s", out)
				}
				sum += nsPerCall(b, string(out))
				if err := rt.Delete(b.Context(), id, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(sum/float64(b.N), "ns/sysinfo")
		})
	}
}

// nsPerCall is the probe's "ns/call=T".
func nsPerCall(b *testing.B, out string) float64 {
	b.Helper()
	_, after, ok := strings.Cut(out, "ns/call=")
	var ns float64
	if _, err := fmt.Sscan(after, &ns); !ok || err != nil {
		b.Fatalf("probe printed %q", out)
	}
	return ns
}
