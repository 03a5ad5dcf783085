#!/bin/sh
# Boot the test guest under libvirt and check what SPEC §9 promises, one
# guest per case, one after the other:
#   disk        the containerDisk booted by the BIOS: the NoCloud hostname
#               and #! user-data, the configMap-like ISO under
#               /mnt/cfgdata, the guest agent (guest-ping, guest-sync,
#               guest-get-host-name, guest-exec, guest-exec-status), httpd,
#               the port-22 banner, DHCP and the ACPI power button;
#   kernel      the kernel-boot image's /boot/vmlinuz and /boot/initrd.img
#               booted directly (<os><kernel><initrd><cmdline>), no disk
#               but a NoCloud seed: hostname, user-data, the command line;
#   configdrive the containerDisk with an OpenStack config drive (label
#               config-2) instead of NoCloud: hostname and instance-id from
#               meta_data.json, #! user_data, the drive mounted once;
#   virtiofs    the containerDisk with two virtio-fs filesystems (libvirt
#               starts virtiofsd, shared memfd memory): both tags found
#               and mounted at /mnt/<tag>, a host file read and a guest
#               file written through them.
# Prints, per case, the seconds from `virsh create` to READY on the serial
# console and to the first guest-ping answer.
#
# Usage: images/boot-check.sh OUTDIR      (OUTDIR as given to build-guest.sh)
#
# Environment:
#   VMIRS_LIBVIRT_URI      default qemu:///system
#   VMIRS_BOOT_CHECK_TYPE  domain type, default qemu (TCG: KVM on these
#                          hosts is PVM and cannot run a BIOS boot)
#   VMIRS_BOOT_CHECK_CASES the cases to run, default "disk kernel
#                          configdrive virtiofs"
#   VMIRS_BOOT_CHECK_SEED_BUS  virtio (default) or sata: where the disk
#                          case's cidata seed goes (sata needs the generic
#                          kernel)
#   VMIRS_VIRTIOFSD        virtiofsd for the virtiofs case, default
#                          /usr/lib/qemu/virtiofsd (QEMU's, Debian 12)
#   VMIRS_BOOT_CHECK_KEEP  non-empty: keep the temporary directory
#
# Needs root (qemu:///system), libvirt-daemon-system, qemu-system-x86,
# qemu-utils and xorriso; the virtiofs case also needs virtiofsd
# (qemu-system-common on Debian 12). The disk and kernel are taken out of
# the OCI layers with tar here; vmirsd's image store does that properly.

set -eu

usage() {
    echo "usage: $0 OUTDIR" >&2
    exit 2
}

die() {
    echo "boot-check: FAIL: $*" >&2
    exit 1
}

log() {
    echo "boot-check: $*" >&2
}

[ $# -eq 1 ] || usage
out=$(cd "$1" && pwd) || usage
uri=${VMIRS_LIBVIRT_URI:-qemu:///system}
dtype=${VMIRS_BOOT_CHECK_TYPE:-qemu}
seedbus=${VMIRS_BOOT_CHECK_SEED_BUS:-virtio}
cases=${VMIRS_BOOT_CHECK_CASES:-disk kernel configdrive virtiofs}
virtiofsd=${VMIRS_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
ref=${VMIRS_IMAGE_REF:-localhost/vmirs-test-guest:latest}
kref=${VMIRS_KERNEL_IMAGE_REF:-localhost/vmirs-test-guest-kernel:latest}
for c in $cases; do
    case $c in
    disk | kernel | configdrive | virtiofs) ;;
    *) die "unknown case \`$c\` in VMIRS_BOOT_CHECK_CASES (disk kernel configdrive virtiofs)" ;;
    esac
done
case $seedbus in
virtio | sata) ;;
*) die "VMIRS_BOOT_CHECK_SEED_BUS must be virtio or sata" ;;
esac
for t in virsh qemu-img xorriso tar sed awk; do
    command -v "$t" >/dev/null 2>&1 || die "missing \`$t\`"
done
[ -f "$out/oci/index.json" ] || die "no image in $out: run images/build-guest.sh $out"

virsh() {
    command virsh -q -c "$uri" "$@"
}

now() {
    date +%s.%N
}

since() {
    awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

# libvirtd: started by hand where no init system runs it. Without udev
# /dev/kvm can be root-only, and libvirt then re-probes QEMU on every call
# (44 s per create), so fix its mode first.
if ! virsh version >/dev/null 2>&1; then
    if [ -c /dev/kvm ]; then
        chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
    fi
    log "starting virtlogd and libvirtd"
    virtlogd -d
    libvirtd -d
    i=0
    until virsh version >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || die "libvirtd did not answer on $uri"
        sleep 0.1
    done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmirs-boot-check.XXXXXX")
chmod 0755 "$tmp"
prefix=vmirs-boot-check-${tmp##*.}
names=
cleanup() {
    for n in $names; do
        virsh destroy "$n" >/dev/null 2>&1 || :
    done
    if [ -n "${VMIRS_BOOT_CHECK_KEEP:-}" ]; then
        log "kept $tmp"
    else
        chmod -R u+w "$tmp" 2>/dev/null || :
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The layers: index -> the manifest index.json names $1 -> its one layer,
# unpacked into $2. index.json is written one manifest per line first.
blobs=$out/oci/blobs/sha256
unpack() {
    m=$(sed 's/}},{/}}\n{/g' "$out/oci/index.json" |
        grep -F "\"org.opencontainers.image.ref.name\":\"$1\"" |
        sed -n 's/.*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' | head -n 1)
    [ -n "$m" ] || die "no manifest for $1 in $out/oci/index.json"
    l=$(sed -n 's/.*"layers":\[{[^]]*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' "$blobs/$m")
    [ -n "$l" ] || die "no layer in manifest $m"
    mkdir -p "$2"
    tar -xzf "$blobs/$l" -C "$2"
}
case " $cases " in *" disk "* | *" configdrive "* | *" virtiofs "*)
    unpack "$ref" "$tmp/containerdisk"
    base=$tmp/containerdisk/disk/disk.qcow2
    [ -f "$base" ] || die "$ref has no disk/disk.qcow2"
    ;;
esac
case " $cases " in *" kernel "*)
    unpack "$kref" "$tmp/kernelboot"
    [ -f "$tmp/kernelboot/boot/vmlinuz" ] && [ -f "$tmp/kernelboot/boot/initrd.img" ] ||
        die "$kref has no boot/vmlinuz and boot/initrd.img"
    ;;
esac

# iso LABEL DIR FILE
iso() {
    xorriso -as mkisofs -quiet -V "$1" -J -r -o "$3" "$2" 2>/dev/null ||
        die "xorriso failed to make the $1 ISO"
}

# The devices every case has: the serial console in a file, the agent
# channel and a user-mode NIC.
common_devices() {
    cat <<EOF
    <serial type='file'>
      <source path='$tmp/$1.serial.log'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <interface type='user'>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <memballoon model='none'/>
EOF
}

# A per-case qcow2 overlay over the containerDisk, as vmirsd makes one per
# replica, and its <disk> element.
overlay_disk() {
    qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$tmp/$1.overlay.qcow2"
    cat <<EOF
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$tmp/$1.overlay.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
EOF
}

# A read-only ISO: ro_disk FILE DEV BUS DEVICE
ro_disk() {
    cat <<EOF
    <disk type='file' device='$4'>
      <driver name='qemu' type='raw'/>
      <source file='$1'/>
      <target dev='$2' bus='$3'/>
      <readonly/>
    </disk>
EOF
}

# domain CASE OS EXTRA DEVICES: the domain XML of case CASE in
# $tmp/CASE.xml (EXTRA goes before <os>, e.g. <memoryBacking>).
domain() {
    cat >"$tmp/$1.xml" <<EOF
<domain type='$dtype'>
  <name>$prefix-$1</name>
  <memory unit='MiB'>128</memory>
  $3
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>$2</os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
$4
$(common_devices "$1")
  </devices>
</domain>
EOF
}

agent() {
    virsh qemu-agent-command "$name" "$1" 2>&1 || :
}

fail() {
    echo "--- serial console ($case):" >&2
    cat "$serial" >&2 2>/dev/null || :
    die "$case: $*"
}

# boot CASE: create the domain of $tmp/CASE.xml and wait for READY and the
# first guest-ping; sets name, serial, ready and ping.
boot() {
    case=$1
    name=$prefix-$1
    serial=$tmp/$1.serial.log
    names="$names $name"
    t0=$(now)
    virsh create "$tmp/$1.xml" >/dev/null || die "$case: virsh create failed"
    log "$case: created $name ($dtype) in $(since "$t0") s"

    # Poll the agent every 100 ms; note when READY shows on the serial file.
    ready=
    ping=
    while :; do
        el=$(since "$t0")
        if [ -z "$ready" ] && grep -q 'vmguest: READY' "$serial" 2>/dev/null; then
            ready=$el
        fi
        if [ "$(agent '{"execute":"guest-ping"}')" = '{"return":{}}' ]; then
            ping=$(since "$t0")
            break
        fi
        grep -q 'Kernel panic' "$serial" 2>/dev/null && fail "the guest kernel panicked"
        state=$(virsh domstate "$name" 2>/dev/null || echo gone)
        case $state in
        running*) ;;
        *) fail "domain is $state before the agent answered" ;;
        esac
        awk -v e="$el" 'BEGIN { exit !(e > 120) }' && fail "no guest-ping answer in 120 s"
        sleep 0.1
    done
    # The agent starts just before READY is printed, so the ping can win.
    i=0
    until [ -n "$ready" ]; do
        grep -q 'vmguest: READY' "$serial" && ready=$(since "$t0")
        i=$((i + 1))
        [ $i -lt 50 ] || fail "guest-ping answered but no READY on the serial console"
        sleep 0.1
    done
}

# Run a command in the guest and print its stdout (guest-exec, then
# guest-exec-status until it has exited). Arguments must not hold quotes.
guest_run() {
    path=$1
    shift
    args=
    for a in "$@"; do
        args="$args${args:+,}\"$a\""
    done
    r=$(agent "{\"execute\":\"guest-exec\",\"arguments\":{\"path\":\"$path\",\"arg\":[$args],\"capture-output\":true}}")
    pid=$(printf '%s' "$r" | sed -n 's/^{"return":{"pid":\([0-9]*\)}}$/\1/p')
    [ -n "$pid" ] || fail "guest-exec: $r"
    i=0
    while :; do
        r=$(agent "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}")
        case $r in *'"exited":true'*) break ;; esac
        i=$((i + 1))
        [ $i -lt 100 ] || fail "guest-exec-status never exited: $r"
        sleep 0.1
    done
    case $r in *'"exitcode":0'*) ;; *) fail "guest-exec $*: $r" ;; esac
    printf '%s' "$r" | sed -n 's/.*"out-data":"\([^"]*\)".*/\1/p' | base64 -d
}

host_name_is() {
    r=$(agent '{"execute":"guest-get-host-name"}')
    [ "$r" = "{\"return\":{\"host-name\":\"$1\"}}" ] || fail "guest-get-host-name: $r, not $1"
}

# The READY line, and a kill (the disk case checks a graceful stop).
finish() {
    sed -n 's/.*\(vmguest: READY .*\)/\1/p' "$serial" | tr -d '\r' >&2
    virsh destroy "$name" >/dev/null 2>&1 || :
    echo "boot-check: OK: $case: READY after ${ready} s, guest-ping after ${ping} s${1:+, $1}"
}

# A NoCloud seed as KubeVirt writes it (JSON meta-data): nocloud CASE HOST
nocloud() {
    mkdir -p "$tmp/$1.seed"
    printf '{"instance-id": "%s", "local-hostname": "%s"}\n' "boot-check-$1-${tmp##*.}" "$2" \
        >"$tmp/$1.seed/meta-data"
    printf '#!/bin/sh\necho "user-data ran as $(id -u)" >/run/user-data-proof\n' >"$tmp/$1.seed/user-data"
    iso cidata "$tmp/$1.seed" "$tmp/$1.seed.iso"
}

# ---------------------------------------------------------------------------
case_disk() {
    iid=boot-check-disk-${tmp##*.}
    nocloud disk probe-guest
    mkdir -p "$tmp/cfg"
    printf 'hello' >"$tmp/cfg/greeting"
    iso cfgdata "$tmp/cfg" "$tmp/cfg.iso"
    case $seedbus in
    virtio) seed=$(ro_disk "$tmp/disk.seed.iso" vdb virtio disk) ;;
    sata) seed=$(ro_disk "$tmp/disk.seed.iso" sda sata cdrom) ;;
    esac
    domain disk "<boot dev='hd'/>" "" "$(overlay_disk disk)
$seed
$(ro_disk "$tmp/cfg.iso" vdc virtio disk)"
    boot disk

    r=$(agent '{"execute":"guest-sync","arguments":{"id":424242}}')
    [ "$r" = '{"return":424242}' ] || fail "guest-sync: $r"
    host_name_is probe-guest
    r=$(agent '{"execute":"guest-nonsense"}')
    case $r in *"guest-nonsense has not been found"*) ;; *) fail "unknown command: $r" ;; esac

    g=$(guest_run /bin/cat /mnt/cfgdata/greeting)
    [ "$g" = hello ] || fail "/mnt/cfgdata/greeting is \`$g\`, not hello"
    u=$(guest_run /bin/cat /run/user-data-proof)
    [ "$u" = "user-data ran as 0" ] || fail "user-data proof is \`$u\`"
    w=$(guest_run /bin/wget -q -O - http://127.0.0.1/)
    case $w in *"hostname=probe-guest"*"instance-id=$iid"*) ;; *) fail "httpd page: $w" ;; esac
    b=$(guest_run /bin/sh -c "nc -w 5 127.0.0.1 22 </dev/null")
    [ "$b" = SSH-2.0-vmguest ] || fail "port 22 banner: \`$b\`"

    grep -q "vmguest: READY hostname=probe-guest instance-id=$iid seed=/dev/" "$serial" ||
        fail "no READY line with hostname and instance-id"
    # DHCP runs in the background; give it a moment after READY.
    i=0
    until grep -q 'vmguest: NET ip=10.0.2.15' "$serial"; do
        i=$((i + 1))
        [ $i -lt 50 ] || fail "no DHCP lease (vmguest: NET ip=10.0.2.15)"
        sleep 0.1
    done

    # A graceful stop through the ACPI power button (busybox acpid).
    t1=$(now)
    virsh shutdown --mode acpi "$name" >/dev/null || fail "virsh shutdown --mode acpi"
    i=0
    while virsh domstate "$name" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "no power-off 20 s after the ACPI power button"
        sleep 0.1
    done
    finish "ACPI power-off in $(since "$t1") s (seed on $seedbus)"
}

# KubeVirt's firmware.kernelBoot: the kernel and initrd from the image,
# kernelArgs as the command line; no boot disk at all.
case_kernel() {
    iid=boot-check-kernel-${tmp##*.}
    nocloud kernel kernel-guest
    cmdline="console=ttyS0 quiet vmguest.boot-check=kernel"
    domain kernel "<kernel>$tmp/kernelboot/boot/vmlinuz</kernel>\
<initrd>$tmp/kernelboot/boot/initrd.img</initrd><cmdline>$cmdline</cmdline>" "" \
        "$(ro_disk "$tmp/kernel.seed.iso" vda virtio disk)"
    boot kernel
    host_name_is kernel-guest
    u=$(guest_run /bin/cat /run/user-data-proof)
    [ "$u" = "user-data ran as 0" ] || fail "user-data proof is \`$u\`"
    c=$(guest_run /bin/cat /proc/cmdline)
    [ "$c" = "$cmdline" ] || fail "/proc/cmdline is \`$c\`, not \`$cmdline\`"
    grep -q "vmguest: READY hostname=kernel-guest instance-id=$iid seed=/dev/vda " "$serial" ||
        fail "no READY line with hostname, instance-id and seed=/dev/vda"
    finish "direct kernel boot"
}

# KubeVirt's cloudInitConfigDrive: an ISO labelled config-2 with
# openstack/latest/{meta_data.json,user_data}. hostname wins over
# local_hostname, instance_id over uuid.
case_configdrive() {
    d=$tmp/configdrive.iso.d/openstack/latest
    mkdir -p "$d"
    uuid=6a1c1e2e-0b4f-4c55-9b1e-${tmp##*.}
    printf '{"instance_id": "cd-%s", "uuid": "%s", "hostname": "cfgdrive-guest", "local_hostname": "not-this-one", "devices": [], "public_keys": {"k": "ssh-ed25519 AAAA x"}}\n' \
        "${tmp##*.}" "$uuid" >"$d/meta_data.json"
    printf '#!/bin/sh\ntouch /run/configdrive-proof\necho "user_data ran as $(id -u)" >/run/user-data-proof\n' >"$d/user_data"
    printf '{"links": [], "networks": [], "services": []}\n' >"$d/network_data.json"
    iso config-2 "$tmp/configdrive.iso.d" "$tmp/configdrive.iso"
    domain configdrive "<boot dev='hd'/>" "" "$(overlay_disk configdrive)
$(ro_disk "$tmp/configdrive.iso" vdb virtio disk)"
    boot configdrive
    host_name_is cfgdrive-guest
    guest_run /bin/test -e /run/configdrive-proof || fail "user_data did not touch /run/configdrive-proof"
    u=$(guest_run /bin/cat /run/user-data-proof)
    [ "$u" = "user_data ran as 0" ] || fail "user_data proof is \`$u\`"
    i=$(guest_run /bin/cat /run/vmguest/instance-id)
    [ "$i" = "cd-${tmp##*.}" ] || fail "instance-id is \`$i\`, not cd-${tmp##*.}"
    m=$(guest_run /bin/grep -c "^/dev/vdb " /proc/mounts)
    [ "$m" = 1 ] || fail "/dev/vdb is mounted $m times, not once"
    guest_run /bin/test -f /mnt/config-2/openstack/latest/meta_data.json ||
        fail "no /mnt/config-2/openstack/latest/meta_data.json"
    grep -q "vmguest: READY hostname=cfgdrive-guest instance-id=cd-${tmp##*.} seed=/dev/vdb " "$serial" ||
        fail "no READY line with the config drive's hostname, instance-id and seed=/dev/vdb"

    # Without instance_id and hostname: uuid and local_hostname.
    printf '{"uuid": "%s", "local_hostname": "cfgdrive-local"}\n' "$uuid" >"$d/meta_data.json"
    printf '#!/bin/sh\nexit 3\n' >"$d/user_data"
    rm -f "$tmp/configdrive.iso"
    iso config-2 "$tmp/configdrive.iso.d" "$tmp/configdrive.iso"
    r1=$ready p1=$ping
    virsh destroy "$name" >/dev/null 2>&1 || :
    rm -f "$serial"
    domain configdrive "<boot dev='hd'/>" "" "$(overlay_disk configdrive)
$(ro_disk "$tmp/configdrive.iso" vdb virtio disk)"
    boot configdrive
    host_name_is cfgdrive-local
    grep -q "vmguest: user-data exit=3" "$serial" || fail "user_data exit 3 not reported"
    grep -q "vmguest: READY hostname=cfgdrive-local instance-id=$uuid seed=/dev/vdb " "$serial" ||
        fail "no READY line with local_hostname and uuid"
    finish "second boot (uuid, local_hostname) READY after $r1 s, guest-ping after $p1 s"
}

# KubeVirt's filesystems with the virtiofs driver: libvirt starts
# virtiofsd per filesystem; the guest finds both tags by itself (the
# containerDisk's command line names none) and mounts them at /mnt/<tag>.
case_virtiofs() {
    [ -x "$virtiofsd" ] || {
        log "virtiofs: SKIP: no $virtiofsd (qemu-system-common), set VMIRS_VIRTIOFSD"
        return 0
    }
    nocloud virtiofs virtiofs-guest
    mkdir -p "$tmp/share-a" "$tmp/share-b"
    printf 'from the host' >"$tmp/share-a/hello"
    chmod 0777 "$tmp/share-b"
    fs() {
        cat <<EOF
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      <binary path='$virtiofsd'/>
      <source dir='$1'/>
      <target dir='$2'/>
    </filesystem>
EOF
    }
    domain virtiofs "<boot dev='hd'/>" \
        "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>" \
        "$(overlay_disk virtiofs)
$(ro_disk "$tmp/virtiofs.seed.iso" vdb virtio disk)
$(fs "$tmp/share-a" data-a)
$(fs "$tmp/share-b" scratch.b)"
    boot virtiofs
    host_name_is virtiofs-guest
    h=$(guest_run /bin/cat /mnt/data-a/hello)
    [ "$h" = "from the host" ] || fail "/mnt/data-a/hello is \`$h\`"
    guest_run /bin/sh -c "echo from the guest >/mnt/scratch.b/back" >/dev/null
    [ "$(cat "$tmp/share-b/back" 2>/dev/null)" = "from the guest" ] ||
        fail "the guest's /mnt/scratch.b/back did not reach the host"
    for t in data-a scratch.b; do
        grep -q "vmguest: mounted virtiofs tag=$t at /mnt/$t" "$serial" || fail "no mount line for tag $t"
    done
    finish "tags data-a and scratch.b found and mounted"
}

for c in $cases; do
    "case_$c"
done
