package testcluster

// PID is the server's process id (0 when it is not running), for
// benchmarks that read its CPU time from /proc.
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
