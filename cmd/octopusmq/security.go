package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/clbs-io/octopusmq/server/auth"
)

// security holds the client-port security flags.
type security struct {
	tlsCert, tlsKey, tlsClientCA, tlsCA *string
	tokensFile, nodeTokenFile           *string
	insecure                            *bool
}

func securityFlags(fs *flag.FlagSet) *security {
	return &security{
		tlsCert:       fs.String("tls-cert", "", "PEM certificate (chain) of the client port: with --tls-key it serves only TLS; reloaded when the file changes"),
		tlsKey:        fs.String("tls-key", "", "PEM private key of --tls-cert"),
		tlsClientCA:   fs.String("tls-client-ca", "", "PEM CA bundle whose client certificates identify callers (mTLS; the name is the certificate's CN, URI or DNS SAN)"),
		tlsCA:         fs.String("tls-ca", "", "PEM CA bundle that signs the other members' client-port certificates, for forwarding to the leader (default: system roots)"),
		tokensFile:    fs.String("auth-tokens-file", "", "file of callers, one a line: NAME ROLE[:PREFIX][,...] SHA256-HEX-OF-TOKEN (reloaded when it changes)"),
		nodeTokenFile: fs.String("node-token-file", "", "file holding the bearer token this node presents to other members as itself (must be admin in --auth-tokens-file)"),
		insecure:      fs.Bool("insecure", false, "silence the warning about a non-loopback client port without TLS or authentication"),
	}
}

func (s *security) config(logger *slog.Logger) (auth.Config, error) {
	c := auth.Config{
		TLSCert: *s.tlsCert, TLSKey: *s.tlsKey, TLSClientCA: *s.tlsClientCA, TLSCA: *s.tlsCA,
		TokensFile: *s.tokensFile, Logger: logger,
	}
	if *s.nodeTokenFile != "" {
		b, err := os.ReadFile(*s.nodeTokenFile)
		if err != nil {
			return c, fmt.Errorf("--node-token-file: %w", err)
		}
		if c.NodeToken = strings.TrimSpace(string(b)); c.NodeToken == "" {
			return c, fmt.Errorf("--node-token-file %s is empty", *s.nodeTokenFile)
		}
	}
	return c, nil
}
