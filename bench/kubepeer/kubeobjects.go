package kubepeer

import (
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalkit/shoal/sched"
)

// The node labels that carry sched's topology to kube-scheduler.
const (
	labelHostname   = "kubernetes.io/hostname"
	labelZone       = "topology.kubernetes.io/zone"
	labelRack       = "shoal.dev/rack"
	labelSwitch     = "shoal.dev/switch"
	labelRoom       = "shoal.dev/room"
	labelDatacenter = "shoal.dev/datacenter"
	labelNetZone    = "shoal.dev/netzone"
	labelLevel      = "shoal.dev/level"
	labelApp        = "app"
	namespace       = "default"
	// podImage is on no node, as sched's requests name no image: image
	// locality scores zero everywhere on both sides.
	podImage = "registry.invalid/kubepeer:none"
	// maxPods is every node's pod capacity (kube's default). The stream
	// never comes near it; sched has no such limit.
	maxPods = 110
)

// topologyLabel is the node label holding a sched topology key.
func topologyLabel(key sched.TopologyKey) (string, bool) {
	switch key {
	case sched.KeyNode:
		return labelHostname, true
	case sched.KeyZone:
		return labelZone, true
	case sched.KeyRack:
		return labelRack, true
	case sched.KeySwitch:
		return labelSwitch, true
	case sched.KeyRoom:
		return labelRoom, true
	case sched.KeyDatacenter:
		return labelDatacenter, true
	case sched.KeyNetZone:
		return labelNetZone, true
	}
	return "", false
}

// NodeFor returns the kube Node for a sched node: topology and level as
// labels (a missing key is a missing label, as sched treats it), capacity
// as allocatable cpu, memory and ephemeral storage, taints, cordon as
// spec.unschedulable, images with their sizes. VLAN IP pools have no
// kube form; no request of the stream uses them (PodFor refuses requests
// that do).
func NodeFor(n sched.Node) *v1.Node {
	labels := map[string]string{labelHostname: n.Name}
	for label, v := range map[string]string{
		labelZone: n.Zone, labelRack: n.Rack, labelSwitch: n.Switch, labelRoom: n.Room,
		labelDatacenter: n.Datacenter, labelNetZone: n.NetZone, labelLevel: n.Level,
	} {
		if v != "" {
			labels[label] = v
		}
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	alloc := v1.ResourceList{
		v1.ResourceCPU:              *resource.NewMilliQuantity(n.Capacity.MilliCPU, resource.DecimalSI),
		v1.ResourceMemory:           *resource.NewQuantity(n.Capacity.Memory, resource.BinarySI),
		v1.ResourceEphemeralStorage: *resource.NewQuantity(n.Capacity.Disk, resource.BinarySI),
		v1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: types.UID("node-" + n.Name), Labels: labels},
		Spec:       v1.NodeSpec{Unschedulable: n.Cordoned},
		Status: v1.NodeStatus{
			Capacity:    alloc,
			Allocatable: alloc.DeepCopy(),
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
			Phase:       v1.NodeRunning,
		},
	}
	for _, t := range n.Taints {
		node.Spec.Taints = append(node.Spec.Taints, v1.Taint{Key: t.Key, Value: t.Value, Effect: v1.TaintEffect(t.Effect)})
	}
	images := make([]string, 0, len(n.Images))
	for img := range n.Images {
		images = append(images, img)
	}
	slices.Sort(images)
	for _, img := range images {
		node.Status.Images = append(node.Status.Images, v1.ContainerImage{Names: []string{img}, SizeBytes: n.Images[img]})
	}
	return node
}

func requests(r sched.Resources) v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:              *resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI),
		v1.ResourceMemory:           *resource.NewQuantity(r.Memory, resource.BinarySI),
		v1.ResourceEphemeralStorage: *resource.NewQuantity(r.Disk, resource.BinarySI),
	}
}

// BackgroundPod returns the pod, already bound, holding a background
// allocation.
func BackgroundPod(b Background) *v1.Pod {
	name := "bg-" + b.Node
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, UID: types.UID(name),
			Labels: map[string]string{labelApp: backgroundApp},
		},
		Spec: v1.PodSpec{
			NodeName:      b.Node,
			SchedulerName: v1.DefaultSchedulerName,
			Containers:    []v1.Container{{Name: "c", Image: podImage, Resources: v1.ResourceRequirements{Requests: requests(b.Resources)}}},
		},
		Status: v1.PodStatus{Phase: v1.PodRunning},
	}
}

// PodFor returns the pod of one replica of req, saying in kube's terms
// what req says in sched's: resources as requests, zones as required node
// affinity, level, network zone and node selector as a node selector,
// tolerations, spread rules as topology spread constraints (DoNotSchedule
// or ScheduleAnyway) and anti-affinity at most 1 per domain as required
// pod anti-affinity, all selecting the app's label. What has no kube form
// (anti-affinity above 1 per domain, VLAN IPs, all-or-nothing) is an
// error wrapping ErrInexpressible, never an approximation.
func PodFor(req *sched.Request, replica int) (*v1.Pod, error) {
	if err := req.Validate(); err != nil {
		return nil, wrapError(ErrInvalid, err, "request of app %q", req.App)
	}
	switch {
	case req.VLAN != 0:
		return nil, newError(ErrInexpressible, "app %q: VLAN %d IPs: kube-scheduler has no per-node IP pool of a VLAN", req.App, req.VLAN)
	case req.AllOrNothing:
		return nil, newError(ErrInexpressible, "app %q: all-or-nothing: the default profile places pods one by one", req.App)
	}
	name := fmt.Sprintf("%s-%d", req.App, replica)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: req.App}}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, UID: types.UID(name),
			Labels: map[string]string{labelApp: req.App},
		},
		Spec: v1.PodSpec{
			SchedulerName: v1.DefaultSchedulerName,
			Containers: []v1.Container{{
				Name: "c", Image: podImage,
				Resources: v1.ResourceRequirements{Requests: requests(req.Resources)},
			}},
		},
		Status: v1.PodStatus{Phase: v1.PodPending},
	}
	if req.Image != "" {
		pod.Spec.Containers[0].Image = req.Image
	}
	nodeSelector := map[string]string{}
	for k, v := range req.NodeSelector {
		nodeSelector[k] = v
	}
	if req.Level != "" {
		nodeSelector[labelLevel] = req.Level
	}
	if req.NetZone != "" {
		nodeSelector[labelNetZone] = req.NetZone
	}
	if len(nodeSelector) > 0 {
		pod.Spec.NodeSelector = nodeSelector
	}
	if len(req.Zones) > 0 {
		pod.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: labelZone, Operator: v1.NodeSelectorOpIn, Values: slices.Clone(req.Zones)}},
			}}},
		}}
	}
	for _, t := range req.Tolerations {
		tol := v1.Toleration{Key: t.Key, Value: t.Value, Effect: v1.TaintEffect(t.Effect), Operator: v1.TolerationOpEqual}
		if t.Exists {
			tol.Operator, tol.Value = v1.TolerationOpExists, ""
		}
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, tol)
	}
	for _, s := range req.Spread {
		label, _ := topologyLabel(s.Key) // Validate checked the key
		c := v1.TopologySpreadConstraint{
			MaxSkew: int32(s.MaxSkew), TopologyKey: label, LabelSelector: sel,
			WhenUnsatisfiable: v1.DoNotSchedule,
		}
		if s.Soft {
			c.WhenUnsatisfiable = v1.ScheduleAnyway
		}
		if s.MinDomains > 0 {
			md := int32(s.MinDomains)
			c.MinDomains = &md
		}
		pod.Spec.TopologySpreadConstraints = append(pod.Spec.TopologySpreadConstraints, c)
	}
	for _, a := range req.AntiAffinity {
		if a.Max != 1 {
			return nil, newError(ErrInexpressible, "app %q: at most %d per %s: kube-scheduler's required pod anti-affinity allows exactly one pod per domain", req.App, a.Max, a.Key)
		}
		label, _ := topologyLabel(a.Key)
		if pod.Spec.Affinity == nil {
			pod.Spec.Affinity = &v1.Affinity{}
		}
		if pod.Spec.Affinity.PodAntiAffinity == nil {
			pod.Spec.Affinity.PodAntiAffinity = &v1.PodAntiAffinity{}
		}
		pa := pod.Spec.Affinity.PodAntiAffinity
		pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution,
			v1.PodAffinityTerm{LabelSelector: sel, TopologyKey: label})
	}
	return pod, nil
}
