package main

// What VMware Tools in a guest would report, which the simulator cannot
// learn from a guest it does not run:
//
//	POST /ctl/guest?vm=MOID[&tools=S][&hostname=H][&ip=A,B,...]
//	    the VM's guest.toolsRunningStatus (guestToolsRunning,
//	    guestToolsNotRunning), guest.hostName, guest.ipAddress (the first
//	    address) and guest.net[0].ipAddress (all of them), as Tools sets
//	    them; a property collector sees the change.

import (
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

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
	simulator.Map.WithLock(vm, func() {
		var changes []types.PropertyChange
		if v := q.Get("tools"); v != "" {
			vm.Guest.ToolsRunningStatus = v
			changes = append(changes, types.PropertyChange{Name: "guest.toolsRunningStatus", Val: v})
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
