package server

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/raftnode"
)

// TestRestoreErrorStatus: a restore refused for followers behind answers 409, one a quorum
// did not confirm in time 504, leadership trouble 503.
func TestRestoreErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&raftnode.BehindError{Caught: 1, Voters: 3}, http.StatusConflict},
		{fmt.Errorf("x: %w", raftnode.ErrRestoreUnconfirmed), http.StatusGatewayTimeout},
		{fmt.Errorf("raft restore: %w", raft.ErrLeadershipLost), http.StatusServiceUnavailable},
		{raftnode.ErrNotLeader, http.StatusServiceUnavailable},
		{errors.New("disk"), http.StatusInternalServerError},
	} {
		if got := restoreErrorStatus(tc.err); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.want)
		}
	}
}
