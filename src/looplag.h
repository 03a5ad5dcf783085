/* Loop-lag monitor: a timer due every period measures how late the loop
 * runs it. Each lag of 10 ms or more is logged at debug level ("lag N ms
 * (worst M ms)"), so a test or an operator sees what held the loop up and
 * when. Loop thread only. */
#ifndef VMIRS_LOOPLAG_H
#define VMIRS_LOOPLAG_H

#include <stdint.h>
#include <uv.h>

struct looplag;

/* Start measuring on loop every period_ms. */
struct looplag *looplag_start(uv_loop_t *loop, uint64_t period_ms);

/* The worst lag seen so far, in milliseconds. */
uint64_t looplag_worst_ms(const struct looplag *l);

/* Stop; l is freed in its timer's close callback. Harmless on NULL. */
void looplag_stop(struct looplag *l);

#endif
