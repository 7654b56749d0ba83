package main

// VirtualMachine.ExportVm, which the simulator lacks (it answers
// MethodNotFound), as the vSphere API describes it: a VM that is powered
// off gets an HttpNfcLease, ready at once, whose info.deviceUrl has one
// entry per virtual disk (disk: true, the URL's host "*" for the server's
// own); a GET of that URL streams the disk as a streamOptimized VMDK, made
// from the disk's data (a delta with no data of its own, as the simulator
// makes a linked clone's, is read through its parent) by qemu-img
// (Debian's qemu-utils) rather than by an encoder of our own.
// HttpNfcLeaseProgress, HttpNfcLeaseComplete and HttpNfcLeaseAbort work
// on the lease; after Complete or Abort its URLs answer 404.
//
// A VM that is on: InvalidPowerState, as vCenter answers.
//
// POST /ctl/export-pace?seconds=S spreads each later GET's bytes evenly over
// S seconds, a tenth of a second at a time (S=0, the default: as fast as
// they go), as a slow link to vCenter does: long enough to watch an export's
// progress.

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// exportLease is an HttpNfcLease of ours, in the inventory (so that the
// property collector reads its state and info).
type exportLease struct {
	mo.HttpNfcLease
	disks map[string]exportDisk // by the URL's last element
}

type exportDisk struct {
	files []string // the disk's descriptor, then its parents'
	bytes int64
}

var exportLeases sync.Map // lease value -> *exportLease, while it is open

var exportPace int64 // nanoseconds a GET's bytes are spread over (atomic); 0: none

func ctlExportPace(w http.ResponseWriter, r *http.Request) {
	s, err := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
	if err != nil || s < 0 || s > 3600 {
		http.Error(w, "seconds=S, 0 to 3600", http.StatusBadRequest)
		return
	}
	atomic.StoreInt64(&exportPace, int64(s*float64(time.Second)))
	ok(w)
}

// copyPaced writes SIZE bytes of F to W in equal parts, one every tenth of
// a second, over PACE.
func copyPaced(w http.ResponseWriter, f io.Reader, size int64, pace time.Duration) (int64, error) {
	const tick = 100 * time.Millisecond
	steps := int64(pace / tick)
	if steps < 1 {
		steps = 1
	}
	chunk := (size + steps - 1) / steps
	if chunk < 1 {
		chunk = 1
	}
	var n int64
	for {
		m, err := io.CopyN(w, f, chunk)
		n += m
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if err == io.EOF || n >= size {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		time.Sleep(tick)
	}
}

func (l *exportLease) HttpNfcLeaseProgress(req *types.HttpNfcLeaseProgress) soap.HasFault {
	l.TransferProgress = req.Percent
	return &methods.HttpNfcLeaseProgressBody{Res: new(types.HttpNfcLeaseProgressResponse)}
}

func (l *exportLease) HttpNfcLeaseComplete(req *types.HttpNfcLeaseComplete) soap.HasFault {
	l.end(types.HttpNfcLeaseStateDone)
	return &methods.HttpNfcLeaseCompleteBody{Res: new(types.HttpNfcLeaseCompleteResponse)}
}

func (l *exportLease) HttpNfcLeaseAbort(req *types.HttpNfcLeaseAbort) soap.HasFault {
	l.end(types.HttpNfcLeaseStateError)
	return &methods.HttpNfcLeaseAbortBody{Res: new(types.HttpNfcLeaseAbortResponse)}
}

func (l *exportLease) end(state types.HttpNfcLeaseState) {
	exportLeases.Delete(l.Self.Value)
	simulator.Map.Update(l, []types.PropertyChange{{Name: "state", Val: state}})
}

// localFile maps "[ds] path" to the simulator's file, by the datastore's name.
func localFile(name string) (string, bool) {
	ds, ok := parseDatastorePath(name)
	if !ok {
		return "", false
	}
	for _, e := range simulator.Map.All("Datastore") {
		store, ok := e.(*simulator.Datastore)
		if !ok || store.Name != ds.Datastore {
			continue
		}
		var dir string
		simulator.Map.WithLock(store, func() { dir = store.Info.GetDatastoreInfo().Url })
		file := path.Join(dir, ds.Path)
		if rel, err := filepath.Rel(dir, file); err != nil || strings.HasPrefix(rel, "..") {
			return "", false
		}
		return file, true
	}
	return "", false
}

// exportVmCall answers ExportVm on this.
func (p *peer) exportVmCall(w http.ResponseWriter, r *http.Request, this moref) {
	probe := p.forward(r, probeBody(this)) // session and _this checks, by the simulator
	vm, isVM := simulator.Map.Get(this).(*simulator.VirtualMachine)
	if !isVM || !isMethodNotFound(probe) {
		relay(w, probe, probe.Body.Bytes())
		return
	}
	l := &exportLease{disks: map[string]exportDisk{}}
	var info types.HttpNfcLeaseInfo
	var state types.VirtualMachinePowerState
	simulator.Map.WithLock(vm, func() {
		state = vm.Runtime.PowerState
		n := 0
		for _, d := range vm.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			var files []string
			for b, _ := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); b != nil; b = b.Parent {
				if f, ok := localFile(b.FileName); ok {
					files = append(files, f)
				}
			}
			name := fmt.Sprintf("disk-%d.vmdk", n)
			n++
			l.disks[name] = exportDisk{files: files, bytes: disk.CapacityInKB * 1024}
			info.DeviceUrl = append(info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
				Key:       fmt.Sprintf("/%s/%d", this.Value, disk.Key),
				ImportKey: fmt.Sprintf("/%s/%d", this.Value, disk.Key),
				Url:       "", // below, once the lease has its name
				Disk:      types.NewBool(true),
				TargetId:  name,
				FileSize:  disk.CapacityInKB * 1024,
			})
			info.TotalDiskCapacityInKB += disk.CapacityInKB
		}
	})
	if state == types.VirtualMachinePowerStatePoweredOn {
		writeFault(w, "The attempted operation cannot be performed in the current state (Powered on).",
			&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: state})
		return
	}
	l.Self.Type = "HttpNfcLease" // the value is the registry's to give
	l.Self = simulator.Map.Put(l).Reference()
	for i := range info.DeviceUrl {
		info.DeviceUrl[i].Url = fmt.Sprintf("https://*/export/%s/%s", l.Self.Value, info.DeviceUrl[i].TargetId)
	}
	info.Lease = l.Self
	info.Entity = this
	info.LeaseTimeout = 300
	simulator.Map.WithLock(l, func() {
		l.Info = &info
		l.State = types.HttpNfcLeaseStateReady
	})
	exportLeases.Store(l.Self.Value, l)
	log.Printf("ExportVm %s: lease %s, %d disk(s)", this.Value, l.Self.Value, len(l.disks))
	writeResult(w, &types.ExportVmResponse{Returnval: l.Self})
}

// serveExport answers GET /export/LEASE/DISK with the disk, streamOptimized.
func serveExport(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/export/"), "/")
	if r.Method != http.MethodGet || len(parts) != 2 {
		http.Error(w, "GET /export/LEASE/DISK", http.StatusMethodNotAllowed)
		return
	}
	v, ok := exportLeases.Load(parts[0])
	if !ok {
		http.NotFound(w, r)
		return
	}
	d, ok := v.(*exportLease).disks[parts[1]]
	if !ok {
		http.NotFound(w, r)
		return
	}
	tmp, err := os.MkdirTemp("", "vcsim-export-")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "disk.vmdk")
	// the first file of the chain that holds data; none: zeros of its size
	made := false
	for _, f := range d.files {
		cmd := exec.Command("qemu-img", "convert", "-f", "vmdk", f, "-O", "vmdk",
			"-o", "subformat=streamOptimized", out)
		if msg, err := cmd.CombinedOutput(); err == nil {
			made = true
			break
		} else {
			log.Printf("export: %s has no data of its own (%v: %s): its parent", f, err, strings.TrimSpace(string(msg)))
		}
	}
	if !made {
		cmd := exec.Command("qemu-img", "create", "-f", "vmdk", "-o", "subformat=streamOptimized",
			out, fmt.Sprintf("%d", d.bytes))
		if msg, err := cmd.CombinedOutput(); err != nil {
			http.Error(w, fmt.Sprintf("qemu-img: %v: %s", err, msg), http.StatusInternalServerError)
			return
		}
	}
	f, err := os.Open(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	w.Header().Set("Content-Type", "application/x-vnd.vmware-streamVmdk")
	w.Header().Set("Content-Length", fmt.Sprintf("%d", st.Size()))
	var n int64
	if pace := time.Duration(atomic.LoadInt64(&exportPace)); pace > 0 {
		n, err = copyPaced(w, f, st.Size(), pace)
	} else {
		n, err = io.Copy(w, f)
	}
	log.Printf("export %s: %d bytes (%v)", r.URL.Path, n, err)
}

// cloneVmCall runs CloneVM_Task in the simulator, then gives a linked
// clone's disks the parent vCenter gives them: the simulator makes each an
// empty disk of its own, while a clone with diskMoveType
// createNewChildDiskBacking (a linked clone, from spec.snapshot or the
// VM's current state) is a child of the source's disk, whose data it reads
// through (and which an export of it reads through too).
func (p *peer) cloneVmCall(w http.ResponseWriter, r *http.Request, body []byte, this moref) bool {
	req, err := decodeCall(body)
	c, ok := req.(*types.CloneVM_Task)
	if err != nil || !ok || c.Spec.Location.DiskMoveType != string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking) {
		return false
	}
	src, ok := simulator.Map.Get(this).(*simulator.VirtualMachine)
	if !ok {
		return false
	}
	var parents []*types.VirtualDiskFlatVer2BackingInfo
	simulator.Map.WithLock(src, func() {
		for _, d := range src.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
					cp := *b
					parents = append(parents, &cp)
				}
			}
		}
	})
	rec := p.forward(r, body)
	relay(w, rec, rec.Body.Bytes())
	m := returnTask.FindSubmatch(rec.Body.Bytes())
	if m == nil {
		return true
	}
	task, ok := simulator.Map.Get(moref{Type: "Task", Value: string(m[1])}).(*simulator.Task)
	if !ok {
		return true
	}
	var result types.AnyType
	simulator.Map.WithLock(task, func() { result = task.Info.Result })
	ref, ok := result.(types.ManagedObjectReference)
	if !ok {
		return true
	}
	clone, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return true
	}
	simulator.Map.WithLock(clone, func() {
		n := 0
		for _, d := range clone.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok && n < len(parents) {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
					b.Parent = parents[n]
				}
				n++
			}
		}
	})
	log.Printf("CloneVM_Task %s -> %s: a linked clone, its disks children of the source's", this.Value, ref.Value)
	return true
}
