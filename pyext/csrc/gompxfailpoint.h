/*
 * Failpoints of the C fast paths (gompx/internal/failpoint, the table in docs/design.md).
 *
 * Compiled in only when the extension is built with GOMPX_GOTAGS=gompx_failpoints, which
 * defines GOMPX_FAILPOINTS for the C compiler (setup.py); otherwise FAILPOINT() is
 * nothing and the fast paths cost what they cost before.  The spec is Go's: the Python
 * package asks the Go core which C points GOMPX_FAILPOINTS armed (FailpointActions) and
 * arms them here (_fp_arm) when it loads.
 */
#ifndef GOMPXFAILPOINT_H
#define GOMPXFAILPOINT_H

enum {
    FP_CQUEUE_ADMIT_CLAIMED,
    FP_CQUEUE_PUT_WRITTEN,
    FP_CQUEUE_PUT_PUBLISHED,
    FP_CQUEUE_GET_READ,
    FP_CQUEUE_GET_JOURNALED,
    FP_CSYNC_LOCK_CLAIMED,
    FP_CSYNC_LOCK_HELD,
    FP_COUNT
};

#ifdef GOMPX_FAILPOINTS
void gompx_fp_hit(int point);
#define FAILPOINT(p) gompx_fp_hit(p)
#else
#define FAILPOINT(p) ((void)0)
#endif

#endif
