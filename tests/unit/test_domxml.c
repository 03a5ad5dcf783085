/* Domain XML: a golden file for a full replica, hostile strings that
 * round-trip through a real XML parser, and libvirt accepting the result
 * on its test driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "domxml.h"
#include "util.h"

static struct labels labels = {0};

static const struct domxml_disk disks[] = {
    {.device = "disk",
     .bus = "virtio",
     .target = "vda",
     .source = "/var/lib/vmirsd/replicas/default_webbcdfg/root.qcow2",
     .format = "qcow2",
     .backing = "/var/lib/vmirsd/cache/abc/disk.img",
     .backing_format = "qcow2",
     .boot_order = 1,
     .alias = "ua-root"},
    {.device = "cdrom",
     .bus = "sata",
     .target = "sda",
     .source = "/var/lib/vmirsd/replicas/default_webbcdfg/seed.iso",
     .format = "raw",
     .readonly = true,
     .serial = "CIDATA",
     .alias = "ua-seed"},
    {.device = "disk",
     .bus = "scsi",
     .target = "sdb",
     .source = "/var/lib/vmirsd/replicas/default_webbcdfg/scratch.qcow2",
     .format = "qcow2",
     .cache = "writethrough",
     .alias = "ua-scratch"},
};

static const struct domxml_iface ifaces[] = {
    {.mac = "02:00:00:00:00:01", .model = "virtio", .alias = "ua-default"},
};

static struct domxml
full_domain(void)
{
    return (struct domxml){
        .type = "qemu",
        .name = "default_webbcdfg",
        .uuid = "5d307ca9-b3ef-428c-8861-06e72d69f223",
        .serial = "s-1",
        .memory_bytes = 134217728,
        .sockets = 1,
        .cores = 2,
        .threads = 1,
        .machine = "q35",
        .acpi = true,
        .smm = true,
        .efi = true,
        .secure_boot = true,
        .nvram = "/var/lib/vmirsd/replicas/default_webbcdfg/efi_VARS.fd",
        .clock_offset = "utc",
        .clock_adjustment = 3600,
        .disks = disks,
        .ndisks = ARRAY_SIZE(disks),
        .scsi_controller = true,
        .ifaces = ifaces,
        .nifaces = ARRAY_SIZE(ifaces),
        .network = "user",
        .serial_log = "/var/lib/vmirsd/replicas/default_webbcdfg/serial.log",
        .serial_console = true,
        .memballoon = true,
        .vmirs_namespace = "default",
        .vmirs_name = "web",
        .vmirs_uid = "0b3a6d6e-5c1e-5a8b-9d1f-2c3d4e5f6a7b",
        .vmi_name = "webbcdfg",
        .vmi_uid = "00010203-0405-4607-8809-0a0b0c0d0e0f",
        .template_hash = "0123456789abcdef",
        .labels = &labels,
    };
}

static int
setup(void **state)
{
    labels_set(&labels, "app", "web");
    labels_set(&labels, "kubevirt.io/vmReplicaSet", "web");
    return 0;
}

static int
teardown(void **state)
{
    labels_free(&labels);
    return 0;
}

static void
test_golden(void **state)
{
    struct domxml d = full_domain();
    struct vmirs_err *err = NULL;
    char *xml = NULL, *want = NULL, *path = fixture_path("domxml/full.xml");

    assert_int_equal(domxml_build(&d, &xml, &err), 0);
    if (getenv("VMIRS_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");

        fputs(xml, f);
        fclose(f);
    }
    assert_int_equal(read_file(path, &want, NULL), 0);
    assert_string_equal(xml, want);
    free(want);
    free(path);
    free(xml);
}

/* Evaluate an XPath (with the vmirs prefix bound) to a string. */
static char *
xpath_string(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr obj;
    char *s;

    xmlXPathRegisterNs(ctx, (const xmlChar *) "vmirs", (const xmlChar *) DOMXML_NS);
    obj = xmlXPathEvalExpression((const xmlChar *) expr, ctx);
    assert_non_null(obj);
    s = (char *) xmlXPathCastToString(obj);
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(ctx);
    return s;
}

static void
test_hostile_strings_round_trip(void **state)
{
    static const char *const hostile = "a<b>&c\"d'e]]>f";
    struct labels evil = {0};
    struct domxml d = full_domain();
    struct domxml_disk k = disks[0];
    struct vmirs_err *err = NULL;
    char *xml = NULL, *s;
    xmlDocPtr doc;

    labels_set(&evil, "app", hostile);
    d.labels = &evil;
    d.vmirs_name = hostile;
    d.serial = hostile;
    k.source = "/tmp/<x>&'\"]]>.qcow2";
    d.disks = &k;
    d.ndisks = 1;
    assert_int_equal(domxml_build(&d, &xml, &err), 0);
    doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    s = xpath_string(doc, "string(/domain/metadata/vmirs:replica/vmirs:owner/@name)");
    assert_string_equal(s, hostile);
    xmlFree(s);
    s = xpath_string(
        doc, "string(/domain/metadata/vmirs:replica/vmirs:labels/vmirs:label[@key='app']/@value)");
    assert_string_equal(s, hostile);
    xmlFree(s);
    s = xpath_string(doc, "string(/domain/sysinfo/system/entry[@name='serial'])");
    assert_string_equal(s, hostile);
    xmlFree(s);
    s = xpath_string(doc, "string(/domain/devices/disk/source/@file)");
    assert_string_equal(s, "/tmp/<x>&'\"]]>.qcow2");
    xmlFree(s);
    xmlFreeDoc(doc);
    free(xml);
    labels_free(&evil);
}

static void
quiet(void *opaque, virErrorPtr e)
{
}

static void
test_libvirt_accepts_it(void **state)
{
    struct domxml d = full_domain();
    struct vmirs_err *err = NULL;
    char *xml = NULL, *meta;
    virConnectPtr conn;
    virDomainPtr dom;

    /* The test driver runs no QEMU: firmware autoselection and the pty
     * devices are what a real QEMU domain needs, the rest is the same. */
    d.type = "test";
    d.efi = false;
    assert_int_equal(domxml_build(&d, &xml, &err), 0);
    virSetErrorFunc(NULL, quiet);
    conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom)
        fail_msg("virDomainCreateXML: %s\n%s", virGetLastErrorMessage(), xml);
    meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMXML_NS, 0);
    assert_non_null(meta);
    assert_non_null(strstr(meta, "name=\"webbcdfg\""));
    assert_non_null(strstr(meta, "hash=\"0123456789abcdef\""));
    free(meta);
    assert_int_equal(virDomainDestroy(dom), 0);
    virDomainFree(dom);
    virConnectClose(conn);
    free(xml);
}

static void
test_schema_valid(void **state)
{
    struct domxml d = full_domain();
    struct vmirs_err *err = NULL;
    char *xml = NULL, *dir = tmpdir_make();
    char *path = write_tmpfile(dir, "d.xml", "");
    char *cmd = NULL;
    FILE *f;

    assert_int_equal(domxml_build(&d, &xml, &err), 0);
    f = fopen(path, "w");
    fputs(xml, f);
    fclose(f);
    if (system("command -v virt-xml-validate >/dev/null") != 0)
        skip();
    assert_true(asprintf(&cmd, "virt-xml-validate '%s' domain >/dev/null", path) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(path);
    free(xml);
    tmpdir_remove(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_hostile_strings_round_trip),
        cmocka_unit_test(test_libvirt_accepts_it),
        cmocka_unit_test(test_schema_valid),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
