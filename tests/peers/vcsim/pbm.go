package main

// The storage policy (PBM) service, as vCenter serves it (see the package
// comment in main.go). The simulator's own (github.com/vmware/govmomi/pbm/simulator)
// answers the calls; the launcher adds what it lacks:
//
//   - the path: vCenter serves PBM at /pbm/sdk (where oslo.vmware and nova
//     look for it) as well as /pbm (govmomi's path); both are served here,
//     by one registry, so both see the same profiles;
//   - the session: PBM authenticates with the vCenter session cookie carried
//     in the SOAP header, <vcSessionCookie>VALUE</vcSessionCookie>, not with
//     an HTTP cookie (the simulator reads only the HTTP cookie). Every call
//     but PbmRetrieveServiceContent whose header has no vcSessionCookie, or
//     one that is no live session's cookie, gets NotAuthenticated; the
//     call then runs in that session, whatever HTTP cookie came with it;
//   - PlacementSolver.PbmQueryMatchingHub, which the simulator lacks
//     (placementSolver below);
//   - -pbm-policy NAME=REGEX: a tag-based storage policy made at start.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/vmware/govmomi/pbm"
	pbmmethods "github.com/vmware/govmomi/pbm/methods"
	pbmsim "github.com/vmware/govmomi/pbm/simulator"
	pbmtypes "github.com/vmware/govmomi/pbm/types"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// pbmPaths: where PBM is served; vCenter's own path first.
var pbmPaths = []string{"/pbm/sdk", pbm.Path}

// pbmTagCategory is the tag category of the -pbm-policy policies' rule.
const pbmTagCategory = "vcsim"

// pbmPolicy is a -pbm-policy flag: the profile named name is compatible
// with the datastores whose name re matches.
type pbmPolicy struct {
	name string
	re   *regexp.Regexp
}

// pbmPolicyList is the repeatable -pbm-policy NAME=REGEX flag.
type pbmPolicyList []pbmPolicy

func (l *pbmPolicyList) String() string {
	var s []string
	for _, p := range *l {
		s = append(s, p.name+"="+p.re.String())
	}
	return strings.Join(s, ",")
}

func (l *pbmPolicyList) Set(s string) error {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return errors.New("want NAME=REGEX")
	}
	name := s[:i]
	if strings.TrimSpace(name) != name {
		return errors.New("NAME has leading or trailing blanks")
	}
	for _, p := range *l {
		if p.name == name {
			return fmt.Errorf("policy %q given twice", name)
		}
	}
	re, err := regexp.Compile(s[i+1:])
	if err != nil {
		return err
	}
	*l = append(*l, pbmPolicy{name: name, re: re})
	return nil
}

// builtinPBM: the simulator's own profiles (pbm/simulator/profiles.go), by
// id, and the datastore summary.type each needs ("": any datastore).
var builtinPBM = map[string]string{
	"aa6d5a82-1c88-45da-85d3-3d74b91a5bad": string(types.HostFileSystemVolumeFileSystemTypeVsan), // vSAN Default Storage Policy
	"f4e5bade-15a2-4805-bf8e-52318c4ce443": string(types.HostFileSystemVolumeFileSystemTypeVVOL), // VVol No Requirements Policy
	"c268da1b-b343-49f7-a468-b1deeb7078e0": string(types.HostFileSystemVolumeFileSystemTypePMEM), // Host-local PMem Default Storage Policy
	"4d5f673c-536f-11e6-beb8-9e71128cae77": "",                                                   // VM Encryption Policy
}

// setupPBM makes the PBM registry: the simulator's, its placement solver
// ours, with a profile per -pbm-policy (made through the simulator's
// PbmCreate, so PbmQueryProfile and PbmRetrieveContent list them).
func setupPBM(policies pbmPolicyList, user string) (*simulator.Registry, error) {
	reg := pbmsim.New()
	var content pbmtypes.PbmServiceInstanceContent
	if si, ok := reg.Get(pbm.ServiceInstance).(*pbmsim.ServiceInstance); ok {
		content = si.Content
	}
	pm, ok := reg.Get(content.ProfileManager).(*pbmsim.ProfileManager)
	if !ok {
		return nil, errors.New("the PBM simulator has no ProfileManager")
	}
	ps, ok := reg.Get(content.PlacementSolver).(*pbmsim.PlacementSolver)
	if !ok {
		return nil, errors.New("the PBM simulator has no PlacementSolver")
	}
	reg.Put(&placementSolver{PlacementSolver: ps, reg: reg, profiles: pm, policies: policies})

	ctx := &simulator.Context{Session: &simulator.Session{}}
	ctx.Session.UserName = user
	for _, p := range policies {
		res := pm.PbmCreate(ctx, &pbmtypes.PbmCreate{This: pm.Reference(), CreateSpec: pbmPolicySpec(p)})
		if f := res.Fault(); f != nil {
			return nil, fmt.Errorf("-pbm-policy %s: %s", p.name, f.String)
		}
		id := res.(*pbmmethods.PbmCreateBody).Res.Returnval.UniqueId
		log.Printf("storage policy %q (%s): datastores matching %q", p.name, id, p.re.String())
	}
	return reg, nil
}

// pbmPolicySpec is a tag-based requirement profile, as vCenter's UI makes
// one: a rule on the tag category vcsim, tag NAME (the tag the operator put
// on the datastores REGEX matches).
func pbmPolicySpec(p pbmPolicy) pbmtypes.PbmCapabilityProfileCreateSpec {
	return pbmtypes.PbmCapabilityProfileCreateSpec{
		Name:         p.name,
		Description:  fmt.Sprintf("vcsim test peer: datastores whose name matches %s", p.re.String()),
		Category:     string(pbmtypes.PbmProfileCategoryEnumREQUIREMENT),
		ResourceType: pbmtypes.PbmProfileResourceType{ResourceType: string(pbmtypes.PbmProfileResourceTypeEnumSTORAGE)},
		Constraints: &pbmtypes.PbmCapabilitySubProfileConstraints{
			SubProfiles: []pbmtypes.PbmCapabilitySubProfile{{
				Name: "Tag based placement",
				Capability: []pbmtypes.PbmCapabilityInstance{{
					Id: pbmtypes.PbmCapabilityMetadataUniqueId{
						Namespace: "http://www.vmware.com/storage/tag",
						Id:        pbmTagCategory,
					},
					Constraint: []pbmtypes.PbmCapabilityConstraintInstance{{
						PropertyInstance: []pbmtypes.PbmCapabilityPropertyInstance{{
							Id:    "com.vmware.storage.tag." + pbmTagCategory + ".property",
							Value: pbmtypes.PbmCapabilityDiscreteSet{Values: []types.AnyType{p.name}},
						}},
					}},
				}},
			}},
		},
	}
}

// registerPBM serves reg at the PBM paths: the simulator's handler, where
// servePBM (mounted for the loopback names) hands the calls on.
func registerPBM(svc *simulator.Service, reg *simulator.Registry) {
	for _, path := range pbmPaths {
		reg.Path = path
		svc.RegisterSDK(reg)
	}
}

// pbmHeader is what servePBM reads of a request's SOAP header.
type pbmHeader struct {
	Header struct {
		Cookie *string `xml:"vcSessionCookie"`
	} `xml:"Header"`
}

// servePBM runs the launcher's hooks for a PBM request (as serveSDK does:
// /ctl/stall, /ctl/hold, /ctl/fault), checks its vcSessionCookie, then
// hands it to the simulator in that session.
func (p *peer) servePBM(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		p.svc.ServeSDK(w, r) // 405
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.stallCall(body)
	holdCall(r, body)
	if p.injectFault(w, body) {
		return
	}
	method, this := peekCall(body)
	if method != "PbmRetrieveServiceContent" {
		var h pbmHeader
		_ = xml.Unmarshal(body, &h)
		cookie := ""
		if h.Header.Cookie != nil {
			cookie = strings.TrimSpace(*h.Header.Cookie)
		}
		if cookie == "" || !p.liveSession(cookie) {
			why := "no vcSessionCookie in the SOAP header"
			if cookie != "" {
				why = "its vcSessionCookie is no vCenter session's"
			}
			log.Printf("PBM %s: NotAuthenticated (%s)", method, why)
			writeFault(w, "The session is not authenticated.", &types.NotAuthenticated{
				NoPermission: types.NoPermission{Object: this, PrivilegeId: "StorageProfile.View"},
			})
			return
		}
		sessionLog.Lock()
		sessionLog.seen[cookie] = true // /ctl/expire-sessions ends it too
		sessionLog.Unlock()
		r.Header.Del("Cookie") // the header's session, not the HTTP one's
		r.AddCookie(&http.Cookie{Name: soap.SessionCookieName, Value: cookie})
	}
	tw := &trackWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler || tw.wrote {
				panic(v)
			}
			log.Printf("panic in PBM %s: %v\n%s", method, v, debug.Stack())
			reason := fmt.Sprintf("vcsim failed on this %s request: %v", method, v)
			writeFault(w, reason, &types.SystemError{Reason: reason})
		}
	}()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	p.svc.ServeSDK(tw, r)
}

// liveSession tells whether cookie is the session cookie of a live vCenter
// session: the simulator's answer to a call in that session on /sdk
// (MethodNotFound: logged in; NotAuthenticated: not).
func (p *peer) liveSession(cookie string) bool {
	rec := p.sessionManagerCall(cookie, "AnswerVM", "<questionId>probe</questionId><answerChoice>probe</answerChoice>")
	return isMethodNotFound(rec)
}

// placementSolver is the simulator's PbmPlacementSolver with
// PbmQueryMatchingHub.
type placementSolver struct {
	*pbmsim.PlacementSolver
	reg      *simulator.Registry
	profiles *pbmsim.ProfileManager
	policies pbmPolicyList
}

// PbmQueryMatchingHub answers which of hubsToSearch (none: every datastore
// of every datacenter) are compatible with the profile: the hubs, in the
// order given (else the datastore folders' order), of type Datastore. Compatible: for the simulator's built-in
// profiles, a datastore whose summary.type the profile needs (vsan, VVOL,
// PMEM; the encryption policy: any); for a profile named like a
// -pbm-policy, whether made by the flag or by PbmCreate, a datastore whose
// name the flag's REGEX matches; for any other profile, none. Hubs that are
// no datastore are not compatible. An unknown profile: InvalidArgument
// (invalidProperty profile).
func (s *placementSolver) PbmQueryMatchingHub(req *pbmtypes.PbmQueryMatchingHub) soap.HasFault {
	body := new(pbmmethods.PbmQueryMatchingHubBody)
	var profile pbmtypes.BasePbmProfile
	s.reg.WithLock(s.profiles, func() {
		res, ok := s.profiles.PbmRetrieveContent(&pbmtypes.PbmRetrieveContent{
			This:       s.profiles.Reference(),
			ProfileIds: []pbmtypes.PbmProfileId{req.Profile},
		}).(*pbmmethods.PbmRetrieveContentBody)
		if ok && res.Res != nil && len(res.Res.Returnval) == 1 {
			profile = res.Res.Returnval[0]
		}
	})
	if profile == nil || req.Profile.UniqueId == "" {
		msg := fmt.Sprintf("A specified parameter was not correct: profile (%q is no storage profile)", req.Profile.UniqueId)
		body.Fault_ = simulator.Fault(msg, &types.InvalidArgument{InvalidProperty: "profile"})
		return body
	}
	pp := profile.GetPbmProfile()
	match := func(name, kind string) bool { return false }
	if need, ok := builtinPBM[pp.ProfileId.UniqueId]; ok {
		match = func(_, kind string) bool { return need == "" || kind == need }
	} else {
		for _, pol := range s.policies {
			if pol.name == pp.Name {
				re := pol.re
				match = func(name, _ string) bool { return re.MatchString(name) }
			}
		}
	}

	var stores []*simulator.Datastore
	seen := map[string]bool{}
	if len(req.HubsToSearch) == 0 {
		for _, e := range sortedEntities("Datacenter") {
			if dc, ok := e.(*simulator.Datacenter); ok {
				var folder moref
				simulator.Map.WithLock(dc, func() { folder = dc.DatastoreFolder })
				for _, ds := range datastoresIn(folder) {
					if !seen[ds.Self.Value] { // a folder lists a host-local datastore once per host
						seen[ds.Self.Value] = true
						stores = append(stores, ds)
					}
				}
			}
		}
	} else {
		for _, h := range req.HubsToSearch {
			if h.HubType != "Datastore" || seen[h.HubId] {
				continue
			}
			seen[h.HubId] = true
			if ds, ok := simulator.Map.Get(moref{Type: "Datastore", Value: h.HubId}).(*simulator.Datastore); ok {
				stores = append(stores, ds)
			}
		}
	}
	body.Res = new(pbmtypes.PbmQueryMatchingHubResponse)
	for _, ds := range stores {
		var name, kind string
		simulator.Map.WithLock(ds, func() { name, kind = ds.Name, ds.Summary.Type })
		if match(name, kind) {
			body.Res.Returnval = append(body.Res.Returnval, pbmtypes.PbmPlacementHub{HubType: "Datastore", HubId: ds.Self.Value})
		}
	}
	log.Printf("PbmQueryMatchingHub %s (%s): %d of %d datastore(s)", pp.ProfileId.UniqueId, pp.Name, len(body.Res.Returnval), len(stores))
	return body
}

// datastoresIn lists the datastores of a folder or storage pod and those
// under it, in their order there.
func datastoresIn(ref moref) []*simulator.Datastore {
	var refs []moref
	switch obj := simulator.Map.Get(ref).(type) {
	case *simulator.Folder:
		simulator.Map.WithLock(obj, func() { refs = append(refs, obj.ChildEntity...) })
	case *simulator.StoragePod:
		simulator.Map.WithLock(obj, func() { refs = append(refs, obj.ChildEntity...) })
	}
	var out []*simulator.Datastore
	for _, child := range refs {
		switch obj := simulator.Map.Get(child).(type) {
		case *simulator.Datastore:
			out = append(out, obj)
		case *simulator.Folder, *simulator.StoragePod:
			out = append(out, datastoresIn(child)...)
		}
	}
	return out
}
