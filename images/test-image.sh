#!/bin/sh
# Check a built test guest offline, in a few seconds, so that a broken
# image build fails here and not as a mysterious boot failure later:
#   - the OCI layout: oci-layout, index.json naming both refs (the
#     containerDisk and the kernel-boot image), every blob's digest and
#     size, each config's diff_id;
#   - the containerDisk layer: exactly disk/ (0555) and disk/disk.qcow2
#     (0440), uid/gid 107, mtime 0;
#   - the qcow2: no backing file, and a boot disk with syslinux, kernel and
#     initramfs (/init, the agent, busybox, the modules);
#   - the kernel-boot layer: exactly boot/ (0555), boot/vmlinuz and
#     boot/initrd.img (0444), uid/gid 107, mtime 0, the same files as on
#     the boot disk;
#   - the docker-archives: manifest.json with the RepoTag, the same config
#     and layer;
#   - skopeo inspect of every image, when skopeo is installed;
#   - the guest agent itself, run on this host with the guest's busybox
#     (qga --stdio never powers anything off).
#
# Usage: images/test-image.sh [-q] OUTDIR    (-q: print only failures)
# Needs tar, gzip, sha256sum, qemu-img and mtools (skopeo optional); no
# root, no network.

set -eu

quiet=
[ "${1-}" = -q ] && quiet=1 && shift
[ $# -eq 1 ] || {
    echo "usage: $0 [-q] OUTDIR" >&2
    exit 2
}
out=$(cd "$1" && pwd)
ref=${VMIRS_IMAGE_REF:-localhost/vmirs-test-guest:latest}
kref=${VMIRS_KERNEL_IMAGE_REF:-localhost/vmirs-test-guest-kernel:latest}
export LC_ALL=C TZ=UTC MTOOLS_SKIP_CHECK=1

fails=0
ok() {
    [ -n "$quiet" ] || printf 'ok - %s\n' "$*"
}
not_ok() {
    printf 'not ok - %s\n' "$*"
    fails=$((fails + 1))
}
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
die() {
    not_ok "$*"
    exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmirs-test-image.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

oci=$out/oci
blobs=$oci/blobs/sha256
[ -f "$oci/index.json" ] || die "no $oci/index.json: run images/build-guest.sh $out"
[ -f "$out/vmirs-test-guest.tar" ] || die "no $out/vmirs-test-guest.tar"
[ -f "$out/vmirs-test-guest-kernel.tar" ] || die "no $out/vmirs-test-guest-kernel.tar"

# The initramfs comes first: its busybox awk and json.awk parse the JSON
# below, so the guest's own parser is exercised on every run too.
layer_of() {
    sed -n 's/.*"layers":\[{[^]]*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' "$1"
}
# The manifest digest index.json gives ref $1, one entry per line first.
manifest_of() {
    sed 's/}},{/}}\n{/g' "$oci/index.json" | grep -F "\"org.opencontainers.image.ref.name\":\"$1\"" |
        sed -n 's/.*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' | head -n 1
}
manifest=$(manifest_of "$ref")
[ -n "$manifest" ] && [ -f "$blobs/$manifest" ] || die "index.json names no manifest blob for $ref"
kmanifest=$(manifest_of "$kref")
[ -n "$kmanifest" ] && [ -f "$blobs/$kmanifest" ] || die "index.json names no manifest blob for $kref"
layer=$(layer_of "$blobs/$manifest")
[ -n "$layer" ] && [ -f "$blobs/$layer" ] || die "the manifest names no layer blob"
mkdir "$tmp/layer"
tar -xzf "$blobs/$layer" -C "$tmp/layer" || die "the layer is not a gzip tar"
chmod -R u+w "$tmp/layer"
qcow=$tmp/layer/disk/disk.qcow2
[ -f "$qcow" ] || die "the layer has no disk/disk.qcow2"
qemu-img convert -f qcow2 -O raw "$qcow" "$tmp/disk.img" || die "qemu-img cannot read disk.qcow2"
mkdir "$tmp/boot" "$tmp/root"
mcopy -n -i "$tmp/disk.img" ::/initrd.gz ::/syslinux.cfg ::/vmlinuz "$tmp/boot/" ||
    die "no vmlinuz or initrd.gz on the boot disk"
(cd "$tmp/root" && gzip -dc "$tmp/boot/initrd.gz" | cpio -id --quiet) || die "initrd.gz is not a gzip cpio"
bb=$tmp/root/bin/busybox
[ -x "$bb" ] || die "no /bin/busybox in the initramfs"

# Parse a JSON file into J_* shell variables in the current shell.
json() {
    unset_json
    eval "$("$bb" awk -f "$tmp/root/lib/vmguest/json.awk" "$1")"
    [ -z "${J_error-}" ] || not_ok "$1 is not valid JSON: $J_error"
}
unset_json() {
    for v in $(set | sed -n 's/^\([JT]_[A-Za-z0-9_]*\)=.*/\1/p'); do
        unset "$v"
    done
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# --- OCI layout -----------------------------------------------------------
json "$oci/oci-layout"
check "oci-layout is version 1.0.0" [ "${J_imageLayoutVersion-}" = 1.0.0 ]

json "$oci/index.json"
check "index.json holds two manifests" [ "${J_manifests_n-}" = 2 ]
check "index.json names the ref $ref first" \
    [ "${J_manifests_0_annotations_org_opencontainers_image_ref_name-}" = "$ref" ]
check "index.json names the ref $kref second" \
    [ "${J_manifests_1_annotations_org_opencontainers_image_ref_name-}" = "$kref" ]
check "index.json: containerd's image names" \
    [ "${J_manifests_0_annotations_io_containerd_image_name-}:${J_manifests_1_annotations_io_containerd_image_name-}" = "$ref:$kref" ]
for i in 0 1; do
    eval "mt=\${J_manifests_${i}_mediaType-} dg=\${J_manifests_${i}_digest-} sz=\${J_manifests_${i}_size-}"
    check "index.json: manifest $i media type" [ "$mt" = application/vnd.oci.image.manifest.v1+json ]
    check "index.json: manifest $i size" [ "$sz" = "$(size "$blobs/${dg#sha256:}" 2>/dev/null)" ]
done
check "index.json: the two refs name different manifests" [ "$manifest" != "$kmanifest" ]

n=0 bad=0
for b in "$blobs"/*; do
    n=$((n + 1))
    [ "$(sha "$b")" = "${b##*/}" ] || {
        echo "#   blob ${b##*/} has digest $(sha "$b")"
        bad=$((bad + 1))
    }
done
check "all $n blobs match their digests" [ $bad -eq 0 ]
check "exactly 6 blobs (config, manifest, layer of each image)" [ $n -eq 6 ]

# check_manifest LABEL MANIFEST: the manifest, its config and its one
# layer; sets config, layer and diffid.
check_manifest() {
    json "$blobs/$2"
    config=${J_config_digest-}
    config=${config#sha256:}
    layer=${J_layers_0_digest-}
    layer=${layer#sha256:}
    check "$1 manifest: schemaVersion 2" [ "${J_schemaVersion-}" = 2 ]
    check "$1 manifest: config media type" \
        [ "${J_config_mediaType-}" = application/vnd.oci.image.config.v1+json ]
    check "$1 manifest: config blob and size" [ "${J_config_size-}" = "$(size "$blobs/$config" 2>/dev/null)" ]
    check "$1 manifest: one layer" [ "${J_layers_n-}" = 1 ]
    check "$1 manifest: layer media type" \
        [ "${J_layers_0_mediaType-}" = application/vnd.oci.image.layer.v1.tar+gzip ]
    check "$1 manifest: layer size" [ "${J_layers_0_size-}" = "$(size "$blobs/$layer" 2>/dev/null)" ]
    diffid=$(gzip -dc "$blobs/$layer" | sha256sum | cut -d' ' -f1)
    json "$blobs/$config"
    check "$1 config: amd64 linux" [ "${J_architecture-}:${J_os-}" = amd64:linux ]
    check "$1 config: created is set (umoci needs it)" [ -n "${J_created-}" ]
    check "$1 config: diff_id is the uncompressed layer" [ "${J_rootfs_diff_ids_0-}" = "sha256:$diffid" ]
    check "$1 config: title $3" [ "${J_config_Labels_org_opencontainers_image_title-}" = "$3" ]
}
check_manifest "$kref" "$kmanifest" vmirs-test-guest-kernel
kconfig=$config klayer=$layer kdiffid=$diffid
check_manifest "$ref" "$manifest" vmirs-test-guest
[ "$layer" = "$(layer_of "$blobs/$manifest")" ] || not_ok "the layer read with sed is not the manifest's"

# --- the layer -------------------------------------------------------------
listing=$(tar --numeric-owner -tvzf "$blobs/$layer" | awk '{ print $1, $2, $4, $5, $6 }')
expected="dr-xr-xr-x 107/107 1970-01-01 00:00 disk/
-r--r----- 107/107 1970-01-01 00:00 disk/disk.qcow2"
check "layer holds exactly disk/ 0555 and disk/disk.qcow2 0440, 107:107, mtime 0" \
    [ "$listing" = "$expected" ]
[ "$listing" = "$expected" ] || printf '%s\n' "$listing" | sed 's/^/#   /'
# POSIX/pax headers say "ustar\0" "00" at offset 257; GNU's say "ustar  \0".
magic=$(gzip -dc "$blobs/$layer" | od -An -c -j 257 -N 8 | tr -d ' ')
check "layer is a pax/POSIX tar ($magic)" [ "$magic" = 'ustar\000' ]

# --- the kernel-boot layer -------------------------------------------------
listing=$(tar --numeric-owner -tvzf "$blobs/$klayer" | awk '{ print $1, $2, $4, $5, $6 }')
expected="dr-xr-xr-x 107/107 1970-01-01 00:00 boot/
-r--r--r-- 107/107 1970-01-01 00:00 boot/initrd.img
-r--r--r-- 107/107 1970-01-01 00:00 boot/vmlinuz"
check "kernel layer holds exactly boot/ 0555, boot/initrd.img and boot/vmlinuz 0444, 107:107, mtime 0" \
    [ "$listing" = "$expected" ]
[ "$listing" = "$expected" ] || printf '%s\n' "$listing" | sed 's/^/#   /'
magic=$(gzip -dc "$blobs/$klayer" | od -An -c -j 257 -N 8 | tr -d ' ')
check "kernel layer is a pax/POSIX tar ($magic)" [ "$magic" = 'ustar\000' ]
mkdir "$tmp/klayer"
tar -xzf "$blobs/$klayer" -C "$tmp/klayer" || not_ok "the kernel layer is not a gzip tar"
chmod -R u+w "$tmp/klayer"
check "kernel layer: boot/vmlinuz is the boot disk's vmlinuz" cmp -s "$tmp/klayer/boot/vmlinuz" "$tmp/boot/vmlinuz"
check "kernel layer: boot/initrd.img is the boot disk's initrd.gz" \
    cmp -s "$tmp/klayer/boot/initrd.img" "$tmp/boot/initrd.gz"
check "kernel layer: boot/vmlinuz is a bzImage" \
    [ "$(od -An -c -j 514 -N 4 "$tmp/klayer/boot/vmlinuz" 2>/dev/null | tr -d ' ')" = HdrS ]

# --- the disk --------------------------------------------------------------
info=$(qemu-img info --output=json "$qcow")
check "disk.qcow2 is qcow2" sh -c "printf '%s' '$info' | grep -q '\"format\": \"qcow2\"'"
check "disk.qcow2 has no backing file" sh -c "! printf '%s' '$info' | grep -q backing"
check "disk.qcow2 passes qemu-img check" qemu-img check -q "$qcow"
files=$(mdir -a -b -i "$tmp/disk.img" ::/ | sed 's|^::/||' | tr 'A-Z' 'a-z' | sort | tr '\n' ' ')
check "boot disk holds syslinux, kernel and initramfs ($files)" \
    [ "$files" = "initrd.gz ldlinux.c32 ldlinux.sys syslinux.cfg vmlinuz " ]
check "syslinux.cfg boots with the console on ttyS0" grep -q 'APPEND console=ttyS0' "$tmp/boot/syslinux.cfg"
check "FAT boot sector carries syslinux" sh -c "head -c 512 '$tmp/disk.img' | grep -q SYSLINUX"
bad=
for f in init bin/qga bin/sh sbin/init sbin/modprobe etc/udhcpc.script etc/acpi/power-button; do
    [ -x "$tmp/root/$f" ] || bad="$bad /$f"
done
for f in etc/inittab etc/acpid.conf lib/vmguest/json.awk etc/vmguest/modules; do
    [ -f "$tmp/root/$f" ] || bad="$bad /$f"
done
check "initramfs: /init, the agent, busybox and the guest's files${bad:+ (missing:$bad)}" [ -z "$bad" ]
kv=$(ls "$tmp/root/lib/modules")
check "initramfs: modules.dep for $kv" [ -s "$tmp/root/lib/modules/$kv/modules.dep" ]
bad=
for m in virtio_pci virtio_blk virtio_console virtio_net isofs sr_mod sd_mod button evdev; do
    grep -qx "$m" "$tmp/root/etc/vmguest/modules" || bad="$bad $m"
done
check "initramfs: virtio, console, network, iso9660, cdrom, disk and power button modules${bad:+ (missing:$bad)}" \
    [ -z "$bad" ]

# --- docker-archives -------------------------------------------------------
# check_archive FILE REF CONFIG DIFFID
check_archive() {
    d=$tmp/da-${1##*/}
    mkdir "$d"
    tar -xf "$1" -C "$d" || {
        not_ok "${1##*/} is not a tar"
        return
    }
    json "$d/manifest.json"
    check "${1##*/}: one image" [ "${J__n-}" = 1 ]
    check "${1##*/}: RepoTags [$2]" [ "${J__0_RepoTags_n-}:${J__0_RepoTags_0-}" = "1:$2" ]
    check "${1##*/}: Config is the OCI config" [ "${J__0_Config-}" = "$3.json" ]
    check "${1##*/}: the config file is identical" cmp -s "$d/$3.json" "$blobs/$3"
    check "${1##*/}: one layer" [ "${J__0_Layers_n-}" = 1 ]
    check "${1##*/}: the layer is the OCI layer uncompressed" \
        [ "$(sha "$d/${J__0_Layers_0-none}" 2>/dev/null)" = "$4" ]
}
check_archive "$out/vmirs-test-guest.tar" "$ref" "$config" "$diffid"
check_archive "$out/vmirs-test-guest-kernel.tar" "$kref" "$kconfig" "$kdiffid"

# --- skopeo, when installed --------------------------------------------------
# skopeo_check LABEL TRANSPORT:REF WANT: skopeo inspect's Digest (OCI) or
# its one layer (docker-archive, whose layers are the uncompressed tars).
skopeo_check() {
    r=$(skopeo inspect "$2" 2>&1) || {
        not_ok "skopeo inspect $2"
        printf '%s\n' "$r" | sed 's/^/#   /'
        return
    }
    printf '%s' "$r" >"$tmp/skopeo.json"
    json "$tmp/skopeo.json"
    case $1 in
    oci) check "skopeo inspect $2: Digest" [ "${J_Digest-}" = "sha256:$3" ] ;;
    *) check "skopeo inspect $2: the one layer" [ "${J_Layers_n-}:${J_Layers_0-}" = "1:sha256:$3" ] ;;
    esac
}
if command -v skopeo >/dev/null 2>&1; then
    skopeo_check oci "oci:$oci:$ref" "$manifest"
    skopeo_check oci "oci:$oci:$kref" "$kmanifest"
    skopeo_check docker "docker-archive:$out/vmirs-test-guest.tar" "$diffid"
    skopeo_check docker "docker-archive:$out/vmirs-test-guest-kernel.tar" "$kdiffid"
else
    ok "# SKIP skopeo is not installed"
fi

# --- the guest agent, on this host -----------------------------------------
qga() {
    printf '%s\n' "$@" | PATH="$tmp/root/bin:$tmp/root/sbin" QGA_LIB="$tmp/root/lib/vmguest" \
        QGA_STATE="$tmp/qga" "$bb" sh "$tmp/root/bin/qga" --stdio 2>/dev/null
}
expect() {
    desc=$1
    want=$2
    shift 2
    got=$(qga "$@")
    if [ "$got" = "$want" ]; then ok "agent: $desc"; else
        not_ok "agent: $desc"
        printf '#   sent %s\n#   want %s\n#   got  %s\n' "$*" "$want" "$got"
    fi
}
expect guest-ping '{"return": {}}' '{"execute":"guest-ping"}'
expect guest-sync '{"return": 123456789012}' '{"execute":"guest-sync","arguments":{"id":123456789012}}'
expect "guest-sync-delimited answers after 0xFF" "$(printf '\377'){\"return\": 5}" \
    "$(printf '\377'){\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":5}}"
expect "guest-get-host-name" "{\"return\": {\"host-name\": \"$(hostname)\"}}" \
    '{"execute":"guest-get-host-name"}'
expect "unknown command" \
    '{"error": {"class": "CommandNotFound", "desc": "The command guest-fsfreeze-freeze has not been found"}}' \
    '{"execute":"guest-fsfreeze-freeze"}'
expect "bad JSON" '{"error": {"class": "GenericError", "desc": "JSON parse error, expected a key at offset 2"}}' '{x'
expect "id is echoed" '{"return": {}, "id": "a\"b"}' '{"execute":"guest-ping","id":"a\"b"}'
expect "guest-exec of a missing program" \
    '{"error": {"class": "GenericError", "desc": "Failed to execute child process \"/nonexistent\" (No such file or directory)"}}' \
    '{"execute":"guest-exec","arguments":{"path":"/nonexistent"}}'
r=$(qga '{"execute":"guest-exec","arguments":{"path":"sh","arg":["-c","printf \"%s|\" \"$@\"; echo err >&2; exit 3","sh","a b","it'"'"'s","\u00e9"],"capture-output":true}}')
pid=$(printf '%s' "$r" | sed -n 's/^{"return": {"pid": \([0-9]*\)}}$/\1/p')
check "agent: guest-exec returns a pid ($r)" [ -n "$pid" ]
i=0
while :; do
    r=$(qga "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":${pid:-0}}}")
    case $r in *'"exited": false'*) ;; *) break ;; esac
    i=$((i + 1))
    [ $i -lt 50 ] || break
    sleep 0.1
done
want="{\"return\": {\"exited\": true, \"exitcode\": 3, \"out-data\": \"$(printf 'a b|it'"'"'s|\303\251|' | base64 -w0)\", \"err-data\": \"$(echo err | base64 -w0)\"}}"
check "agent: guest-exec-status returns exit code, stdout and stderr" [ "$r" = "$want" ]
[ "$r" = "$want" ] || printf '#   want %s\n#   got  %s\n' "$want" "$r"
r=$(qga "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":${pid:-0}}}")
check "agent: an exited process is reported once" \
    [ "$r" = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter 'pid'\"}}" ]
r=$(qga '{"execute":"guest-exec","arguments":{"path":"cat","input-data":"aGVsbG8=","capture-output":true}}')
pid=$(printf '%s' "$r" | sed -n 's/^{"return": {"pid": \([0-9]*\)}}$/\1/p')
sleep 0.3
r=$(qga "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":${pid:-0}}}")
check "agent: guest-exec passes input-data to stdin" \
    [ "$r" = '{"return": {"exited": true, "exitcode": 0, "out-data": "aGVsbG8="}}' ]
expect "guest-shutdown sends no answer (as qemu-ga)" '' '{"execute":"guest-shutdown"}'

# --- meta-data as KubeVirt writes it ---------------------------------------
printf '{"instance-id": "8c0b1f0e-7f2e-4b0a-9c55-2a7d1d2f6a10", "local-hostname": "web-x7k2p"}\n' >"$tmp/md"
json "$tmp/md"
check "json.awk reads KubeVirt's meta-data" \
    [ "${J_instance_id-}/${J_local_hostname-}" = "8c0b1f0e-7f2e-4b0a-9c55-2a7d1d2f6a10/web-x7k2p" ]

if [ $fails -ne 0 ]; then
    echo "test-image: $fails check(s) failed for $out" >&2
    exit 1
fi
echo "test-image: all checks passed for $out" >&2
