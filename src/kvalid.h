/* Kubernetes' syntax rules for object names, label keys and label values,
 * with Kubernetes' own wording. Pure code. Each returns 0 when s is valid,
 * else -1 and a malloc'd reason in *why (the text after "Invalid value:
 * \"...\": " in a Kubernetes validation error). */
#ifndef VMIRS_KVALID_H
#define VMIRS_KVALID_H

/* RFC 1123 subdomain (object names, namespaces' parent rule): <= 253. */
int kvalid_dns1123_subdomain(const char *s, char **why);
/* RFC 1123 label (namespaces, port names, volume/disk names): <= 63. */
int kvalid_dns1123_label(const char *s, char **why);
/* Qualified name with an optional DNS-subdomain prefix ("kubevirt.io/vmReplicaSet"). */
int kvalid_label_key(const char *s, char **why);
/* Label value: empty, or <= 63 alphanumerics with '-', '_', '.' inside. */
int kvalid_label_value(const char *s, char **why);

#endif
