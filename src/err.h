/* Error objects: the failing call fills one with err_set(), each caller adds
 * context with err_wrap(), and the top prints it once (crun's idiom). */
#ifndef VMIRS_ERR_H
#define VMIRS_ERR_H

struct vmirs_err {
    int code;  /* errno value, or 0 */
    char *msg; /* full message, context first */
};

/* Fill *err with the formatted message (plus strerror(errnum) when errnum
 * is non-zero) and return -1. An existing *err is replaced. */
int err_set(struct vmirs_err **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message in *err with "context: " and return -1. */
int err_wrap(struct vmirs_err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Free *err and set it to NULL; harmless on NULL. */
void err_free(struct vmirs_err **err);

#endif
