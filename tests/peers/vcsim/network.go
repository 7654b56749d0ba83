package main

// Host networking as vCenter shows it, where the simulator falls short (see
// the package comment in main.go for what clients see):
//
//   - A standard port group of one name on several hosts is one Network
//     object. The simulator's AddPortGroup makes a Network per call and
//     answers DuplicateName for the second host; it also leaves the host's
//     config.network, its network list, Network.host and the compute
//     resource's network list as they were. AddPortGroup and
//     RemovePortGroup are answered here instead (addPortGroup,
//     removePortGroup).
//   - A host's HostNetworkSystem.networkInfo is a separate, thinner copy of
//     its config.network in the simulator; setupNetworks makes them one
//     (vSwitch port group lists hold port group keys, as in vSphere).
//   - The simulator builds the network lists of a datacenter, its compute
//     resources and hosts as slices of one array, so appending to one
//     overwrites the others (Datacenter.network loses the DVS and repeats a
//     port group). setupNetworks rebuilds the datacenter's list and gives
//     every list its own array; changes here always assign fresh slices.
//   - Opaque networks (-opaque) are only put in the network folder by the
//     simulator; setupNetworks puts them on every host of their datacenter
//     (network, config.network.opaqueNetwork), in the compute resources'
//     network lists, their own host list and Datacenter.network.
//
// Changes are serialized by peer.netMu. Objects are locked one at a time,
// except a host network system and then its host (the simulator never takes
// them in the other order).

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type moref = types.ManagedObjectReference

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty name")
	}
	*l = append(*l, s)
	return nil
}

// Port group and vSwitch keys, as ESX makes them.
func portgroupKey(name string) string { return "key-vim.host.PortGroup-" + name }
func vswitchKey(name string) string   { return "key-vim.host.VirtualSwitch-" + name }

func entityOf(ref moref) mo.Entity {
	e, _ := simulator.Map.Get(ref).(mo.Entity)
	return e
}

// entityName is the name of an entity; networks, port groups and switches
// keep theirs in a Name field of their own.
func entityName(e mo.Entity) string {
	switch x := e.(type) {
	case *mo.Network:
		return x.Name
	case *mo.OpaqueNetwork:
		return x.Name
	case *simulator.DistributedVirtualPortgroup:
		return x.Name
	case *simulator.DistributedVirtualSwitch:
		return x.Name
	}
	return e.Entity().Name
}

// datacenterOf walks up the inventory from e; nil if it is in none.
func datacenterOf(e mo.Entity) *simulator.Datacenter {
	for e != nil {
		if dc, ok := e.(*simulator.Datacenter); ok {
			return dc
		}
		parent := e.Entity().Parent
		if parent == nil {
			return nil
		}
		e = entityOf(*parent)
	}
	return nil
}

// computeResourceOf is the cluster or standalone compute resource of a host.
func computeResourceOf(h *simulator.HostSystem) (mo.Entity, *mo.ComputeResource) {
	if h.Parent == nil {
		return nil, nil
	}
	switch cr := simulator.Map.Get(*h.Parent).(type) {
	case *simulator.ClusterComputeResource:
		return cr, &cr.ComputeResource
	case *mo.ComputeResource:
		return cr, cr
	}
	return nil, nil
}

func hasRef(list []moref, ref moref) bool {
	for _, r := range list {
		if r == ref {
			return true
		}
	}
	return false
}

// withRef and withoutRef return a new slice: the simulator may share the
// array of the one they were given with other objects.
func withRef(list []moref, ref moref) []moref {
	out := make([]moref, 0, len(list)+1)
	out = append(out, list...)
	if !hasRef(list, ref) {
		out = append(out, ref)
	}
	return out
}

func withoutRef(list []moref, ref moref) []moref {
	out := make([]moref, 0, len(list))
	for _, r := range list {
		if r != ref {
			out = append(out, r)
		}
	}
	return out
}

// addRef and removeRef update a list of references (network, host, ...) of obj.
func addRef(obj mo.Reference, prop string, field *[]moref, ref moref) {
	simulator.Map.WithLock(obj, func() {
		if !hasRef(*field, ref) {
			simulator.Map.Update(obj, []types.PropertyChange{{Name: prop, Val: withRef(*field, ref)}})
		}
	})
}

func removeRef(obj mo.Reference, prop string, field *[]moref, ref moref) {
	simulator.Map.WithLock(obj, func() {
		if hasRef(*field, ref) {
			simulator.Map.Update(obj, []types.PropertyChange{{Name: prop, Val: withoutRef(*field, ref)}})
		}
	})
}

// networkFolderTree lists the entities in a datacenter's network folder
// and its subfolders (not the folders).
func networkFolderTree(dc *simulator.Datacenter) []mo.Entity {
	var out []mo.Entity
	var walk func(ref moref)
	walk = func(ref moref) {
		f, ok := simulator.Map.Get(ref).(*simulator.Folder)
		if !ok {
			return
		}
		var children []moref
		simulator.Map.WithLock(f, func() { children = append(children, f.ChildEntity...) })
		for _, c := range children {
			if c.Type == "Folder" {
				walk(c)
			} else if e := entityOf(c); e != nil {
				out = append(out, e)
			}
		}
	}
	walk(dc.NetworkFolder)
	return out
}

// findNetwork finds an entity of a datacenter's network list by name, as
// the simulator's ReconfigVM_Task and AddPortGroup do.
func findNetwork(dc *simulator.Datacenter, name string) mo.Entity {
	var refs []moref
	simulator.Map.WithLock(dc, func() { refs = append(refs, dc.Network...) })
	for _, ref := range refs {
		if e := entityOf(ref); e != nil && entityName(e) == name {
			return e
		}
	}
	return nil
}

// hostNetworkSystem returns the network system of a host.
func hostNetworkSystem(h *simulator.HostSystem) *simulator.HostNetworkSystem {
	if h.ConfigManager.NetworkSystem == nil {
		return nil
	}
	ns, _ := simulator.Map.Get(*h.ConfigManager.NetworkSystem).(*simulator.HostNetworkSystem)
	return ns
}

// hostOf returns the host of a network system.
func hostOf(ns *simulator.HostNetworkSystem) *simulator.HostSystem {
	if ns.Host == nil {
		return nil
	}
	h, _ := simulator.Map.Get(ns.Host.Self).(*simulator.HostSystem)
	return h
}

// withHostNetwork runs f with the host's network info (its config.network,
// shared with its network system) locked.
func withHostNetwork(ns *simulator.HostNetworkSystem, h *simulator.HostSystem, f func(info *types.HostNetworkInfo)) {
	simulator.Map.WithLock(ns, func() {
		simulator.Map.WithLock(h, func() { f(h.Config.Network) })
	})
}

// sortedEntities lists the entities of a type by name (the registry's
// order is random).
func sortedEntities(kind string) []mo.Entity {
	list := simulator.Map.All(kind)
	sort.Slice(list, func(i, j int) bool { return entityName(list[i]) < entityName(list[j]) })
	return list
}

// setupNetworks fixes the model's network lists and joins its hosts to
// their networks (see the comment at the top of this file), then puts the
// opaque networks on the hosts and adds the -std-pg port groups. Called
// once, before the server starts.
func (p *peer) setupNetworks(stdPGs []string) error {
	for _, e := range sortedEntities("Datacenter") {
		dc, ok := e.(*simulator.Datacenter)
		if !ok {
			continue
		}
		var list []moref
		var opaque []*mo.OpaqueNetwork
		for _, n := range networkFolderTree(dc) {
			switch n.Reference().Type {
			case "Network", "DistributedVirtualPortgroup", "DistributedVirtualSwitch", "OpaqueNetwork":
				list = append(list, n.Reference())
			}
			if o, ok := n.(*mo.OpaqueNetwork); ok {
				opaque = append(opaque, o)
			}
		}
		simulator.Map.WithLock(dc, func() {
			simulator.Map.Update(dc, []types.PropertyChange{{Name: "network", Val: list}})
		})
		for _, o := range opaque {
			s := o.Summary.(*types.OpaqueNetworkSummary)
			log.Printf("opaque network %s %q (%s): opaqueNetworkId %s opaqueNetworkType %s",
				o.Self.Value, o.Name, dc.Name, s.OpaqueNetworkId, s.OpaqueNetworkType)
		}

		for _, he := range sortedEntities("HostSystem") {
			h, ok := he.(*simulator.HostSystem)
			if !ok || datacenterOf(h) != dc {
				continue
			}
			ns := hostNetworkSystem(h)
			if ns == nil || h.Config == nil || h.Config.Network == nil {
				return fmt.Errorf("host %s has no network system or config.network", h.Name)
			}
			crObj, cr := computeResourceOf(h)
			// one network info, own arrays for the network lists
			simulator.Map.WithLock(ns, func() { ns.NetworkInfo = h.Config.Network })
			simulator.Map.WithLock(h, func() {
				simulator.Map.Update(h, []types.PropertyChange{{Name: "network", Val: withoutRef(h.Network, moref{})}})
			})
			if cr != nil {
				simulator.Map.WithLock(crObj, func() {
					simulator.Map.Update(crObj, []types.PropertyChange{{Name: "network", Val: withoutRef(cr.Network, moref{})}})
				})
			}
			// the host in the host list of the standard networks it has
			var names []string
			withHostNetwork(ns, h, func(info *types.HostNetworkInfo) {
				for _, pg := range info.Portgroup {
					names = append(names, pg.Spec.Name)
				}
			})
			for _, name := range names {
				if n, ok := findNetwork(dc, name).(*mo.Network); ok && hasRef(h.Network, n.Self) {
					addRef(n, "host", &n.Host, h.Self)
				}
			}
			for _, o := range opaque {
				p.joinOpaque(ns, h, crObj, cr, o)
			}
		}
	}

	for _, name := range stdPGs {
		for _, ce := range sortedEntities("ClusterComputeResource") {
			c, ok := ce.(*simulator.ClusterComputeResource)
			if !ok {
				continue
			}
			for _, ref := range c.Host {
				h, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
				if !ok {
					continue
				}
				ns := hostNetworkSystem(h)
				spec := types.HostPortGroupSpec{Name: name, VlanId: 0, VswitchName: "vSwitch0"}
				if fault, msg := p.addPortGroup(ns, spec); fault != nil {
					return fmt.Errorf("-std-pg %s on %s: %T: %s", name, h.Name, fault, msg)
				}
			}
		}
	}
	return nil
}

// joinOpaque puts an opaque network on a host.
func (p *peer) joinOpaque(ns *simulator.HostNetworkSystem, h *simulator.HostSystem, crObj mo.Entity, cr *mo.ComputeResource, o *mo.OpaqueNetwork) {
	s := o.Summary.(*types.OpaqueNetworkSummary)
	withHostNetwork(ns, h, func(info *types.HostNetworkInfo) {
		for _, on := range info.OpaqueNetwork {
			if on.OpaqueNetworkId == s.OpaqueNetworkId {
				return
			}
		}
		list := append(append([]types.HostOpaqueNetworkInfo(nil), info.OpaqueNetwork...), types.HostOpaqueNetworkInfo{
			OpaqueNetworkId:   s.OpaqueNetworkId,
			OpaqueNetworkName: o.Name,
			OpaqueNetworkType: s.OpaqueNetworkType,
		})
		simulator.Map.Update(h, []types.PropertyChange{{Name: "config.network.opaqueNetwork", Val: list}})
	})
	addRef(h, "network", &h.Network, o.Self)
	addRef(o, "host", &o.Host, h.Self)
	if cr != nil {
		addRef(crObj, "network", &cr.Network, o.Self)
	}
}

// addPortGroup adds a standard port group to a host, as
// HostNetworkSystem.AddPortGroup does on vCenter: the host joins the
// datacenter's Network of that name, made if there is none. Faults as
// vSphere's: InvalidArgument (no name), NotFound (no such vSwitch),
// AlreadyExists (the host has a port group of that name); DuplicateName, as
// the simulator answers, when the name is taken by a network object that is
// not a standard network (a distributed port group, say).
func (p *peer) addPortGroup(ns *simulator.HostNetworkSystem, spec types.HostPortGroupSpec) (types.BaseMethodFault, string) {
	p.netMu.Lock()
	defer p.netMu.Unlock()
	h := hostOf(ns)
	dc := datacenterOf(h)
	if h == nil || dc == nil || h.Config == nil || h.Config.Network == nil {
		return &types.HostConfigFault{}, fmt.Sprintf("%s has no host in a datacenter", ns.Self.Value)
	}
	if spec.Name == "" {
		return &types.InvalidArgument{InvalidProperty: "portgrp.name"}, "A specified parameter was not correct: portgrp.name"
	}

	var fault types.BaseMethodFault
	var msg string
	withHostNetwork(ns, h, func(info *types.HostNetworkInfo) {
		found := false
		for _, vs := range info.Vswitch {
			found = found || vs.Name == spec.VswitchName
		}
		if !found {
			fault, msg = &types.NotFound{}, fmt.Sprintf("vSwitch %q was not found on host %s", spec.VswitchName, h.Name)
		}
		for _, pg := range info.Portgroup {
			if pg.Spec.Name == spec.Name {
				fault, msg = &types.AlreadyExists{Name: spec.Name}, fmt.Sprintf("The specified key, name, or identifier '%s' already exists.", spec.Name)
			}
		}
	})
	if fault != nil {
		return fault, msg
	}

	var net *mo.Network
	switch e := findNetwork(dc, spec.Name).(type) {
	case nil:
		net = newNetwork(dc, spec.Name)
		if net == nil {
			return &types.HostConfigFault{}, fmt.Sprintf("datacenter %s has no network folder", dc.Name)
		}
		log.Printf("network %s %q made in %s", net.Self.Value, spec.Name, dc.Name)
	case *mo.Network:
		net = e
	default:
		return &types.DuplicateName{Name: spec.Name, Object: e.Reference()},
			fmt.Sprintf("The name '%s' already exists.", spec.Name)
	}

	withHostNetwork(ns, h, func(info *types.HostNetworkInfo) {
		vswitches := append([]types.HostVirtualSwitch(nil), info.Vswitch...)
		pg := types.HostPortGroup{Key: portgroupKey(spec.Name), Spec: spec}
		for i := range vswitches {
			vs := &vswitches[i]
			if vs.Name != spec.VswitchName {
				continue
			}
			if vs.Key == "" {
				vs.Key = vswitchKey(vs.Name)
			}
			pg.Vswitch = vs.Key
			if vs.Spec.Policy != nil {
				pg.ComputedPolicy = *vs.Spec.Policy // what the port group inherits
			}
			vs.Portgroup = append(append([]string(nil), vs.Portgroup...), pg.Key)
			break
		}
		simulator.Map.Update(h, []types.PropertyChange{
			{Name: "config.network.vswitch", Val: vswitches},
			{Name: "config.network.portgroup", Val: append(append([]types.HostPortGroup(nil), info.Portgroup...), pg)},
		})
	})
	addRef(h, "network", &h.Network, net.Self)
	addRef(net, "host", &net.Host, h.Self)
	if crObj, cr := computeResourceOf(h); cr != nil {
		addRef(crObj, "network", &cr.Network, net.Self)
	}
	log.Printf("port group %q (vlan %d, %s) added on %s: network %s", spec.Name, spec.VlanId, spec.VswitchName, h.Name, net.Self.Value)
	return nil, ""
}

// newNetwork makes a standard Network in a datacenter's network folder, as
// the simulator's AddPortGroup does (its folderPutChild is not exported):
// the folder's childEntity first (container views look there when told of
// a new object), then the object, then the datacenter's network list.
func newNetwork(dc *simulator.Datacenter, name string) *mo.Network {
	folder, ok := simulator.Map.Get(dc.NetworkFolder).(*simulator.Folder)
	if !ok {
		return nil
	}
	net := &mo.Network{Name: name}
	net.Entity().Name = name
	simulator.Map.NewEntity(net)
	net.Summary = &types.NetworkSummary{Network: &net.Self, Name: name, Accessible: true}
	simulator.Map.WithLock(folder, func() {
		simulator.Map.Update(folder, []types.PropertyChange{{Name: "childEntity", Val: withRef(folder.ChildEntity, net.Self)}})
	})
	simulator.Map.PutEntity(folder, net)
	addRef(dc, "network", &dc.Network, net.Self)
	return net
}

// removePortGroup removes a standard port group from a host: the host
// leaves the Network, which goes when no host has it and no VM uses it.
// Faults as vSphere's: NotFound (no such port group on the host),
// ResourceInUse (a VM on the host uses the network).
func (p *peer) removePortGroup(ns *simulator.HostNetworkSystem, name string) (types.BaseMethodFault, string) {
	p.netMu.Lock()
	defer p.netMu.Unlock()
	h := hostOf(ns)
	dc := datacenterOf(h)
	if h == nil || dc == nil || h.Config == nil || h.Config.Network == nil {
		return &types.HostConfigFault{}, fmt.Sprintf("%s has no host in a datacenter", ns.Self.Value)
	}
	found := false
	withHostNetwork(ns, h, func(info *types.HostNetworkInfo) {
		for _, pg := range info.Portgroup {
			found = found || pg.Spec.Name == name
		}
	})
	if !found {
		return &types.NotFound{}, fmt.Sprintf("port group %q was not found on host %s", name, h.Name)
	}
	net, _ := findNetwork(dc, name).(*mo.Network)
	if net != nil {
		for _, ref := range h.Vm {
			if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok && hasRef(vm.Network, net.Self) {
				return &types.ResourceInUse{Type: "Network", Name: name},
					fmt.Sprintf("The resource '%s' is in use: %s (%s) uses it", name, vm.Name, ref.Value)
			}
		}
	}

	withHostNetwork(ns, h, func(info *types.HostNetworkInfo) {
		var pgs []types.HostPortGroup
		for _, pg := range info.Portgroup {
			if pg.Spec.Name != name {
				pgs = append(pgs, pg)
			}
		}
		vswitches := append([]types.HostVirtualSwitch(nil), info.Vswitch...)
		for i := range vswitches {
			var keys []string
			for _, k := range vswitches[i].Portgroup {
				if k != portgroupKey(name) && k != name {
					keys = append(keys, k)
				}
			}
			vswitches[i].Portgroup = keys
		}
		simulator.Map.Update(h, []types.PropertyChange{
			{Name: "config.network.vswitch", Val: vswitches},
			{Name: "config.network.portgroup", Val: pgs},
		})
	})
	log.Printf("port group %q removed from %s", name, h.Name)
	if net == nil {
		return nil, ""
	}
	removeRef(h, "network", &h.Network, net.Self)
	removeRef(net, "host", &net.Host, h.Self)
	crObj, cr := computeResourceOf(h)
	if cr != nil {
		still := false
		for _, ref := range cr.Host {
			if o, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok && hasRef(o.Network, net.Self) {
				still = true
			}
		}
		if !still {
			removeRef(crObj, "network", &cr.Network, net.Self)
		}
	}
	if len(net.Host) > 0 {
		return nil, ""
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok && hasRef(vm.Network, net.Self) {
			return nil, ""
		}
	}
	if folder, ok := simulator.Map.Get(*net.Parent).(*simulator.Folder); ok {
		removeRef(folder, "childEntity", &folder.ChildEntity, net.Self)
	}
	removeRef(dc, "network", &dc.Network, net.Self)
	simulator.Map.Remove(net.Self)
	log.Printf("network %s %q removed: no host has it", net.Self.Value, name)
	return nil, ""
}

// networkSystemCall answers AddPortGroup and RemovePortGroup.
func (p *peer) networkSystemCall(w http.ResponseWriter, r *http.Request, body []byte, method string, this moref) {
	probe := p.forward(r, probeBody(this)) // session and _this checks, by the simulator
	ns, ok := simulator.Map.Get(this).(*simulator.HostNetworkSystem)
	req, err := decodeCall(body)
	if !isMethodNotFound(probe) || !ok || err != nil {
		rec := p.forward(r, body) // the simulator's answer: not logged in, no such object or method, bad request
		relay(w, rec, rec.Body.Bytes())
		return
	}
	var fault types.BaseMethodFault
	var msg string
	switch c := req.(type) {
	case *types.AddPortGroup:
		if fault, msg = p.addPortGroup(ns, c.Portgrp); fault == nil {
			writeResult(w, &types.AddPortGroupResponse{})
			return
		}
	case *types.RemovePortGroup:
		if fault, msg = p.removePortGroup(ns, c.PgName); fault == nil {
			writeResult(w, &types.RemovePortGroupResponse{})
			return
		}
	default:
		rec := p.forward(r, body)
		relay(w, rec, rec.Body.Bytes())
		return
	}
	log.Printf("%s on %s: %T: %s", method, this.Value, fault, msg)
	writeFault(w, msg, fault)
}
