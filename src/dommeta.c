#include "config.h"

#include "dommeta.h"

#include <limits.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Bounds on what is written and read back. The reader checks them because
 * the element is untrusted; the writer checks the same ones so that vmirsd
 * never creates a domain whose metadata it would then refuse to read (such
 * a replica would look foreign, go uncounted, and be created again and
 * again). Kubernetes names are at most 253 bytes and label keys 317, so a
 * string limit of 512 only stops garbage. 512 labels of that size escape
 * to about 3 MiB, under libvirt's 4 MiB limit on one RPC string
 * (VIR_NET_MESSAGE_STRING_MAX), which is also the input limit here. */
#define DOMMETA_MAX_STRING 512
#define DOMMETA_MAX_LABELS 512
#define DOMMETA_MAX_BYTES (4 * 1024 * 1024)

#define X(s) ((const xmlChar *) (s))

static bool
dommeta_str_ok(const char *s, bool required)
{
    if (!s)
        return !required;
    return (!required || *s) && strlen(s) <= DOMMETA_MAX_STRING;
}

/* Whether m can be written and read back unchanged. */
static bool
dommeta_writable(const struct dommeta *m)
{
    bool owner = m->owner_namespace || m->owner_name || m->owner_uid;

    if (owner && !(dommeta_str_ok(m->owner_namespace, true) &&
                   dommeta_str_ok(m->owner_name, true) && dommeta_str_ok(m->owner_uid, true)))
        return false;
    if (!dommeta_str_ok(m->vmi_name, true) || !dommeta_str_ok(m->vmi_uid, false) ||
        !m->template_hash || !dommeta_str_ok(m->template_hash, false))
        return false;
    if (m->labels.n > DOMMETA_MAX_LABELS)
        return false;
    for (size_t i = 0; i < m->labels.n; i++) {
        if (!dommeta_str_ok(m->labels.v[i].key, true) ||
            !dommeta_str_ok(m->labels.v[i].value, false) || !m->labels.v[i].value)
            return false;
    }
    return true;
}

/* Each helper returns the writer's result (< 0 on error) and does
 * nothing once rc is negative, so the sequence is checked once. prefix
 * is DOMMETA_PREFIX or NULL for the bare form. */
static int
dommeta_start(xmlTextWriterPtr w, int rc, const char *prefix, const char *name)
{
    if (rc < 0)
        return rc;
    /* With a prefix and no URI this writes "vmirs:name", bound by the
     * root's xmlns:vmirs declaration. */
    return xmlTextWriterStartElementNS(w, X(prefix), X(name), NULL);
}

static int
dommeta_attr(xmlTextWriterPtr w, int rc, const char *name, const char *value)
{
    if (rc < 0 || !value)
        return rc;
    return xmlTextWriterWriteAttribute(w, X(name), X(value));
}

static int
dommeta_end(xmlTextWriterPtr w, int rc)
{
    return rc < 0 ? rc : xmlTextWriterEndElement(w);
}

/* The element in namespace DOMMETA_NS with prefix DOMMETA_PREFIX when
 * prefix is set, else bare (no namespace). */
static int
dommeta_emit(xmlTextWriterPtr w, const struct dommeta *m, const char *prefix)
{
    char slot[16];
    int rc;

    if (!dommeta_writable(m))
        return -1;
    snprintf(slot, sizeof(slot), "%u", m->slot);
    rc = xmlTextWriterStartElementNS(w, X(prefix), X("replica"), prefix ? X(DOMMETA_NS) : NULL);
    if (m->owner_uid) {
        rc = dommeta_start(w, rc, prefix, "owner");
        rc = dommeta_attr(w, rc, "namespace", m->owner_namespace);
        rc = dommeta_attr(w, rc, "name", m->owner_name);
        rc = dommeta_attr(w, rc, "uid", m->owner_uid);
        rc = dommeta_end(w, rc);
    }
    rc = dommeta_start(w, rc, prefix, "vmi");
    rc = dommeta_attr(w, rc, "name", m->vmi_name);
    rc = dommeta_attr(w, rc, "uid", m->vmi_uid);
    rc = dommeta_attr(w, rc, "slot", slot);
    rc = dommeta_end(w, rc);
    rc = dommeta_start(w, rc, prefix, "template");
    rc = dommeta_attr(w, rc, "hash", m->template_hash);
    rc = dommeta_end(w, rc);
    rc = dommeta_start(w, rc, prefix, "labels");
    for (size_t i = 0; i < m->labels.n; i++) {
        rc = dommeta_start(w, rc, prefix, "label");
        rc = dommeta_attr(w, rc, "key", m->labels.v[i].key);
        rc = dommeta_attr(w, rc, "value", m->labels.v[i].value);
        rc = dommeta_end(w, rc);
    }
    rc = dommeta_end(w, rc);
    if (m->nports) {
        rc = dommeta_start(w, rc, prefix, "ports");
        for (size_t i = 0; i < m->nports && i < DOMMETA_MAX_PORTS; i++) {
            char host[8], guest[8];

            snprintf(host, sizeof(host), "%u", m->ports[i].host);
            snprintf(guest, sizeof(guest), "%u", m->ports[i].guest);
            rc = dommeta_start(w, rc, prefix, "port");
            rc = dommeta_attr(w, rc, "host", host);
            rc = dommeta_attr(w, rc, "guest", guest);
            rc = dommeta_end(w, rc);
        }
        rc = dommeta_end(w, rc);
    }
    rc = dommeta_end(w, rc);
    return rc < 0 ? -1 : 0;
}

int
dommeta_write(xmlTextWriterPtr w, const struct dommeta *m)
{
    return dommeta_emit(w, m, DOMMETA_PREFIX);
}

/* Bare, because libvirt binds it: virDomainSetMetadata puts every element
 * without a namespace into the URI with the key as prefix
 * (virXMLInjectNamespace), and fails with "failed to create a new XML
 * namespace" when the element already declares that prefix. What libvirt
 * stores is then exactly what dommeta_write puts in the domain XML. */
int
dommeta_build(const struct dommeta *m, char **xml, struct vmirs_err **err)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w;
    int rc;

    if (!buf)
        return err_set(err, 0, "build vmirsd metadata: out of memory");
    w = xmlNewTextWriterMemory(buf, 0);
    if (!w) {
        xmlBufferFree(buf);
        return err_set(err, 0, "build vmirsd metadata: cannot create the XML writer");
    }
    if (!dommeta_writable(m)) {
        rc = err_set(err, 0,
                     "build vmirsd metadata: a required field is missing, or a value or the "
                     "number of labels exceeds its limit");
    } else if (dommeta_emit(w, m, NULL) < 0 || xmlTextWriterEndDocument(w) < 0) {
        rc = err_set(err, 0, "build vmirsd metadata: libxml2 writer failed");
    } else {
        *xml = xstrdup((const char *) xmlBufferContent(buf));
        rc = 0;
    }
    xmlFreeTextWriter(w);
    xmlBufferFree(buf);
    return rc;
}

void
dommeta_free(struct dommeta *m)
{
    if (!m)
        return;
    free(m->owner_namespace);
    free(m->owner_name);
    free(m->owner_uid);
    free(m->vmi_name);
    free(m->vmi_uid);
    free(m->template_hash);
    labels_free(&m->labels);
    memset(m, 0, sizeof(*m));
}

/* Whether node is one of our elements: in our namespace, or in none.
 * virDomainGetMetadata finds the element by its namespace URI and then
 * strips that namespace from it and its descendants before returning it
 * (virXMLExtractNamespaceXML), sometimes leaving an unused xmlns:vmirs
 * declaration behind; the domain XML has it bound to whatever prefix the
 * writer chose. So the URI is compared, never the prefix, and an
 * element in another namespace is not ours. */
static bool
dommeta_is_ours(const xmlNode *node)
{
    return node->type == XML_ELEMENT_NODE &&
           (!node->ns ||
            (node->ns->href && strcmp((const char *) node->ns->href, DOMMETA_NS) == 0));
}

/* The attribute name of element node, copied and bounded, in *out (NULL
 * when absent). An absent required attribute or an empty one is an error. */
static int
dommeta_attr_get(const xmlNode *node, const char *name, bool required, char **out,
                 struct vmirs_err **err)
{
    xmlChar *v = xmlGetNoNsProp(node, X(name));
    const char *el = (const char *) node->name;

    *out = NULL;
    if (!v) {
        if (required)
            return err_set(err, 0, "element `%s` has no attribute `%s`", el, name);
        return 0;
    }
    if (strlen((const char *) v) > DOMMETA_MAX_STRING) {
        xmlFree(v);
        return err_set(err, 0, "attribute `%s` of element `%s` is longer than %d bytes", name, el,
                       DOMMETA_MAX_STRING);
    }
    if (required && !*v) {
        xmlFree(v);
        return err_set(err, 0, "attribute `%s` of element `%s` is empty", name, el);
    }
    *out = xstrdup((const char *) v);
    xmlFree(v);
    return 0;
}

static int
dommeta_parse_owner(const xmlNode *node, struct dommeta *m, struct vmirs_err **err)
{
    if (dommeta_attr_get(node, "namespace", true, &m->owner_namespace, err) < 0 ||
        dommeta_attr_get(node, "name", true, &m->owner_name, err) < 0 ||
        dommeta_attr_get(node, "uid", true, &m->owner_uid, err) < 0)
        return -1;
    return 0;
}

static int
dommeta_parse_vmi(const xmlNode *node, struct dommeta *m, struct vmirs_err **err)
{
    cleanup_free char *slot = NULL;
    unsigned long v;

    if (dommeta_attr_get(node, "name", true, &m->vmi_name, err) < 0 ||
        dommeta_attr_get(node, "uid", false, &m->vmi_uid, err) < 0 ||
        dommeta_attr_get(node, "slot", false, &slot, err) < 0)
        return -1;
    /* Domains written before slots existed have none: slot 0. */
    if (!slot)
        return 0;
    /* Digits only: strtoul alone would take " 1", "+1" and "-1". */
    if (!*slot || strspn(slot, "0123456789") != strlen(slot) || strlen(slot) > 10 ||
        (v = strtoul(slot, NULL, 10)) > UINT_MAX)
        return err_set(err, 0,
                       "attribute `slot` of element `vmi`: `%s` is not a number from 0 to %u", slot,
                       UINT_MAX);
    m->slot = (unsigned) v;
    return 0;
}

static int
dommeta_parse_labels(const xmlNode *node, struct dommeta *m, struct vmirs_err **err)
{
    for (const xmlNode *c = node->children; c; c = c->next) {
        cleanup_free char *key = NULL;
        cleanup_free char *value = NULL;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!dommeta_is_ours(c) || strcmp((const char *) c->name, "label") != 0)
            return err_set(err, 0, "unexpected element `%s` in `labels`", (const char *) c->name);
        if (m->labels.n >= DOMMETA_MAX_LABELS)
            return err_set(err, 0, "more than %d labels", DOMMETA_MAX_LABELS);
        if (dommeta_attr_get(c, "key", true, &key, err) < 0)
            return -1;
        /* An empty value is a valid Kubernetes label value. */
        if (dommeta_attr_get(c, "value", false, &value, err) < 0)
            return -1;
        if (!value)
            return err_set(err, 0, "element `label` has no attribute `value`");
        if (labels_get(&m->labels, key))
            return err_set(err, 0, "label `%s` appears twice", key);
        labels_set(&m->labels, key, value);
    }
    return 0;
}

/* A TCP port number attribute: 1 to 65535. */
static int
dommeta_port_get(const xmlNode *node, const char *attr, unsigned *out, struct vmirs_err **err)
{
    cleanup_free char *v = NULL;
    unsigned long n;

    if (dommeta_attr_get(node, attr, true, &v, err) < 0)
        return -1;
    if (!v)
        return err_set(err, 0, "element `port` has no attribute `%s`", attr);
    if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 5 ||
        (n = strtoul(v, NULL, 10)) < 1 || n > 65535)
        return err_set(err, 0, "attribute `%s` of element `port`: `%s` is not a port number", attr,
                       v);
    *out = (unsigned) n;
    return 0;
}

static int
dommeta_parse_ports(const xmlNode *node, struct dommeta *m, struct vmirs_err **err)
{
    for (const xmlNode *c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!dommeta_is_ours(c) || strcmp((const char *) c->name, "port") != 0)
            return err_set(err, 0, "unexpected element `%s` in `ports`", (const char *) c->name);
        if (m->nports >= DOMMETA_MAX_PORTS)
            return err_set(err, 0, "more than %d ports", DOMMETA_MAX_PORTS);
        if (dommeta_port_get(c, "host", &m->ports[m->nports].host, err) < 0 ||
            dommeta_port_get(c, "guest", &m->ports[m->nports].guest, err) < 0)
            return -1;
        m->nports++;
    }
    return 0;
}

static int
dommeta_parse_root(const xmlNode *root, struct dommeta *m, struct vmirs_err **err)
{
    enum { CHILD_OWNER, CHILD_VMI, CHILD_TEMPLATE, CHILD_LABELS, CHILD_PORTS };
    static const char *const children[] = {"owner", "vmi", "template", "labels", "ports"};
    bool seen[ARRAY_SIZE(children)] = {false};

    if (!root)
        return err_set(err, 0, "no root element");
    if (!dommeta_is_ours(root))
        return err_set(err, 0, "root element `%s` is in namespace `%s`, expected `%s` or none",
                       (const char *) root->name,
                       root->ns->href ? (const char *) root->ns->href : "", DOMMETA_NS);
    if (strcmp((const char *) root->name, "replica") != 0)
        return err_set(err, 0, "root element is `%s`, expected `replica`",
                       (const char *) root->name);

    for (const xmlNode *c = root->children; c; c = c->next) {
        const char *name = (const char *) c->name;
        size_t i;
        int r;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!dommeta_is_ours(c))
            return err_set(err, 0, "unexpected element `%s` in namespace `%s`", name,
                           c->ns->href ? (const char *) c->ns->href : "");
        for (i = 0; i < ARRAY_SIZE(children); i++)
            if (strcmp(name, children[i]) == 0)
                break;
        if (i == ARRAY_SIZE(children))
            return err_set(err, 0, "unexpected element `%s`", name);
        if (seen[i])
            return err_set(err, 0, "element `%s` appears twice", name);
        seen[i] = true;
        switch (i) {
        case CHILD_OWNER:
            r = dommeta_parse_owner(c, m, err);
            break;
        case CHILD_VMI:
            r = dommeta_parse_vmi(c, m, err);
            break;
        case CHILD_TEMPLATE:
            /* The hash may be empty but must be there. */
            r = dommeta_attr_get(c, "hash", false, &m->template_hash, err);
            if (r == 0 && !m->template_hash)
                r = err_set(err, 0, "element `template` has no attribute `hash`");
            break;
        case CHILD_LABELS:
            r = dommeta_parse_labels(c, m, err);
            break;
        default:
            r = dommeta_parse_ports(c, m, err);
            break;
        }
        if (r < 0)
            return -1;
    }
    if (!seen[CHILD_VMI])
        return err_set(err, 0, "element `vmi` is missing");
    if (!seen[CHILD_TEMPLATE])
        return err_set(err, 0, "element `template` is missing");
    return 0;
}

int
dommeta_parse(const char *xml, struct dommeta *m, struct vmirs_err **err)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    size_t len;
    int rc;

    memset(m, 0, sizeof(*m));
    if (!xml)
        return err_set(err, 0, "parse vmirsd metadata: no XML");
    len = strnlen(xml, (size_t) DOMMETA_MAX_BYTES + 1);
    if (len > DOMMETA_MAX_BYTES)
        return err_set(err, 0, "parse vmirsd metadata: more than %d bytes", DOMMETA_MAX_BYTES);

    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return err_set(err, 0, "parse vmirsd metadata: out of memory");
    /* NONET: no network fetches. No NOENT: entities are not expanded, and
     * a document with a DTD is refused below anyway. NOERROR/NOWARNING:
     * libxml2 must not print; the error is reported through err. */
    doc = xmlCtxtReadMemory(ctxt, xml, (int) len, "metadata.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
        cleanup_free char *msg = xstrdup(e && e->message ? e->message : "unknown error");
        size_t n = strlen(msg);

        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        rc = err_set(err, 0, "parse vmirsd metadata: not well-formed XML: line %d: %s",
                     e ? e->line : 0, msg);
        xmlFreeParserCtxt(ctxt);
        return rc;
    }
    if (doc->intSubset || doc->extSubset)
        rc = err_set(err, 0, "document has a DTD");
    else
        rc = dommeta_parse_root(xmlDocGetRootElement(doc), m, err);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    if (rc < 0) {
        dommeta_free(m);
        return err_wrap(err, "parse vmirsd metadata");
    }
    return 0;
}
