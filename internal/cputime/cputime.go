// Package cputime reads the CPU time this process has used, for the
// benchmarks: unlike wall time, a shared machine's load hardly moves it,
// and it counts the garbage collector's work.
package cputime
