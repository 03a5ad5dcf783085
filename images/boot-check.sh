#!/bin/sh
# Boot the test guest once under libvirt and check what SPEC §9 promises:
# the NoCloud hostname and #! user-data, the configMap-like ISO under
# /mnt/cfgdata, and the guest agent (guest-ping, guest-get-host-name,
# guest-exec, guest-exec-status). Prints the seconds from `virsh create`
# to READY on the serial console and to the first guest-ping answer.
#
# Usage: images/boot-check.sh OUTDIR      (OUTDIR as given to build-guest.sh)
#
# Environment:
#   VMIRS_LIBVIRT_URI      default qemu:///system
#   VMIRS_BOOT_CHECK_TYPE  domain type, default qemu (TCG: KVM on these
#                          hosts is PVM and cannot run a BIOS boot)
#   VMIRS_BOOT_CHECK_SEED_BUS  virtio (default) or sata: where the cidata
#                          seed goes (sata needs the generic kernel)
#   VMIRS_BOOT_CHECK_KEEP  non-empty: keep the temporary directory
#
# Needs root (qemu:///system), libvirt-daemon-system, qemu-system-x86,
# qemu-utils and xorriso. The disk is taken out of the OCI layer with tar
# here; vmirsd's image store does that properly.

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
name=vmirs-boot-check-${tmp##*.}
cleanup() {
    virsh destroy "$name" >/dev/null 2>&1 || :
    if [ -n "${VMIRS_BOOT_CHECK_KEEP:-}" ]; then
        log "kept $tmp"
    else
        chmod -R u+w "$tmp" 2>/dev/null || :
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The disk: index -> manifest -> the one layer -> disk/disk.qcow2.
blobs=$out/oci/blobs/sha256
manifest=$(sed -n 's/.*"manifests":\[{[^]]*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' "$out/oci/index.json")
[ -n "$manifest" ] || die "no manifest in $out/oci/index.json"
layer=$(sed -n 's/.*"layers":\[{[^]]*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' "$blobs/$manifest")
[ -n "$layer" ] || die "no layer in manifest $manifest"
tar -xzf "$blobs/$layer" -C "$tmp" disk/disk.qcow2
base=$tmp/disk/disk.qcow2
qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$tmp/overlay.qcow2"

# The seed as KubeVirt writes it (JSON meta-data) and a configMap ISO.
iid=boot-check-${tmp##*.}
mkdir -p "$tmp/seed" "$tmp/cfg"
printf '{"instance-id": "%s", "local-hostname": "probe-guest"}\n' "$iid" >"$tmp/seed/meta-data"
printf '#!/bin/sh\necho "user-data ran as $(id -u)" >/run/user-data-proof\n' >"$tmp/seed/user-data"
printf 'hello' >"$tmp/cfg/greeting"
xorriso -as mkisofs -quiet -V cidata -J -r -o "$tmp/seed.iso" "$tmp/seed" 2>/dev/null ||
    die "xorriso failed to make the seed"
xorriso -as mkisofs -quiet -V cfgdata -J -r -o "$tmp/cfg.iso" "$tmp/cfg" 2>/dev/null ||
    die "xorriso failed to make the configMap ISO"

case $seedbus in
virtio) seedtarget="<target dev='vdb' bus='virtio'/>" seeddev=disk ;;
sata) seedtarget="<target dev='sda' bus='sata'/>" seeddev=cdrom ;;
*) die "VMIRS_BOOT_CHECK_SEED_BUS must be virtio or sata" ;;
esac

cat >"$tmp/domain.xml" <<EOF
<domain type='$dtype'>
  <name>$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$tmp/overlay.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='$seeddev'>
      <driver name='qemu' type='raw'/>
      <source file='$tmp/seed.iso'/>
      $seedtarget
      <readonly/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$tmp/cfg.iso'/>
      <target dev='vdc' bus='virtio'/>
      <readonly/>
    </disk>
    <serial type='file'>
      <source path='$tmp/serial.log'/>
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
  </devices>
</domain>
EOF

agent() {
    virsh qemu-agent-command "$name" "$1" 2>&1 || :
}

t0=$(now)
virsh create "$tmp/domain.xml" >/dev/null || die "virsh create failed"
log "created $name ($dtype, seed on $seedbus) in $(since "$t0") s"

# Poll the agent every 100 ms; note when READY shows on the serial file.
ready=
ping=
while :; do
    el=$(since "$t0")
    if [ -z "$ready" ] && grep -q 'vmguest: READY' "$tmp/serial.log" 2>/dev/null; then
        ready=$el
    fi
    if [ "$(agent '{"execute":"guest-ping"}')" = '{"return":{}}' ]; then
        ping=$(since "$t0")
        break
    fi
    if grep -q 'Kernel panic' "$tmp/serial.log" 2>/dev/null; then
        cat "$tmp/serial.log" >&2
        die "the guest kernel panicked"
    fi
    state=$(virsh domstate "$name" 2>/dev/null || echo gone)
    case $state in
    running*) ;;
    *)
        cat "$tmp/serial.log" >&2 2>/dev/null || :
        die "domain is $state before the agent answered"
        ;;
    esac
    awk -v e="$el" 'BEGIN { exit !(e > 120) }' && {
        cat "$tmp/serial.log" >&2 2>/dev/null || :
        die "no guest-ping answer in 120 s"
    }
    sleep 0.1
done
# The agent starts just before READY is printed, so the ping can win.
i=0
until [ -n "$ready" ]; do
    grep -q 'vmguest: READY' "$tmp/serial.log" && ready=$(since "$t0")
    i=$((i + 1))
    [ $i -lt 50 ] || die "guest-ping answered but no READY on the serial console"
    sleep 0.1
done

fail() {
    echo "--- serial console:" >&2
    cat "$tmp/serial.log" >&2 2>/dev/null || :
    die "$*"
}

r=$(agent '{"execute":"guest-sync","arguments":{"id":424242}}')
[ "$r" = '{"return":424242}' ] || fail "guest-sync: $r"
r=$(agent '{"execute":"guest-get-host-name"}')
[ "$r" = '{"return":{"host-name":"probe-guest"}}' ] || fail "guest-get-host-name: $r"
r=$(agent '{"execute":"guest-nonsense"}')
case $r in *"guest-nonsense has not been found"*) ;; *) fail "unknown command: $r" ;; esac

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

g=$(guest_run /bin/cat /mnt/cfgdata/greeting)
[ "$g" = hello ] || fail "/mnt/cfgdata/greeting is \`$g\`, not hello"
u=$(guest_run /bin/cat /run/user-data-proof)
[ "$u" = "user-data ran as 0" ] || fail "user-data proof is \`$u\`"
w=$(guest_run /bin/wget -q -O - http://127.0.0.1/)
case $w in *"hostname=probe-guest"*"instance-id=$iid"*) ;; *) fail "httpd page: $w" ;; esac
b=$(guest_run /bin/sh -c "nc -w 5 127.0.0.1 22 </dev/null")
[ "$b" = SSH-2.0-vmguest ] || fail "port 22 banner: \`$b\`"

grep -q "vmguest: READY hostname=probe-guest instance-id=$iid seed=/dev/" "$tmp/serial.log" ||
    fail "no READY line with hostname and instance-id"
# DHCP runs in the background; give it a moment after READY.
i=0
until grep -q 'vmguest: NET ip=10.0.2.15' "$tmp/serial.log"; do
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
off=$(since "$t1")

sed -n 's/.*\(vmguest: READY .*\)/\1/p' "$tmp/serial.log" | tr -d '\r' >&2
echo "boot-check: OK: READY after ${ready} s, guest-ping after ${ping} s, ACPI power-off in ${off} s ($dtype, seed on $seedbus)"
