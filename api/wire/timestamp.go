package wire

import "time"

// Timestamp is an AWS JSON 1.1 timestamp: seconds since the Unix epoch as a
// JSON number, with fractional milliseconds.
type Timestamp float64

// TimeOf converts milliseconds since the epoch to a *Timestamp; 0 gives nil so
// optional dates stay absent.
func TimeOf(unixMilli int64) *Timestamp {
	if unixMilli == 0 {
		return nil
	}
	t := Timestamp(float64(unixMilli) / 1000)
	return &t
}

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time {
	return time.UnixMilli(int64(float64(t) * 1000))
}
