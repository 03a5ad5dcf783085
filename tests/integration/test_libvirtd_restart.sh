#!/bin/sh
# libvirtd restarts: the mock forgets every domain, vmirsd reconnects
# (with backoff), resyncs, and creates the replicas again.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
setup
start_vmirsd

manifest itlv 3
wait_until "3 replicas of itlv run" 30 count_is itlv 3

pkill -x libvirtd
wait_until "libvirtd is down" 30 sh -c "! pgrep -x libvirtd"
kill "$HOLDER" 2>/dev/null
libvirtd -d
ensure_libvirtd
hold_connection
wait_until "vmirsd noticed the lost connection" 30 grep -q "lost the connection" "$T/vmirsd.log"
wait_until "vmirsd re-creates itlv's 3 replicas on the new libvirtd" 60 count_is itlv 3
grep -c "connected to" "$T/vmirsd.log" | grep -qv '^1$' || fail "no second connect in the log"

rm "$T/spool/itlv.yaml"
wait_until "itlv's replicas are gone" 30 count_is itlv 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
