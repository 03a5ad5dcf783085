#include "config.h"

#include "err.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
err_set(struct vmirs_err **err, int errnum, const char *fmt, ...)
{
    cleanup_free char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (!err)
        return -1;
    err_free(err);
    *err = xcalloc(1, sizeof(**err));
    (*err)->code = errnum;
    if (errnum)
        (*err)->msg = xasprintf("%s: %s", msg ? msg : "error", strerror(errnum));
    else
        (*err)->msg = xstrdup(msg ? msg : "error");
    return -1;
}

int
err_wrap(struct vmirs_err **err, const char *fmt, ...)
{
    cleanup_free char *ctx = NULL;
    char *msg;
    va_list ap;

    if (!err || !*err)
        return -1;
    va_start(ap, fmt);
    if (vasprintf(&ctx, fmt, ap) < 0)
        ctx = NULL;
    va_end(ap);
    if (!ctx)
        return -1;
    msg = xasprintf("%s: %s", ctx, (*err)->msg);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void
err_free(struct vmirs_err **err)
{
    if (!err || !*err)
        return;
    free((*err)->msg);
    free(*err);
    *err = NULL;
}
