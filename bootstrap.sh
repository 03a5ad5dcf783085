#!/bin/sh
# Set up a fresh Debian 12 machine for vmirsd, build it, and run either the
# demo or the whole test suite:
#
#   ./bootstrap.sh demo    # install, build, run the demo
#   ./bootstrap.sh test    # install, build, run every test
#
# Safe to run again: each step skips what is already done.
set -eu

mode=${1:-}
case "$mode" in
demo | test) ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    exec sudo -E "$0" "$@"
fi

cd "$(dirname "$0")"
top=$(pwd)

say() { printf '\n==> %s\n' "$*"; }

# Build tools and the libraries of SPEC section 1; libvirt, QEMU and the
# image tools the tests and the demo run.
PACKAGES="build-essential autoconf automake libtool pkg-config
 libvirt-dev libuv1-dev libyaml-dev libsqlite3-dev libxml2-dev libisofs-dev
 libarchive-dev libsystemd-dev libjansson-dev libcmocka-dev libgnutls28-dev
 libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
 qemu-system-x86 qemu-utils ovmf libxml2-utils sqlite3 valgrind
 dosfstools mtools syslinux syslinux-common kmod cpio xorriso man-db groff-base
 clang-format clang libclang-rt-14-dev curl systemd strace"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # word splitting is the point
    apt-get install -y -q --no-install-recommends $missing
fi

# Without udev /dev/kvm can be root-only; libvirt then re-probes QEMU on
# every call (44 s per create). It must be fixed before libvirtd starts.
if [ -e /dev/kvm ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    say "starting virtlogd and libvirtd"
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
    i=0
    until virsh -c qemu:///system version >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 60 ]; then
            echo "libvirtd did not answer within 30 s" >&2
            exit 1
        fi
        sleep 0.5
    done
fi

say "building"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
    autoreconf -fi
fi
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
    ./configure --enable-werror
fi
make -j"$(nproc)"

case "$mode" in
demo)
    say "building the test guest image: make images"
    make images
    # The demo daemon: the example manifests, its own state directory, the
    # locally built image. domain_type = qemu (TCG): on hosts with nested
    # KVM, guests can pause in firmware, and TCG always works.
    demo="$top/demo"
    mkdir -p "$demo/spool"
    cp conf/examples/*.yaml "$demo/spool/"
    cat >"$demo/vmirsd.conf" <<CONF
spool_dir = $demo/spool
state_dir = /var/lib/vmirsd-demo
image_dir = $top/images/out
domain_type = qemu
CONF
    if [ -f "$demo/vmirsd.pid" ] && kill -0 "$(cat "$demo/vmirsd.pid")" 2>/dev/null; then
        say "stopping the previous demo vmirsd (its replicas keep running and are adopted)"
        kill "$(cat "$demo/vmirsd.pid")"
        sleep 1
    fi
    say "starting vmirsd with conf/examples/ (log: demo/vmirsd.log)"
    nohup src/vmirsd -c "$demo/vmirsd.conf" >"$demo/vmirsd.log" 2>&1 &
    echo $! >"$demo/vmirsd.pid"
    want=$(grep -h '^  replicas:' "$demo"/spool/*.yaml | awk '{n += $2} END {print n}')
    i=0
    until [ "$(virsh -c qemu:///system list --name | grep -c '^default_')" -ge "$want" ]; do
        i=$((i + 1))
        if [ $i -gt 240 ]; then
            echo "the replicas did not all start within 2 minutes; see demo/vmirsd.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    say "virsh -c qemu:///system list"
    virsh -c qemu:///system list
    say "src/vmirsctl -c demo/vmirsd.conf get vmirs (READY grows as the guests boot)"
    src/vmirsctl -c "$demo/vmirsd.conf" get vmirs
    echo "vmirsd keeps these $want replicas running. Destroy one with virsh and a new one"
    echo "replaces it; edit spec.replicas in demo/spool/*.yaml and it scales; remove a file"
    echo "and its replicas go. A booted replica answers its guest agent:"
    echo "  virsh -c qemu:///system qemu-agent-command NAME '{\"execute\":\"guest-ping\"}'"
    echo "Stop the daemon (the replicas keep running): kill \$(cat demo/vmirsd.pid)"
    ;;
test)
    say "unit and command-line tests: make check"
    make -j"$(nproc)" check || { cat test-suite.log 2>/dev/null; exit 1; }
    # A skipped test is not a pass: name every one, loudly.
    if grep -hs '^SKIP:' tests/unit/*.log tests/cli/*.log >skipped.log; then
        say "WARNING: $(wc -l <skipped.log) test(s) SKIPPED:"
        cat skipped.log
    fi
    say "integration: vmirsd against libvirtd's mock hypervisor: make check-integration"
    make check-integration
    say "end to end on QEMU: the test guest (make images), --render, replicas and probes: make check-e2e"
    make check-e2e
    say "installation: make install into a staging directory, the unit verified: make check-install"
    make check-install
    say "unit tests under valgrind: make check-valgrind"
    make check-valgrind
    say "fuzzing: each libFuzzer target for a short time, then the regression inputs: make check-fuzz"
    make check-fuzz
    say "distribution check, built with AddressSanitizer and UBSan: make distcheck"
    make -j"$(nproc)" distcheck
    say "all tests passed"
    ;;
esac
