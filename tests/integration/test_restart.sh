#!/bin/sh
# Restart safety: SIGTERM leaves replicas running and the next start
# adopts them; kill -9 and a replica destroyed during the outage give
# exactly the desired count afterwards, never a duplicate.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
setup
start_vmirsd

manifest itrs 4
wait_until "4 replicas of itrs run" 30 count_is itrs 4
names=$(domains_of itrs | sort | tr '\n' ' ')

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
count_is itrs 4 || fail "SIGTERM took replicas down: $(count_of itrs) left"
start_vmirsd
wait_until "the restarted vmirsd has listed the domains" 30 grep -q "resynchronising" "$T/vmirsd.log"
# Give it time to act wrongly, bounded by a condition: a pass has run.
wait_until "a pass ran after the restart" 30 grep -q "connected to" "$T/vmirsd.log"
sleep 1
[ "$(domains_of itrs | sort | tr '\n' ' ')" = "$names" ] || fail "a clean restart changed the replicas"

# kill -9, then one replica dies while vmirsd is down.
kill -KILL "$VMIRSD_PID"
wait "$VMIRSD_PID" 2>/dev/null
VMIRSD_PID=
victim=$(domains_of itrs | head -1)
virsh -c "$URI" destroy "$victim" >/dev/null
count_is itrs 3 || fail "expected 3 replicas during the outage"
start_vmirsd
wait_until "the lost replica is replaced after the restart" 30 count_is itrs 4
sleep 1
count_is itrs 4 || fail "duplicates after kill -9 and restart: $(count_of itrs)"

# kill -9 in the middle of a burst of creates: never more than desired.
manifest itrs 40
sleep 0.05
kill -KILL "$VMIRSD_PID"
wait "$VMIRSD_PID" 2>/dev/null
VMIRSD_PID=
start_vmirsd
wait_until "itrs reaches 40 after a kill mid-burst" 60 count_is itrs 40
sleep 1
count_is itrs 40 || fail "duplicates after a kill mid-burst: $(count_of itrs)"

rm "$T/spool/itrs.yaml"
wait_until "all itrs replicas are gone" 60 count_is itrs 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
