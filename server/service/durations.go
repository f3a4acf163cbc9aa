package service

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/server/apierr"
)

// checkDuration rejects invalid or negative durations, naming the field.
func checkDuration(field string, d *durationpb.Duration) *apierr.Error {
	if d == nil {
		return nil
	}
	if err := d.CheckValid(); err != nil {
		return apierr.InvalidArgument("%s is not a valid duration: %v", field, err)
	}
	if d.AsDuration() < 0 {
		return apierr.InvalidArgument("%s must not be negative", field)
	}
	return nil
}

// asDuration is d, or 0 when absent.
func asDuration(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func durationOf(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
