// Package shop is a small store backend with the concurrency mistakes goconc finds.
// Run `goconc check examples/shop` from the repository root.
package shop

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Product is one item of the catalog.
type Product struct {
	SKU   string
	Price int
}

// Cache keeps products in memory.
type Cache struct {
	mu    sync.RWMutex
	items map[string]Product
	hits  int
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{items: make(map[string]Product)}
}

// Get returns a product. The early return leaves the lock held: the next Put waits forever.
func (c *Cache) Get(sku string) (Product, bool) {
	c.mu.Lock()
	p, ok := c.items[sku]
	if !ok {
		return Product{}, false
	}
	c.hits++
	c.mu.Unlock()
	return p, true
}

// Put stores a product. It meant to release the lock when it returns.
func (c *Cache) Put(p Product) {
	c.mu.Lock()
	defer c.mu.Lock()
	c.items[p.SKU] = p
}

// Len reads under the read lock but releases the write lock.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Stats has a value receiver: every call copies the cache, mutex included.
func (c Cache) Stats() int {
	return c.hits
}

// errNotFound is returned by Lookup.
var errNotFound = errors.New("not found")

// Lookup asks the backing store with a timeout, but never releases the timer.
func Lookup(ctx context.Context, sku string, fetch func(context.Context, string) (Product, error)) (Product, error) {
	ctx, _ = context.WithTimeout(ctx, 2*time.Second)
	p, err := fetch(ctx, sku)
	if err != nil {
		return Product{}, errNotFound
	}
	return p, nil
}
