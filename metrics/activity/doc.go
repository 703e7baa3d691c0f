// Package activity ranks containers by how much they are doing, the way
// JD.com's operations mailed every app owner its ten most active and ten
// idlest containers so that sleeping ones were woken or given back.
//
// A Tracker is a metrics.Sink: it keeps each container's latest reading
// and scores it.
//
//	tr, err := activity.New(activity.Config{}) // JD's weights; see Config
//	c, err := metrics.New(ctx, metrics.Config{Sinks: []metrics.Sink{tr}})
//	go c.Run(ctx)
//	...
//	rep := tr.Report()
//	rep.WriteText(os.Stdout)
//	rep.WriteMail(sendmailStdin, activity.Mail{From: "ops@x", To: []string{"owner@x"}})
//
// The score of a container is a weighted mean of six usages, each a share
// between 0 and 1, times 100:
//
//	cpu      CPU used over the interval / the CPUs it may use (quota, else cpuset)
//	mem      working set / memory limit (the host's memory when unlimited)
//	disk     used / size of its root file system
//	conns    TCP connections in use / Config.ConnsFull
//	net-in   received bytes per second / Config.NetFull
//	net-out  sent bytes per second / Config.NetFull
//
//	score = 100 × Σ wᵢ·min(1, usageᵢ) / Σ wᵢ
//
// with default weights cpu 3, mem 2, disk 1, conns 2, net-in 1, net-out 1
// (Config.Weights). A container that has reported nothing for
// Config.StaleAfter intervals is "stale" — JD's "data report timed out" —
// and is listed apart, never as idle: a container whose agent is broken is
// not a container that sleeps. A container with only one reading (no rates
// yet) is not ranked until its second.
//
// Report ranks the N busiest and N idlest containers per app, and writes
// itself as text in JD's form
//
//	cpu:2.79%;mem:58.39%;disk:6.0%;tcpconns:687.0;net-in:0.01MB/s net-out:0.00MB/s
//
// as JSON, as HTML, or as a MIME mail (text and HTML alternatives) ready
// for sendmail -t.
package activity
