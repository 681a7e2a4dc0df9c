package firmware

import (
	"testing"
)

// FuzzParseQuery checks that ParseQuery never panics and that whatever it
// accepts is self-consistent: a version is present, PendingReset means
// exactly "flash and running differ", and modelled fields are well formed.
func FuzzParseQuery(f *testing.F) {
	for _, name := range []string{"mstflint_q_fw20_ConnectX6_MT_0000000228.txt", "mstflint_q_running_fw_pending_reset.txt", "mstflint_i_image_query.txt"} {
		f.Add(readOutput(f, name))
	}
	f.Add("-E- Cannot open Device: mlx5_0. No such file or directory. MFE_CR_ERROR\n")
	f.Add("FW Version: 1.2.3\nGUIDs: 0123456789abcdef\nMACs: 0123456789ab\nDevice ID: 4099\n")
	f.Fuzz(func(t *testing.T, out string) {
		q, err := ParseQuery(out)
		if err != nil {
			return
		}
		if checkVersion(q.FWVersion) != nil || checkVersion(q.Running()) != nil {
			t.Fatalf("accepted bad versions %q / %q", q.FWVersion, q.Running())
		}
		if q.PendingReset != !SameVersion(q.FWVersion, q.Running()) {
			t.Fatalf("PendingReset %v for %q vs %q", q.PendingReset, q.FWVersion, q.Running())
		}
		if q.PSID != "" && checkPSID(q.PSID) != nil {
			t.Fatalf("accepted bad PSID %q", q.PSID)
		}
		if q.BaseMAC != nil && len(q.BaseMAC) != 6 {
			t.Fatalf("bad MAC %v", q.BaseMAC)
		}
	})
}
