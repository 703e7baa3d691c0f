package state

import (
	"strings"
)

// Prefix is the root of every key the platform writes.
const Prefix = "/shoal/v1/"

// MaxValueBytes bounds a value read from etcd; larger ones are refused.
const MaxValueBytes = 1 << 20

// Key prefixes under Prefix.
const (
	nodesDir   = Prefix + "nodes/"
	desiredDir = Prefix + "desired/"
	statusDir  = Prefix + "status/"
	eventsDir  = Prefix + "events/"
	// TokenKey holds the cluster's bearer token.
	TokenKey = Prefix + "cluster/token"
)

// NodeKey is where node reports its Node.
func NodeKey(node string) string { return nodesDir + node }

// NodesPrefix is the prefix of every NodeKey.
func NodesPrefix() string { return nodesDir }

// DesiredKey is where the controller writes an instance placed on node.
func DesiredKey(node, id string) string { return desiredDir + node + "/" + id }

// DesiredPrefix is the prefix of every instance desired on node.
func DesiredPrefix(node string) string { return desiredDir + node + "/" }

// StatusKey is where node's agent writes an instance's Status.
func StatusKey(node, id string) string { return statusDir + node + "/" + id }

// StatusPrefix is the prefix of every Status node's agent writes.
func StatusPrefix(node string) string { return statusDir + node + "/" }

// AllStatusPrefix is the prefix of every Status of every node.
func AllStatusPrefix() string { return statusDir }

// EventsPrefix is the prefix of every Event.
func EventsPrefix() string { return eventsDir }

// SplitInstanceKey returns the node and instance id of a DesiredKey or
// StatusKey, and false for any other key.
func SplitInstanceKey(key string) (node, id string, ok bool) {
	for _, dir := range []string{desiredDir, statusDir} {
		if rest, found := strings.CutPrefix(key, dir); found {
			node, id, ok = strings.Cut(rest, "/")
			return node, id, ok && node != "" && id != "" && !strings.Contains(id, "/")
		}
	}
	return "", "", false
}
