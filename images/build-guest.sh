#!/bin/sh
# Build the vmirs test guest (SPEC §9) offline from Debian packages: a
# BIOS-bootable qcow2 (syslinux on a FAT superfloppy, a Debian kernel, a
# busybox initramfs with its own /init and guest agent), packed as a
# containerDisk, and the same kernel and initramfs packed as a kernel-boot
# image (KubeVirt's firmware.kernelBoot.container), each as an OCI image in
# one layout and as a docker-archive.
#
# Usage: images/build-guest.sh OUTDIR
#
# Writes OUTDIR/oci/ (index names localhost/vmirs-test-guest:latest and
# localhost/vmirs-test-guest-kernel:latest), OUTDIR/vmirs-test-guest.tar
# and OUTDIR/vmirs-test-guest-kernel.tar. Nothing needs root, a loop
# device or a mount: mtools and syslinux's mtools installer work on the
# image file.
#
# Environment:
#   VMIRS_IMAGE_CACHE   downloaded .debs and the extracted kernel
#                       (default OUTDIR/../cache); reused by later runs
#   VMIRS_GUEST_KERNEL  generic (default) or cloud, see images/README.md
#   VMIRS_IMAGE_REF     the containerDisk's reference (default
#                       localhost/vmirs-test-guest:latest)
#   VMIRS_KERNEL_IMAGE_REF  the kernel-boot image's reference (default
#                       localhost/vmirs-test-guest-kernel:latest)
#   VMIRS_IMAGE_FORCE   non-empty: rebuild even when up to date
#
# Build host packages: apt dpkg kmod cpio gzip tar coreutils dosfstools
# mtools syslinux syslinux-common qemu-utils (see images/README.md).
#
# The same inputs give the same bytes, so the same digests: every
# timestamp is pinned (files, cpio, gzip, tar, the FAT directory) and the
# FAT volume id is fixed.

set -eu

usage() {
    echo "usage: $0 OUTDIR" >&2
    exit 2
}

die() {
    echo "build-guest: $*" >&2
    exit 1
}

log() {
    echo "build-guest: $*" >&2
}

[ $# -eq 1 ] || usage
case $1 in -*) usage ;; esac

here=$(cd "$(dirname "$0")" && pwd)
guest=$here/guest
mkdir -p "$1"
out=$(cd "$1" && pwd)
cache=${VMIRS_IMAGE_CACHE:-$out/../cache}
mkdir -p "$cache/debs" "$cache/kernel"
cache=$(cd "$cache" && pwd)
# The cache is build output too; keep it out of git wherever it lands.
[ -f "$cache/.gitignore" ] || echo '*' >"$cache/.gitignore"
flavour=${VMIRS_GUEST_KERNEL:-generic}
ref=${VMIRS_IMAGE_REF:-localhost/vmirs-test-guest:latest}
kref=${VMIRS_KERNEL_IMAGE_REF:-localhost/vmirs-test-guest-kernel:latest}
[ "$kref" != "$ref" ] || die "VMIRS_KERNEL_IMAGE_REF must differ from VMIRS_IMAGE_REF"

for t in apt-cache apt-get dpkg-deb depmod modprobe cpio gzip tar sha256sum \
    mkfs.fat mcopy syslinux qemu-img dd od; do
    command -v "$t" >/dev/null 2>&1 || die "missing \`$t\`: see images/README.md for the packages to install"
done
[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] ||
    die "missing syslinux's BIOS modules: install syslinux-common"

case $flavour in
generic) meta=linux-image-amd64 ;;
cloud) meta=linux-image-cloud-amd64 ;;
*) die "VMIRS_GUEST_KERNEL must be generic or cloud, not \`$flavour\`" ;;
esac

export LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH=0 MTOOLS_SKIP_CHECK=1

# ---------------------------------------------------------------------------
# Packages: resolve names and versions with apt-cache, so a kernel security
# update is picked up, and fetch each .deb once into the cache. Offline and
# with no package lists, fall back to the newest cached .deb.

# The fetched .deb of package $1, version $2, from the cache or apt.
fetch() {
    f=$cache/debs/$1_$(printf '%s' "$2" | sed 's/:/%3a/g')_amd64.deb
    if [ ! -s "$f" ]; then
        log "download $1 $2"
        (cd "$cache/debs" && apt-get download -q "$1=$2" >/dev/null 2>&1) ||
            die "download \`$1=$2\` failed: is apt's archive reachable?"
        [ -s "$f" ] || die "download \`$1=$2\` did not give \`$f\`"
    fi
    echo "$f"
}

# "name version" of a .deb from its file name (name_version_arch.deb).
debid() {
    basename "$1" .deb | sed -e 's/%3a/:/g' -e 's/_amd64$//' -e 's/_/ /'
}

newest_cached() {
    ls "$cache/debs" 2>/dev/null | grep -E "^$1_" | sort -V | tail -n 1
}

# One apt-cache call gives the candidate versions of the metapackage,
# whose Depends pins the kernel package and so its ABI
# ("linux-image-6.1.0-56-amd64 (= 6.1.192-2)"), and of busybox-static.
# Debian's container images turn apt's binary cache off, so each call
# parses every package list (1.4 s here); a private binary cache in our
# cache dir brings that to 0.4 s, and apt rebuilds it whenever the lists
# or dpkg's status change.
# shellcheck disable=SC2046
set -- $(apt-cache -o Dir::Cache::pkgcache="$cache/apt-pkgcache.bin" \
    show --no-all-versions "$meta" busybox-static 2>/dev/null | awk -v meta="$meta" '
    $1 == "Package:" { p = $2 }
    p == meta && $1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ && $3 == "(=" {
        v = $4; sub(/\)[,]?$/, "", v); print $2, v }
    p == "busybox-static" && $1 == "Version:" { print "busybox-static", $2 }')
if [ $# -eq 4 ] && [ "$3" = busybox-static ]; then
    kdeb=$(fetch "$1" "$2")
    bdeb=$(fetch busybox-static "$4")
else
    # No package lists (a fresh machine before apt-get update): use what
    # the cache has, so a cached build keeps working offline.
    if [ "$flavour" = cloud ]; then
        k=$(newest_cached 'linux-image-[0-9.]+-[0-9]+-cloud-amd64')
    else
        k=$(newest_cached 'linux-image-[0-9.]+-[0-9]+-amd64')
    fi
    b=$(newest_cached busybox-static)
    [ -n "$k" ] && [ -n "$b" ] ||
        die "cannot resolve \`$meta\` or busybox-static with apt-cache: run \`apt-get update\`"
    log "apt-cache gave no candidates; using the cached $k and $b"
    kdeb=$cache/debs/$k
    bdeb=$cache/debs/$b
fi
kdeb_name=${kdeb##*/}
kdeb_name=${kdeb_name%.deb}

# ---------------------------------------------------------------------------
# Up to date? The inputs are this script, the guest files, the two .debs
# and the build host's tools that write bytes into the image (syslinux's
# boot code, for one); the stamp is their digest, written last.

stamp=$( (
    cat "$0" "$guest"/*
    printf '%s\n' "$flavour" "$ref" "$kref" "${kdeb##*/}" "${bdeb##*/}"
    dpkg-query -W -f '${Package} ${Version}\n' syslinux syslinux-common mtools dosfstools \
        qemu-utils cpio gzip tar kmod 2>/dev/null || :
) | sha256sum | cut -d' ' -f1)
if [ -z "${VMIRS_IMAGE_FORCE:-}" ] && [ -f "$out/.stamp" ] &&
    [ "$(cat "$out/.stamp")" = "$stamp" ] && [ -f "$out/oci/index.json" ] &&
    [ -f "$out/vmirs-test-guest.tar" ] && [ -f "$out/vmirs-test-guest-kernel.tar" ]; then
    log "up to date: $out"
    exit 0
fi
rm -f "$out/.stamp"

work=$out/.work
chmod -R u+w "$work" 2>/dev/null || :
rm -rf "$work"
mkdir -p "$work"
# The layer's disk/ is 0555: make it writable again before removing it.
cleanup() {
    chmod -R u+w "$work" 2>/dev/null || :
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# ---------------------------------------------------------------------------
# Kernel: vmlinuz and the closure of the modules the guest loads, kept in
# the cache per kernel package and module list (unpacking the generic
# kernel's 400 MB takes 5 s; the closure is 3-4 MB).

mods=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$guest/modules")
kkey=$kdeb_name-$(printf '%s\n' "$mods" | sha256sum | cut -c1-12)
kdir=$cache/kernel/$kkey
if [ ! -f "$kdir/done" ]; then
    log "extract $kdeb_name"
    rm -rf "$kdir" "$kdir.tmp"
    mkdir -p "$kdir.tmp/x" "$kdir.tmp/root"
    dpkg-deb -x "$kdeb" "$kdir.tmp/x"
    kv=$(ls "$kdir.tmp/x/lib/modules")
    [ -n "$kv" ] && [ -f "$kdir.tmp/x/boot/vmlinuz-$kv" ] || die "no kernel in $kdeb"
    depmod -b "$kdir.tmp/x" "$kv"
    have=
    for m in $mods; do
        deps=$(modprobe -d "$kdir.tmp/x" -S "$kv" --show-depends "$m" 2>/dev/null) || {
            log "kernel $kv has no module $m: left out"
            continue
        }
        have="$have $m"
        printf '%s\n' "$deps" | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
            rel=${ko#"$kdir.tmp/x/"}
            mkdir -p "$kdir.tmp/root/${rel%/*}"
            cp "$ko" "$kdir.tmp/root/$rel"
        done
    done
    cp "$kdir.tmp/x/lib/modules/$kv"/modules.builtin* "$kdir.tmp/x/lib/modules/$kv/modules.order" \
        "$kdir.tmp/root/lib/modules/$kv/"
    depmod -b "$kdir.tmp/root" "$kv"
    printf '%s\n' $have >"$kdir.tmp/modules"
    echo "$kv" >"$kdir.tmp/kv"
    cp "$kdir.tmp/x/boot/vmlinuz-$kv" "$kdir.tmp/vmlinuz"
    rm -rf "$kdir.tmp/x"
    touch "$kdir.tmp/done"
    mv "$kdir.tmp" "$kdir"
fi
kv=$(cat "$kdir/kv")

# ---------------------------------------------------------------------------
# Initramfs: busybox-static with its applet links, the kernel modules and
# the guest's own files.

root=$work/root
mkdir -p "$root"
cp -a "$kdir/root/." "$root/"
for d in bin sbin etc etc/acpi etc/vmguest lib/vmguest proc sys dev run tmp mnt root; do
    mkdir -p "$root/$d"
done
dpkg-deb -x "$bdeb" "$work/busybox"
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
# Relative links, so the tree also runs on the build host (test-image.sh
# tests the agent with it).
"$root/bin/busybox" --list-full | while read -r a; do
    case $a in
    bin/busybox) continue ;;
    bin/* | sbin/*) ;;
    usr/bin/* | usr/sbin/*) a=${a#usr/} ;;
    *) continue ;;
    esac
    [ -e "$root/$a" ] || [ -h "$root/$a" ] && continue
    case $a in
    bin/*) ln -s busybox "$root/$a" ;;
    sbin/*) ln -s ../bin/busybox "$root/$a" ;;
    esac
done
install -m 0755 "$guest/init" "$root/init"
install -m 0755 "$guest/qga" "$root/bin/qga"
install -m 0755 "$guest/udhcpc.script" "$root/etc/udhcpc.script"
install -m 0755 "$guest/power-button" "$root/etc/acpi/power-button"
install -m 0644 "$guest/acpid.conf" "$root/etc/acpid.conf"
install -m 0644 "$guest/inittab" "$root/etc/inittab"
install -m 0644 "$guest/json.awk" "$root/lib/vmguest/json.awk"
install -m 0644 "$kdir/modules" "$root/etc/vmguest/modules"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\ntty:x:5:\n' >"$root/etc/group"
printf 'vmirs test guest: %s, %s\n' "$(debid "$kdeb")" "$(debid "$bdeb")" >"$root/etc/vmguest/version"
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
    gzip -n -6 >"$work/initrd.gz"

# ---------------------------------------------------------------------------
# Boot disk: a partitionless FAT superfloppy that SeaBIOS boots from
# virtio-blk or SATA, with syslinux installed on the image file.

cat >"$work/syslinux.cfg" <<'EOF'
DEFAULT vmguest
PROMPT 0
TIMEOUT 0
LABEL vmguest
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=ttyS0 quiet
EOF
cp "$kdir/vmlinuz" "$work/vmlinuz"
touch -d @315532800 "$work/vmlinuz" "$work/initrd.gz" "$work/syslinux.cfg"
kib=$((($(stat -c %s "$work/vmlinuz") + $(stat -c %s "$work/initrd.gz")) / 1024 + 1024))
mkfs.fat --invariant -C -n VMGUEST -i 766d6972 "$work/disk.img" "$kib" >/dev/null
mcopy -m -i "$work/disk.img" "$work/vmlinuz" "$work/initrd.gz" "$work/syslinux.cfg" ::/
syslinux --install "$work/disk.img"

# mtools and syslinux stamp directory entries with the current time and
# have no SOURCE_DATE_EPOCH: pin every root-directory entry's creation,
# access and modification time to 1980-01-01 00:00 (DOS date 0x0021).
fat_pin_times() {
    u16() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }
    u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
    bps=$(u16 "$1" 11)
    rsvd=$(u16 "$1" 14)
    nfats=$(u8 "$1" 16)
    nroot=$(u16 "$1" 17)
    fatsz=$(u16 "$1" 22)
    [ "$fatsz" -gt 0 ] || die "unexpected FAT32 boot disk"
    rootoff=$(((rsvd + nfats * fatsz) * bps))
    i=0
    while [ $i -lt "$nroot" ]; do
        e=$((rootoff + i * 32))
        first=$(u8 "$1" $e)
        [ "$first" -eq 0 ] && break
        if [ "$first" -ne 229 ] && [ "$(u8 "$1" $((e + 11)))" -ne 15 ]; then
            # bytes 13-19: ctime tenths, ctime, cdate, adate; 22-25: mtime, mdate
            printf '\000\000\000\041\000\041\000' | dd of="$1" bs=1 seek=$((e + 13)) conv=notrunc 2>/dev/null
            printf '\000\000\041\000' | dd of="$1" bs=1 seek=$((e + 22)) conv=notrunc 2>/dev/null
        fi
        i=$((i + 1))
    done
}
fat_pin_times "$work/disk.img"
qemu-img convert -f raw -O qcow2 "$work/disk.img" "$work/disk.qcow2"

# ---------------------------------------------------------------------------
# Two images, each of one layer, in one OCI layout and each as a
# docker-archive:
#   - the containerDisk $ref: disk/ (0555) and disk/disk.qcow2 (0440),
#     uid/gid 107 as in KubeVirt's docs (ADD --chown=107:107 ... /disk/);
#   - the kernel-boot image $kref (KubeVirt's firmware.kernelBoot.container,
#     kernelPath /boot/vmlinuz, initrdPath /boot/initrd.img): boot/ (0555),
#     boot/vmlinuz and boot/initrd.img (0444), the same kernel and
#     initramfs as on the boot disk, uid/gid 107 too.

mkdir -p "$work/disk/layer/disk" "$work/kernel/layer/boot"
mv "$work/disk.qcow2" "$work/disk/layer/disk/disk.qcow2"
chmod 0440 "$work/disk/layer/disk/disk.qcow2"
chmod 0555 "$work/disk/layer/disk"
cp "$work/vmlinuz" "$work/kernel/layer/boot/vmlinuz"
cp "$work/initrd.gz" "$work/kernel/layer/boot/initrd.img"
chmod 0444 "$work/kernel/layer/boot/vmlinuz" "$work/kernel/layer/boot/initrd.img"
chmod 0555 "$work/kernel/layer/boot"
tar_opts="--format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
    --sort=name --mtime=@0 --numeric-owner"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

oci=$work/oci
mkdir -p "$oci/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
index=

# pack DIR REF TITLE TOP: the image of DIR/layer/TOP, its blobs into the OCI
# layout, its index entry appended to $index, DIR/archive.tar its
# docker-archive; sets $manifest and $layer.
pack() {
    d=$1 pref=$2 title=$3 top=$4
    # shellcheck disable=SC2086
    tar -cf "$d/layer.tar" $tar_opts --owner=107 --group=107 -C "$d/layer" "$top"
    gzip -n -6 <"$d/layer.tar" >"$d/layer.tar.gz"
    diffid=$(sha "$d/layer.tar")
    layer=$(sha "$d/layer.tar.gz")

    # The image config: fixed "created" (umoci 0.4.7 panics without one)
    # and labels naming what went in.
    printf '%s' "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\",\
\"config\":{\"Labels\":{\"org.opencontainers.image.title\":\"$title\",\
\"io.vmirs.guest.kernel\":\"$kv\",\"io.vmirs.guest.kernel-package\":\"$(debid "$kdeb")\",\
\"io.vmirs.guest.busybox-package\":\"$(debid "$bdeb")\"}},\
\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diffid\"]},\
\"history\":[{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"images/build-guest.sh\"}]}" \
        >"$d/config.json"
    config=$(sha "$d/config.json")

    printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\
\"digest\":\"sha256:$config\",\"size\":$(size "$d/config.json")},\
\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\
\"digest\":\"sha256:$layer\",\"size\":$(size "$d/layer.tar.gz")}]}" >"$d/manifest.json"
    manifest=$(sha "$d/manifest.json")

    cp "$d/config.json" "$oci/blobs/sha256/$config"
    cp "$d/manifest.json" "$oci/blobs/sha256/$manifest"
    cp "$d/layer.tar.gz" "$oci/blobs/sha256/$layer"
    # skopeo writes only the tag ("latest") as
    # org.opencontainers.image.ref.name for oci:DIR:latest; SPEC §9 wants
    # the index to name the full reference, so both annotations carry it
    # (containerd's io.containerd.image.name too).
    index="$index${index:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"digest\":\"sha256:$manifest\",\"size\":$(size "$d/manifest.json"),\
\"annotations\":{\"io.containerd.image.name\":\"$pref\",\
\"org.opencontainers.image.ref.name\":\"$pref\"}}"

    # docker-archive, as `docker save` (legacy layout) and skopeo write
    # it: manifest.json, the config as <digest>.json, the uncompressed
    # layer.
    da=$d/docker
    repo=${pref%:*}
    tag=${pref##*:}
    mkdir -p "$da/$diffid"
    cp "$d/config.json" "$da/$config.json"
    ln "$d/layer.tar" "$da/$diffid/layer.tar"
    printf '1.0' >"$da/$diffid/VERSION"
    printf '%s' "{\"id\":\"$diffid\",\"created\":\"1970-01-01T00:00:00Z\",\"os\":\"linux\"}" >"$da/$diffid/json"
    printf '%s' "[{\"Config\":\"$config.json\",\"RepoTags\":[\"$pref\"],\"Layers\":[\"$diffid/layer.tar\"]}]" \
        >"$da/manifest.json"
    printf '%s' "{\"$repo\":{\"$tag\":\"$diffid\"}}" >"$da/repositories"
    find "$da" -exec touch -h -d @0 {} +
    chmod -R u=rwX,go=rX "$da"
    # shellcheck disable=SC2086
    tar -cf "$d/archive.tar" $tar_opts --owner=0 --group=0 -C "$da" \
        manifest.json repositories "$config.json" "$diffid"
}

pack "$work/disk" "$ref" vmirs-test-guest disk
disk_manifest=$manifest disk_layer=$layer
pack "$work/kernel" "$kref" vmirs-test-guest-kernel boot
kernel_manifest=$manifest kernel_layer=$layer

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\
\"manifests\":[$index]}" >"$oci/index.json"
find "$oci" -exec touch -h -d @0 {} +
chmod -R u=rwX,go=rX "$oci"

# Replace the outputs only now, so a failed build leaves the old ones.
rm -rf "$out/oci" "$out/vmirs-test-guest.tar" "$out/vmirs-test-guest-kernel.tar"
mv "$oci" "$out/oci"
mv "$work/disk/archive.tar" "$out/vmirs-test-guest.tar"
mv "$work/kernel/archive.tar" "$out/vmirs-test-guest-kernel.tar"
echo "$stamp" >"$out/.stamp"
log "built $ref ($flavour kernel $kv): qcow2 $(size "$work/disk/layer/disk/disk.qcow2") bytes," \
    "layer $(size "$out/oci/blobs/sha256/$disk_layer") bytes, manifest sha256:$disk_manifest"
log "built $kref: /boot/vmlinuz $(size "$work/vmlinuz") bytes, /boot/initrd.img $(size "$work/initrd.gz") bytes," \
    "layer $(size "$out/oci/blobs/sha256/$kernel_layer") bytes, manifest sha256:$kernel_manifest"
