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
 clang-format"

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
    say "validating the example manifests: src/vmirsd --validate conf/examples/"
    src/vmirsd --validate conf/examples/
    say "vmirsd reads and validates KubeVirt manifests. Running them as libvirt domains is the next step of its development."
    ;;
test)
    say "unit and command-line tests: make check"
    make -j"$(nproc)" check || { cat test-suite.log 2>/dev/null; exit 1; }
    say "integration: vmirsd against libvirtd's mock hypervisor: make check-integration"
    make check-integration
    say "end to end on QEMU: the test guest (make images), --render, one replica booted: make check-e2e"
    make check-e2e
    say "unit tests under valgrind: make check-valgrind"
    make check-valgrind
    say "distribution check, built with AddressSanitizer and UBSan: make distcheck"
    make -j"$(nproc)" distcheck
    say "all tests passed"
    ;;
esac
