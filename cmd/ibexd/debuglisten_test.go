package main

import "testing"

// TestDebugListenLoopbackOnly: the profiling listener takes loopback
// addresses only; anything reachable from elsewhere is refused.
func TestDebugListenLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true, "127.0.0.2:0": true,
		"0.0.0.0:6060": false, ":6060": false, "10.0.0.1:6060": false, "[::]:6060": false,
		"example.com:6060": false, "127.0.0.1": false, "": false,
	} {
		if err := checkDebugAddr(addr); (err == nil) != ok {
			t.Errorf("checkDebugAddr(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}
