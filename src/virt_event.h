/* libvirt's event loop hooks (virEventRegisterImpl) on a libuv loop: fd
 * watches become uv_poll_t, timeouts uv_timer_t or uv_idle_t, and changes
 * made by other threads reach the loop through a uv_async_t. */
#ifndef VMIRS_VIRT_EVENT_H
#define VMIRS_VIRT_EVENT_H

#include <uv.h>

#include "err.h"

/* Register libvirt's event loop hooks on loop; call once per process, before
 * the first virConnectOpen. Must be called on the thread that runs loop. -1
 * (with err) if libvirt already has an implementation, or if the bridge
 * still runs on another loop. After virt_event_shutdown it may be called
 * again with a new loop: libvirt keeps the hooks and they follow the loop. */
int virt_event_register(uv_loop_t *loop, struct vmirs_err **err);

/* Stop using loop: close every handle the bridge owns (poll, timers, idle,
 * async) so uv_loop_close(loop) can succeed after uv_run drains the close
 * callbacks. libvirt keeps its registration (it cannot be undone); call only
 * when no connection remains. A second call is harmless. */
void virt_event_shutdown(void);

#endif
