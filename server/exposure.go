package server

import (
	"net"
	"strings"
)

// warnExposed logs, on every start, a client port reachable from other hosts that is not
// protected by both TLS and authentication (unless Config.Insecure says that is intended).
func (s *Server) warnExposed() {
	if s.cfg.Insecure {
		return
	}
	host, _, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return
	}
	var missing []string
	if !s.auth.TLS() {
		missing = append(missing, "TLS (--tls-cert, --tls-key)")
	}
	if !s.auth.Enabled() {
		missing = append(missing, "authentication (--auth-tokens-file or --tls-client-ca)")
	}
	if len(missing) == 0 {
		return
	}
	s.log.Warn("the client port is reachable from other hosts without "+strings.Join(missing, " and ")+
		": anyone who reaches it can read and change everything; configure them, or pass --insecure if this is intended",
		"listen", s.ln.Addr().String())
}
