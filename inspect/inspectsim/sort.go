package inspectsim

import (
	"slices"
	"time"
)

// sortByKey sorts idx by a[idx[i]].
func sortByKey(idx []int, a []time.Duration) {
	slices.SortFunc(idx, func(x, y int) int {
		switch {
		case a[x] < a[y]:
			return -1
		case a[x] > a[y]:
			return 1
		}
		return 0
	})
}
