package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Role is what a grant allows.
type Role string

// The roles. Admin takes no prefix; the others may be limited to names starting with one.
const (
	// RoleAdmin may do everything: management, cluster, backups, and every data operation.
	RoleAdmin Role = "admin"
	// RoleProducer may enqueue on the queues its prefix matches.
	RoleProducer Role = "producer"
	// RoleConsumer may pull, commit, requeue, delete and extend on the queues its prefix
	// matches.
	RoleConsumer Role = "consumer"
	// RoleKV may do every data operation on the storages its prefix matches.
	RoleKV Role = "kv"
)

// Grant is one role, limited to queue or storage names starting with Prefix ("" is all).
type Grant struct {
	Role   Role
	Prefix string
}

// String is the grant as the tokens file spells it.
func (g Grant) String() string {
	if g.Prefix == "" {
		return string(g.Role)
	}
	return string(g.Role) + ":" + g.Prefix
}

// entry is one line of the tokens file: a name, its grants and the SHA-256 of its token
// (none for a name that only identifies client certificates).
type entry struct {
	name     string
	grants   []Grant
	hash     [sha256.Size]byte
	hasToken bool
}

// tokenTable is one version of the tokens file.
type tokenTable struct {
	entries []entry
	byName  map[string][]Grant
}

// parseTokens reads the tokens file format: one entry a line,
//
//	NAME ROLE[:PREFIX][,ROLE[:PREFIX]...] SHA256-HEX
//
// where SHA256-HEX is the hex SHA-256 of the bearer token, or "-" for a name that only
// identifies client certificates. '#' starts a comment; blank lines are ignored. A name may
// appear on several lines (several tokens, as during a rotation); its certificate roles are
// the union of its lines.
func parseTokens(data []byte) (*tokenTable, error) {
	t := &tokenTable{byName: map[string][]Grant{}}
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want NAME ROLE[:PREFIX][,...] SHA256-HEX, got %d fields", n, len(f))
		}
		e := entry{name: f[0]}
		for _, g := range strings.Split(f[1], ",") {
			role, prefix, _ := strings.Cut(g, ":")
			switch Role(role) {
			case RoleAdmin:
				if prefix != "" {
					return nil, fmt.Errorf("line %d: role admin takes no prefix (got %q)", n, g)
				}
			case RoleProducer, RoleConsumer, RoleKV:
			default:
				return nil, fmt.Errorf("line %d: unknown role %q (want admin, producer, consumer or kv)", n, role)
			}
			e.grants = append(e.grants, Grant{Role: Role(role), Prefix: prefix})
		}
		if f[2] != "-" {
			h, err := hex.DecodeString(f[2])
			if err != nil || len(h) != sha256.Size {
				return nil, fmt.Errorf("line %d: the token hash must be 64 hex digits (sha256sum of the token) or -", n)
			}
			copy(e.hash[:], h)
			e.hasToken = true
			if prev, dup := seen[e.hash]; dup {
				return nil, fmt.Errorf("line %d: the same token hash as line %d", n, prev)
			}
			seen[e.hash] = n
		}
		t.entries = append(t.entries, e)
		t.byName[e.name] = append(t.byName[e.name], e.grants...)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// lookup finds the entry of a token hash. Every entry is compared, in constant time, so the
// time taken does not depend on which (or whether one) matched.
func (t *tokenTable) lookup(hash [sha256.Size]byte) (*entry, bool) {
	found := -1
	for i := range t.entries {
		e := &t.entries[i]
		if subtle.ConstantTimeCompare(e.hash[:], hash[:])&boolInt(e.hasToken) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, false
	}
	return &t.entries[found], true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// HashToken is the hex SHA-256 of a token, as the tokens file holds it.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
