package shop

import (
	"errors"
	"testing"
)

func TestProcessAll(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ProcessAll([]Order{{ID: 1}}, func(Order) error { return errors.New("boom") })
		if got := NewCache().Stats(); got != 0 {
			t.Fatalf("hits = %d, want 0", got)
		}
	}()
	<-done
}
