//go:build !linux

package hca

// HostLocate knows nothing off Linux: RDMA sysfs and rdmamap are Linux-only.
func HostLocate(device string) (Location, error) { return Location{}, nil }
