// Package auth secures the client port: TLS (certificates reloaded from disk when they
// change), identities from bearer tokens (a tokens file holding their SHA-256) or client
// certificates, authorisation by role in one place (gRPC unary and stream interceptors;
// REST reaches them through the gateway, the backup routes through HTTPGuard), and an
// audit log of management, cluster and backup operations.
//
// With no tokens file and no client CA every caller may do everything (and is audited as
// "anonymous").
package auth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config configures the client port's security. Every field is optional.
type Config struct {
	// TLSCert and TLSKey are PEM files of the client port's certificate (chain) and key.
	// Both or neither; with them the port speaks only TLS.
	TLSCert, TLSKey string
	// TLSClientCA is a PEM bundle of CAs whose client certificates identify callers (mTLS).
	// A certificate is requested, not required: token callers need none.
	TLSClientCA string
	// TLSCA is a PEM bundle of CAs that sign the other members' client-port certificates,
	// used when this node forwards a request to the leader (default: the system roots).
	TLSCA string
	// TokensFile lists the callers: NAME ROLES SHA256-HEX a line (see parseTokens).
	TokensFile string
	// NodeToken is the bearer token this node presents when it calls other members as
	// itself: publishing its address, joining, forwarding a request a client certificate
	// authorised. The tokens file must give it admin. Without it a node presents its
	// certificate (mTLS).
	NodeToken string
	// ReloadInterval is the least time between two checks of the files for changes
	// (default one second).
	ReloadInterval time.Duration
	// Logger receives reload errors; the audit log is Logger with logger=audit.
	Logger *slog.Logger
}

// Auth is the client port's security, built from a Config.
type Auth struct {
	cfg    Config
	log    *slog.Logger
	audit  *slog.Logger
	server *watched[tls.Config] // nil without TLS
	tokens *watched[tokenTable] // nil without a tokens file
	roots  *watched[tls.Config] // what forwarding dials with; nil without TLS
}

// New loads the configured files; an unreadable or invalid one is an error naming its flag.
func New(cfg Config) (*Auth, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = time.Second
	}
	a := &Auth{cfg: cfg, log: cfg.Logger, audit: cfg.Logger.With("logger", "audit")}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.TLSCert == "" && (cfg.TLSClientCA != "" || cfg.TLSCA != "") {
		return nil, errors.New("--tls-client-ca and --tls-ca need --tls-cert and --tls-key")
	}
	var err error
	if cfg.TLSCert != "" {
		paths := []string{cfg.TLSCert, cfg.TLSKey}
		if cfg.TLSClientCA != "" {
			paths = append(paths, cfg.TLSClientCA)
		}
		if a.server, err = newWatched("TLS certificate", paths, cfg.ReloadInterval, a.log, a.loadServerTLS); err != nil {
			return nil, err
		}
		var rootPaths []string
		if cfg.TLSCA != "" {
			rootPaths = []string{cfg.TLSCA}
		}
		if a.roots, err = newWatched("--tls-ca", rootPaths, cfg.ReloadInterval, a.log, a.loadClientTLS); err != nil {
			return nil, err
		}
	}
	if cfg.TokensFile != "" {
		load := func() (*tokenTable, error) {
			data, err := os.ReadFile(cfg.TokensFile)
			if err != nil {
				return nil, fmt.Errorf("--auth-tokens-file: %w", err)
			}
			t, err := parseTokens(data)
			if err != nil {
				return nil, fmt.Errorf("--auth-tokens-file %s: %w", cfg.TokensFile, err)
			}
			return t, nil
		}
		if a.tokens, err = newWatched("tokens file", []string{cfg.TokensFile}, cfg.ReloadInterval, a.log, load); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// TLS reports whether the client port speaks TLS.
func (a *Auth) TLS() bool { return a != nil && a.server != nil }

// Enabled reports whether callers must identify themselves (a tokens file or a client CA).
func (a *Auth) Enabled() bool { return a != nil && (a.tokens != nil || a.cfg.TLSClientCA != "") }
