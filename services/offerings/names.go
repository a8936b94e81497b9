package offerings

import (
	"context"
	"sync"
	"time"
)

// Namer names offerings for long-running work (a CSV export of a whole
// search) from the shared list. The list is asked again at most every
// interval, and a failed read keeps the last names, so a failing upstream
// costs one call per interval, not one per row.
func (s *Service) Namer(ctx context.Context, interval time.Duration) func(id int64) string {
	var (
		mu    sync.Mutex
		names map[int64]string
		read  time.Time
	)
	return func(id int64) string {
		mu.Lock()
		defer mu.Unlock()
		if names == nil || s.now().Sub(read) >= interval {
			read = s.now()
			if all, _, err := s.All(ctx); err == nil {
				names = make(map[int64]string, len(all))
				for _, o := range all {
					names[o.ID] = o.Name
				}
			}
		}
		return names[id]
	}
}
