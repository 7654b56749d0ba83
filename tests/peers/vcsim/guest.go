package main

// What VMware Tools in a guest would report, which the simulator cannot
// learn from a guest it does not run:
//
//	POST /ctl/guest?vm=MOID[&tools=S][&hostname=H][&ip=A,B,...][&hang=0|1]
//	    the VM's guest.toolsRunningStatus (guestToolsRunning,
//	    guestToolsNotRunning), guest.hostName, guest.ipAddress (the first
//	    address) and guest.net[0].ipAddress (all of them), as Tools sets
//	    them; a property collector sees the change.  hang=1: the guest
//	    ignores a RebootGuest (its tools stay up); hang=0 undoes it.
//
// RebootGuest (tasks.go) is refused with ToolsUnavailable, as vCenter
// refuses it, unless the VM's tools run; a guest that reboots has its
// tools stop at once and run again a second later.

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var hung sync.Map // VM moid -> true: its guest ignores RebootGuest

func mountGuest(mux *http.ServeMux) {
	mux.HandleFunc("/ctl/guest", post(ctlGuest))
}

func ctlGuest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: q.Get("vm")}
	vm, found := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !found {
		http.Error(w, "no virtual machine "+q.Get("vm"), http.StatusNotFound)
		return
	}
	switch q.Get("hang") {
	case "1":
		hung.Store(ref.Value, true)
	case "0":
		hung.Delete(ref.Value)
	}
	simulator.Map.WithLock(vm, func() {
		var changes []types.PropertyChange
		if v := q.Get("tools"); v != "" {
			setTools(vm, v)
		}
		if v := q.Get("hostname"); v != "" {
			vm.Guest.HostName = v
			changes = append(changes, types.PropertyChange{Name: "guest.hostName", Val: v})
		}
		if v := q.Get("ip"); v != "" {
			ips := strings.Split(v, ",")
			vm.Guest.IpAddress = ips[0]
			changes = append(changes, types.PropertyChange{Name: "guest.ipAddress", Val: ips[0]})
			if len(vm.Guest.Net) > 0 {
				vm.Guest.Net[0].IpAddress = ips
				changes = append(changes, types.PropertyChange{Name: "guest.net", Val: vm.Guest.Net})
			}
		}
		if len(changes) > 0 {
			simulator.Map.Update(vm, changes)
		}
	})
	ok(w)
}

// setTools sets vm's guest.toolsRunningStatus (the caller holds its lock).
func setTools(vm *simulator.VirtualMachine, v string) {
	vm.Guest.ToolsRunningStatus = v
	simulator.Map.Update(vm, []types.PropertyChange{{Name: "guest.toolsRunningStatus", Val: v}})
}

// guestReboot: whether the guest of vm takes a RebootGuest (its tools run),
// and then its reboot as Tools shows it: the tools stop now and run again
// a second later, unless the guest is hung.
func guestReboot(vm *simulator.VirtualMachine) bool {
	var tools string
	simulator.Map.WithLock(vm, func() { tools = vm.Guest.ToolsRunningStatus })
	if tools != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		return false
	}
	if _, h := hung.Load(vm.Reference().Value); h {
		return true
	}
	simulator.Map.WithLock(vm, func() {
		setTools(vm, string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning))
	})
	time.AfterFunc(time.Second, func() {
		simulator.Map.WithLock(vm, func() {
			setTools(vm, string(types.VirtualMachineToolsRunningStatusGuestToolsRunning))
		})
	})
	return true
}
