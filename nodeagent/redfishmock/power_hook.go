package redfishmock

// PowerChange is what a reset did to a system's host: its power before and
// after, and, when the host went through POST, the boot source it used (a
// one-time or continuous override; empty: its default boot order, the
// disk).
type PowerChange struct {
	System     string // URI of the system
	ResetType  string
	Before     string // PowerState before the reset
	After      string // PowerState after (the final one, even while a transition shows)
	Boots      bool   // the host went through POST
	BootTarget string // BootSourceOverrideTarget in force for that boot, or ""
	BootMode   string // BootSourceOverrideMode then, or ""
}

// OnPower makes fn run at every reset that changes a system's power or
// boots its host, after the change is in the server's state and before the
// reset is answered: a simulated machine behind the mock powers off or
// boots from fn (simnode's BMCs stop the node's agent, or start it in its
// deploy ramdisk or from its disk). fn runs with the server's lock held,
// one change at a time in the order the resets were accepted; it must not
// call the Server. nil removes the hook.
func (s *Server) OnPower(fn func(PowerChange)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPower = fn
}

// bootOverride is the boot override a booting host honours: the target
// while BootSourceOverrideEnabled is Once or Continuous (and the target is
// not None), else "" (the default boot order).
func bootOverride(sys map[string]any) (target, mode string) {
	boot, ok := sys["Boot"].(map[string]any)
	if !ok {
		return "", ""
	}
	en, _ := boot["BootSourceOverrideEnabled"].(string)
	t, _ := boot["BootSourceOverrideTarget"].(string)
	m, _ := boot["BootSourceOverrideMode"].(string)
	if (en != "Once" && en != "Continuous") || t == "None" {
		return "", m
	}
	return t, m
}
