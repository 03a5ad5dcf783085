/* The typed manifest model: what a VirtualMachineInstanceReplicaSet, its
 * VMI template, a ConfigMap, a Secret and a Service say, after parsing and
 * validation. Strings are owned by the structs; model_*_free() release
 * them. Every field is described once, in the schema tables of the
 * *_parse.c files, which also drive freeing (yamlnode.h). */
#ifndef VMIRS_MODEL_H
#define VMIRS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selector.h"

/* Where something was written, for diagnostics raised after parsing. */
struct src_pos {
    unsigned line, col; /* 1-based */
};

struct opt_int {
    bool set;
    int64_t v;
};

struct opt_bool {
    bool set;
    bool v;
};

/* A Kubernetes quantity as written and as a number. */
struct quantity {
    bool set;
    char *text;
    int64_t value; /* whole units, rounded up */
    int64_t milli; /* thousandths, rounded up */
};

/* intstr.IntOrString: a port number or a port name. */
struct int_or_str {
    bool set;
    bool is_str;
    int64_t i;
    char *s;
};

#define ARRAY_OF(T)                                                                                \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n;                                                                                  \
    }

struct str_array {
    char **v;
    size_t n;
};

struct objmeta {
    char *name;
    char *generate_name;
    char *namespace; /* "default" after parsing when not given */
    char *uid;
    struct labels labels;
    struct labels annotations;
    struct src_pos pos;
};

/* ---- VMI template: spec.template.spec.domain ---- */

enum disk_bus { BUS_UNSET, BUS_VIRTIO, BUS_SATA, BUS_SCSI, BUS_USB };
enum disk_cache { CACHE_UNSET, CACHE_NONE, CACHE_WRITETHROUGH, CACHE_WRITEBACK };
enum disk_kind { DISK_KIND_DISK, DISK_KIND_CDROM, DISK_KIND_LUN };

struct disk_target {
    int bus; /* enum disk_bus */
    struct opt_bool readonly;
};

struct cdrom_target {
    int bus; /* enum disk_bus */
    struct opt_bool readonly;
    char *tray;
};

struct disk {
    char *name;
    char *volume_name; /* v1alpha2: the disk names its volume */
    struct disk_target *disk;
    struct cdrom_target *cdrom;
    struct disk_target *lun;
    struct opt_int boot_order;
    char *serial;
    int cache; /* enum disk_cache */
    int io;    /* 1 + index in ("native", "threads"); 0 unset */
    struct opt_bool dedicated_io_thread;
    struct src_pos pos;
};

struct port {
    char *name;
    char *protocol; /* TCP (default), UDP */
    struct opt_int port;
};

struct empty_binding {
    int unused;
};

struct iface {
    char *name;
    char *model;
    char *mac_address;
    struct opt_int boot_order;
    struct empty_binding *masquerade;
    struct empty_binding *bridge;
    struct empty_binding *slirp;
    ARRAY_OF(struct port) ports;
    struct src_pos pos;
};

struct network {
    char *name;
    struct empty_binding *pod;
    struct src_pos pos;
};

struct cpu_spec {
    struct opt_int cores, sockets, threads;
    char *model;
    struct opt_bool dedicated_cpu_placement;
};

struct memory_spec {
    struct quantity guest;
};

struct resources {
    struct quantity req_memory, req_cpu;
    struct quantity lim_memory, lim_cpu;
};

struct feature_state {
    struct opt_bool enabled;
};

struct features {
    struct feature_state *acpi;
    struct feature_state *apic;
    struct feature_state *smm;
    struct feature_state *pvspinlock;
};

struct efi {
    struct opt_bool secure_boot;
    struct opt_bool persistent;
};

struct bios {
    struct opt_bool use_serial;
};

struct bootloader {
    struct bios *bios;
    struct efi *efi;
};

/* firmware.kernelBoot: a kernel and an initrd taken from a container
 * image (like a containerDisk's disk) and booted directly. */
struct kernel_boot_container {
    char *image;
    char *kernel_path;
    char *initrd_path;
    char *image_pull_policy;
};

struct kernel_boot {
    char *kernel_args;
    struct kernel_boot_container *container;
};

struct firmware {
    char *uuid;
    char *serial;
    struct bootloader *bootloader;
    struct kernel_boot *kernel_boot;
};

struct clock_utc {
    struct opt_int offset_seconds;
};

struct clock_spec {
    struct clock_utc *utc;
    char *timezone;
};

struct machine {
    char *type;
};

/* devices.filesystems[]: a volume shared with the guest through virtiofs
 * (tag = the volume name) instead of a disk. */
struct filesystem {
    char *name;
    struct empty_binding *virtiofs;
    struct src_pos pos;
};

struct devices {
    ARRAY_OF(struct disk) disks;
    ARRAY_OF(struct iface) interfaces;
    ARRAY_OF(struct filesystem) filesystems;
    struct empty_binding *rng; /* present: a virtio RNG fed by /dev/urandom */
    struct opt_bool autoattach_pod_interface;
    struct opt_bool autoattach_serial_console;
    struct opt_bool autoattach_mem_balloon;
    struct opt_bool autoattach_graphics_device;
};

struct domain_spec {
    struct cpu_spec cpu;
    struct memory_spec memory;
    struct resources resources;
    struct machine machine;
    struct features *features;
    struct firmware *firmware;
    struct clock_spec *clock;
    struct devices devices;
};

/* ---- volumes ---- */

struct container_disk_src {
    char *image;
    char *path;
    char *image_pull_policy;
};

/* A LocalObjectReference: a Secret in the VMIRS's namespace. */
struct local_ref {
    char *name;
    struct src_pos pos;
};

/* cloudInitNoCloud and cloudInitConfigDrive share their fields. */
struct cloud_init_src {
    char *user_data;
    char *user_data_base64;
    char *network_data;
    char *network_data_base64;
    struct local_ref *secret_ref;              /* user data from a Secret */
    struct local_ref *network_data_secret_ref; /* network data from a Secret */
};

struct empty_disk_src {
    struct quantity capacity;
};

struct pvc_ref {
    char *claim_name;
    struct opt_bool read_only;
};

struct ephemeral_src {
    struct pvc_ref persistent_volume_claim;
};

struct config_map_src {
    char *name;
    struct opt_bool optional;
    char *volume_label;
    struct src_pos pos;
};

struct secret_src {
    char *secret_name;
    struct opt_bool optional;
    char *volume_label;
    struct src_pos pos;
};

enum volume_kind {
    VOL_NONE,
    VOL_CONTAINER_DISK,
    VOL_CLOUD_INIT_NOCLOUD,
    VOL_EMPTY_DISK,
    VOL_EPHEMERAL,
    VOL_CONFIG_MAP,
    VOL_SECRET,
    VOL_CLOUD_INIT_CONFIG_DRIVE,
};

struct volume {
    char *name;
    enum volume_kind kind; /* set by validation from the one source given */
    struct container_disk_src *container_disk;
    struct cloud_init_src *cloud_init_nocloud;
    struct cloud_init_src *cloud_init_config_drive;
    struct empty_disk_src *empty_disk;
    struct ephemeral_src *ephemeral;
    struct config_map_src *config_map;
    struct secret_src *secret;
    struct src_pos pos;
};

/* ---- probes (Kubernetes semantics, KubeVirt's handlers) ---- */

struct exec_action {
    struct str_array command;
};

struct tcp_action {
    struct int_or_str port;
    char *host;
};

struct http_header {
    char *name;
    char *value;
};

struct http_action {
    char *path;
    struct int_or_str port;
    char *host;
    char *scheme; /* HTTP (default) or HTTPS */
    ARRAY_OF(struct http_header) http_headers;
};

struct empty_action {
    int unused;
};

struct probe {
    struct exec_action *exec;
    struct tcp_action *tcp_socket;
    struct http_action *http_get;
    struct empty_action *guest_agent_ping;
    struct opt_int initial_delay_seconds; /* default 0 */
    struct opt_int timeout_seconds;       /* default 1 */
    struct opt_int period_seconds;        /* default 10 */
    struct opt_int success_threshold;     /* default 1 */
    struct opt_int failure_threshold;     /* default 3 */
};

struct vmi_spec {
    struct domain_spec domain;
    ARRAY_OF(struct volume) volumes;
    ARRAY_OF(struct network) networks;
    char *hostname;
    char *subdomain;
    struct opt_int termination_grace_period_seconds; /* default 30 */
    struct probe *readiness_probe;
    struct probe *liveness_probe;
};

struct vmi_template {
    struct objmeta metadata;
    struct vmi_spec spec;
};

/* ---- top-level objects ---- */

struct label_selector_req {
    char *key;
    char *op;
    struct str_array values;
};

struct label_selector {
    struct labels match_labels;
    ARRAY_OF(struct label_selector_req) match_expressions;
};

struct vmirs_spec {
    struct opt_int replicas; /* default 1 */
    struct label_selector *selector;
    struct opt_bool paused;
    struct vmi_template *template;
};

struct vmirs {
    char *api_version;
    char *kind;
    struct objmeta metadata;
    struct vmirs_spec spec;
    struct selector selector; /* spec.selector, converted by validation */
    bool selector_mismatch;   /* selector missing, invalid or not matching the template */
    unsigned selector_errors; /* errors reported for a missing or non-matching selector */
    char *template_hash;      /* 16 hex digits of SHA-256 over the canonical spec.template */
    char *spec_json;          /* canonical JSON of spec, as the store and describe show it */
};

struct config_map {
    char *api_version;
    char *kind;
    struct objmeta metadata;
    struct labels data;
    struct labels binary_data; /* values still base64 */
    struct opt_bool immutable;
};

/* Secret data is decoded from base64 (data) or taken as is (stringData,
 * which wins); values may hold NUL bytes, hence the lengths. */
struct secret_item {
    char *key;
    char *value;
    size_t len;
};

struct secret {
    char *api_version;
    char *kind;
    char *type;
    struct objmeta metadata;
    struct labels data;        /* base64 as written */
    struct labels string_data; /* plain as written */
    struct opt_bool immutable;
    ARRAY_OF(struct secret_item) items; /* decoded, filled by validation */
};

struct service_port {
    char *name;
    char *protocol;
    struct opt_int port;
    struct int_or_str target_port;
    struct opt_int node_port;
};

struct service_spec {
    struct labels selector;
    ARRAY_OF(struct service_port) ports;
    char *cluster_ip;
    char *type; /* ClusterIP (when NULL), NodePort, LoadBalancer, ExternalName */
    struct str_array external_ips;
    char *load_balancer_ip;
    char *external_name;
    char *session_affinity;                  /* None (when NULL) or ClientIP */
    struct opt_int affinity_timeout_seconds; /* sessionAffinityConfig.clientIP.timeoutSeconds */
    struct opt_bool publish_not_ready_addresses;
};

struct service {
    char *api_version;
    char *kind;
    struct objmeta metadata;
    struct service_spec spec;
};

void model_vmirs_free(struct vmirs *v);
void model_config_map_free(struct config_map *c);
void model_secret_free(struct secret *s);
void model_service_free(struct service *s);

#endif
