package api

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

func sriovWire() *pb.FirmwareProfile {
	return &pb.FirmwareProfile{Name: "sriov", Kind: "hca", Description: "SR-IOV with 8 VFs",
		Hca: []*pb.HCAProfileRule{{Psid: "MT_0000000223", Config: map[string]string{"SRIOV_EN": "1", "NUM_OF_VFS": "8"}}}}
}

// TestFirmwareProfilesAPI: admins approve and withdraw profiles, everyone
// lists them, a job asks for one by name; every refusal writes nothing.
func TestFirmwareProfilesAPI(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	// Every proposal, applied or refused by the state machine (which on
	// raft would still be a log entry).
	var proposed []fsm.Command
	h.store.Fail(func(c fsm.Command) error { proposed = append(proposed, c); return nil })
	refused := func(what string, err error, code codes.Code) {
		t.Helper()
		if status.Code(err) != code {
			t.Errorf("%s: %v, want %s", what, err, code)
		}
		if len(proposed) != 0 {
			t.Errorf("%s proposed %v", what, proposed)
		}
		proposed = nil
	}
	_, err := h.fleet.AddFirmwareProfile(h.ctx(), sriovWire())
	refused("a tenant approving", err, codes.PermissionDenied)
	bad := map[string]func(*pb.FirmwareProfile){
		"bad psid":       func(p *pb.FirmwareProfile) { p.Hca[0].Psid = "MT 1;reboot" },
		"flag value":     func(p *pb.FirmwareProfile) { p.Hca[0].Config["SRIOV_EN"] = "1 -y" },
		"image no hash":  func(p *pb.FirmwareProfile) { p.Hca[0].Version, p.Hca[0].File = "20.32.1010", "fw.bin" },
		"no kind":        func(p *pb.FirmwareProfile) { p.Kind = "" },
		"huge":           func(p *pb.FirmwareProfile) { p.Description = strings.Repeat("x", 70<<10) },
		"escape in name": func(p *pb.FirmwareProfile) { p.Name = "sriov\x1b[2J" },
		"bios with hca":  func(p *pb.FirmwareProfile) { p.Kind = "bios"; p.Bios = map[string]string{"ProcTurboMode": "Disabled"} },
	}
	for name, mod := range bad {
		p := sriovWire()
		mod(p)
		_, err := h.fleet.AddFirmwareProfile(h.adminCtx(), p)
		refused(name, err, codes.InvalidArgument)
	}
	got, err := h.fleet.AddFirmwareProfile(h.adminCtx(), sriovWire())
	if err != nil || got.ApprovedBy != "root" || got.ApprovedAt == nil {
		t.Fatalf("approve: %v %v", got, err)
	}
	proposed = nil
	_, err = h.fleet.AddFirmwareProfile(h.adminCtx(), sriovWire())
	refused("approved twice", err, codes.FailedPrecondition)
	if _, err := h.fleet.AddFirmwareProfile(h.adminCtx(), &pb.FirmwareProfile{Name: "turbo-off", Kind: "bios", Bios: map[string]string{"ProcTurboMode": "Disabled"}}); err != nil {
		t.Fatal(err)
	}
	proposed = nil
	list, err := h.fleet.ListFirmwareProfiles(h.ctx(), &pb.ListFirmwareProfilesRequest{})
	if err != nil || len(list.Profiles) != 2 || list.Profiles[0].Name != "sriov" || list.Profiles[0].Hca[0].Config["NUM_OF_VFS"] != "8" {
		t.Fatalf("a tenant's list: %v %v", list, err)
	}

	submit := func(profile string, n int32) (*pb.SubmitResponse, error) {
		return h.jobs.Submit(h.ctx(), &pb.SubmitRequest{NumNodes: n, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, FirmwareProfile: profile})
	}
	_, err = submit("nope", 1)
	refused("an unknown profile", err, codes.NotFound)
	_, err = submit("../etc", 1)
	refused("a malformed name", err, codes.InvalidArgument)
	_, err = submit("turbo-off", 1)
	refused("a BIOS profile", err, codes.InvalidArgument)
	_, err = submit("sriov", 1)
	refused("no node with an agent", err, codes.InvalidArgument)

	h.apply(t, &fsm.CreateJoinToken{Node: "node001", Hash: "tok", Expires: h.store.Now().Add(time.Hour)})
	h.apply(t, &fsm.Enroll{Node: "node001", TokenHash: "tok", CertSerial: "s1", Time: h.store.Now()})
	proposed = nil
	_, err = submit("sriov", 2)
	refused("two nodes, one agent", err, codes.InvalidArgument)
	resp, err := submit("sriov", 1)
	if err != nil {
		t.Fatal(err)
	}
	proposed = nil
	if j, err := h.jobs.Get(h.ctx(), &pb.GetJobRequest{JobId: resp.JobId}); err != nil || j.FirmwareProfile != "sriov" {
		t.Fatalf("job: %v %v", j, err)
	}
	_, err = h.fleet.RemoveFirmwareProfile(h.ctx(), &pb.RemoveFirmwareProfileRequest{Name: "turbo-off"})
	refused("a tenant withdrawing", err, codes.PermissionDenied)
	_, err = h.fleet.RemoveFirmwareProfile(h.adminCtx(), &pb.RemoveFirmwareProfileRequest{Name: "sriov"})
	refused("withdrawing a profile a job asks for", err, codes.FailedPrecondition)
	_, err = h.fleet.RemoveFirmwareProfile(h.adminCtx(), &pb.RemoveFirmwareProfileRequest{Name: "gone"})
	refused("withdrawing an unknown profile", err, codes.NotFound)
	if list, err := h.fleet.RemoveFirmwareProfile(h.adminCtx(), &pb.RemoveFirmwareProfileRequest{Name: "turbo-off"}); err != nil || len(list.Profiles) != 1 {
		t.Fatalf("withdraw: %v %v", list, err)
	}
}

func FuzzProfileFromWire(f *testing.F) {
	f.Add("sriov", "hca", "MT_0000000223", "", "SRIOV_EN", "1")
	f.Add("t", "bios", "", "", "ProcTurboMode", "Disabled")
	f.Fuzz(func(t *testing.T, name, kind, psid, version, key, value string) {
		req := &pb.FirmwareProfile{Name: name, Kind: kind}
		if kind == "bios" {
			req.Bios = map[string]string{key: value}
		} else {
			req.Hca = []*pb.HCAProfileRule{{Psid: psid, Version: version, Config: map[string]string{key: value}}}
		}
		p, err := profileFromWire(req)
		if err != nil {
			return
		}
		if p.Validate() != nil || strings.ContainsAny(key+value, " =\n\t") {
			t.Fatalf("accepted %+v", p)
		}
	})
}
