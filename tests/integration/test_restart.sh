#!/bin/sh
# Restart safety: SIGTERM leaves replicas running and the next start
# adopts them; kill -9 and a replica destroyed during the outage give
# exactly the desired count afterwards, never a duplicate. A manifest
# removed while vmirsd is down has its replicas deleted on start; one
# broken while it is down keeps them; replicas whose owner is unknown are
# adopted by a VMIRS whose selector matches.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
setup

# settled NAME N: since line $mark of the log (taken before the latest
# start), every create vmirsd started has ended (SuccessfulCreate or
# FailedCreate) and its latest pass of NAME found N active and started
# none. The daemon under test has made its decisions about NAME: the
# checks that follow see what it did, not a moment before it acted.
settled() {
    tail -n +"$((mark + 1))" "$T/vmirsd.log" | awk -v set="default/$1:" -v n="$2" '
        $3 == set && $4 == "desired" {
            last = ($7 == n "," && $11 == "0")
            started += $11
        }
        $3 == set && ($4 == "SuccessfulCreate:" || $4 == "FailedCreate:") { ended++ }
        END { exit !(last && started == ended) }'
}

start_vmirsd

manifest itrs 4
wait_until "4 replicas of itrs run" 30 count_is itrs 4

# A replica replaced while vmirsd runs, then kill -9: its create is settled
# in the intent journal, so the restart neither counts it as pending nor
# touches it.
gone=$(domains_of itrs | head -1)
virsh -c "$URI" destroy "$gone" >/dev/null
wait_until "$gone is replaced" 30 sh -c "[ \$(virsh -c $URI list --name | grep -c ^default_itrs) -eq 4 ] && ! virsh -c $URI list --name | grep -qx $gone"
kill -KILL "$VMIRSD_PID"
wait "$VMIRSD_PID" 2>/dev/null
VMIRSD_PID=
: >"$T/vmirsd.log"
mark=0
start_vmirsd
wait_until "the restarted vmirsd has run a pass" 30 grep -q "resynchronising" "$T/vmirsd.log"
wait_until "the restarted vmirsd has settled itrs at 4" 30 settled itrs 4
grep -q "was being created before a restart" "$T/vmirsd.log" &&
    fail "a settled create was taken for one in flight: $(grep 'before a restart' "$T/vmirsd.log")"
grep -q "release replica" "$T/vmirsd.log" && fail "a restart released a replica"
count_is itrs 4 || fail "expected 4 replicas after kill -9, got $(count_of itrs)"
names=$(domains_of itrs | sort | tr '\n' ' ')

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
count_is itrs 4 || fail "SIGTERM took replicas down: $(count_of itrs) left"
mark=$(wc -l <"$T/vmirsd.log")
start_vmirsd
# Time to act wrongly, bounded by the restarted daemon's own decision.
wait_until "the restarted vmirsd has settled itrs at 4" 30 settled itrs 4
[ "$(domains_of itrs | sort | tr '\n' ' ')" = "$names" ] || fail "a clean restart changed the replicas"

# kill -9, then one replica dies while vmirsd is down.
kill -KILL "$VMIRSD_PID"
wait "$VMIRSD_PID" 2>/dev/null
VMIRSD_PID=
victim=$(domains_of itrs | head -1)
virsh -c "$URI" destroy "$victim" >/dev/null
count_is itrs 3 || fail "expected 3 replicas during the outage"
mark=$(wc -l <"$T/vmirsd.log")
start_vmirsd
wait_until "the lost replica is replaced after the restart" 30 count_is itrs 4
wait_until "the restarted vmirsd has settled itrs at 4" 30 settled itrs 4
count_is itrs 4 || fail "duplicates after kill -9 and restart: $(count_of itrs)"

# kill -9 in the middle of a burst of creates: never more than desired.
mark=$(wc -l <"$T/vmirsd.log")
manifest itrs 40
# The kill lands as soon as a pass of the new spec has started creates
# (polled often: the mock creates 36 domains in well under a second).
POLL=0.01
wait_until "vmirsd starts the burst of creates" 30 sh -c \
    "tail -n +$((mark + 1)) '$T/vmirsd.log' | grep -q 'default/itrs: desired 40, .*, creating [1-9]'"
unset POLL
kill -KILL "$VMIRSD_PID"
wait "$VMIRSD_PID" 2>/dev/null
VMIRSD_PID=
note "killed with $(count_of itrs) of 40 running"
mark=$(wc -l <"$T/vmirsd.log")
start_vmirsd
wait_until "itrs reaches 40 after a kill mid-burst" 60 count_is itrs 40
wait_until "the restarted vmirsd has settled itrs at 40" 60 settled itrs 40
count_is itrs 40 || fail "duplicates after a kill mid-burst: $(count_of itrs)"

# A manifest broken while vmirsd is down: no good content after the
# restart, yet its replicas stay; removed while down: they go.
manifest itbad 2
wait_until "2 replicas of itbad run" 30 count_is itbad 2
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
printf 'spec:\n  replicas: [\n' >"$T/spool/itbad.yaml"
mark=$(wc -l <"$T/vmirsd.log")
start_vmirsd
wait_until "the broken manifest is reported" 30 grep -q "itbad.yaml has no good content since the restart" "$T/vmirsd.log"
# itbad gets no pass at all (its set is frozen); itrs's pass comes after
# the decision about itbad was taken, in the same round.
wait_until "the restarted vmirsd has settled itrs at 40" 30 settled itrs 40
# A scenario duration, not a wait: a delete started in that round would
# take the replicas within a second; they must still be there after it.
sleep 1
count_is itbad 2 || fail "a manifest broken during an outage took its replicas: $(count_of itbad) left"
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
rm "$T/spool/itbad.yaml" "$T/spool/itrs.yaml"
start_vmirsd
wait_until "replicas of a manifest removed during an outage are deleted" 60 count_is itbad 0
wait_until "all itrs replicas are gone" 60 count_is itrs 0

# Replicas whose owner vmirsd knows nothing of (manifest and database gone
# while it was down) have no live owner: a VMIRS whose selector matches
# adopts them instead of creating new ones.
manifest itorph 2
wait_until "2 replicas of itorph run" 30 count_is itorph 2
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
rm "$T/spool/itorph.yaml" "$T/state/vmirsd.db"*
printf '%s\n' "apiVersion: kubevirt.io/v1" "kind: VirtualMachineInstanceReplicaSet" \
    "metadata: {name: itadopt}" "spec:" "  replicas: 2" "  selector: {matchLabels: {app: itorph}}" \
    "  template:" "    metadata: {labels: {app: itorph}}" "    spec:" \
    "      terminationGracePeriodSeconds: 0" "      domain: {memory: {guest: 64Mi}, devices: {}}" \
    >"$T/spool/.itadopt.tmp"
mv "$T/spool/.itadopt.tmp" "$T/spool/itadopt.yaml"
: >"$T/vmirsd.log"
mark=0
start_vmirsd
wait_until "itadopt adopts both orphans" 30 sh -c "[ \$(grep -c 'default/itadopt: adopt replica' '$T/vmirsd.log') -eq 2 ]"
wait_until "the restarted vmirsd has settled itadopt at 2" 30 settled itadopt 2
count_is itorph 2 || fail "the orphans were not kept: $(count_of itorph)"
count_is itadopt 0 || fail "itadopt created replicas instead of adopting: $(count_of itadopt)"
rm "$T/spool/itadopt.yaml"
wait_until "the adopted replicas go with their new owner" 60 count_is itorph 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
start_vmirsd
wait_until "replicas of a manifest removed during an outage are deleted" 60 count_is itbad 0
wait_until "all itrs replicas are gone" 60 count_is itrs 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
