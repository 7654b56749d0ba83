package main

// VirtualDiskManager.ExtendVirtualDisk_Task, which the simulator lacks (it
// answers MethodNotFound), and CopyVirtualDisk_Task of a hosted sparse VMDK
// (below). See the package comment in main.go for what clients see.
//
// The disk's capacity is read from its descriptor, NAME.vmdk, when that is
// a text VMDK descriptor: the sum of its RW extent lines' sector counts.
// Growing rewrites the last RW line's sector count (the rest of the
// descriptor is kept byte for byte) and grows a NAME-flat.vmdk next to it
// to the new capacity (a sparse file, never shrunk). A descriptor that is
// not text (the empty files the simulator's CreateVirtualDisk_Task makes, a
// binary sparse VMDK) has no capacity to check or change: the call succeeds.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/types"
)

// maxDescriptor: a larger NAME.vmdk is taken for a disk, not a descriptor.
const maxDescriptor = 1 << 20

// rwExtent matches an RW extent line of a VMDK descriptor ("RW 2097152 FLAT
// "disk-flat.vmdk" 0"); group 1 is the sector count.
var rwExtent = regexp.MustCompile(`(?m)^[ \t]*RW[ \t]+([0-9]{1,15})(?:[ \t]|\r?$)`)

// extendVirtualDiskCall answers VirtualDiskManager.ExtendVirtualDisk_Task:
// a task that ends in success or with the fault (extendVirtualDisk). Not
// logged in, no such _this, a _this that is no VirtualDiskManager, a request
// that does not decode: the simulator's answer. A datacenter argument that
// is no datacenter: ManagedObjectNotFound (SOAP fault).
func (p *peer) extendVirtualDiskCall(w http.ResponseWriter, r *http.Request, body []byte, method string, this moref) {
	probe := p.forward(r, probeBody(this)) // session and _this checks, by the simulator
	_, isVDM := simulator.Map.Get(this).(*simulator.VirtualDiskManager)
	req, err := decodeCall(body)
	c, isExtend := req.(*types.ExtendVirtualDisk_Task)
	if !isMethodNotFound(probe) || !isVDM || err != nil || !isExtend {
		rec := p.forward(r, body)
		relay(w, rec, rec.Body.Bytes())
		return
	}
	if c.Datacenter != nil {
		if _, ok := simulator.Map.Get(*c.Datacenter).(*simulator.Datacenter); !ok {
			msg := fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", c.Datacenter.Value)
			writeFault(w, msg, &types.ManagedObjectNotFound{Obj: *c.Datacenter})
			return
		}
	}

	oc := outcome{}
	if fault, msg := p.extendVirtualDisk(c); fault != nil {
		oc = outcome{fault: fault, message: msg}
		log.Printf("%s %q to %d KB: %T: %s", method, c.Name, c.NewCapacityKb, fault, msg)
	}

	p.mu.Lock()
	if delay, ok := p.takeAsync(method, this); ok {
		h := &heldTask{task: newTask(this, "extendVirtualDisk", nil), method: method, entity: this, final: &oc}
		p.hold(h, delay)
		p.mu.Unlock()
		log.Printf("held %s %s (%s) for %v", h.id(), method, this.Value, delay)
		writeResult(w, &types.ExtendVirtualDisk_TaskResponse{Returnval: h.task.Self})
		return
	}
	p.mu.Unlock()
	var ref moref
	if oc.fault != nil {
		ref = failedTask(this, "extendVirtualDisk", oc.fault, oc.message)
	} else {
		ref = simulator.CreateTask(this, "extendVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, nil
		}).Run()
	}
	writeResult(w, &types.ExtendVirtualDisk_TaskResponse{Returnval: ref})
}

// extendVirtualDisk grows a disk to c.NewCapacityKb; the fault and its
// localizedMessage if it cannot.
func (p *peer) extendVirtualDisk(c *types.ExtendVirtualDisk_Task) (types.BaseMethodFault, string) {
	if c.NewCapacityKb <= 0 || c.NewCapacityKb > math.MaxInt64/1024 {
		return &types.InvalidArgument{InvalidProperty: "newCapacityKb"},
			fmt.Sprintf("A specified parameter was not correct: newCapacityKb (%d)", c.NewCapacityKb)
	}
	file, fault, msg := resolveDatastorePath(c.Datacenter, c.Name)
	if fault != nil {
		return fault, msg
	}
	notFound := func() (types.BaseMethodFault, string) {
		f := &types.FileNotFound{}
		f.File = c.Name
		return f, fmt.Sprintf("File %s was not found", c.Name)
	}

	p.diskMu.Lock()
	defer p.diskMu.Unlock()
	st, err := os.Stat(file)
	if err != nil || !st.Mode().IsRegular() {
		return notFound()
	}
	if st.Size() > maxDescriptor {
		log.Printf("extended %s to %d KB (not a text descriptor)", c.Name, c.NewCapacityKb)
		return nil, ""
	}
	desc, err := os.ReadFile(file)
	if err != nil {
		if os.IsNotExist(err) {
			return notFound()
		}
		f := &types.CannotAccessFile{}
		f.File = c.Name
		return f, fmt.Sprintf("Cannot access file %s: %v", c.Name, err)
	}
	extents := rwExtent.FindAllSubmatchIndex(desc, -1)
	text := bytes.IndexByte(desc, 0) < 0 &&
		(bytes.HasPrefix(desc, []byte("# Disk DescriptorFile")) || len(extents) > 0)
	if !text || len(extents) == 0 {
		log.Printf("extended %s to %d KB (no extent lines to change)", c.Name, c.NewCapacityKb)
		return nil, ""
	}

	var sectors int64 // capacity now
	for _, m := range extents {
		n, _ := strconv.ParseInt(string(desc[m[2]:m[3]]), 10, 64) // at most 15 digits
		if sectors += n; sectors > math.MaxInt64/1024 {
			sectors = math.MaxInt64 / 1024
		}
	}
	curKb := (sectors + 1) / 2
	if c.NewCapacityKb*2 < sectors {
		return &types.InvalidArgument{InvalidProperty: "newCapacityKb"},
			fmt.Sprintf("A specified parameter was not correct: newCapacityKb (%d KB is less than the disk's capacity, %d KB)", c.NewCapacityKb, curKb)
	}
	last := extents[len(extents)-1]
	lastSectors, _ := strconv.ParseInt(string(desc[last[2]:last[3]]), 10, 64)
	newLast := c.NewCapacityKb*2 - (sectors - lastSectors) // the last extent takes the growth

	if strings.HasSuffix(file, ".vmdk") {
		flat := strings.TrimSuffix(file, ".vmdk") + "-flat.vmdk"
		if fst, err := os.Stat(flat); err == nil && fst.Mode().IsRegular() && fst.Size() < c.NewCapacityKb*1024 {
			if err := os.Truncate(flat, c.NewCapacityKb*1024); err != nil {
				flatName := strings.TrimSuffix(c.Name, ".vmdk") + "-flat.vmdk"
				if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) {
					ds, _ := parseDatastorePath(c.Name)
					return &types.NoDiskSpace{Datastore: ds.Datastore},
						fmt.Sprintf("There is not enough space on the file system for %s: %v", flatName, err)
				}
				f := &types.CannotAccessFile{}
				f.File = flatName
				return f, fmt.Sprintf("Cannot access file %s: %v", flatName, err)
			}
		}
	}

	if newLast == lastSectors {
		log.Printf("extended %s to %d KB: its capacity already", c.Name, c.NewCapacityKb)
		return nil, ""
	}
	var out bytes.Buffer
	out.Write(desc[:last[2]])
	out.WriteString(strconv.FormatInt(newLast, 10))
	out.Write(desc[last[3]:])
	if err := writeFileAtomic(file, out.Bytes()); err != nil {
		f := &types.CannotAccessFile{}
		f.File = c.Name
		return f, fmt.Sprintf("Cannot write file %s: %v", c.Name, err)
	}
	_ = os.Chmod(file, st.Mode().Perm())
	log.Printf("extended %s from %d KB to %d KB", c.Name, curKb, c.NewCapacityKb)
	return nil, ""
}

func parseDatastorePath(name string) (*object.DatastorePath, bool) {
	var ds object.DatastorePath
	return &ds, ds.FromString(name)
}

// resolveDatastorePath maps "[ds] path" to the file the simulator keeps it
// in, as its FileManager does (resolve): the datastore of that name in the
// datacenter's datastore folder (and its subfolders and storage pods), under
// its info.url. Faults as the simulator's: InvalidDatastorePath,
// InvalidArgument (dc) when no datacenter is given on vCenter,
// InvalidDatastore. A path that leaves the datastore is an
// InvalidDatastorePath.
func resolveDatastorePath(dcRef *moref, name string) (string, types.BaseMethodFault, string) {
	ds, ok := parseDatastorePath(name)
	if !ok {
		return "", &types.InvalidDatastorePath{DatastorePath: name}, fmt.Sprintf("Invalid datastore path '%s'.", name)
	}
	if dcRef == nil {
		if !simulator.Map.IsESX() {
			return "", &types.InvalidArgument{InvalidProperty: "dc"}, "A specified parameter was not correct: dc"
		}
		dcRef = &esx.Datacenter.Self
	}
	dc, ok := simulator.Map.Get(*dcRef).(*simulator.Datacenter)
	if !ok {
		return "", &types.ManagedObjectNotFound{Obj: *dcRef}, fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", dcRef.Value)
	}
	var folder moref
	simulator.Map.WithLock(dc, func() { folder = dc.DatastoreFolder })
	store := findDatastore(folder, ds.Datastore)
	if store == nil {
		return "", &types.InvalidDatastore{Name: ds.Datastore},
			fmt.Sprintf("Datastore '%s' was not found in datacenter %s", ds.Datastore, dc.Name)
	}
	var dir string
	simulator.Map.WithLock(store, func() { dir = store.Info.GetDatastoreInfo().Url })
	file := path.Join(dir, ds.Path)
	if rel, err := filepath.Rel(dir, file); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", &types.InvalidDatastorePath{DatastorePath: name}, fmt.Sprintf("Invalid datastore path '%s'.", name)
	}
	return file, nil, ""
}

// findDatastore finds a datastore by name in a folder or storage pod and
// those under it.
func findDatastore(ref moref, name string) *simulator.Datastore {
	var refs []moref
	switch obj := simulator.Map.Get(ref).(type) {
	case *simulator.Folder:
		simulator.Map.WithLock(obj, func() { refs = append(refs, obj.ChildEntity...) })
	case *simulator.StoragePod:
		simulator.Map.WithLock(obj, func() { refs = append(refs, obj.ChildEntity...) })
	}
	for _, child := range refs {
		switch obj := simulator.Map.Get(child).(type) {
		case *simulator.Datastore:
			if obj.Name == name {
				return obj
			}
		case *simulator.Folder, *simulator.StoragePod:
			if ds := findDatastore(child, name); ds != nil {
				return ds
			}
		}
	}
	return nil
}

// CopyVirtualDisk_Task of a hosted sparse VMDK. vSphere converts a
// single-file monolithicSparse (or streamOptimized) disk, as uploaded
// through the datastore's /folder interface, into a VMFS disk: a text
// descriptor and its -flat extent. The simulator treats every disk as a
// NAME-flat.vmdk/NAME.vmdk pair and answers FileNotFound instead, so the
// launcher does the conversion for that case only; every other copy goes to
// the simulator.

// sparseMagic starts a hosted sparse (monolithicSparse, twoGbMaxExtentSparse
// extent) or streamOptimized VMDK: "KDMV", the little-endian 0x564d444b.
var sparseMagic = []byte("KDMV")

// ddbAdapter matches the ddb.adapterType line of a VMDK descriptor; group 1
// is its value.
var ddbAdapter = regexp.MustCompile(`(?m)^[ \t]*ddb\.adapterType[ \t]*=[ \t]*"?([A-Za-z0-9_.-]{1,32})"?[ \t]*\r?$`)

// copySparseCall answers VirtualDiskManager.CopyVirtualDisk_Task when its
// source is a single-file hosted sparse VMDK: NAME.vmdk starting with the
// magic "KDMV" and no NAME-flat.vmdk, as an upload through /folder leaves
// it. The simulator copies NAME-flat.vmdk and NAME.vmdk and fails with
// FileNotFound; vSphere converts the disk into a VMFS one, which
// copySparseDisk models. The task (name copyVirtualDisk, entity the
// VirtualDiskManager; /ctl/async applies) succeeds or fails with its fault.
// Anything else (not logged in, no such _this, a request that does not
// decode, a source that does not resolve or is no such file, a destSpec on
// vCenter, where the simulator answers NotImplemented): false, nothing
// written, the caller hands the call on to the simulator.
func (p *peer) copySparseCall(w http.ResponseWriter, r *http.Request, body []byte, this moref) bool {
	const method = "CopyVirtualDisk_Task"
	probe := p.forward(r, probeBody(this)) // session and _this checks, by the simulator
	if _, isVDM := simulator.Map.Get(this).(*simulator.VirtualDiskManager); !isVDM || !isMethodNotFound(probe) {
		return false
	}
	req, err := decodeCall(body)
	c, isCopy := req.(*types.CopyVirtualDisk_Task)
	if err != nil || !isCopy || (c.DestSpec != nil && simulator.Map.IsVPX()) {
		return false
	}
	if c.SourceDatacenter != nil {
		if _, ok := simulator.Map.Get(*c.SourceDatacenter).(*simulator.Datacenter); !ok {
			return false
		}
	}
	p.diskMu.Lock()
	src, ok := hostedSparse(c.SourceDatacenter, c.SourceName)
	if !ok {
		p.diskMu.Unlock()
		return false
	}
	if c.DestDatacenter != nil {
		if _, ok := simulator.Map.Get(*c.DestDatacenter).(*simulator.Datacenter); !ok {
			p.diskMu.Unlock()
			msg := fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", c.DestDatacenter.Value)
			writeFault(w, msg, &types.ManagedObjectNotFound{Obj: *c.DestDatacenter})
			return true
		}
	}
	oc := outcome{}
	fault, msg := copySparseDisk(c, src)
	p.diskMu.Unlock()
	if fault != nil {
		oc = outcome{fault: fault, message: msg}
		log.Printf("%s %q to %q: %T: %s", method, c.SourceName, c.DestName, fault, msg)
	}

	p.mu.Lock()
	if delay, ok := p.takeAsync(method, this); ok {
		h := &heldTask{task: newTask(this, "copyVirtualDisk", nil), method: method, entity: this, final: &oc}
		p.hold(h, delay)
		p.mu.Unlock()
		log.Printf("held %s %s (%s) for %v", h.id(), method, this.Value, delay)
		writeResult(w, &types.CopyVirtualDisk_TaskResponse{Returnval: h.task.Self})
		return true
	}
	p.mu.Unlock()
	var ref moref
	if oc.fault != nil {
		ref = failedTask(this, "copyVirtualDisk", oc.fault, oc.message)
	} else {
		ref = simulator.CreateTask(this, "copyVirtualDisk", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, nil
		}).Run()
	}
	writeResult(w, &types.CopyVirtualDisk_TaskResponse{Returnval: ref})
	return true
}

// vdmFlatName is the simulator's name for a disk's extent (vdmNames):
// the first ".vmdk" of name replaced by "-flat.vmdk".
func vdmFlatName(name string) string {
	return strings.Replace(name, ".vmdk", "-flat.vmdk", 1)
}

// hostedSparse resolves "[ds] NAME.vmdk" in dc and tells whether it is a
// single-file hosted sparse disk: a regular file starting with "KDMV", no
// NAME-flat.vmdk next to it. The file it resolves to.
func hostedSparse(dc *moref, name string) (string, bool) {
	if !strings.Contains(name, ".vmdk") {
		return "", false
	}
	file, fault, _ := resolveDatastorePath(dc, name)
	if fault != nil {
		return "", false
	}
	flat, fault, _ := resolveDatastorePath(dc, vdmFlatName(name))
	if fault != nil || flat == file {
		return "", false
	}
	if _, err := os.Lstat(flat); !os.IsNotExist(err) {
		return "", false
	}
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	magic := make([]byte, len(sparseMagic))
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, sparseMagic) {
		return "", false
	}
	return file, true
}

// sparseHeader reads what the conversion needs from a hosted sparse VMDK's
// header: its capacity in sectors (uint64 at byte 12) and the
// ddb.adapterType of its embedded descriptor (at the sector given by the
// uint64 at byte 28, that many sectors long as the uint64 at byte 36 says),
// "" if it has none.
func sparseHeader(f *os.File) (sectors int64, adapter string, err error) {
	var hdr [512]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return 0, "", errors.New("shorter than a VMDK sparse header (512 bytes)")
	}
	capacity := binary.LittleEndian.Uint64(hdr[12:])
	if capacity == 0 || capacity > math.MaxInt64/512 {
		return 0, "", fmt.Errorf("a VMDK sparse header with capacity %d sectors", capacity)
	}
	descOff := binary.LittleEndian.Uint64(hdr[28:])
	descLen := binary.LittleEndian.Uint64(hdr[36:])
	if descOff > 0 && descLen > 0 && descOff <= math.MaxInt64/512 && descLen <= maxDescriptor/512 {
		desc := make([]byte, descLen*512)
		n, _ := f.ReadAt(desc, int64(descOff)*512)
		desc = desc[:n]
		if i := bytes.IndexByte(desc, 0); i >= 0 {
			desc = desc[:i]
		}
		if m := ddbAdapter.FindSubmatch(desc); m != nil {
			adapter = string(m[1])
		}
	}
	return int64(capacity), adapter, nil
}

// vmfsDescriptor is the text descriptor of a thin VMFS disk of that many
// sectors whose extent is the file extent, in the shape vSphere writes.
func vmfsDescriptor(sectors int64, extent, adapter string) []byte {
	cid := make([]byte, 4)
	_, _ = rand.Read(cid)
	heads, secs := int64(255), int64(63)
	if adapter == "ide" {
		heads = 16
	}
	cyl := sectors / (heads * secs)
	if cyl > 16383 && adapter == "ide" {
		cyl = 16383
	}
	if cyl < 1 {
		cyl = 1
	}
	return []byte(fmt.Sprintf("# Disk DescriptorFile\n"+
		"version=1\n"+
		"encoding=\"UTF-8\"\n"+
		"CID=%08x\n"+
		"parentCID=ffffffff\n"+
		"createType=\"vmfs\"\n"+
		"\n"+
		"# Extent description\n"+
		"RW %d VMFS \"%s\"\n"+
		"\n"+
		"# The Disk Data Base\n"+
		"#DDB\n"+
		"\n"+
		"ddb.adapterType = \"%s\"\n"+
		"ddb.geometry.cylinders = \"%d\"\n"+
		"ddb.geometry.heads = \"%d\"\n"+
		"ddb.geometry.sectors = \"%d\"\n"+
		"ddb.thinProvisioned = \"1\"\n"+
		"ddb.virtualHWVersion = \"7\"\n",
		binary.BigEndian.Uint32(cid), sectors, extent, adapter, cyl, heads, secs))
}

// copySparseDisk converts the hosted sparse VMDK src (the file c.SourceName
// resolved to) into a thin VMFS disk at c.DestName, as vSphere's
// CopyVirtualDisk_Task does: a text descriptor DEST.vmdk (capacity from the
// sparse header, ddb.adapterType from its embedded descriptor, else
// lsilogic) and DEST-flat.vmdk, a sparse file of the capacity (the data is
// not converted). The fault and its localizedMessage if it cannot. Called
// with p.diskMu held.
func copySparseDisk(c *types.CopyVirtualDisk_Task, src string) (types.BaseMethodFault, string) {
	dst, fault, msg := resolveDatastorePath(c.DestDatacenter, c.DestName)
	if fault != nil {
		return fault, msg
	}
	flatName := vdmFlatName(c.DestName)
	if !strings.HasSuffix(c.DestName, ".vmdk") || flatName != strings.TrimSuffix(c.DestName, ".vmdk")+"-flat.vmdk" {
		return &types.InvalidArgument{InvalidProperty: "destName"},
			fmt.Sprintf("A specified parameter was not correct: destName (%s is not a NAME.vmdk path)", c.DestName)
	}
	flat := strings.TrimSuffix(dst, ".vmdk") + "-flat.vmdk"
	if dst == src {
		return &types.InvalidArgument{InvalidProperty: "destName"},
			fmt.Sprintf("A specified parameter was not correct: destName (%s is the source disk)", c.DestName)
	}
	if c.Force == nil || !*c.Force {
		for _, f := range []string{dst, flat} {
			if _, err := os.Lstat(f); err == nil {
				fault := &types.FileAlreadyExists{}
				fault.File = c.DestName
				return fault, fmt.Sprintf("Cannot complete the operation because the file or folder %s already exists", c.DestName)
			}
		}
	}
	if st, err := os.Stat(path.Dir(dst)); err != nil || !st.IsDir() {
		fault := &types.FileNotFound{}
		fault.File = c.DestName
		return fault, fmt.Sprintf("File %s was not found", c.DestName)
	}

	in, err := os.Open(src)
	if err != nil {
		fault := &types.CannotAccessFile{}
		fault.File = c.SourceName
		return fault, fmt.Sprintf("Cannot access file %s: %v", c.SourceName, err)
	}
	sectors, adapter, err := sparseHeader(in)
	_ = in.Close()
	if err != nil {
		return &types.InvalidDiskFormat{}, fmt.Sprintf("The disk %s is not a valid sparse VMDK: %v", c.SourceName, err)
	}
	if adapter == "" {
		adapter = "lsilogic"
	}

	cannotCreate := func(name string, err error) (types.BaseMethodFault, string) {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) {
			ds, _ := parseDatastorePath(c.DestName)
			return &types.NoDiskSpace{Datastore: ds.Datastore},
				fmt.Sprintf("There is not enough space on the file system for %s: %v", name, err)
		}
		fault := &types.CannotCreateFile{}
		fault.File = name
		return fault, fmt.Sprintf("Cannot create file %s: %v", name, err)
	}
	out, err := os.OpenFile(flat, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return cannotCreate(flatName, err)
	}
	err = out.Truncate(sectors * 512)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(flat)
		return cannotCreate(flatName, err)
	}
	if err := writeFileAtomic(dst, vmfsDescriptor(sectors, path.Base(flat), adapter)); err != nil {
		_ = os.Remove(flat)
		return cannotCreate(c.DestName, err)
	}
	log.Printf("copied sparse %s to %s (%d KB, %s, thin)", c.SourceName, c.DestName, (sectors+1)/2, adapter)
	return nil, ""
}
