package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/clbs-io/octopusmq/client"
)

// securityOptions are the client options of --token and --tls-ca.
func securityOptions(token, caFile string) ([]client.Option, error) {
	var opts []client.Option
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)
		}
		opts = append(opts, client.WithTLS(&tls.Config{RootCAs: pool}))
	}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	return opts, nil
}
