package erase

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DetectKind classifies a whole-disk block device from sysfs under root
// ("/" on the live host; a copied tree in tests): nvme* names are NVMe,
// otherwise queue/rotational decides between HDD and SSD. Partitions have
// no queue directory and are refused: erase whole disks.
//
// rotational is what the driver claims. Virtual disks and loop devices
// often claim 1, RAID controllers often claim anything, so an inventory
// that knows better should set Disk.Kind itself.
func DetectKind(root, devPath string) (Kind, error) {
	name := filepath.Base(devPath)
	if strings.HasPrefix(name, "nvme") {
		return KindNVMe, nil
	}
	b, err := os.ReadFile(filepath.Join(root, "sys/class/block", name, "queue/rotational"))
	if err != nil {
		return "", fmt.Errorf("erase: kind of %s: %w", devPath, err)
	}
	switch strings.TrimSpace(string(b)) {
	case "1":
		return KindHDD, nil
	case "0":
		return KindSSD, nil
	}
	return "", fmt.Errorf("erase: kind of %s: rotational is %q", devPath, strings.TrimSpace(string(b)))
}
