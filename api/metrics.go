package api

import "time"

// Observer counts calls for monitoring (internal/metrics.Requests). Start
// runs when a call arrives, Done once it is answered and audited; both are
// on every call's path and must cost well under a microsecond.
type Observer interface {
	Start()
	// Done gets the operation's name (one the route table or the AWS
	// model knows, else "unknown"), the outcome ("OK" or the AWS error
	// type) and the time from arrival to answer: bounded sets, never a key
	// ID, principal or anything else the caller chose.
	Done(operation, code string, d time.Duration)
}

// opUnknown labels calls whose X-Amz-Target names no operation we know.
const opUnknown = "unknown"

// observe reports one answered call to the observer.
func (s *Server) observe(opName string, err error, d time.Duration) {
	o := s.cfg.Observer
	if o == nil {
		return
	}
	op := opName
	if _, ok := s.routes[op]; !ok && !s.known[op] {
		op = opUnknown
	}
	code := "OK"
	if err != nil {
		a, _ := toAWS(err)
		code = a.Type
	}
	o.Done(op, code, d)
}
