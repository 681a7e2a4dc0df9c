// Package redfishmock serves a DMTF-format Redfish mockup directory over HTTP
// so that ibex's BMC client can be tested against real vendor-shaped JSON
// without hardware.
//
// A mockup is a directory tree with one index.json per URI, as published by
// DMTF (Redfish-Publications/mockups) and served by DMTF's
// Redfish-Mockup-Server. Both layouts are accepted: the "short form", where
// the directory itself is /redfish/v1, and the full form with a
// redfish/v1/ sub-directory. No code changes are needed per mockup: the tree
// is loaded once into memory (see Load) and every Server keeps its own
// copy-on-write overlay, so tests that power systems off or patch boot
// settings never see each other's changes.
//
// Beyond GET, the server implements only what ibex drives on a BMC:
//   - ComputerSystem.Reset, which moves PowerState and consumes a "Once"
//     boot override when the reset boots the host; with
//     Server.SetPowerTransition, PoweringOff/PoweringOn stay visible for a
//     number of reads and further resets are refused meanwhile, as on real
//     BMCs;
//   - PATCH of a ComputerSystem's Boot object, validated against
//     @Redfish.AllowableValues when the mockup declares them;
//   - UpdateService.SimpleUpdate, which is recorded (see Server.Updates)
//     and answered with 202 and a completed Task;
//   - VirtualMedia.InsertMedia and EjectMedia where the mockup declares
//     them, and PATCH of a VirtualMedia's Image, Inserted and
//     WriteProtected (the older way), recorded (see Server.Media);
//   - SessionService login/logout, because gofish logs in with a session
//     unless told to use HTTP Basic; Server.ExpireSessions ends them all,
//     as a BMC does on session timeout or reboot.
//
// Other actions declared by the mockup are accepted with 204 and ignored,
// as DMTF's server does. Faults (arbitrary status and body for a path) can
// be injected to replay vendor error bodies.
package redfishmock
