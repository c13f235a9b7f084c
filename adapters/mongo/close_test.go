package mongo_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// Calls racing Close return nil or ErrClosed, never the driver's "closed
// connection pool" classified as something else (issue 11).
func TestCallsRacingClose(t *testing.T) {
	uri := backendURI(t)
	db := testDB(t, uri)
	for round := range 5 {
		s := open(t, uri, db)
		docs, err := mongo.NewDocStore[Audit](s, testenv.UniqueName("race"))
		if err != nil {
			t.Fatal(err)
		}
		a := &Audit{Action: "x"}
		if err := docs.Insert(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 1024)
		start := make(chan struct{})
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					var err error
					switch (g + i) % 4 {
					case 0:
						_, err = docs.Get(t.Context(), a.ID)
					case 1:
						_, err = docs.Find(t.Context(), ports.All())
					case 2:
						err = docs.Patch(t.Context(), a.ID, ports.Set("Actor", "y"))
					default:
						for _, e := range docs.Stream(t.Context(), ports.All()) {
							err = e
						}
					}
					if err != nil {
						select {
						case errs <- err:
						default:
						}
						if errors.Is(err, ports.ErrClosed) {
							return
						}
					}
				}
			}()
		}
		close(start)
		// Let the calls get going, then close under them.
		for range 20 {
			if _, err := docs.Get(t.Context(), a.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(t.Context()); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, ports.ErrClosed) {
				t.Errorf("round %d: a call racing Close: %v, want nil or ErrClosed", round, err)
			}
		}
	}
}
