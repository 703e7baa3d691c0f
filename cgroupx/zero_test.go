package cgroupx

import (
	"testing"
	"time"
)

// The zero LoadConfig is DefaultLoadConfig: 5 s scans on a real ticker,
// errors discarded; a zero Interval is never a tracker that spins.
func TestZeroLoadConfig(t *testing.T) {
	def := DefaultLoadConfig()
	if def.Interval != 5*time.Second || def.NewTicker == nil || def.Logger == nil {
		t.Fatalf("DefaultLoadConfig %+v", def)
	}
	for _, cfg := range []LoadConfig{{}, {Interval: -time.Second}} {
		lt := NewLoadTracker(nil, cfg)
		if lt.cfg.Interval != LoadFreq || lt.cfg.NewTicker == nil || lt.cfg.Logger == nil {
			t.Errorf("NewLoadTracker(%+v) config %+v", cfg, lt.cfg)
		}
		tk := lt.cfg.NewTicker(time.Hour)
		if tk.Chan() == nil {
			t.Error("default ticker has no channel")
		}
		tk.Stop()
		lt.cfg.Logger.Info("discarded") // must not panic
	}
	if lt := NewLoadTracker(nil, LoadConfig{Interval: time.Second}); lt.cfg.Interval != time.Second {
		t.Errorf("explicit interval replaced: %v", lt.cfg.Interval)
	}
}

// No options read the machine's own files; WithRoot("") is refused naming
// the option.
func TestZeroHostOptions(t *testing.T) {
	var o hostOptions
	if err := WithRoot("")(&o); err == nil || err.Error() != `cgroupx: WithRoot(""): not an absolute path` {
		t.Errorf("WithRoot(empty): %v", err)
	}
	h, err := NewHost(t.Context())
	if err != nil {
		t.Skipf("no cgroup file system here: %v", err)
	}
	if h.root != "/" {
		t.Errorf("root %q, want /", h.root)
	}
}
