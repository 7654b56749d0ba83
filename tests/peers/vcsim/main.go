// Command vcsim-launcher runs VMware's vCenter simulator (the govmomi 0.24.2
// "simulator" library shipped by Debian 12) as a test peer for vcagent.
//
// It builds a VPX inventory model, serves it over TLS on a loopback address
// with a freshly generated self-signed certificate, writes an env file that
// tells tests how to reach it, and serves until SIGTERM or SIGINT.
//
// Besides the simulator's own endpoints (/sdk, /folder, /nfc, ...) it serves a
// small control interface for tests under /ctl/ on the same server:
//
//	GET  /ctl/healthz                        200 "ok"
//	POST /ctl/status?code=503&count=N        the next N SOAP requests (/sdk, /sdk/vimService)
//	                                         get a bare HTTP status; code=200 or count=0 clears
//	POST /ctl/disable?moid=vm-42&method=M    calls of M on that entity get a MethodDisabled fault
//	POST /ctl/enable?moid=vm-42&method=M     undo /ctl/disable (optional &type=VirtualMachine)
//	POST /ctl/idle-timeout?d=2s              change simulator.SessionIdleTimeout (0: never expire)
//	POST /ctl/async?method=M&delay=D[&count=N][&moid=MOID]
//	                                         the next N (default: all) calls of the *_Task method M
//	                                         (on _this MOID only, if given) that return a task return
//	                                         one that stays running for D; delay=0 clears M
//	POST /ctl/question?vm=MOID[&text=T][&choices=A,B,...][&default=I][&id=ID]
//	                                         the next PowerOnVM_Task on that VM returns a task that
//	                                         stays running, with the question on the VM, until
//	                                         AnswerVM or CancelTask
//	POST /ctl/question?vm=MOID&now=1[&task=TASK][&text=...]
//	                                         raise the question on the VM now; with task (a task
//	                                         held by /ctl/async), that task waits for the answer too
//	POST /ctl/fault?method=M&fault=T[&count=N][&msg=S]
//	                                         the next N calls of M (default 1; 0 clears) get a
//	                                         SOAP fault of vim25 type T (e.g. NotSupported)
//	POST /ctl/reset                          clear async rules, stalls and questions, end held tasks
//	                                         now
//	GET  /ctl/tasks                          list async rules, stalls, questions, held tasks and
//	                                         calls being stalled ("stalling M")
//	POST /ctl/delay?method=M&delay=D[&count=N]
//	                                         the next N (default: all) calls of M run at once but
//	                                         their answer is held for D (a slow vCenter); delay=0 clears
//	POST /ctl/pad?method=M&bytes=B[&count=N] the next N (default: all) answers to M get B bytes of
//	                                         whitespace after the envelope; bytes=0 clears
//	GET  /ctl/calls?method=M                 how many calls of M the launcher has seen (slow.go);
//	                                         M "HTTP": every HTTP request outside /ctl, SOAP
//	                                         included; "HTTP VERB /SEG": those to /SEG/...
//	GET  /ctl/last?method=M                  the body of the last request of M (404: none yet)
//	POST /ctl/tls-fail?count=N               the next N TLS handshakes fail (nothing is sent)
//	POST /ctl/drop?method=M[&count=N]        the next N calls of M (default 1) run, then their
//	                                         connection is closed unanswered (slow.go)
//	POST /ctl/stall?method=M&delay=D[&count=N][&match=S]
//	                                         the next N calls (default 1; delay=0 or count=0
//	                                         clears M) of SOAP method M whose body contains S
//	                                         wait D before they run, as a slow vCenter would
//	POST /ctl/hold?method=M[&count=N]        the next N calls of M (default 1) get no answer
//	                                         until POST /ctl/release?method=M; GET
//	                                         /ctl/held?method=M counts them (hold.go)
//	POST /ctl/guest?vm=MOID[&tools=S][&hostname=H][&ip=A,...]
//	                                         what VMware Tools in the guest would report (guest.go)
//	POST /ctl/expire-sessions                every session clients have used ends now: their next
//	                                         call gets NotAuthenticated (chaos.go); "ok N"
//	POST /ctl/export-pace?seconds=S          later exports' disks (GET /export/...) are sent
//	                                         over S seconds, a tenth at a time; 0: at once (export.go)
//
// Answers are 200 "ok\n", or 4xx with a one-line reason.
//
// -cert FILE keeps the TLS certificate and key in FILE (made when missing),
// so a launcher killed and started again with the same -listen and -cert is
// a restarted vCenter: same address and certificate, a new inventory
// (chaos.go). -moref-start N numbers the objects made later (VMs, tasks)
// above N: a restart given a higher N reuses no MoRef, as vCenter never does.
//
// Asynchronous tasks (/ctl/async): the simulator runs the method at once, as
// usual, so its effects (power state, new VM, ...) are visible immediately;
// the task returned is a launcher-made Task (info.state running, cancelable,
// info.progress 50 half-way) that gets the simulator's result or fault after
// the delay (then info.progress 100 on success), seen by RetrievePropertiesEx
// and by property filters (WaitForUpdatesEx). The simulator's own, finished
// task is removed. Works for any *_Task method the simulator implements;
// calls that fault get the simulator's fault and do not count.
//
// Questions: choices get keys "0", "1", ... (the index), labels and summaries
// as given (default: Yes,No), defaultIndex = default (0 if not given; the
// encoder omits a 0 defaultIndex, so absent means 0); id defaults to _vmxN.
// runtime.question and summary.runtime.question are set on the VM. The
// power-on waits: AnswerVM with the default choice's key powers the VM on
// and the task ends as the simulator's power-on does (success); another
// valid key ends it in error with SystemError (VM stays off); CancelTask
// ends it in error with RequestCanceled (info.cancelled true) and withdraws
// the question. Both clear the question. AnswerVM faults: ConcurrentAccess
// when questionId is not the pending question (or none is pending),
// InvalidArgument (invalidProperty answerChoice) for an unknown key.
// RebootGuest, which the simulator lacks, is answered too: InvalidPowerState
// unless the VM is powered on, which it stays; ToolsUnavailable unless its
// guest's tools run (set by /ctl/guest), which then stop for a second.
//
// CancelTask on a task held by /ctl/async ends it with RequestCanceled now (the
// method's effect stays); on a finished task: InvalidState; other running
// tasks: NotSupported.
//
// Networking (network.go, nic.go) is made to look like vCenter's where the
// simulator differs:
//
//	-opaque N      N NSX opaque networks per datacenter (OpaqueNetwork, summary.opaqueNetworkId
//	               a random uuid, summary.opaqueNetworkType nsx.LogicalSwitch, named DCn_NSXi;
//	               ids in the launcher log) on every host of the datacenter: in each host's
//	               network and config.network.opaqueNetwork (HostOpaqueNetworkInfo: id, name,
//	               type), the compute resources' (clusters') network, the OpaqueNetwork's host
//	               and Datacenter.network
//	-std-pg NAME   (repeatable) a standard port group NAME (vlanId 0, vSwitch0) added at start
//	               on every host of every cluster, as AddPortGroup below does
//
// HostNetworkSystem.AddPortGroup is answered by the launcher: the host gets
// the port group (config.network.portgroup: key key-vim.host.PortGroup-NAME,
// vswitch key, spec with vlanId and policy as sent, computedPolicy the
// vSwitch's; its key in config.network.vswitch[].portgroup) and joins the
// datacenter's Network of that name, made on first use: the Network's host,
// the host's network and its cluster's (compute resource's) network list it.
// So every host of a cluster can have the same port group, sharing one
// Network, as on vCenter. Faults: AlreadyExists (the host has a port group of
// that name), NotFound (no such vSwitch on the host), InvalidArgument (empty
// name), DuplicateName (the name is a distributed port group's, a switch's or
// an opaque network's). RemovePortGroup undoes it: NotFound (no such port
// group on the host), ResourceInUse (a VM on the host uses the network); the
// Network goes when no host has it and no VM uses it. A host's
// HostNetworkSystem.networkInfo is its config.network (one object).
// At start the model's network lists are repaired: the simulator shares one
// array between the datacenter's, clusters' and hosts' network lists, and
// Datacenter.network lost the DVS and repeated a port group; "VM Network"
// lists its hosts.
//
// ReconfigVM_Task and CreateVM_Task with NICs: a backing naming no network
// (standard deviceName or network reference, distributed portgroupKey on
// the switch, opaqueNetworkId) returns a task failed with
// InvalidDeviceBacking (deviceIndex, localizedMessage naming the backing
// field) where the simulator panicked or accepted it; a standard backing's
// network reference wins over its deviceName; removing a NIC needs only its
// key (the simulator panicked on a standard backing without network); an
// edited device needs no deviceInfo. VirtualMachine.network is kept to the
// networks of the VM's NICs. A panic in the simulator's handler is answered
// with a SystemError fault (HTTP 500) instead of a closed connection; a task
// it had made stays running.
//
// VirtualDiskManager.ExtendVirtualDisk_Task, which the simulator lacks, is
// answered by the launcher (disk.go) with a task (task name
// ExtendVirtualDisk, entity the VirtualDiskManager; /ctl/async applies).
// "[ds] path" is resolved as the simulator's FileManager does, in the
// datacenter argument. The task fails with InvalidDatastorePath,
// InvalidArgument (invalidProperty dc) when no datacenter is given,
// InvalidDatastore, FileNotFound (file: the "[ds] path" given) when the
// descriptor is missing, InvalidArgument (invalidProperty newCapacityKb)
// when newCapacityKb <= 0 or less than the disk's capacity. A text VMDK
// descriptor ("# Disk DescriptorFile", or RW extent lines) holds the
// capacity (the sum of its RW lines' sectors); the last RW line gets the
// growth (the rest of the descriptor is kept byte for byte) and a
// NAME-flat.vmdk next to it is grown (sparse, never shrunk) to the new
// capacity. Other descriptors (the empty files the simulator's
// CreateVirtualDisk_Task makes, a binary sparse VMDK): success, no change.
// A datacenter argument that is no datacenter: ManagedObjectNotFound (SOAP
// fault).
//
// VirtualDiskManager.CopyVirtualDisk_Task whose source is a single-file
// hosted sparse VMDK (NAME.vmdk starting with "KDMV", no NAME-flat.vmdk: a
// monolithicSparse or streamOptimized disk uploaded through /folder) is
// converted by the launcher (disk.go) as vSphere does, where the
// simulator, which copies NAME-flat.vmdk and NAME.vmdk, fails with
// FileNotFound. The destination gets a thin VMFS text descriptor
// (createType "vmfs", one "RW <capacity> VMFS "DEST-flat.vmdk"" extent, the
// capacity from the sparse header, ddb.adapterType from its embedded
// descriptor or else lsilogic, ddb.thinProvisioned "1") and DEST-flat.vmdk,
// a sparse file of the capacity (the data is not converted). The task (name
// copyVirtualDisk, entity the VirtualDiskManager; /ctl/async applies) fails
// with InvalidArgument (invalidProperty dc) when destDatacenter is missing
// on vCenter, InvalidDatastore, InvalidDatastorePath, FileAlreadyExists
// (file: destName) when DEST.vmdk or DEST-flat.vmdk exists and force is not
// true, FileNotFound (file: destName) when the destination folder does not
// exist, InvalidDiskFormat for a header without a capacity. A destSpec on
// vCenter, and every other copy, go to the simulator (NotImplemented for a
// destSpec on vCenter, as there).
//
// Property paths are resolved as vCenter resolves them, through the declared
// types (paths.go): a path into a subtype's member, such as
// summary.opaqueNetworkId on an OpaqueNetwork (summary is declared
// NetworkSummary), gets an InvalidProperty fault (name: the path), where the
// simulator answered it.
//
// Storage policies (pbm.go): the simulator's PBM service (pbm/simulator,
// namespace urn:pbm) is served at /pbm/sdk, vCenter's path, and /pbm. As
// on vCenter, every PBM call but PbmRetrieveServiceContent authenticates
// with the vCenter session cookie in the SOAP header,
// <vcSessionCookie>VALUE</vcSessionCookie> (VALUE: the vmware_soap_session
// cookie of a Login to /sdk); without it, or with one that is no live
// session's, the call gets NotAuthenticated (HTTP 500, vim25 fault detail);
// an HTTP cookie alone is not enough, and the call runs in the header's
// session. /ctl/calls, /ctl/last, /ctl/delay, /ctl/pad, /ctl/drop,
// /ctl/stall, /ctl/hold and /ctl/fault work on PBM methods too;
// /ctl/expire-sessions ends the sessions PBM calls used. The launcher adds
// PlacementSolver.PbmQueryMatchingHub (hubsToSearch, optional, and
// profile): the PbmPlacementHub list (hubType Datastore, hubId the MoRef)
// of the hubs given, in their order, else of every datastore, that are
// compatible with the profile: for the simulator's built-in profiles, the
// datastores of summary.type vsan (vSAN Default Storage Policy), VVOL (VVol
// No Requirements Policy), PMEM (Host-local PMem Default Storage Policy),
// any (VM Encryption Policy); for a profile named like a -pbm-policy flag,
// whether made by the flag or later by PbmCreate, the datastores whose name
// the flag's REGEX matches (Go syntax, unanchored); for any other profile,
// none. An unknown profile: InvalidArgument (invalidProperty profile).
//
//	-pbm-policy NAME=REGEX   (repeatable) a tag-based storage policy made at
//	                         start: a PbmCapabilityProfile (resourceType STORAGE,
//	                         profileCategory REQUIREMENT, a new uuid, name NAME;
//	                         rule: tag category vcsim, tag NAME) that PbmQueryProfile
//	                         and PbmRetrieveContent list; compatible: the datastores
//	                         whose name REGEX matches (those the operator tagged)
//
// First Class Disks (volume.go): VirtualMachine.AttachDisk_Task and
// DetachDisk_Task, which the simulator lacks, on the FCDs of its
// VcenterVStorageObjectManager (CreateDisk_Task, RetrieveVStorageObject,
// ...). AttachDisk_Task (diskId, datastore, controllerKey and unitNumber
// optional) adds, through the simulator's reconfiguration, a VirtualDisk
// (VirtualDiskFlatVer2BackingInfo on the object's file "[ds] fcd/ID.vmdk",
// diskMode persistent, capacityInKB from capacityInMB, vDiskId the id) on
// controllerKey, else the only SCSI or SATA controller with a free unit,
// at unitNumber, else the controller's first free unit (never a SCSI
// controller's own 7); the object's consumerId becomes the VM's
// instanceUuid. The task (attachDisk; /ctl/async applies) fails with
// NotFound (no such id on that datastore), InvalidState (attached to a VM
// already), InvalidController (controllerKey names no disk controller of
// the VM), MissingController (no controllerKey and not exactly one SCSI or
// SATA controller with a free unit), InvalidArgument (invalidProperty
// unitNumber: taken, reserved, out of range, none free). A datastore that
// does not exist: ManagedObjectNotFound (SOAP fault). DetachDisk_Task
// (diskId) removes the device whose vDiskId it is, keeping the file, and
// clears consumerId; the task (detachDisk) fails with NotFound when the VM
// has no such disk.
//
// ReconfigVM_Task and CreateVM_Task adding an existing disk (a VirtualDisk
// with no fileOperation) whose descriptor (the backing's fileName) is not
// on its datastore return a task failed with FileNotFound (file: that
// fileName), as vCenter; the simulator looked for NAME-flat.vmdk instead
// and named the local file (volume.go).
//
// Destroy_Task of a VM: the simulator deletes the VM's folder and each
// disk's own file (NAME.vmdk, NAME-flat.vmdk; never a parent), wherever it
// is, as vCenter does. The launcher keeps what vCenter keeps: an FCD whose
// object has keepAfterDeleteVm true (its consumerId cleared), and a disk
// that another VM uses, as its disk or as a parent of its disk (a linked
// clone group's base); an FCD deleted with the VM leaves the catalog too.
//
// SOAP requests pass through peer.serveSDK before the simulator sees them:
// that is where the methods above are intercepted (tasks.go, soap.go,
// network.go, nic.go, disk.go, volume.go); PBM requests pass through
// peer.servePBM (pbm.go).
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// neverExpire stands for "no idle timeout" once sessions are being watched:
// the simulator's per-session watcher re-arms its timer with the current
// SessionIdleTimeout, and a 0 there would expire every watched session at once.
const neverExpire = 100 * 365 * 24 * time.Hour

// peer holds the simulator service and the test hooks in front of it.
type peer struct {
	svc *simulator.Service

	mu          sync.Mutex // guards the fields below and SessionIdleTimeout writes
	statusCode  int        // bare HTTP status for the next statusCount SOAP requests
	statusCount int

	async     map[string]asyncRule    // SOAP method -> rule
	armed     map[string]questionSpec // VM moid -> question for its next PowerOnVM_Task
	questions map[string]*vmQuestion  // VM moid -> question raised on it
	held      map[string]*heldTask    // task moid -> task whose final state comes later
	qseq      int                     // generated question ids
	closed    bool                    // shutting down: hold nothing more
	faults    map[string]*faultRule   // SOAP method -> injected fault
	stalls    map[string]*stallRule   // SOAP method -> delay (/ctl/stall)
	stalling  map[string]int          // SOAP method -> calls being delayed now

	netMu  sync.Mutex // serializes port group changes (network.go)
	diskMu sync.Mutex // serializes disk extensions and conversions (disk.go)
}

// stallRule: the next count calls of a method whose body has match wait delay.
type stallRule struct {
	delay time.Duration
	match string
	count int
}

// faultRule: the next count calls of a method get this fault (/ctl/fault).
type faultRule struct {
	fault string
	msg   string
	count int
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	listen := flag.String("listen", "127.0.0.1:0", "loopback IP:port to listen on")
	dc := flag.Int("dc", 1, "datacenters")
	cluster := flag.Int("cluster", 1, "clusters per datacenter")
	host := flag.Int("host", 3, "hosts per cluster")
	standalone := flag.Int("standalone", 1, "standalone hosts per datacenter")
	vm := flag.Int("vm", 2, "VMs per cluster and per standalone host (per resource pool)")
	ds := flag.Int("ds", 1, "datastores (mounted on every host)")
	pg := flag.Int("pg", 1, "distributed port groups per datacenter")
	opaque := flag.Int("opaque", 0, "NSX opaque networks (nsx.LogicalSwitch) per datacenter, on every host")
	var stdPGs stringList
	flag.Var(&stdPGs, "std-pg", "standard port group (vlan 0, vSwitch0) to add on every cluster host (repeatable)")
	var policies pbmPolicyList
	flag.Var(&policies, "pbm-policy", "NAME=REGEX: a storage policy NAME whose compatible datastores are those whose name matches REGEX (repeatable)")
	user := flag.String("username", "", "only this user may log in (with -password); default: any non-empty user/password")
	pass := flag.String("password", "", "password for -username")
	idle := flag.Duration("idle-timeout", 0, "session idle timeout (0: sessions never expire)")
	morefStart := flag.Int64("moref-start", 0, "number the objects made after the start (VMs, tasks) above this")
	certFile := flag.String("cert", "", "keep the TLS certificate and key in this PEM file (made when missing)")
	envFile := flag.String("env", "", "write KEY=VALUE lines for clients to this file (CA file next to it)")
	flag.Parse()

	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments: %q", flag.Args())
	}
	ip, err := loopbackIP(*listen)
	if err != nil {
		log.Fatal(err)
	}
	if *dc < 1 || *cluster < 0 || *host < 0 || *standalone < 0 || *vm < 0 || *ds < 1 || *pg < 0 || *opaque < 0 || *idle < 0 {
		log.Fatal("bad model size: need -dc >= 1, -ds >= 1 and no negative counts")
	}
	if (*user == "") != (*pass == "") {
		log.Fatal("-username and -password go together")
	}
	for _, s := range []string{*user, *pass} {
		if !shellSafe(s) {
			log.Fatalf("credentials may only use letters, digits and @._+-!%%,:=/^ (env file is sourced unquoted)")
		}
	}

	// The model creates its datastores as directories under $TMPDIR.
	start := time.Now()
	model := simulator.VPX()
	model.Datacenter = *dc
	model.Cluster = *cluster
	model.ClusterHost = *host
	model.Host = *standalone
	model.Machine = *vm
	model.Datastore = *ds
	model.Portgroup = *pg
	model.OpaqueNetwork = *opaque
	if err := model.Create(); err != nil {
		model.Remove()
		log.Fatalf("creating model: %v", err)
	}
	simulator.SessionIdleTimeout = *idle
	skipMorefs(*morefStart)
	wrapEnvironmentBrowsers() // guestos.go: GuestOsDescriptor firmware facts

	cert, certPEM, err := certificate(*certFile, ip)
	if err != nil {
		model.Remove()
		log.Fatalf("creating TLS certificate: %v", err)
	}

	p := &peer{
		svc:       model.Service,
		async:     map[string]asyncRule{},
		armed:     map[string]questionSpec{},
		questions: map[string]*vmQuestion{},
		held:      map[string]*heldTask{},
	}
	if err := p.setupNetworks(stdPGs); err != nil {
		model.Remove()
		log.Fatalf("setting up networks: %v", err)
	}
	owner := *user // who made the -pbm-policy profiles (createdBy)
	if owner == "" {
		owner = simulator.DefaultLogin.Username()
	}
	pbmReg, err := setupPBM(policies, owner) // pbm.go
	if err != nil {
		model.Remove()
		log.Fatalf("setting up PBM: %v", err)
	}
	mux := http.NewServeMux()
	p.mount(mux, ip)

	// Service.Listen.User nil means "any non-empty user/password logs in";
	// a set one means exactly those credentials (see SessionManager.validLogin).
	login := simulator.DefaultLogin // user "user", password "pass": any non-empty pair works
	model.Service.Listen = &url.URL{Host: *listen}
	if *user != "" {
		login = url.UserPassword(*user, *pass)
		model.Service.Listen.User = login
	}
	sessionLog.login = login
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert},
		GetConfigForClient: tlsHook} // slow.go: /ctl/tls-fail
	model.Service.ServeMux = mux // NewServer adds the simulator's handlers to ours
	registerPBM(model.Service, pbmReg)
	server := model.Service.NewServer()

	password, _ := login.Password()
	base := *server.URL
	base.User, base.Path = nil, ""
	if *envFile != "" {
		caFile := filepath.Join(filepath.Dir(*envFile), "ca.pem")
		if err := writeFileAtomic(caFile, certPEM); err != nil {
			log.Fatal(err)
		}
		env := fmt.Sprintf("VCSIM_URL=%s/sdk\nVCSIM_HOST=%s\nVCSIM_PORT=%s\nVCSIM_USER=%s\nVCSIM_PASSWORD=%s\nVCSIM_CA_FILE=%s\nVCSIM_CTL=%s/ctl\n",
			base.String(), base.Hostname(), base.Port(), login.Username(), password, caFile, base.String())
		if err := writeFileAtomic(*envFile, []byte(env)); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("serving %s/sdk (dc=%d cluster=%d host=%d standalone=%d vm=%d ds=%d pg=%d opaque=%d std-pg=%s) tmpdir=%s, ready in %v",
		base.String(), *dc, *cluster, *host, *standalone, *vm, *ds, *pg, *opaque, stdPGs.String(), os.TempDir(), time.Since(start).Round(time.Millisecond))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	log.Printf("got %v, shutting down", <-sig)
	p.shutdown() // held tasks stay running; their timers must not fire during teardown

	// Close waits for outstanding requests (a long WaitForUpdatesEx, say):
	// give them a moment, then remove the datastore directories regardless.
	closed := make(chan struct{})
	go func() { server.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Second):
		log.Print("requests still running after 1s; exiting anyway")
	}
	model.Remove()
	os.Exit(0)
}

// loopbackIP checks that listen is a loopback IP:port and returns the IP.
func loopbackIP(listen string) (net.IP, error) {
	h, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("-listen %q: %v", listen, err)
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-listen %q: need a loopback IP address such as 127.0.0.1 or [::1]", listen)
	}
	return ip, nil
}

// shellSafe reports whether s can appear unquoted in a sourced env file.
func shellSafe(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@._+-!%,:=/^", c)) {
			return false
		}
	}
	return true
}

// newCertificate makes a self-signed ECDSA certificate for the loopback
// addresses. (The simulator's built-in test certificate has a 1024-bit RSA
// key, which OpenSSL 3 rejects at its default security level.)
func newCertificate(ip net.IP) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if !ip.Equal(ips[0]) && !ip.Equal(ips[1]) {
		ips = append(ips, ip)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vcsim test peer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: clients trust it directly as their CA file
		IPAddresses:           ips,
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}

// writeFileAtomic writes data to name via a temporary file and a rename, so
// a reader polling for name never sees it half written.
func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// mount registers the control handlers and the SOAP hook on mux, before the
// simulator adds its own handlers.
//
// The simulator registers the generic patterns "/sdk" and "/sdk/vimService"
// itself and panics on duplicates, so the hook uses host-specific patterns
// (ServeMux prefers them, ignoring the port): requests addressed to the
// loopback names below reach serveSDK first. Our clients use VCSIM_URL, whose
// host is one of them.
func (p *peer) mount(mux *http.ServeMux, ip net.IP) {
	hosts := []string{"127.0.0.1", "localhost", "::1"}
	if s := ip.String(); s != hosts[0] && s != hosts[2] {
		hosts = append(hosts, s)
	}
	for _, h := range hosts {
		mux.HandleFunc(h+"/sdk", p.slowHook(p.serveSDK))
		mux.HandleFunc(h+"/sdk/vimService", p.slowHook(p.serveSDK))
		for _, path := range pbmPaths {
			mux.HandleFunc(h+path, p.slowHook(p.servePBM)) // pbm.go
		}
		mux.HandleFunc(h+"/", countHTTP(mux)) // slow.go: /folder, /nfc, ...
	}
	p.mountSlow(mux) // slow.go: /ctl/delay, /ctl/pad, /ctl/calls
	mux.HandleFunc("/ctl/healthz", func(w http.ResponseWriter, r *http.Request) { ok(w) })
	mux.HandleFunc("/ctl/status", post(p.ctlStatus))
	mux.HandleFunc("/ctl/disable", post(func(w http.ResponseWriter, r *http.Request) { p.ctlMethod(w, r, true) }))
	mux.HandleFunc("/ctl/enable", post(func(w http.ResponseWriter, r *http.Request) { p.ctlMethod(w, r, false) }))
	mux.HandleFunc("/ctl/idle-timeout", post(p.ctlIdleTimeout))
	mux.HandleFunc("/ctl/async", post(p.ctlAsync))
	mux.HandleFunc("/ctl/question", post(p.ctlQuestion))
	mux.HandleFunc("/ctl/reset", post(p.ctlReset))
	mux.HandleFunc("/ctl/fault", post(p.ctlFault))
	mux.HandleFunc("/ctl/stall", post(p.ctlStall))
	mountHold(mux)
	mountGuest(mux)                         // guest.go: /ctl/guest
	mux.HandleFunc("/export/", serveExport) // export.go: ExportVm's disks
	mux.HandleFunc("/ctl/export-pace", post(ctlExportPace))
	mux.HandleFunc("/ctl/expire-sessions", post(p.ctlExpireSessions))
	mux.HandleFunc("/ctl/tasks", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		p.ctlTasks(w, r)
	})
}

// serveSDK runs the test hooks for a SOAP request, then hands it to the simulator.
func (p *peer) serveSDK(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	code := 0
	if p.statusCount > 0 {
		p.statusCount--
		code = p.statusCode
	}
	p.mu.Unlock()
	if code != 0 {
		w.WriteHeader(code)
		return
	}
	noteSession(r)
	if r.Method != http.MethodPost {
		p.svc.ServeSDK(w, r) // 405
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		log.Printf("error reading body: %v", err)
		w.WriteHeader(http.StatusBadRequest) // as the simulator does
		return
	}
	p.stallCall(body)
	holdCall(r, body)
	if p.injectFault(w, body) {
		return
	}
	tw := &trackWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler || tw.wrote {
				panic(v) // the reply has begun: let net/http close the connection
			}
			method, this := peekCall(body)
			log.Printf("panic in %s on %s: %v\n%s", method, this.Value, v, debug.Stack())
			reason := fmt.Sprintf("vcsim failed on this %s request: %v", method, v)
			writeFault(w, reason, &types.SystemError{Reason: reason})
		}
	}()
	if p.interceptFor(body) && p.intercept(tw, r, body) {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.svc.ServeSDK(tw, r)
}

// trackWriter notes whether a reply has begun, so that a panic in the
// simulator's handler can still be answered with a SOAP fault when not.
type trackWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func ok(w http.ResponseWriter) { fmt.Fprint(w, "ok\n") }

// post wraps a control handler that changes state: POST only.
func post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

// ctlStatus: POST /ctl/status?code=503&count=N (count defaults to 1).
func (p *peer) ctlStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	code, err := strconv.Atoi(q.Get("code"))
	if err != nil || code < 200 || code > 599 {
		http.Error(w, "code must be an HTTP status 200..599", http.StatusBadRequest)
		return
	}
	count := 1
	if s := q.Get("count"); s != "" {
		if count, err = strconv.Atoi(s); err != nil || count < 0 {
			http.Error(w, "count must be a number >= 0", http.StatusBadRequest)
			return
		}
	}
	if code == http.StatusOK {
		count = 0
	}
	p.mu.Lock()
	p.statusCode, p.statusCount = code, count
	p.mu.Unlock()
	ok(w)
}

// ctlMethod: POST /ctl/disable or /ctl/enable ?moid=MOID&method=NAME[&type=TYPE].
// NAME is the SOAP method name (PowerOffVM_Task); the simulator matches
// DisabledMethod entries against its Go method names (PowerOffVMTask), so that
// is the form stored in the entity's disabledMethod property.
func (p *peer) ctlMethod(w http.ResponseWriter, r *http.Request, disable bool) {
	q := r.URL.Query()
	moid, kind, method := q.Get("moid"), q.Get("type"), q.Get("method")
	if moid == "" || method == "" {
		http.Error(w, "need moid and method", http.StatusBadRequest)
		return
	}
	var obj mo.Entity
	for _, e := range simulator.Map.All(kind) {
		if e.Entity().Self.Value == moid {
			obj = e
			break
		}
	}
	if obj == nil {
		http.Error(w, "no managed entity "+moid, http.StatusNotFound)
		return
	}
	name := strings.ToUpper(method[:1]) + method[1:]
	if strings.HasSuffix(name, "_Task") {
		name = strings.TrimSuffix(name, "_Task") + "Task"
	}
	if !reflect.ValueOf(obj).MethodByName(name).IsValid() {
		http.Error(w, fmt.Sprintf("%s does not implement %s (vcsim answers MethodNotFound)", moid, method), http.StatusBadRequest)
		return
	}
	// Same lock the simulator holds while running a method on the object;
	// Map.Update assigns the new list and notifies property collectors.
	simulator.Map.WithLock(obj, func() {
		var list []string
		for _, m := range obj.Entity().DisabledMethod {
			if m != name {
				list = append(list, m)
			}
		}
		if disable {
			list = append(list, name)
		}
		simulator.Map.Update(obj, []types.PropertyChange{{Name: "disabledMethod", Val: list}})
	})
	ok(w)
}

// ctlIdleTimeout: POST /ctl/idle-timeout?d=2s.
//
// The simulator watches a session only if SessionIdleTimeout was non-zero when
// it logged in, and each watcher checks every SessionIdleTimeout (re-reading
// it at each tick) whether the session was idle longer than that: a session
// expires between d and 2d after its last call, and a new value reaches
// sessions made before the change only at their watcher's next tick.
func (p *peer) ctlIdleTimeout(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil || d < 0 {
		http.Error(w, "d must be a duration such as 2s or 0", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The simulator reads the variable without a lock; this mutex only
	// orders concurrent control requests.
	if d == 0 && simulator.SessionIdleTimeout != 0 {
		d = neverExpire
	}
	simulator.SessionIdleTimeout = d
	ok(w)
}

// ctlFault: POST /ctl/fault?method=M&fault=T[&count=N][&msg=S].
func (p *peer) ctlFault(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	method, fault := q.Get("method"), q.Get("fault")
	count := 1
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			http.Error(w, "count must be a whole number", http.StatusBadRequest)
			return
		}
		count = n
	}
	if method == "" {
		http.Error(w, "method is required", http.StatusBadRequest)
		return
	}
	if count > 0 {
		t, ok := typeFunc(fault)
		if !ok || !reflect.PtrTo(t).Implements(reflect.TypeOf((*types.BaseMethodFault)(nil)).Elem()) {
			http.Error(w, "unknown fault type "+fault, http.StatusBadRequest)
			return
		}
	}
	p.mu.Lock()
	if p.faults == nil {
		p.faults = make(map[string]*faultRule)
	}
	if count == 0 {
		delete(p.faults, method)
	} else {
		p.faults[method] = &faultRule{fault: fault, msg: q.Get("msg"), count: count}
	}
	p.mu.Unlock()
	ok(w)
}

// ctlStall: POST /ctl/stall?method=M&delay=D[&count=N][&match=S].
func (p *peer) ctlStall(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	method := q.Get("method")
	count := 1
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			http.Error(w, "count must be a whole number", http.StatusBadRequest)
			return
		}
		count = n
	}
	d, err := time.ParseDuration(q.Get("delay"))
	if err != nil || d < 0 {
		http.Error(w, "delay must be a duration such as 3s", http.StatusBadRequest)
		return
	}
	if method == "" {
		http.Error(w, "method is required", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	if p.stalls == nil {
		p.stalls = make(map[string]*stallRule)
	}
	if count == 0 || d == 0 {
		delete(p.stalls, method)
	} else {
		p.stalls[method] = &stallRule{delay: d, match: q.Get("match"), count: count}
	}
	p.mu.Unlock()
	ok(w)
}

// stallCall stalls a call that a /ctl/stall rule matches for the rule's delay.
func (p *peer) stallCall(body []byte) {
	method, _ := peekCall(body)
	p.mu.Lock()
	rule := p.stalls[method]
	if rule == nil || !strings.Contains(string(body), rule.match) {
		p.mu.Unlock()
		return
	}
	rule.count--
	if rule.count <= 0 {
		delete(p.stalls, method)
	}
	if p.stalling == nil {
		p.stalling = make(map[string]int)
	}
	p.stalling[method]++
	d := rule.delay
	p.mu.Unlock()
	log.Printf("stalling %s by %v", method, d)
	time.Sleep(d)
	p.mu.Lock()
	p.stalling[method]--
	p.mu.Unlock()
}

// injectFault answers a call with an injected fault when a rule asks for it.
func (p *peer) injectFault(w http.ResponseWriter, body []byte) bool {
	method, _ := peekCall(body)
	p.mu.Lock()
	rule := p.faults[method]
	if rule == nil {
		p.mu.Unlock()
		return false
	}
	rule.count--
	if rule.count <= 0 {
		delete(p.faults, method)
	}
	name, msg := rule.fault, rule.msg
	p.mu.Unlock()
	t, _ := typeFunc(name)
	fault := reflect.New(t).Interface().(types.BaseMethodFault)
	log.Printf("injecting %s into %s", name, method)
	writeFault(w, msg, fault)
	return true
}
