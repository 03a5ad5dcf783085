/* libFuzzer target: the <vmirs:replica> metadata element as
 * virDomainGetMetadata returns it (untrusted: anyone who can talk to
 * libvirt can set it). What dommeta_parse accepts must survive a round
 * trip through both writers, dommeta_build (what virDomainSetMetadata is
 * given) and dommeta_write (the domain XML at create), unchanged: a
 * replica whose metadata reads back differently is miscounted. */
#include "config.h"

#include <libxml/parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dommeta.h"
#include "util.h"

static void
fuzz_silent(void *ctx, const char *msg, ...)
{
    (void) ctx;
    (void) msg;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    xmlSetGenericErrorFunc(NULL, fuzz_silent);
    return 0;
}

static bool
fuzz_same(const struct dommeta *a, const struct dommeta *b)
{
    if (!streq0(a->owner_namespace, b->owner_namespace) || !streq0(a->owner_name, b->owner_name) ||
        !streq0(a->owner_uid, b->owner_uid) || !streq0(a->vmi_name, b->vmi_name) ||
        !streq0(a->vmi_uid, b->vmi_uid) || a->slot != b->slot ||
        !streq0(a->template_hash, b->template_hash) || a->labels.n != b->labels.n ||
        a->nports != b->nports)
        return false;
    for (size_t i = 0; i < a->labels.n; i++)
        if (!streq0(labels_get(&b->labels, a->labels.v[i].key), a->labels.v[i].value))
            return false;
    for (size_t i = 0; i < a->nports; i++)
        if (a->ports[i].host != b->ports[i].host || a->ports[i].guest != b->ports[i].guest)
            return false;
    return true;
}

static void
fuzz_check(const char *how, const char *input, const struct dommeta *m, const char *xml)
{
    struct dommeta back;
    struct vmirs_err *err = NULL;

    if (dommeta_parse(xml, &back, &err) < 0) {
        fprintf(stderr,
                "%s: what dommeta_parse accepted does not read back: %s\ninput: %s\n"
                "written: %s\n",
                how, err->msg, input, xml);
        abort();
    }
    if (!fuzz_same(m, &back)) {
        fprintf(stderr, "%s: round trip changed the metadata\ninput: %s\nwritten: %s\n", how, input,
                xml);
        abort();
    }
    dommeta_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = xstrndup((const char *) data, size);
    struct dommeta m;
    struct vmirs_err *err = NULL;

    if (dommeta_parse(xml, &m, &err) == 0) {
        char *built = NULL;
        xmlBufferPtr buf = xmlBufferCreate();
        xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);

        /* The parser's bounds are the writer's, so whatever it accepts
         * can be written. */
        if (dommeta_build(&m, &built, &err) < 0) {
            fprintf(stderr, "dommeta_build refuses what dommeta_parse accepted: %s\ninput: %s\n",
                    err->msg, xml);
            abort();
        }
        fuzz_check("dommeta_build", xml, &m, built);
        free(built);

        if (dommeta_write(w, &m) < 0 || xmlTextWriterEndDocument(w) < 0) {
            fprintf(stderr, "dommeta_write refuses what dommeta_parse accepted\ninput: %s\n", xml);
            abort();
        }
        xmlFreeTextWriter(w);
        fuzz_check("dommeta_write", xml, &m, (const char *) xmlBufferContent(buf));
        xmlBufferFree(buf);
        dommeta_free(&m);
    }
    err_free(&err);
    free(xml);
    return 0;
}
