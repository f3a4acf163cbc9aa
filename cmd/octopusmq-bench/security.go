package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/clbs-io/octopusmq/client"
)

// clientOptions are the client options of -token, -tls-ca and -direct.
func (c config) clientOptions() ([]client.Option, error) {
	var opts []client.Option
	if c.tlsCA != "" {
		pem, err := os.ReadFile(c.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in it", c.tlsCA)
		}
		opts = append(opts, client.WithTLS(&tls.Config{RootCAs: pool}))
	}
	if c.token != "" {
		opts = append(opts, client.WithToken(c.token))
	}
	if !c.direct {
		opts = append(opts, client.WithRelay())
	}
	return opts, nil
}
