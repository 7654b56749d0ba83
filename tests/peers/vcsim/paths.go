package main

// Property paths resolved as vCenter resolves them (pathsHook, in front of
// serveSDK). The simulator walks a path through the Go value it holds, so
// it answers "summary.opaqueNetworkId" on an OpaqueNetwork, whose summary
// is an OpaqueNetworkSummary. vCenter walks the declared types: summary is
// a NetworkSummary, which has no opaqueNetworkId, and RetrievePropertiesEx,
// RetrieveProperties and CreateFilter fail with an InvalidProperty fault
// (name: the path). Here the same: every path of a propSet is walked
// through the declared types (an interface BaseX is X, whatever the value
// is), and one that leads nowhere gets that fault.

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The managed object types whose paths are checked.
var pathRoots = map[string]reflect.Type{
	"ClusterComputeResource":      reflect.TypeOf(mo.ClusterComputeResource{}),
	"Datacenter":                  reflect.TypeOf(mo.Datacenter{}),
	"Datastore":                   reflect.TypeOf(mo.Datastore{}),
	"DistributedVirtualPortgroup": reflect.TypeOf(mo.DistributedVirtualPortgroup{}),
	"DistributedVirtualSwitch":    reflect.TypeOf(mo.DistributedVirtualSwitch{}),
	"Folder":                      reflect.TypeOf(mo.Folder{}),
	"HostSystem":                  reflect.TypeOf(mo.HostSystem{}),
	"HttpNfcLease":                reflect.TypeOf(mo.HttpNfcLease{}),
	"Network":                     reflect.TypeOf(mo.Network{}),
	"OpaqueNetwork":               reflect.TypeOf(mo.OpaqueNetwork{}),
	"Task":                        reflect.TypeOf(mo.Task{}),
	"VirtualMachine":              reflect.TypeOf(mo.VirtualMachine{}),
}

// field finds the member called name (by its mo or xml tag) in struct t or
// its embedded bases.
func field(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			if ft, ok := field(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		tag := f.Tag.Get("mo")
		if tag == "" {
			tag = strings.Split(f.Tag.Get("xml"), ",")[0]
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// declaredPathOK reports whether path resolves on managed object type root.
func declaredPathOK(root reflect.Type, path string) bool {
	t := root
	for i, name := range strings.Split(path, ".") {
		if i > 0 {
			for t.Kind() == reflect.Ptr {
				t = t.Elem()
			}
			if t.Kind() == reflect.Interface && strings.HasPrefix(t.Name(), "Base") {
				bt, ok := types.TypeFunc()(strings.TrimPrefix(t.Name(), "Base"))
				if !ok {
					return false
				}
				t = bt
			}
			if t.Kind() != reflect.Struct {
				return false // a list, a scalar: nothing follows
			}
		}
		ft, ok := field(t, name)
		if !ok {
			return false
		}
		t = ft
	}
	return true
}

// badPath returns the first path of a property request that vCenter would
// refuse, or "".
func badPath(method string, body []byte) string {
	switch method {
	case "RetrievePropertiesEx", "RetrieveProperties", "CreateFilter":
	default:
		return ""
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	var kind string
	var paths []string
	in := ""
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "propSet":
				kind, paths = "", nil
			case "type", "pathSet":
				in = e.Name.Local
			}
		case xml.CharData:
			switch in {
			case "type":
				kind += string(e)
			case "pathSet":
				paths = append(paths, string(e))
			}
		case xml.EndElement:
			in = ""
			if e.Name.Local == "propSet" {
				if root, ok := pathRoots[kind]; ok {
					for _, p := range paths {
						if !declaredPathOK(root, p) {
							return p
						}
					}
				}
			}
		}
	}
}
