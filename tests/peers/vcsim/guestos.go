package main

// Guest OS descriptors as vCenter gives them. The simulator's
// QueryConfigOptionEx lists its guest ids (filtered by spec.guestId as the
// vSphere API reference describes) but leaves out what each guest boots
// with: supportedFirmware, recommendedFirmware and supportsSecureBoot.
// vCenter fills them from its guest OS database; here a rule of the same
// facts for the ids our tests use:
//   - guests from before UEFI (DOS, Windows 3.1 to 2000, XP, OS/2,
//     NetWare, 32-bit "other") boot with BIOS only;
//   - the others boot with BIOS or EFI, EFI recommended for 64-bit ones;
//   - secure boot is supported by Windows 8 / Server 2012 and later and by
//     the 64-bit Linux distributions that ship a signed shim (Ubuntu, RHEL,
//     CentOS, SLES, Debian 10+, Photon), as vSphere 6.5+ reports.

import (
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// guestOSBrowser embeds the simulator's by value: the property collector
// finds a wrapper's managed object type through its first field, which
// must be a struct.
type guestOSBrowser struct {
	simulator.EnvironmentBrowser
}

func guestBiosOnly(id string) bool {
	for _, p := range []string{"dos", "win31", "win95", "win98", "winMe", "winNT",
		"win2000", "winXP", "os2", "netware", "otherGuest"} {
		if strings.HasPrefix(id, p) && !strings.HasSuffix(id, "64Guest") {
			return true
		}
	}
	return false
}

func guestSecureBoot(id string) bool {
	for _, p := range []string{"windows8", "windows9", "windows11", "windows2019",
		"windows2022", "windows8Server64", "windows9Server64", "ubuntu64",
		"rhel7_64", "rhel8_64", "rhel9_64", "centos7_64", "centos8_64",
		"sles12_64", "sles15_64", "debian10_64", "debian11_64", "vmwarePhoton64"} {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

func (b *guestOSBrowser) QueryConfigOptionEx(req *types.QueryConfigOptionEx) soap.HasFault {
	res := b.EnvironmentBrowser.QueryConfigOptionEx(req)
	body, ok := res.(*methods.QueryConfigOptionExBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	for i := range body.Res.Returnval.GuestOSDescriptor {
		d := &body.Res.Returnval.GuestOSDescriptor[i]
		d.FullName = d.Id
		d.SupportedFirmware = []string{"bios", "efi"}
		d.RecommendedFirmware = "bios"
		if guestBiosOnly(d.Id) {
			d.SupportedFirmware = []string{"bios"}
		} else if strings.HasSuffix(d.Id, "64Guest") {
			d.RecommendedFirmware = "efi"
		}
		d.SupportsSecureBoot = types.NewBool(guestSecureBoot(d.Id))
	}
	return body
}

// wrapEnvironmentBrowsers puts each cluster's environment browser back in
// the inventory wrapped, so that its QueryConfigOptionEx is ours.
func wrapEnvironmentBrowsers() {
	for _, e := range simulator.Map.All("ClusterComputeResource") {
		c, ok := e.(*simulator.ClusterComputeResource)
		if !ok || c.EnvironmentBrowser == nil {
			continue
		}
		if eb, ok := simulator.Map.Get(*c.EnvironmentBrowser).(*simulator.EnvironmentBrowser); ok {
			simulator.Map.Put(&guestOSBrowser{*eb})
		}
	}
}
