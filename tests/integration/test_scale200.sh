#!/bin/sh
# 200 replicas, and back to none.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
setup
start_vmirsd

manifest itbig 200
wait_until "200 replicas of itbig run" 120 count_is itbig 200
note "200 replicas running"
manifest itbig 10
wait_until "itbig scales down to 10" 120 count_is itbig 10
rm "$T/spool/itbig.yaml"
wait_until "itbig's replicas are gone" 120 count_is itbig 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
