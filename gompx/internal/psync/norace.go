//go:build !race

package psync

func raceAcquire(*uint32) {}

func raceRelease(*uint32) {}
