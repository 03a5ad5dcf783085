#!/usr/bin/env python3
"""Write the seeds of fuzz_oci into seeds/oci/ (run from tests/fuzz/).

Each seed is the reader byte of fuzz_oci.c, then one or two parts split by
a line "----". Blobs name each other by their real sha256, so the seeds
reach the end of each reader."""
import hashlib
import io
import json
import tarfile

SEP = b"\n----\n"
ZERO = "sha256:" + "0" * 64


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write(name, mode, parts):
    with open(f"seeds/oci/{name}", "wb") as f:
        f.write(bytes([mode]) + SEP.join(parts))


layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "a" * 64,
         "size": 1234}
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "b" * 64]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": digest(config), "size": len(config)},
                       "layers": [layer]}, indent=2).encode()
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [
                        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ZERO,
                         "size": 7, "platform": {"os": "linux", "architecture": "arm64"}},
                        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": digest(manifest), "size": len(manifest),
                         "platform": {"os": "linux", "architecture": "amd64"}}]}, indent=2).encode()
ref_name = "org.opencontainers.image.ref.name"
layout_index = json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest),
     "size": len(manifest), "annotations": {ref_name: "latest"}},
    {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest(index),
     "size": len(index), "annotations": {ref_name: "localhost/cirros:1.0"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ZERO, "size": 1,
     "annotations": {ref_name: "quay.io/a/cirros@" + ZERO}}]}, indent=2).encode()

# The first byte: reader (byte % 6), reference asked for (byte / 6 % 4),
# and for blobs the docker media types (byte / 24 % 2).
write("index-json-tag", 0, [layout_index])
write("index-json-localhost", 6, [layout_index, b'{"imageLayoutVersion": "1.0.0"}'])
write("index-json-digest", 12, [layout_index])
write("manifest-blob", 1, [manifest, config])
write("manifest-blob-docker", 25, [manifest.replace(b"vnd.oci.image.manifest.v1+json",
                                                    b"vnd.docker.distribution.manifest.v2+json"),
                                   config])
write("index-blob", 2, [index, manifest])
docker = json.dumps([{"Config": "config.json", "RepoTags": ["cirros:latest", "localhost/cirros:1.0"],
                      "Layers": ["0123/layer.tar"]},
                     {"Config": "x.json", "RepoTags": None, "Layers": ["../evil.tar"]}]).encode()
write("docker-archive", 3, [docker, config])
write("docker-archive-localhost", 9, [docker, config])
for i, r in enumerate(["cirros", "Quay.io/kubevirt/cirros-container-disk-demo:v1.4.0",
                       "localhost:5000/a/b@" + ZERO, "registry.example.com/a/b:tag@" + ZERO,
                       "a/b/c/d_e.f-g__h:1.2-3"]):
    write(f"ref-{i}", 4, [r.encode()])

# A docker-archive whose manifest.json is a symbolic link and config.json a hard link.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    def add(name, data):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))

    def link(name, kind, target):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.linkname = target
        t.addfile(ti)

    add("real/manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["cirros:latest"],
                                            "Layers": ["0123/layer.tar"]}]).encode())
    link("manifest.json", tarfile.SYMTYPE, "real/manifest.json")
    add("cfg", config)
    link("config.json", tarfile.LNKTYPE, "cfg")
write("tar-links", 5, [buf.getvalue()])
