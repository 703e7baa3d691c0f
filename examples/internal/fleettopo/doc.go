// Package fleettopo builds alertcorr's topology from the platform's state
// in etcd, and keeps it up to date as nodes and instances come and go.
//
// Mapping (see package state for the keys):
//
//	nodes/NODE      Node.Zone → datacenter, Node.Room → room, Node.Rack → rack,
//	                Node.Switch → switch (in the rack, else the room),
//	                NODE → host (in its rack, else its room; on its switch)
//	status/NODE/ID  ID → container on host NODE, of app Status.App
//
// An instance whose node has no nodes/NODE key (its agent's lease expired)
// still sits on a host of that name, without a place. Values that do not
// decode, or names alertcorr would refuse, are skipped and counted.
//
//	src := fleettopo.New(cli, logger)
//	topo := alertcorr.NewTopology()
//	go src.Run(ctx, topo) // Sync now, then after every change
//	engine, err := alertcorr.New(alertcorr.Config{Topology: topo, ...})
//
// Source is also a plain alertcorr.TopologySource: Entities reads etcd
// once.
package fleettopo
