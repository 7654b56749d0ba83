package main

// Volumes: virtual disks that outlive a VM or move between VMs, where the
// simulator differs from vCenter (see the package comment in main.go):
//
//   - VirtualMachine.AttachDisk_Task and DetachDisk_Task (First Class
//     Disks, vSphere 6.5), which the simulator lacks. The disk is added or
//     removed through the simulator's own reconfiguration (in process), so
//     it is a normal device of the VM (config.hardware.device, layoutEx);
//     the FCD catalog is the simulator's VcenterVStorageObjectManager's.
//   - A VirtualDisk added by ReconfigVM_Task or CreateVM_Task with no
//     fileOperation is an existing disk: vCenter fails the task with
//     FileNotFound (file: the backing's fileName) when its descriptor is not
//     there. The simulator looks for NAME-flat.vmdk instead, accepts a
//     disk whose descriptor is missing, and names the local file.
//   - Destroy_Task: the simulator deletes the VM's folder and every disk's
//     own file wherever it is (never a parent), as vCenter does, but also
//     what vCenter keeps: an FCD whose object has keepAfterDeleteVm, and a
//     disk another VM uses (the base of a linked clone group). Those are
//     kept here (destroyCall); an FCD deleted leaves the catalog.

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"reflect"
	"unsafe"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// fcdManager is the simulator's VcenterVStorageObjectManager, nil if none.
func fcdManager() *simulator.VcenterVStorageObjectManager {
	m, _ := simulator.Map.Get(moref{Type: "VcenterVStorageObjectManager", Value: "VStorageObjectManager"}).(*simulator.VcenterVStorageObjectManager)
	return m
}

// fcdObjects is the manager's catalog (datastore -> id -> object), which the
// simulator keeps unexported; nil if this simulator has none. Read and
// changed with the manager locked (simulator.Map.WithLock), as the
// simulator's own methods run.
func fcdObjects(m *simulator.VcenterVStorageObjectManager) map[moref]map[types.ID]*simulator.VStorageObject {
	f := reflect.ValueOf(m).Elem().FieldByName("objects")
	want := reflect.TypeOf(map[moref]map[types.ID]*simulator.VStorageObject(nil))
	if !f.IsValid() || f.Type() != want {
		return nil
	}
	return *(*map[moref]map[types.ID]*simulator.VStorageObject)(unsafe.Pointer(f.UnsafeAddr()))
}

// fcdInfo is what the launcher needs of an FCD.
type fcdInfo struct {
	ds        moref
	file      string // "[ds] fcd/ID.vmdk"
	capacity  int64  // MB
	thin      bool
	keepAfter bool // keepAfterDeleteVm
}

// withFCD runs f on the FCD id (on datastore ds; nil: any), the manager
// locked; false if there is no such object.
func withFCD(ds *moref, id string, f func(ds moref, obj *simulator.VStorageObject)) bool {
	m := fcdManager()
	if m == nil {
		return false
	}
	found := false
	simulator.Map.WithLock(m, func() {
		for d, objs := range fcdObjects(m) {
			if ds != nil && d != *ds {
				continue
			}
			if obj := objs[types.ID{Id: id}]; obj != nil {
				f(d, obj)
				found = true
				return
			}
		}
	})
	return found
}

// lookupFCD finds the FCD id on datastore ds (nil: any).
func lookupFCD(ds *moref, id string) (fcdInfo, bool) {
	var info fcdInfo
	ok := withFCD(ds, id, func(d moref, obj *simulator.VStorageObject) {
		info = fcdInfo{ds: d, capacity: obj.Config.CapacityInMB, thin: true,
			keepAfter: obj.Config.KeepAfterDeleteVm != nil && *obj.Config.KeepAfterDeleteVm}
		if b, ok := obj.Config.Backing.(*types.BaseConfigInfoDiskFileBackingInfo); ok {
			info.file = b.FilePath
			info.thin = b.ProvisioningType == "" || b.ProvisioningType == string(types.BaseConfigInfoDiskFileBackingInfoProvisioningTypeThin)
		}
	})
	return info, ok && info.file != ""
}

// setConsumer records (vm non-empty) or clears the VM consuming an FCD
// (config.consumerId: the VM's instanceUuid).
func setConsumer(id, vm string) {
	withFCD(nil, id, func(_ moref, obj *simulator.VStorageObject) {
		obj.Config.ConsumerId = nil
		if vm != "" {
			obj.Config.ConsumerId = []types.ID{{Id: vm}}
		}
	})
}

// vmUUID is the id a VM consumes FCDs as: its instanceUuid (else its MoRef).
func vmUUID(vm *simulator.VirtualMachine) string {
	id := vm.Self.Value
	simulator.Map.WithLock(vm, func() {
		if vm.Config != nil && vm.Config.InstanceUuid != "" {
			id = vm.Config.InstanceUuid
		}
	})
	return id
}

// taskReply makes the task a launcher-answered *_Task call returns: held
// by /ctl/async when a rule applies, else finished with oc (name: the
// task's info.name, as the simulator names its tasks).
func (p *peer) taskReply(method string, this moref, name string, oc outcome) moref {
	p.mu.Lock()
	if delay, ok := p.takeAsync(method, this); ok {
		h := &heldTask{task: newTask(this, name, nil), method: method, entity: this, final: &oc}
		p.hold(h, delay)
		p.mu.Unlock()
		log.Printf("held %s %s (%s) for %v", h.id(), method, this.Value, delay)
		return h.task.Self
	}
	p.mu.Unlock()
	if oc.fault != nil {
		return failedTask(this, name, oc.fault, oc.message)
	}
	return simulator.CreateTask(this, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return oc.result, nil
	}).Run()
}

// reconfigure runs a device change on a VM through the simulator (in
// process, internal session): the outcome of its reconfigVm task, which is
// then dropped (the caller answers with a task of its own).
func (p *peer) reconfigure(vm moref, change types.BaseVirtualDeviceConfigSpec) outcome {
	res, err := methods.ReconfigVM_Task(context.Background(), p.svc, &types.ReconfigVM_Task{
		This: vm,
		Spec: types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{change}},
	})
	if err != nil {
		return taskOutcome(types.ManagedObjectReference{}, err)
	}
	return taskOutcome(res.Returnval, nil)
}

// fcdCall answers AttachDisk_Task and DetachDisk_Task on a VM. Not logged
// in, no such _this, a _this that is no VM, a request that does not decode:
// the simulator's answer. A datastore argument that is no datastore:
// ManagedObjectNotFound (SOAP fault). Else a task (attachDisk, detachDisk;
// /ctl/async applies) that succeeds or fails as attachDisk and detachDisk say.
func (p *peer) fcdCall(w http.ResponseWriter, r *http.Request, body []byte, method string, this moref) {
	probe := p.forward(r, body) // the simulator's VM has no such method: MethodNotFound
	vm, isVM := simulator.Map.Get(this).(*simulator.VirtualMachine)
	req, err := decodeCall(body)
	if !isMethodNotFound(probe) || !isVM || err != nil {
		relay(w, probe, probe.Body.Bytes())
		return
	}
	switch c := req.(type) {
	case *types.AttachDisk_Task:
		if _, ok := simulator.Map.Get(c.Datastore).(*simulator.Datastore); !ok {
			msg := fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", c.Datastore.Value)
			writeFault(w, msg, &types.ManagedObjectNotFound{Obj: c.Datastore})
			return
		}
		oc := p.attachDisk(vm, c)
		writeResult(w, &types.AttachDisk_TaskResponse{Returnval: p.taskReply(method, this, "attachDisk", oc)})
	case *types.DetachDisk_Task:
		oc := p.detachDisk(vm, c)
		writeResult(w, &types.DetachDisk_TaskResponse{Returnval: p.taskReply(method, this, "detachDisk", oc)})
	default:
		relay(w, probe, probe.Body.Bytes())
	}
}

// vmDisks calls fn with each of the VM's virtual disks, under the VM's
// lock, until fn returns false.
func vmDisks(vm *simulator.VirtualMachine, fn func(*types.VirtualDisk) bool) {
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil {
			return
		}
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok && !fn(disk) {
				return
			}
		}
	})
}

// fcdOnVM finds the VM's disk whose vDiskId is id.
func fcdOnVM(vm *simulator.VirtualMachine, id string) *types.VirtualDisk {
	var found *types.VirtualDisk
	vmDisks(vm, func(disk *types.VirtualDisk) bool {
		if disk.VDiskId != nil && disk.VDiskId.Id == id {
			found = disk
		}
		return found == nil
	})
	return found
}

// diskController tells whether d is a controller disks connect to, and
// how many units it has and which it reserves for itself (-1: none).
func diskController(d types.BaseVirtualDevice) (units int32, reserved int32, ok bool) {
	switch d.(type) {
	case types.BaseVirtualSCSIController:
		return 16, 7, true // the controller's own unit (scsiCtlrUnitNumber), always 7 on ESX
	case types.BaseVirtualSATAController:
		return 30, -1, true
	case *types.VirtualIDEController:
		return 2, -1, true
	case *types.VirtualNVMEController:
		return 15, -1, true
	default:
		return 0, -1, false
	}
}

// freeUnit is the first unit of controller key that no device uses, -1 if none.
func freeUnit(devices []types.BaseVirtualDevice, key, units, reserved int32) int32 {
	used := map[int32]bool{reserved: true}
	for _, d := range devices {
		v := d.GetVirtualDevice()
		if v.ControllerKey == key && v.UnitNumber != nil {
			used[*v.UnitNumber] = true
		}
	}
	for u := int32(0); u < units; u++ {
		if !used[u] {
			return u
		}
	}
	return -1
}

// attachDisk attaches the FCD c.DiskId (on c.Datastore) to vm, as vCenter
// does: a VirtualDisk (flat backing on the object's file, diskMode
// persistent, the object's capacity, vDiskId the id) on controllerKey (not
// given: the only SCSI or SATA controller with a free unit) at unitNumber
// (not given: its first free unit). Faults: NotFound (no such object on
// that datastore), InvalidState (the disk is attached to a VM already),
// InvalidController (controllerKey is no disk controller of the VM),
// MissingController (none given, and not exactly one SCSI or SATA
// controller has a free unit), InvalidArgument (unitNumber: in use, out of
// the controller's range, or none free).
func (p *peer) attachDisk(vm *simulator.VirtualMachine, c *types.AttachDisk_Task) outcome {
	id := c.DiskId.Id
	fail := func(f types.BaseMethodFault, msg string) outcome {
		log.Printf("AttachDisk_Task %s on %s: %T: %s", id, vm.Self.Value, f, msg)
		return outcome{fault: f, message: msg}
	}
	info, ok := lookupFCD(&c.Datastore, id)
	if !ok {
		return fail(&types.NotFound{}, fmt.Sprintf("The object or item referred to could not be found: no virtual disk %s on datastore %s", id, c.Datastore.Value))
	}
	for _, e := range simulator.Map.All("VirtualMachine") {
		if other, ok := e.(*simulator.VirtualMachine); ok && fcdOnVM(other, id) != nil {
			return fail(&types.InvalidState{}, fmt.Sprintf("The operation is not allowed in the current state: virtual disk %s is attached to %s", id, other.Self.Value))
		}
	}

	var devices []types.BaseVirtualDevice
	simulator.Map.WithLock(vm, func() {
		if vm.Config != nil {
			devices = append(devices, vm.Config.Hardware.Device...)
		}
	})
	key := c.ControllerKey
	var units, reserved int32
	if key != 0 {
		var ctl types.BaseVirtualDevice
		for _, d := range devices {
			if d.GetVirtualDevice().Key == key {
				ctl = d
			}
		}
		if ctl != nil {
			units, reserved, ok = diskController(ctl)
		}
		if ctl == nil || !ok {
			f := &types.InvalidController{ControllerKey: key}
			return fail(f, fmt.Sprintf("Device %d is not a disk controller of %s", key, vm.Self.Value))
		}
	} else {
		var free []types.BaseVirtualDevice
		for _, d := range devices {
			switch d.(type) {
			case types.BaseVirtualSCSIController, types.BaseVirtualSATAController:
				n, res, _ := diskController(d)
				if freeUnit(devices, d.GetVirtualDevice().Key, n, res) >= 0 {
					free = append(free, d)
				}
			}
		}
		if len(free) != 1 {
			why := "no SCSI or SATA controller has a free unit"
			if len(free) > 1 {
				why = fmt.Sprintf("%d SCSI or SATA controllers have free units: controllerKey must say which", len(free))
			}
			return fail(&types.MissingController{}, fmt.Sprintf("No controller for the disk: %s", why))
		}
		key = free[0].GetVirtualDevice().Key
		units, reserved, _ = diskController(free[0])
	}
	var unit int32
	if c.UnitNumber != nil {
		unit = *c.UnitNumber
		inUse := unit < 0 || unit >= units || unit == reserved
		for _, d := range devices {
			v := d.GetVirtualDevice()
			inUse = inUse || (v.ControllerKey == key && v.UnitNumber != nil && *v.UnitNumber == unit)
		}
		if inUse {
			return fail(&types.InvalidArgument{InvalidProperty: "unitNumber"},
				fmt.Sprintf("A specified parameter was not correct: unitNumber (%d is taken or not a unit of controller %d)", unit, key))
		}
	} else if unit = freeUnit(devices, key, units, reserved); unit < 0 {
		return fail(&types.InvalidArgument{InvalidProperty: "unitNumber"},
			fmt.Sprintf("A specified parameter was not correct: unitNumber (controller %d has no free unit)", key))
	}

	ds := info.ds
	disk := &types.VirtualDisk{
		VirtualDevice: types.VirtualDevice{
			Key:           -1, // the simulator gives it a key of its own
			ControllerKey: key,
			UnitNumber:    types.NewInt32(unit),
			Backing: &types.VirtualDiskFlatVer2BackingInfo{
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: info.file, Datastore: &ds},
				DiskMode:                     string(types.VirtualDiskModePersistent),
				ThinProvisioned:              types.NewBool(info.thin),
			},
		},
		CapacityInKB:    info.capacity * 1024,
		CapacityInBytes: info.capacity * 1024 * 1024,
		VDiskId:         &types.ID{Id: id},
	}
	oc := p.reconfigure(vm.Self, &types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationAdd,
		Device:    disk,
	})
	if oc.fault != nil {
		return fail(oc.fault, oc.message)
	}
	setConsumer(id, vmUUID(vm))
	log.Printf("AttachDisk_Task %s (%s) on %s: controller %d unit %d", id, info.file, vm.Self.Value, key, unit)
	return outcome{}
}

// detachDisk detaches the FCD c.DiskId from vm, keeping its file: the
// device whose vDiskId it is goes. NotFound if the VM has none.
func (p *peer) detachDisk(vm *simulator.VirtualMachine, c *types.DetachDisk_Task) outcome {
	id := c.DiskId.Id
	disk := fcdOnVM(vm, id)
	if disk == nil {
		msg := fmt.Sprintf("The object or item referred to could not be found: virtual disk %s is not attached to %s", id, vm.Self.Value)
		log.Printf("DetachDisk_Task %s on %s: NotFound", id, vm.Self.Value)
		return outcome{fault: &types.NotFound{}, message: msg}
	}
	oc := p.reconfigure(vm.Self, &types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationRemove,
		Device:    disk,
	})
	if oc.fault != nil {
		return oc
	}
	setConsumer(id, "")
	log.Printf("DetachDisk_Task %s from %s", id, vm.Self.Value)
	return outcome{}
}

// existingDiskCall fails a ReconfigVM_Task or CreateVM_Task that adds an
// existing disk (a VirtualDisk with no fileOperation) whose descriptor is
// not on its datastore: a task (reconfigVm, createVm; /ctl/async applies)
// failed with FileNotFound, file the backing's fileName, as vCenter's.
// false: not such a call (a datastore that does not resolve included: the
// simulator answers), nothing written.
func (p *peer) existingDiskCall(w http.ResponseWriter, r *http.Request, body []byte, method string, this moref) bool {
	if !bytes.Contains(body, []byte("VirtualDisk")) {
		return false
	}
	req, err := decodeCall(body)
	if err != nil {
		return false
	}
	var spec *types.VirtualMachineConfigSpec
	name := "reconfigVm"
	switch c := req.(type) {
	case *types.ReconfigVM_Task:
		spec = &c.Spec
	case *types.CreateVM_Task:
		spec, name = &c.Config, "createVm"
	default:
		return false
	}
	dc := datacenterOf(entityOf(this))
	if dc == nil {
		return false
	}
	missing := ""
	for _, ch := range spec.DeviceChange {
		ds := ch.GetVirtualDeviceConfigSpec()
		disk, ok := ds.Device.(*types.VirtualDisk)
		if !ok || ds.Operation != types.VirtualDeviceConfigSpecOperationAdd || ds.FileOperation != "" {
			continue
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok || b.GetVirtualDeviceFileBackingInfo().FileName == "" {
			continue
		}
		fileName := b.GetVirtualDeviceFileBackingInfo().FileName
		file, fault, _ := resolveDatastorePath(&dc.Self, fileName)
		if fault != nil {
			continue
		}
		if st, err := os.Stat(file); err != nil || !st.Mode().IsRegular() {
			missing = fileName
			break
		}
	}
	if missing == "" {
		return false
	}
	if probe := p.forward(r, probeBody(this)); !isMethodNotFound(probe) {
		relay(w, probe, probe.Body.Bytes()) // not logged in, no such object
		return true
	}
	fault := &types.FileNotFound{}
	fault.File = missing
	msg := fmt.Sprintf("File %s was not found", missing)
	log.Printf("%s on %s: FileNotFound: %s", method, this.Value, msg)
	ref := p.taskReply(method, this, name, outcome{fault: fault, message: msg})
	if method == "CreateVM_Task" {
		writeResult(w, &types.CreateVM_TaskResponse{Returnval: ref})
	} else {
		writeResult(w, &types.ReconfigVM_TaskResponse{Returnval: ref})
	}
	return true
}

// keptDisk is a disk of a VM being destroyed that outlives it.
type keptDisk struct {
	name  string            // backing.fileName
	fcd   string            // vDiskId, or ""
	links map[string]string // its files -> hard links to them, made before the destroy
}

// destroyCall runs Destroy_Task on a VM in the simulator (held by
// /ctl/async as usual). The simulator deletes the VM's folder and each
// disk's own file (NAME.vmdk and NAME-flat.vmdk, wherever it is; never a
// parent), as vCenter does, but also the disks vCenter keeps: an FCD
// (vDiskId) whose object has keepAfterDeleteVm true, and a disk another VM
// uses (as its disk, or as the parent of its disk: the base of a linked
// clone group). Their files are hard-linked aside before the call and put
// back once its task has succeeded; a kept FCD's consumerId is cleared, an
// FCD deleted leaves the catalog (the simulator leaves it there, its file
// gone). false: _this is no VM.
func (p *peer) destroyCall(w http.ResponseWriter, r *http.Request, body []byte, method string, this moref) bool {
	vm, ok := simulator.Map.Get(this).(*simulator.VirtualMachine)
	if !ok {
		return false
	}
	dc := datacenterOf(vm)
	type vmDisk struct{ name, fcd string }
	var disks []vmDisk
	vmDisks(vm, func(disk *types.VirtualDisk) bool {
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok || b.GetVirtualDeviceFileBackingInfo().FileName == "" {
			return true
		}
		vd := vmDisk{name: b.GetVirtualDeviceFileBackingInfo().FileName}
		if disk.VDiskId != nil {
			vd.fcd = disk.VDiskId.Id
		}
		disks = append(disks, vd)
		return true
	})
	if dc == nil || len(disks) == 0 {
		return false // the usual path
	}

	used := disksInUse(this)
	var kept []*keptDisk
	var fcds []string // FCDs deleted with the VM
	tmp, n := "", 0
	p.diskMu.Lock()
	for _, d := range disks {
		why := ""
		if d.fcd != "" {
			if info, ok := lookupFCD(nil, d.fcd); ok && dsPathKey(info.file) == dsPathKey(d.name) {
				if info.keepAfter {
					why = "keepAfterDeleteVm"
				} else {
					fcds = append(fcds, d.fcd)
				}
			}
		}
		if why == "" && used[dsPathKey(d.name)] {
			why = "another VM uses it"
		}
		if why == "" {
			continue
		}
		k := &keptDisk{name: d.name, links: map[string]string{}}
		if why == "keepAfterDeleteVm" {
			k.fcd = d.fcd
		}
		for _, name := range []string{d.name, vdmFlatName(d.name)} {
			file, fault, _ := resolveDatastorePath(&dc.Self, name)
			if fault != nil || k.links[file] != "" {
				continue
			}
			if tmp == "" {
				var err error
				if tmp, err = os.MkdirTemp("", "vcsim-keep-"); err != nil {
					log.Printf("Destroy_Task %s: cannot keep disks: %v", this.Value, err)
					break
				}
			}
			n++
			link := fmt.Sprintf("%s/%d", tmp, n)
			if err := os.Link(file, link); err == nil {
				k.links[file] = link
			} else if !os.IsNotExist(err) {
				log.Printf("Destroy_Task %s: cannot keep %s: %v", this.Value, name, err)
			}
		}
		log.Printf("Destroy_Task %s: %s stays: %s", this.Value, d.name, why)
		kept = append(kept, k)
	}
	p.diskMu.Unlock()

	after := func(rec *httptest.ResponseRecorder) {
		defer func() {
			if tmp != "" {
				_ = os.RemoveAll(tmp)
			}
		}()
		m := returnTask.FindSubmatch(rec.Body.Bytes())
		if rec.Code != http.StatusOK || m == nil {
			return
		}
		t, ok := simulator.Map.Get(moref{Type: "Task", Value: string(m[1])}).(*simulator.Task)
		if !ok || taskInfo(t).State != types.TaskInfoStateSuccess {
			return
		}
		p.diskMu.Lock()
		defer p.diskMu.Unlock()
		for _, k := range kept {
			for file, link := range k.links {
				if _, err := os.Lstat(file); err == nil {
					continue
				}
				_ = os.MkdirAll(path.Dir(file), 0o755)
				if err := os.Rename(link, file); err != nil {
					log.Printf("Destroy_Task %s: cannot put back %s: %v", this.Value, k.name, err)
				}
			}
			if k.fcd != "" {
				setConsumer(k.fcd, "")
			}
		}
		for _, id := range fcds {
			withFCD(nil, id, func(ds moref, _ *simulator.VStorageObject) {
				delete(fcdObjects(fcdManager())[ds], types.ID{Id: id})
			})
			log.Printf("Destroy_Task %s: FCD %s deleted with the VM", this.Value, id)
		}
	}
	p.forwardThen(w, r, body, method, this, after)
	return true
}

// dsPathKey is "[ds] path" with the path cleaned, to compare disk names.
func dsPathKey(name string) string {
	p, ok := parseDatastorePath(name)
	if !ok {
		return name
	}
	return "[" + p.Datastore + "] " + path.Clean("/"+p.Path)
}

// disksInUse: the disk files, and their parents, of every VM but except.
func disksInUse(except moref) map[string]bool {
	used := map[string]bool{}
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok || vm.Self == except {
			continue
		}
		vmDisks(vm, func(disk *types.VirtualDisk) bool {
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				for ; b != nil; b = b.Parent {
					used[dsPathKey(b.FileName)] = true
				}
			} else if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				used[dsPathKey(b.GetVirtualDeviceFileBackingInfo().FileName)] = true
			}
			return true
		})
	}
	return used
}
