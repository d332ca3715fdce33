package demo

import "sync"

var (
	registryMu sync.Mutex
	registry   = map[string]func() error{}
)

// Register adds a health check. It defers Lock where it meant Unlock,
// so the next caller blocks forever.
func Register(name string, check func() error) {
	registryMu.Lock()
	defer registryMu.Lock()
	registry[name] = check
}

// Checks returns the names of the registered checks.
func Checks() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	return names
}
