package shop

import (
	"log"
	"sync"
)

// Order is a request to ship products.
type Order struct {
	ID    int
	Items []string
}

// ProcessAll ships every order on its own goroutine.
func ProcessAll(orders []Order, ship func(Order) error) {
	var wg sync.WaitGroup
	for _, o := range orders {
		go func() {
			wg.Add(1)
			defer wg.Done()
			if err := ship(o); err != nil {
				log.Printf("order %d: %v", o.ID, err)
			}
		}()
	}
	wg.Wait()
}

// Restock refills the stock of each SKU in parallel and reports the SKUs it could not refill.
func Restock(skus []string, refill func(string) error) []string {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for _, sku := range skus {
		wg.Add(1)
		go func() {
			if err := refill(sku); err != nil {
				mu.Lock()
				failed = append(failed, sku)
				mu.Unlock()
				return
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return failed
}

// Inventory counts units per SKU.
type Inventory struct {
	mu     sync.Mutex
	counts map[string]int
}

// Reserve takes units of several SKUs. The deferred Unlock waits for the end of the function,
// so the second iteration locks a mutex it already holds.
func (inv *Inventory) Reserve(skus []string) {
	for _, sku := range skus {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		inv.counts[sku]--
	}
}

// Touch takes the lock and releases it at once: nothing is protected.
func (inv *Inventory) Touch() {
	inv.mu.Lock()
	inv.mu.Unlock()
}
