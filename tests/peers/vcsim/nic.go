package main

// Virtual NICs in ReconfigVM_Task and CreateVM_Task, where the simulator
// falls short (see the package comment in main.go):
//
//   - A standard network backing whose deviceName names no network makes
//     the simulator's handler panic (the connection closes, the task stays
//     running); so does removing a NIC whose standard backing has no network
//     reference, and editing a device without deviceInfo. The first is
//     answered here with a failed task (InvalidDeviceBacking), the others
//     are passed on with the backing dropped or an empty deviceInfo.
//   - The simulator takes a standard backing's network from deviceName and
//     ignores its network reference; here the reference wins (deviceName is
//     set from it), as on vCenter.
//   - It accepts a distributed port group key that does not exist, and any
//     opaque network id: answered here with InvalidDeviceBacking.
//   - It adds an empty reference to VirtualMachine.network for an opaque
//     backing, the same port group again for each NIC on it, and leaves the
//     network of a removed NIC when the remove spec has no backing: after
//     the call, the VM's network list is made that of its NICs.
//
// And a disk added with a parent (a linked clone's delta on a cached base)
// whose parent file is not on its datastore: vCenter fails the task with
// FileNotFound; the simulator does not look.

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// nicCall handles a ReconfigVM_Task or CreateVM_Task whose spec has NICs or
// a disk with a parent (or edits a device without deviceInfo); false: not
// such a call, the usual path applies.
func (p *peer) nicCall(w http.ResponseWriter, r *http.Request, body []byte, method string, this moref) bool {
	req, err := decodeCall(body)
	if err != nil {
		return false
	}
	var spec *types.VirtualMachineConfigSpec
	var taskName string
	switch c := req.(type) {
	case *types.ReconfigVM_Task:
		spec, taskName = &c.Spec, "reconfigVm"
	case *types.CreateVM_Task:
		spec, taskName = &c.Config, "createVm"
	default:
		return false
	}
	touched := false
	for _, ch := range spec.DeviceChange {
		ds := ch.GetVirtualDeviceConfigSpec()
		if ds.Device == nil {
			continue
		}
		_, nic := ds.Device.(types.BaseVirtualEthernetCard)
		touched = touched || nic || hasParent(ds.Device) ||
			(ds.Operation == types.VirtualDeviceConfigSpecOperationEdit && ds.Device.GetVirtualDevice().DeviceInfo == nil)
	}
	if !touched {
		return false
	}
	if probe := p.forward(r, probeBody(this)); !isMethodNotFound(probe) {
		relay(w, probe, probe.Body.Bytes()) // not logged in, no such object
		return true
	}
	dc := datacenterOf(entityOf(this))
	if dc == nil {
		return false
	}

	rewrite := false
	for i, ch := range spec.DeviceChange {
		ds := ch.GetVirtualDeviceConfigSpec()
		if ds.Device == nil {
			continue
		}
		d := ds.Device.GetVirtualDevice()
		if ds.Operation == types.VirtualDeviceConfigSpecOperationAdd {
			if name := parentMissing(dc, ds.Device); name != "" {
				fault := &types.FileNotFound{}
				fault.File = name
				msg := fmt.Sprintf("File %s was not found", name)
				ref := failedTask(this, taskName, fault, msg)
				log.Printf("%s on %s: %s: %s", method, this.Value, ref.Value, msg)
				if method == "CreateVM_Task" {
					writeResult(w, &types.CreateVM_TaskResponse{Returnval: ref})
				} else {
					writeResult(w, &types.ReconfigVM_TaskResponse{Returnval: ref})
				}
				return true
			}
		}
		if ds.Operation == types.VirtualDeviceConfigSpecOperationEdit && d.DeviceInfo == nil {
			d.DeviceInfo = &types.Description{}
			rewrite = true
		}
		if _, nic := ds.Device.(types.BaseVirtualEthernetCard); !nic {
			continue
		}
		switch ds.Operation {
		case types.VirtualDeviceConfigSpecOperationRemove:
			// vCenter removes the device by key; the simulator reads backing.network
			if b, ok := d.Backing.(*types.VirtualEthernetCardNetworkBackingInfo); ok && b.Network == nil {
				d.Backing = nil
				rewrite = true
			}
		case types.VirtualDeviceConfigSpecOperationAdd, types.VirtualDeviceConfigSpecOperationEdit:
			changed, msg := checkBacking(dc, d, i)
			if msg != "" {
				fault := &types.InvalidDeviceBacking{}
				fault.DeviceIndex = int32(i)
				ref := failedTask(this, taskName, fault, msg)
				log.Printf("%s on %s: %s: %s", method, this.Value, ref.Value, msg)
				switch method {
				case "CreateVM_Task":
					writeResult(w, &types.CreateVM_TaskResponse{Returnval: ref})
				default:
					writeResult(w, &types.ReconfigVM_TaskResponse{Returnval: ref})
				}
				return true
			}
			rewrite = rewrite || changed
		}
	}
	if rewrite {
		var b interface{} = &methods.ReconfigVM_TaskBody{Req: req.(*types.ReconfigVM_Task)}
		if c, ok := req.(*types.CreateVM_Task); ok {
			b = &methods.CreateVM_TaskBody{Req: c}
		}
		out, err := encodeEnvelope(b)
		if err != nil {
			writeFault(w, fmt.Sprintf("re-encoding %s: %v", method, err), &types.SystemError{Reason: err.Error()})
			return true
		}
		body = out
	}

	p.forwardThen(w, r, body, method, this, func(rec *httptest.ResponseRecorder) {
		syncVMNetwork(rec, method, this)
	})
	return true
}

// checkBacking checks the backing of a NIC added or edited at index i of
// the device changes: "" if usable, else why not. changed: the backing was
// adjusted for the simulator.
func checkBacking(dc *simulator.Datacenter, d *types.VirtualDevice, i int) (changed bool, msg string) {
	switch b := d.Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		if b.Network != nil {
			e := entityOf(*b.Network)
			if e == nil || !isNetworkType(e.Reference().Type) || datacenterOf(e) != dc {
				return false, fmt.Sprintf("network %s (deviceChange[%d].device.backing.network) was not found in datacenter %s", b.Network.Value, i, dc.Name)
			}
			if name := entityName(e); b.DeviceName != name {
				b.DeviceName = name // the simulator looks the network up by name
				return true, ""
			}
			return false, ""
		}
		if findNetwork(dc, b.DeviceName) == nil {
			return false, fmt.Sprintf("network %q (deviceChange[%d].device.backing.deviceName) was not found in datacenter %s", b.DeviceName, i, dc.Name)
		}
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		dvs := switchByUUID(dc, b.Port.SwitchUuid)
		if dvs == nil || b.Port.PortgroupKey == "" {
			return false, "" // the simulator answers NotFound for an unknown switch
		}
		if pg := portgroupByKey(dc, b.Port.PortgroupKey); pg == nil || pg.Config.DistributedVirtualSwitch == nil || *pg.Config.DistributedVirtualSwitch != dvs.Self {
			return false, fmt.Sprintf("distributed port group %q (deviceChange[%d].device.backing.port.portgroupKey) was not found on switch %s (%s)", b.Port.PortgroupKey, i, dvs.Name, b.Port.SwitchUuid)
		}
	case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
		if opaqueByID(dc, b.OpaqueNetworkId) == nil {
			return false, fmt.Sprintf("opaque network %q (deviceChange[%d].device.backing.opaqueNetworkId) was not found in datacenter %s", b.OpaqueNetworkId, i, dc.Name)
		}
	}
	return false, ""
}

func isNetworkType(kind string) bool {
	return kind == "Network" || kind == "DistributedVirtualPortgroup" || kind == "OpaqueNetwork"
}

// networksOfType lists the objects of one type in a datacenter's network list.
func networksOfType(dc *simulator.Datacenter, kind string) []mo.Reference {
	var refs []moref
	simulator.Map.WithLock(dc, func() { refs = append(refs, dc.Network...) })
	var out []mo.Reference
	for _, ref := range refs {
		if ref.Type == kind {
			if obj := simulator.Map.Get(ref); obj != nil {
				out = append(out, obj)
			}
		}
	}
	return out
}

func switchByUUID(dc *simulator.Datacenter, uuid string) *simulator.DistributedVirtualSwitch {
	for _, e := range networkFolderTree(dc) {
		if s, ok := e.(*simulator.DistributedVirtualSwitch); ok && s.Uuid == uuid {
			return s
		}
	}
	return nil
}

func portgroupByKey(dc *simulator.Datacenter, key string) *simulator.DistributedVirtualPortgroup {
	for _, obj := range networksOfType(dc, "DistributedVirtualPortgroup") {
		if pg, ok := obj.(*simulator.DistributedVirtualPortgroup); ok && pg.Key == key {
			return pg
		}
	}
	return nil
}

func opaqueByID(dc *simulator.Datacenter, id string) *mo.OpaqueNetwork {
	for _, obj := range networksOfType(dc, "OpaqueNetwork") {
		if o, ok := obj.(*mo.OpaqueNetwork); ok {
			if s, ok := o.Summary.(*types.OpaqueNetworkSummary); ok && s.OpaqueNetworkId == id {
				return o
			}
		}
	}
	return nil
}

// failedTask makes a task that failed with fault, as the simulator's tasks
// do, with msg as its localizedMessage.
func failedTask(entity moref, name string, fault types.BaseMethodFault, msg string) moref {
	t := simulator.CreateTask(entity, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) { return nil, fault })
	ref := t.Run()
	simulator.Map.WithLock(t, func() {
		simulator.Map.Update(t, []types.PropertyChange{
			{Name: "info.error", Val: &types.LocalizedMethodFault{Fault: fault, LocalizedMessage: msg}},
		})
	})
	return ref
}

// syncVMNetwork makes the network list of the VM of a successful
// ReconfigVM_Task or CreateVM_Task that of its NICs.
func syncVMNetwork(rec *httptest.ResponseRecorder, method string, this moref) {
	m := returnTask.FindSubmatch(rec.Body.Bytes())
	if rec.Code != http.StatusOK || m == nil {
		return
	}
	t, ok := simulator.Map.Get(moref{Type: "Task", Value: string(m[1])}).(*simulator.Task)
	if !ok {
		return
	}
	info := taskInfo(t)
	if info.State != types.TaskInfoStateSuccess {
		return
	}
	ref := this
	if method == "CreateVM_Task" {
		if ref, ok = info.Result.(moref); !ok {
			return
		}
	}
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	dc := datacenterOf(vm)
	if dc == nil {
		return
	}
	var backings []types.BaseVirtualDeviceBackingInfo
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil {
			return
		}
		for _, d := range vm.Config.Hardware.Device {
			if c, ok := d.(types.BaseVirtualEthernetCard); ok {
				backings = append(backings, c.GetVirtualEthernetCard().Backing)
			}
		}
	})
	nets := []moref{}
	for _, b := range backings {
		var net mo.Reference
		switch b := b.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			if b.Network != nil {
				net = entityOf(*b.Network)
			} else {
				net = findNetwork(dc, b.DeviceName)
			}
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			if pg := portgroupByKey(dc, b.Port.PortgroupKey); pg != nil {
				net = pg
			}
		case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
			if o := opaqueByID(dc, b.OpaqueNetworkId); o != nil {
				net = o
			}
		}
		if net != nil {
			nets = withRef(nets, net.Reference())
		}
	}
	simulator.Map.WithLock(vm, func() {
		same := len(nets) == len(vm.Network)
		for i := 0; same && i < len(nets); i++ {
			same = nets[i] == vm.Network[i]
		}
		if !same {
			simulator.Map.Update(vm, []types.PropertyChange{{Name: "network", Val: nets}})
		}
	})
}

// hasParent tells whether d is a disk whose backing has a parent disk.
func hasParent(d types.BaseVirtualDevice) bool {
	disk, ok := d.(*types.VirtualDisk)
	if !ok {
		return false
	}
	b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	return ok && b.Parent != nil
}

// parentMissing names the first parent in disk d's backing chain whose
// file is not on its datastore; "" when all are there (or d has none).
func parentMissing(dc *simulator.Datacenter, d types.BaseVirtualDevice) string {
	if !hasParent(d) {
		return ""
	}
	for b := d.(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo).Parent; b != nil; b = b.Parent {
		file, fault, _ := resolveDatastorePath(&dc.Self, b.FileName)
		if fault != nil {
			return b.FileName
		}
		if _, err := os.Stat(file); err != nil {
			return b.FileName
		}
	}
	return ""
}
