#!/bin/sh
# Create N; scale up and down by editing; default replicas 1; removal.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
setup
start_vmirsd

manifest itscale 3
wait_until "3 replicas of itscale run" 30 count_is itscale 3
note "created 3"

manifest itscale 5
wait_until "itscale scales up to 5" 30 count_is itscale 5
manifest itscale 2
wait_until "itscale scales down to 2" 30 count_is itscale 2
manifest itscale 0
wait_until "itscale scales down to 0" 30 count_is itscale 0
note "scaled 3 -> 5 -> 2 -> 0"

# spec.replicas left out means 1.
manifest itdefault -
wait_until "itdefault runs its default single replica" 30 count_is itdefault 1

rm "$T/spool/itdefault.yaml"
wait_until "itdefault's replica is deleted with its manifest" 30 count_is itdefault 0
[ -z "$(ls -A "$T/state/replicas" 2>/dev/null)" ] || wait_until "replica directories are removed" 30 \
    sh -c "[ -z \"\$(ls -A '$T/state/replicas')\" ]"

# The mock's own domain "test" is foreign: never touched.
virsh -c "$URI" list --name | grep -qx test || fail "the foreign domain \"test\" is gone"

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
