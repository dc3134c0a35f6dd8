package service

// Dispatched reports whether the dispatcher still holds a run of route
// (running or waiting): what the scheduler asks before firing a tick.
// Route's State already says idle once the run's outcome is stored, a
// moment before the dispatcher lets go of it.
func (s *Service) Dispatched(route string) bool { return s.busy(route) }
