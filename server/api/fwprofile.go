package api

import (
	"context"
	"maps"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// Firmware profiles (model/fwprofile.go): admins approve and withdraw
// them; everyone may list them, since a tenant picks one by name
// (`ibex submit --firmware-profile NAME`). A refused request writes
// nothing: the state's own checks run before the proposal.

// maxProfileMessage bounds a profile request before it is converted:
// Validate bounds every field, this bounds the work of getting there.
const maxProfileMessage = 64 << 10

func (f *fleetService) AddFirmwareProfile(ctx context.Context, req *pb.FirmwareProfile) (*pb.FirmwareProfile, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	p, err := profileFromWire(req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	f.a.cfg.Store.Read(func(st *fsm.State) { err = st.CheckAddFirmwareProfile(p) })
	if err != nil {
		return nil, convert.Status(err)
	}
	cmd := &fsm.AddFirmwareProfile{Profile: p, By: auth.Caller(ctx).Name, Time: f.a.cfg.Store.Now()}
	if _, err := f.a.cfg.Store.Apply(ctx, cmd); err != nil {
		return nil, convert.Status(err)
	}
	var out *pb.FirmwareProfile
	f.a.cfg.Store.Read(func(st *fsm.State) { out = profileToWire(st.FirmwareProfiles[p.Name]) })
	return out, nil
}

func (f *fleetService) ListFirmwareProfiles(context.Context, *pb.ListFirmwareProfilesRequest) (*pb.ListFirmwareProfilesResponse, error) {
	out := &pb.ListFirmwareProfilesResponse{}
	f.a.cfg.Store.Read(func(st *fsm.State) {
		for _, name := range slices.Sorted(maps.Keys(st.FirmwareProfiles)) {
			out.Profiles = append(out.Profiles, profileToWire(st.FirmwareProfiles[name]))
		}
	})
	return out, nil
}

func (f *fleetService) RemoveFirmwareProfile(ctx context.Context, req *pb.RemoveFirmwareProfileRequest) (*pb.ListFirmwareProfilesResponse, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if err := model.CheckProfileName(req.Name); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var err error
	f.a.cfg.Store.Read(func(st *fsm.State) { err = st.CheckRemoveFirmwareProfile(req.Name) })
	if err != nil {
		return nil, convert.Status(err)
	}
	if _, err := f.a.cfg.Store.Apply(ctx, &fsm.RemoveFirmwareProfile{Name: req.Name}); err != nil {
		return nil, convert.Status(err)
	}
	return f.ListFirmwareProfiles(ctx, nil)
}

// profileFromWire converts and validates an admin's profile.
func profileFromWire(req *pb.FirmwareProfile) (model.FirmwareProfile, error) {
	if n := proto.Size(req); n > maxProfileMessage {
		return model.FirmwareProfile{}, status.Errorf(codes.InvalidArgument, "firmware profile is %d bytes, the limit is %d", n, maxProfileMessage)
	}
	p := model.FirmwareProfile{Name: req.Name, Kind: model.ProfileKind(req.Kind), Description: req.Description, BIOS: maps.Clone(req.Bios)}
	if len(p.BIOS) == 0 {
		p.BIOS = nil
	}
	for _, r := range req.Hca {
		rule := model.HCAProfileRule{PSID: r.Psid, Version: r.Version, SHA256: r.Sha256, File: r.File, Config: maps.Clone(r.Config)}
		if len(rule.Config) == 0 {
			rule.Config = nil
		}
		p.HCA = append(p.HCA, rule)
	}
	return p, p.Validate()
}

func profileToWire(p model.FirmwareProfile) *pb.FirmwareProfile {
	out := &pb.FirmwareProfile{Name: p.Name, Kind: string(p.Kind), Description: p.Description, Bios: maps.Clone(p.BIOS),
		ApprovedBy: p.ApprovedBy, ApprovedAt: convert.TS(p.ApprovedAt)}
	for _, r := range p.HCA {
		out.Hca = append(out.Hca, &pb.HCAProfileRule{Psid: r.PSID, Version: r.Version, Sha256: r.SHA256, File: r.File, Config: maps.Clone(r.Config)})
	}
	return out
}
