#!/bin/sh
# libvirtd restarts: the mock forgets every domain, vmirsd reconnects
# (with backoff), resyncs, and creates the replicas again. The libvirtd is
# the test's own (lib.sh, start_private_libvirtd): the shared one is never
# stopped.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
PRIVATE_LIBVIRTD=1
setup
start_vmirsd

manifest itlv 3
wait_until "3 replicas of itlv run" 30 count_is itlv 3

shared=
virsh -c test+unix:///default version >/dev/null 2>&1 && shared=1
stop_private_libvirtd TERM
if [ -n "$shared" ]; then
    virsh -c test+unix:///default version >/dev/null 2>&1 ||
        fail "stopping the private libvirtd took the shared one down"
fi
wait_until "vmirsd noticed the lost connection" 30 grep -q "lost the connection" "$T/vmirsd.log"
start_private_libvirtd
wait_until "vmirsd re-creates itlv's 3 replicas on the new libvirtd" 60 count_is itlv 3
[ "$(grep -c "resynchronising" "$T/vmirsd.log")" -ge 2 ] || fail "no second connect in the log"

rm "$T/spool/itlv.yaml"
wait_until "itlv's replicas are gone" 30 count_is itlv 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
