// Package shm is a memory file shared between processes: made with memfd_create, sized
// with ftruncate and mapped MAP_SHARED, or mapped again from a descriptor another process
// handed over. Whoever holds the descriptor may map it; the memory goes away with the last
// descriptor and mapping, so nothing is ever left in /dev/shm.
//
// CreateSealed makes a file whose size is sealed (F_SEAL_SHRINK, F_SEAL_GROW), for
// processes that find each other by name and must not be able to fault each other's
// mappings by resizing it; CheckSealed verifies a received one, MapRange maps part of it.
//
// It knows nothing of what the file holds: shmring, mpq and shmname lay out their
// headers and data in it and check them when they open one.
package shm
