#!/bin/sh
# make bench: the benchmarks of doc/performance.md, each printing its
# floor, the vmirsd figure, the ratio and whether the target is met, the
# floor measured in the same run. The mock-hypervisor ones run against a
# private libvirtd (tests/integration/lib.sh: its own sockets and state,
# so nobody else's work on test+unix:///default disturbs them or is
# disturbed); the QEMU one (bench_qemu.sh) uses qemu:///system, with
# domains of its own prefix, when libvirtd and `make images` are there.
# BENCH_ONLY="controller daemon qemu" picks some. Needs root (the private
# libvirtd runs in a mount namespace).
: "${top_srcdir:?}" "${top_builddir:?}"
B=$top_builddir/tests/bench
only=${BENCH_ONLY:-controller daemon qemu}
rc=0

want() {
    case " $only " in *" $1 "*) return 0 ;; esac
    return 1
}

if want controller || want daemon; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "# the mock benchmarks need root for a private libvirtd: skipped"
    else
        PRIVATE_LIBVIRTD=1
        . "$top_srcdir/tests/integration/lib.sh"
        setup
        export BENCH_URI="$URI"
        echo "# private libvirtd: $URI"
        if want controller; then
            "$B/bench_controller" "$top_builddir/src/vmirsd" "$B/idle_floor" \
                "${BENCH_IDLE_SECONDS:-60}" || rc=1
        fi
        if want daemon; then
            "$B/bench_daemon" "$top_builddir/src/vmirsd" "$top_builddir/src/vmirsctl" \
                "$B/idle_floor" "${BENCH_RESTARTS:-100}" || rc=1
        fi
        stop_private_libvirtd
    fi
fi
if want qemu; then
    sh "$top_srcdir/tests/bench/bench_qemu.sh" || rc=1
fi
exit $rc
