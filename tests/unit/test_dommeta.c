/* The vmirsd metadata element: exact output, round trips with hostile
 * strings, the released form, every rejection with its message, and the
 * way virt uses it: virDomainSetMetadata / virDomainGetMetadata on the
 * in-process test driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <libxml/xmlwriter.h>

#include "dommeta.h"
#include "util.h"

static const char *const hostile = "a<b>&c\"d'e]]>f\tg\nh";

/* A filled-in record; the caller frees it with dommeta_free. */
static void
sample(struct dommeta *m, bool owned)
{
    memset(m, 0, sizeof(*m));
    if (owned) {
        m->owner_namespace = xstrdup("default");
        m->owner_name = xstrdup("web");
        m->owner_uid = xstrdup("0b3a6d6e-5c1e-5a8b-9d1f-2c3d4e5f6a7b");
    }
    m->vmi_name = xstrdup("webbcdfg");
    m->vmi_uid = xstrdup("00010203-0405-4607-8809-0a0b0c0d0e0f");
    m->slot = 3;
    m->template_hash = xstrdup("0123456789abcdef");
    labels_set(&m->labels, "app", "web");
    labels_set(&m->labels, "kubevirt.io/vmReplicaSet", "web");
}

static void
assert_meta_equal(const struct dommeta *a, const struct dommeta *b)
{
    assert_true(streq0(a->owner_namespace, b->owner_namespace));
    assert_true(streq0(a->owner_name, b->owner_name));
    assert_true(streq0(a->owner_uid, b->owner_uid));
    assert_true(streq0(a->vmi_name, b->vmi_name));
    assert_true(streq0(a->vmi_uid, b->vmi_uid));
    assert_int_equal(a->slot, b->slot);
    assert_true(streq0(a->template_hash, b->template_hash));
    assert_int_equal(a->labels.n, b->labels.n);
    for (size_t i = 0; i < a->labels.n; i++) {
        assert_string_equal(a->labels.v[i].key, b->labels.v[i].key);
        assert_string_equal(a->labels.v[i].value, b->labels.v[i].value);
    }
    assert_int_equal(a->nports, b->nports);
    for (size_t i = 0; i < a->nports; i++) {
        assert_int_equal(a->ports[i].host, b->ports[i].host);
        assert_int_equal(a->ports[i].guest, b->ports[i].guest);
    }
}

/* Build m, parse it back and compare. */
static void
round_trip(const struct dommeta *m)
{
    struct vmirs_err *err = NULL;
    struct dommeta back;
    char *xml = NULL;

    assert_int_equal(dommeta_build(m, &xml, &err), 0);
    if (dommeta_parse(xml, &back, &err) < 0)
        fail_msg("%s\n%s", err->msg, xml);
    assert_meta_equal(m, &back);
    dommeta_free(&back);
    free(xml);
}

/* The element as it appears in the domain XML (dommeta_write) and as it
 * is handed to virDomainSetMetadata (dommeta_build: bare, libvirt binds
 * it to the namespace). */
static void
test_build_exact(void **state)
{
    struct vmirs_err *err = NULL;
    struct dommeta m;
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    char *xml = NULL;

    sample(&m, true);
    assert_int_equal(dommeta_write(w, &m), 0);
    assert_true(xmlTextWriterEndDocument(w) >= 0);
    assert_string_equal(
        (const char *) xmlBufferContent(buf),
        "<vmirs:replica xmlns:vmirs=\"urn:vmirsd:1\">"
        "<vmirs:owner namespace=\"default\" name=\"web\" "
        "uid=\"0b3a6d6e-5c1e-5a8b-9d1f-2c3d4e5f6a7b\"/>"
        "<vmirs:vmi name=\"webbcdfg\" uid=\"00010203-0405-4607-8809-0a0b0c0d0e0f\" slot=\"3\"/>"
        "<vmirs:template hash=\"0123456789abcdef\"/>"
        "<vmirs:labels><vmirs:label key=\"app\" value=\"web\"/>"
        "<vmirs:label key=\"kubevirt.io/vmReplicaSet\" value=\"web\"/></vmirs:labels>"
        "</vmirs:replica>\n");
    xmlFreeTextWriter(w);
    xmlBufferFree(buf);

    assert_int_equal(dommeta_build(&m, &xml, &err), 0);
    assert_string_equal(xml, "<replica>"
                             "<owner namespace=\"default\" name=\"web\" "
                             "uid=\"0b3a6d6e-5c1e-5a8b-9d1f-2c3d4e5f6a7b\"/>"
                             "<vmi name=\"webbcdfg\" uid=\"00010203-0405-4607-8809-0a0b0c0d0e0f\" "
                             "slot=\"3\"/>"
                             "<template hash=\"0123456789abcdef\"/>"
                             "<labels><label key=\"app\" value=\"web\"/>"
                             "<label key=\"kubevirt.io/vmReplicaSet\" value=\"web\"/></labels>"
                             "</replica>\n");
    free(xml);
    dommeta_free(&m);
    dommeta_free(&m); /* harmless twice */
}

static void
test_round_trip(void **state)
{
    struct dommeta m;

    sample(&m, true);
    round_trip(&m);
    m.slot = 4294967295u;
    round_trip(&m);
    dommeta_free(&m);
}

static void
test_round_trip_hostile(void **state)
{
    struct dommeta m;

    sample(&m, true);
    free(m.owner_namespace);
    free(m.owner_name);
    free(m.vmi_name);
    free(m.template_hash);
    m.owner_namespace = xstrdup(hostile);
    m.owner_name = xstrdup(hostile);
    m.vmi_name = xstrdup(hostile);
    m.template_hash = xstrdup(hostile);
    labels_set(&m.labels, hostile, hostile);
    labels_set(&m.labels, "empty", "");
    round_trip(&m);
    dommeta_free(&m);
}

static void
test_released(void **state)
{
    struct vmirs_err *err = NULL;
    struct dommeta m, back;
    char *xml = NULL;

    sample(&m, false);
    assert_int_equal(dommeta_build(&m, &xml, &err), 0);
    assert_null(strstr(xml, "owner"));
    assert_int_equal(dommeta_parse(xml, &back, &err), 0);
    assert_null(back.owner_namespace);
    assert_null(back.owner_name);
    assert_null(back.owner_uid);
    assert_meta_equal(&m, &back);
    dommeta_free(&back);
    free(xml);

    /* No labels: an empty labels element, read back as no labels. */
    labels_free(&m.labels);
    round_trip(&m);
    dommeta_free(&m);
}

/* virDomainGetMetadata strips the namespace (sometimes leaving an unused
 * declaration); a domain XML dump may use another prefix or a default
 * namespace. Whitespace and comments between elements, and no slot
 * (domains written before slots) are fine too. */
static void
test_parse_other_spellings(void **state)
{
    struct vmirs_err *err = NULL;
    struct dommeta m;

    assert_int_equal(dommeta_parse("<x:replica xmlns:x='urn:vmirsd:1'>\n"
                                   "  <x:vmi name='v1'/><!-- c -->\n"
                                   "  <x:template hash='h'/>\n"
                                   "  <x:labels><x:label key='a' value='b'/></x:labels>\n"
                                   "</x:replica>",
                                   &m, &err),
                     0);
    assert_string_equal(m.vmi_name, "v1");
    assert_null(m.vmi_uid);
    assert_int_equal(m.slot, 0);
    assert_string_equal(m.template_hash, "h");
    assert_string_equal(labels_get(&m.labels, "a"), "b");
    dommeta_free(&m);

    assert_int_equal(dommeta_parse("<?xml version='1.0'?>"
                                   "<replica xmlns='urn:vmirsd:1'><owner namespace='n' "
                                   "name='w' uid='u'/><template hash=''/><vmi name='v2' "
                                   "slot='7'/></replica>",
                                   &m, &err),
                     0);
    assert_string_equal(m.owner_namespace, "n");
    assert_string_equal(m.owner_name, "w");
    assert_string_equal(m.owner_uid, "u");
    assert_string_equal(m.vmi_name, "v2");
    assert_int_equal(m.slot, 7);
    assert_string_equal(m.template_hash, "");
    assert_int_equal(m.labels.n, 0);
    dommeta_free(&m);

    assert_int_equal(dommeta_parse("<replica xmlns:vmirs=\"urn:vmirsd:1\">\n"
                                   "  <vmi name=\"v3\"/>\n  <template hash=\"h\"/>\n"
                                   "  <labels>\n    <label key=\"a\" value=\"\"/>\n  </labels>\n"
                                   "</replica>",
                                   &m, &err),
                     0);
    assert_string_equal(m.vmi_name, "v3");
    assert_string_equal(labels_get(&m.labels, "a"), "");
    dommeta_free(&m);
    assert_null(err);
}

/* xml must be refused with exactly msg, leaving m empty. */
static void
assert_rejected(const char *xml, const char *msg)
{
    struct vmirs_err *err = NULL;
    struct dommeta m;

    if (dommeta_parse(xml, &m, &err) == 0)
        fail_msg("accepted: %s", xml);
    assert_non_null(err);
    assert_string_equal(err->msg, msg);
    assert_null(m.vmi_name);
    assert_null(m.owner_uid);
    assert_null(m.labels.v);
    err_free(&err);
}

#define NS "xmlns:vmirs='urn:vmirsd:1'"

static void
test_parse_errors(void **state)
{
    assert_rejected(NULL, "parse vmirsd metadata: no XML");
    assert_rejected("", "parse vmirsd metadata: not well-formed XML: line 1: Document is empty");
    assert_rejected("garbage",
                    "parse vmirsd metadata: not well-formed XML: line 1: Start tag expected, "
                    "'<' not found");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/>",
                    "parse vmirsd metadata: not well-formed XML: line 1: Premature end of data "
                    "in tag replica line 1");
    assert_rejected("<v:replica xmlns:v='urn:vmirsd:2'><v:vmi name='a'/><v:template "
                    "hash='h'/></v:replica>",
                    "parse vmirsd metadata: root element `replica` is in namespace "
                    "`urn:vmirsd:2`, expected `urn:vmirsd:1` or none");
    assert_rejected("<replica xmlns='urn:other'><vmi name='a'/><template hash='h'/></replica>",
                    "parse vmirsd metadata: root element `replica` is in namespace `urn:other`, "
                    "expected `urn:vmirsd:1` or none");
    assert_rejected("<vmirs:owner " NS " namespace='a' name='b' uid='c'/>",
                    "parse vmirsd metadata: root element is `owner`, expected `replica`");
    assert_rejected("<vmirs:replica " NS "><vmirs:template hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: element `vmi` is missing");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/></vmirs:replica>",
                    "parse vmirsd metadata: element `template` is missing");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi uid='u'/><vmirs:template "
                    "hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: element `vmi` has no attribute `name`");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name=''/><vmirs:template "
                    "hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: attribute `name` of element `vmi` is empty");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/><vmirs:template/></vmirs:replica>",
                    "parse vmirsd metadata: element `template` has no attribute `hash`");
    assert_rejected("<vmirs:replica " NS "><vmirs:owner namespace='n' name='w'/><vmirs:vmi "
                    "name='a'/><vmirs:template hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: element `owner` has no attribute `uid`");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/><vmirs:vmi name='b'/>"
                    "<vmirs:template hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: element `vmi` appears twice");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/><vmirs:template hash='h'/>"
                    "<vmirs:extra/></vmirs:replica>",
                    "parse vmirsd metadata: unexpected element `extra`");
    assert_rejected("<vmirs:replica " NS "><vmi xmlns='urn:x' name='a'/><vmirs:template "
                    "hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: unexpected element `vmi` in namespace `urn:x`");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/><vmirs:template hash='h'/>"
                    "<vmirs:labels><vmirs:label key='k' value='1'/><vmirs:label key='k' "
                    "value='2'/></vmirs:labels></vmirs:replica>",
                    "parse vmirsd metadata: label `k` appears twice");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/><vmirs:template hash='h'/>"
                    "<vmirs:labels><vmirs:label key='k'/></vmirs:labels></vmirs:replica>",
                    "parse vmirsd metadata: element `label` has no attribute `value`");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a'/><vmirs:template hash='h'/>"
                    "<vmirs:labels><vmirs:app>web</vmirs:app></vmirs:labels></vmirs:replica>",
                    "parse vmirsd metadata: unexpected element `app` in `labels`");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a' slot='-1'/><vmirs:template "
                    "hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: attribute `slot` of element `vmi`: `-1` is not a "
                    "number from 0 to 4294967295");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a' slot='4294967296'/>"
                    "<vmirs:template hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: attribute `slot` of element `vmi`: `4294967296` is "
                    "not a number from 0 to 4294967295");
    assert_rejected("<vmirs:replica " NS "><vmirs:vmi name='a' slot=' 1'/>"
                    "<vmirs:template hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: attribute `slot` of element `vmi`: ` 1` is not a "
                    "number from 0 to 4294967295");
}

/* Entities are never expanded: a DTD is refused before anything is read. */
static void
test_parse_dtd(void **state)
{
    assert_rejected("<!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>"
                    "<vmirs:replica " NS "><vmirs:vmi name='&b;'/><vmirs:template "
                    "hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: document has a DTD");
    assert_rejected("<!DOCTYPE r SYSTEM 'http://127.0.0.1:1/x.dtd'><vmirs:replica " NS
                    "><vmirs:vmi name='a'/><vmirs:template hash='h'/></vmirs:replica>",
                    "parse vmirsd metadata: document has a DTD");
}

static void
test_parse_bounds(void **state)
{
    const size_t huge = 4 * 1024 * 1024 + 1;
    char *xml = xmalloc(huge + 1);
    char *s = NULL;
    FILE *f;
    size_t n = 0;

    /* Bigger than anything libvirt can return in one string. */
    memset(xml, ' ', huge);
    memcpy(xml, "<vmirs:replica", 14);
    xml[huge] = '\0';
    assert_rejected(xml, "parse vmirsd metadata: more than 4194304 bytes");
    free(xml);

    xml = xmalloc(600);
    memset(xml, 'x', 513);
    xml[513] = '\0';
    assert_true(asprintf(&s,
                         "<vmirs:replica " NS "><vmirs:vmi name='%s'/><vmirs:template "
                         "hash='h'/></vmirs:replica>",
                         xml) > 0);
    assert_rejected(s, "parse vmirsd metadata: attribute `name` of element `vmi` is longer than "
                       "512 bytes");
    free(s);
    free(xml);

    f = open_memstream(&s, &n);
    fputs("<vmirs:replica " NS "><vmirs:vmi name='a'/><vmirs:template hash='h'/><vmirs:labels>", f);
    for (int i = 0; i < 513; i++)
        fprintf(f, "<vmirs:label key='k%d' value=''/>", i);
    fputs("</vmirs:labels></vmirs:replica>", f);
    fclose(f);
    assert_rejected(s, "parse vmirsd metadata: more than 512 labels");
    free(s);
}

/* The writer refuses what the reader would refuse. */
static void
test_build_errors(void **state)
{
    static const char *const msg =
        "build vmirsd metadata: a required field is missing, or a value or the number of "
        "labels exceeds its limit";
    struct vmirs_err *err = NULL;
    struct dommeta m;
    char *xml = NULL, big[600];

    sample(&m, true);
    free(m.owner_uid);
    m.owner_uid = NULL;
    assert_int_equal(dommeta_build(&m, &xml, &err), -1);
    assert_string_equal(err->msg, msg);
    err_free(&err);
    dommeta_free(&m);

    sample(&m, false);
    free(m.vmi_name);
    m.vmi_name = NULL;
    assert_int_equal(dommeta_build(&m, &xml, &err), -1);
    assert_string_equal(err->msg, msg);
    err_free(&err);
    m.vmi_name = xstrdup("v");

    memset(big, 'x', 513);
    big[513] = '\0';
    labels_set(&m.labels, "k", big);
    assert_int_equal(dommeta_build(&m, &xml, &err), -1);
    assert_string_equal(err->msg, msg);
    err_free(&err);
    labels_free(&m.labels);

    for (int i = 0; i < 513; i++) {
        char k[16];

        snprintf(k, sizeof(k), "k%d", i);
        labels_set(&m.labels, k, "");
    }
    assert_int_equal(dommeta_build(&m, &xml, &err), -1);
    assert_string_equal(err->msg, msg);
    err_free(&err);
    assert_null(xml);
    dommeta_free(&m);
}

/* A test-driver domain XML whose <metadata> is written by dommeta_write,
 * as domxml does. */
static char *
domain_xml(const char *name, const struct dommeta *m)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    char *xml;

    assert_true(xmlTextWriterStartElement(w, BAD_CAST "domain") >= 0);
    assert_true(xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "test") >= 0);
    assert_true(xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST name) >= 0);
    assert_true(xmlTextWriterWriteElement(w, BAD_CAST "memory", BAD_CAST "65536") >= 0);
    assert_true(xmlTextWriterStartElement(w, BAD_CAST "metadata") >= 0);
    assert_int_equal(dommeta_write(w, m), 0);
    assert_true(xmlTextWriterEndElement(w) >= 0);
    assert_true(xmlTextWriterStartElement(w, BAD_CAST "os") >= 0);
    assert_true(xmlTextWriterWriteElement(w, BAD_CAST "type", BAD_CAST "hvm") >= 0);
    assert_true(xmlTextWriterEndDocument(w) >= 0);
    xml = xstrdup((const char *) xmlBufferContent(buf));
    xmlFreeTextWriter(w);
    xmlBufferFree(buf);
    return xml;
}

static void
get_and_compare(virDomainPtr dom, const struct dommeta *want)
{
    struct vmirs_err *err = NULL;
    struct dommeta back;
    char *got = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMMETA_NS, 0);

    if (!got)
        fail_msg("virDomainGetMetadata: %s", virGetLastErrorMessage());
    if (dommeta_parse(got, &back, &err) < 0)
        fail_msg("%s\n%s", err->msg, got);
    assert_meta_equal(want, &back);
    dommeta_free(&back);
    free(got);
}

static void
set_meta(virDomainPtr dom, const struct dommeta *m)
{
    struct vmirs_err *err = NULL;
    char *xml = NULL;

    assert_int_equal(dommeta_build(m, &xml, &err), 0);
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, DOMMETA_PREFIX, DOMMETA_NS,
                             VIR_DOMAIN_AFFECT_LIVE) < 0)
        fail_msg("virDomainSetMetadata: %s\n%s", virGetLastErrorMessage(), xml);
    free(xml);
}

static void
quiet(void *opaque, virErrorPtr e)
{
}

/* What virt does: create with the element in the domain XML, read it
 * back, replace it on the live domain (adopt, release), read it again. */
static void
test_libvirt_round_trip(void **state)
{
    struct dommeta m;
    char *xml, *desc;
    virConnectPtr conn;
    virDomainPtr dom;

    virSetErrorFunc(NULL, quiet);
    conn = virConnectOpen("test:///default");
    assert_non_null(conn);

    sample(&m, true);
    free(m.owner_name);
    m.owner_name = xstrdup(hostile);
    labels_set(&m.labels, "evil", hostile);
    xml = domain_xml("default_metabcdfg", &m);
    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom)
        fail_msg("virDomainCreateXML: %s\n%s", virGetLastErrorMessage(), xml);
    free(xml);
    get_and_compare(dom, &m);

    /* Release: the owner goes. */
    free(m.owner_namespace);
    free(m.owner_name);
    free(m.owner_uid);
    m.owner_namespace = m.owner_name = m.owner_uid = NULL;
    set_meta(dom, &m);
    get_and_compare(dom, &m);

    /* Adopt: an owner again, another slot. libvirt stores what
     * dommeta_write would have written in the domain XML. */
    m.owner_namespace = xstrdup("default");
    m.owner_name = xstrdup("web2");
    m.owner_uid = xstrdup("u2");
    m.slot = 9;
    set_meta(dom, &m);
    get_and_compare(dom, &m);
    desc = virDomainGetXMLDesc(dom, 0);
    assert_non_null(desc);
    assert_non_null(strstr(desc, "<vmirs:replica xmlns:vmirs=\"urn:vmirsd:1\">"));
    assert_non_null(strstr(desc, "<vmirs:owner namespace=\"default\" name=\"web2\" uid=\"u2\"/>"));
    free(desc);
    dommeta_free(&m);

    /* Without it: the error virt uses to skip foreign domains. */
    assert_int_equal(virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, NULL, NULL, DOMMETA_NS,
                                          VIR_DOMAIN_AFFECT_LIVE),
                     0);
    assert_null(virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMMETA_NS, 0));
    assert_int_equal(virGetLastErrorCode(), VIR_ERR_NO_DOMAIN_METADATA);

    assert_int_equal(virDomainDestroy(dom), 0);
    virDomainFree(dom);
    assert_int_equal(virConnectClose(conn), 0);
}

/* Forwarded host ports survive the round trip; bad ones are refused. */
static void
test_ports(void **state)
{
    struct dommeta m;

    sample(&m, true);
    m.ports[0] = (struct dommeta_port){30000, 80};
    m.ports[1] = (struct dommeta_port){30001, 22};
    m.nports = 2;
    round_trip(&m);
    dommeta_free(&m);
    assert_rejected("<replica><vmi name='a'/><template hash='h'/><ports><port host='0' "
                    "guest='80'/></ports></replica>",
                    "parse vmirsd metadata: attribute `host` of element `port`: `0` is not a "
                    "port number");
    assert_rejected("<replica><vmi name='a'/><template hash='h'/><ports><port host='30000' "
                    "guest='65536'/></ports></replica>",
                    "parse vmirsd metadata: attribute `guest` of element `port`: `65536` is not "
                    "a port number");
    assert_rejected("<replica><vmi name='a'/><template hash='h'/><ports><port "
                    "host='30000'/></ports></replica>",
                    "parse vmirsd metadata: element `port` has no attribute `guest`");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_exact),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_round_trip_hostile),
        cmocka_unit_test(test_released),
        cmocka_unit_test(test_parse_other_spellings),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_dtd),
        cmocka_unit_test(test_parse_bounds),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_libvirt_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
