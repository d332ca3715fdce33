package jobs

import "sync"

var (
	mu      sync.Mutex
	pending []string
)

// Take removes the first pending job. It returns early with the mutex still locked.
func Take() (string, bool) {
	mu.Lock()
	if len(pending) == 0 {
		return "", false
	}
	job := pending[0]
	pending = pending[1:]
	mu.Unlock()
	return job, true
}
