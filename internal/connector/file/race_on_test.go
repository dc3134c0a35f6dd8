//go:build race

package fileconn_test

// raceEnabled: the race detector makes processes several times slower;
// the crash test sizes its work and kill delays by it.
const raceEnabled = true
