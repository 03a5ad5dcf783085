/* An in-memory libvirt behind struct virt_ops, for driving a real
 * controller in unit tests: it keeps domains with the metadata element of
 * the XML they were created from, records every call, injects failures,
 * holds creates in flight and raises lifecycle events.
 *
 * The ops (fake_virt_ops) run on the controller's workq worker threads;
 * every other function here runs on the loop thread, and events are
 * delivered there too (through a uv_async_t). One mutex guards all the
 * state. */
#ifndef VMIRS_FAKE_VIRT_H
#define VMIRS_FAKE_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dommeta.h"
#include "virt.h"

struct fake_virt;

extern const struct virt_ops fake_virt_ops;

/* One recorded call. live: the named domain existed (for destroy and
 * shutdown, whether there was anything to stop). */
struct fake_call {
    char op[16];
    char name[128];
    unsigned slot;   /* create: the slot in the XML's metadata */
    int64_t mono_ms; /* CLOCK_MONOTONIC when the call was made */
    bool live;
    int rc;
};

/* How a held create ends (fake_virt_release). */
enum fake_outcome {
    FAKE_CREATED,      /* the domain is made and listed; 0 */
    FAKE_LOST_HIDDEN,  /* ECONNRESET; libvirtd made it but lists it only after fake_virt_reveal */
    FAKE_LOST_NOTHING, /* ECONNRESET; it was never made */
};

/* events (with opaque) gets the lifecycle events; may be NULL. */
struct fake_virt *fake_virt_new(uv_loop_t *loop, const struct virt_events *events, void *opaque);
/* Deliver events to someone else from now on (a restarted controller). */
void fake_virt_set_events(struct fake_virt *f, const struct virt_events *events, void *opaque);
/* The handle to pass as the controller's struct virt. */
struct virt *fake_virt_handle(struct fake_virt *f);
/* Close the event handle; the fake is freed once the loop has run. */
void fake_virt_close(struct fake_virt *f);

/* A domain made by someone else (or by an earlier vmirsd), listed with
 * the metadata m serialised by dommeta_build. */
void fake_virt_add(struct fake_virt *f, const char *name, const struct dommeta *m, int state,
                   int reason);
/* The domain stops as `virsh destroy` stops it: gone from the list, a
 * STOPPED/DESTROYED event raised. */
void fake_virt_kill(struct fake_virt *f, const char *name);
/* Change a domain's state and raise event/detail about it. */
void fake_virt_set_state(struct fake_virt *f, const char *name, int state, int reason, int event,
                         int detail);
/* A hidden domain (FAKE_LOST_HIDDEN) shows in lists from now on, with a
 * STARTED event. */
void fake_virt_reveal(struct fake_virt *f, const char *name);

/* Listed domains: their number, sorted names (free each and the array),
 * one's metadata (0, or -1 when absent; dommeta_free it). */
size_t fake_virt_count(struct fake_virt *f);
char **fake_virt_names(struct fake_virt *f, size_t *n);
int fake_virt_meta(struct fake_virt *f, const char *name, struct dommeta *out);

/* Faults: the next n creates fail with msg (err->code 0: libvirt refused). */
void fake_virt_fail_creates(struct fake_virt *f, unsigned n, const char *msg);
/* Creates from the nth call on (1-based; 0 for none) wait inside the call
 * until released, one per fake_virt_release. */
void fake_virt_hold_creates_from(struct fake_virt *f, unsigned nth);
unsigned fake_virt_held(struct fake_virt *f);
void fake_virt_release(struct fake_virt *f, enum fake_outcome how);

/* Calls of op ("list", "create", ...) so far; up to max copied to out. */
size_t fake_virt_calls(struct fake_virt *f, const char *op, struct fake_call *out, size_t max);
/* Creates refused because the name was taken: a duplicate. */
unsigned fake_virt_duplicates(struct fake_virt *f);

#endif
