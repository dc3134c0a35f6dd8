package sqlite

import (
	"iter"
	"math/bits"
)

// chunks is slices.Chunk with the remainder cut in powers of two (37
// rows at a chunk size of 250: 32, 4 and 1). Multi-row statements have
// one text per row count, and the statement cache keeps the first
// maxStmts texts it meets: batches of every size (webhook pushes, error
// passes) would fill it with one-off counts and leave every later
// statement to be parsed again. With this, a query has at most
// log2(n)+2 texts.
func chunks[S ~[]E, E any](s S, n int) iter.Seq[S] {
	return func(yield func(S) bool) {
		for len(s) > 0 {
			k := len(s)
			if k >= n {
				k = n
			} else {
				k = 1 << (bits.Len(uint(k)) - 1)
			}
			if !yield(s[:k:k]) {
				return
			}
			s = s[k:]
		}
	}
}
