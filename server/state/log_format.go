package state

import "github.com/clbs-io/octopusmq/gen/raftpb"

// MemberLogFormat is the log entry format member id reported it can apply (0 when it has
// no record or reported none: a version that applies only the old envelope).
func (s *State) MemberLogFormat(id string) uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.members[id].GetLogFormat()
}

// MembersApply reports whether every member in ids has a record with a log format of at
// least format (false for an empty ids: no member is known to apply it).
func (s *State) MembersApply(ids []string, format uint32) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range ids {
		if s.members[id].GetLogFormat() < format {
			return false
		}
	}
	return len(ids) > 0
}

// MemberRecord returns a copy of member id's record (nil when there is none).
func (s *State) MemberRecord(id string) *raftpb.SetMemberInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.members[id]
	if !ok {
		return nil
	}
	return &raftpb.SetMemberInfo{Id: m.GetId(), ClientAddress: m.GetClientAddress(), Promote: m.GetPromote(), LogFormat: m.GetLogFormat()}
}
