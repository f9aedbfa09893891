// Package shm is a memory file shared between processes: made with memfd_create, sized
// with ftruncate and mapped MAP_SHARED, or mapped again from a descriptor another process
// handed over. Whoever holds the descriptor may map it; the memory goes away with the last
// descriptor and mapping, so nothing is ever left in /dev/shm.
//
// It knows nothing of what the file holds: shmring and mpq lay out their headers and data
// in it and check them when they open one.
package shm
