/* gompx._gompxsync's queue part (gompxqueue.c): adds QueueCore, MISS and queue_layout()
 * to the module. */
#ifndef GOMPX_QUEUE_H
#define GOMPX_QUEUE_H
#include <Python.h>

int gompx_queue_register(PyObject *module);

#endif
