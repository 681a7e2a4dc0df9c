package ufm

import "github.com/ibex-hpc/ibex/fabric/sm"

// Link isolation cannot be enforced through UFM. Its REST API (checked
// against the UFM Enterprise REST API Guide, 6.15 to 6.22) manages
// partitions (/ufmRest/resources/pkeys) but has no call that loads
// forwarding tables: the SM configuration API (/ufmRest/app/smconf) reads
// and sets OpenSM parameters, routing_engine and lfts_file among them, but
// the LFT file itself is a file on the UFM host
// (/opt/ufm/files/conf/opensm/lfts.conf), which no REST call writes, and
// no call reads the switches' tables back to verify them. So ibex refuses
// link-isolated jobs on UFM rather than allocate cables nothing enforces.
const noRoutes = "link isolation cannot be enforced with --fabric ufm: NVIDIA UFM's REST API has no call that loads the switches' forwarding tables (its SM configuration API sets OpenSM's routing_engine and lfts_file, but not the file's content) nor one that reads them back; submit without --isolation links, or manage the fabric with OpenSM (routing_engine file) instead of UFM"

// NoRoutesReason implements sm.NoRoutes.
func (d *Driver) NoRoutesReason() string { return noRoutes }

var _ sm.NoRoutes = (*Driver)(nil)
