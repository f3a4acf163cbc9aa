package state

import (
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// MaxNameLen is the longest queue or storage name.
const MaxNameLen = 200

// MaxPriorities is the number of priority levels a queue may have.
const MaxPriorities = 32

// ValidateName checks a queue or storage name: 1–200 characters of [A-Za-z0-9._-].
// field names the request field in the error message.
func ValidateName(field, name string) *apierr.Error {
	if name == "" {
		return apierr.InvalidArgument("%s must not be empty", field)
	}
	if len(name) > MaxNameLen {
		return apierr.InvalidArgument("%s is %d characters long; at most %d are allowed", field, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return apierr.InvalidArgument("%s %q has the character %q at offset %d; only [A-Za-z0-9._-] are allowed", field, name, c, i)
		}
	}
	return nil
}

// ValidateCreateQueue checks what a CreateQueueRequest says by itself (not whether the
// dead-letter queue exists).
func ValidateCreateQueue(r *pb.CreateQueueRequest) *apierr.Error {
	if err := ValidateName("queue_name", r.GetQueueName()); err != nil {
		return err
	}
	if r.GetPriorities() > MaxPriorities {
		return apierr.InvalidArgument("priorities is %d; it must be 1–%d (0 means %d)", r.GetPriorities(), MaxPriorities, MaxPriorities)
	}
	if l := r.GetLease(); l != nil && (l.CheckValid() != nil || l.AsDuration() < 0) {
		return apierr.InvalidArgument("lease must be a non-negative duration")
	}
	if d := r.GetDeadLetterQueue(); d != "" {
		if err := ValidateName("dead_letter_queue", d); err != nil {
			return err
		}
		if d == r.GetQueueName() {
			return apierr.InvalidArgument("dead_letter_queue must not be the queue itself")
		}
	}
	return nil
}

func queueNotFound(name string) *apierr.Error {
	return apierr.New(pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND, "queue %q not found", name)
}

func storageNotFound(name string) *apierr.Error {
	return apierr.New(pb.StatusCode_STATUS_CODE_STORAGE_NOT_FOUND, "storage %q not found", name)
}
