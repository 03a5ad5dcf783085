#!/bin/sh
# vmirsctl against the database of a running (and then killed) vmirsd:
# get, describe and events show what happened, kubectl-style; the
# database answers while the daemon is down, and a restart loses no event.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_itctl
VMIRSCTL="$top_builddir/src/vmirsctl"
setup

ctl() {
    "$VMIRSCTL" -c "$T/vmirsd.conf" "$@"
}

# "NAME DESIRED CURRENT READY" of get vmirs, spaces squeezed.
row_is() {
    [ "$(ctl get vmirs 2>/dev/null | awk -v n="$1" '$1 == n {print $1, $2, $3, $4}')" = "$2" ]
}

events_with() {
    ctl events itctl 2>/dev/null | grep -c "$1" || true
}

ctl get vmirs >"$T/out" 2>&1 && fail "get vmirs without a database exited 0"
grep -q "no database at $T/state/vmirsd.db" "$T/out" || fail "no database: $(cat "$T/out")"

start_vmirsd
manifest itctl 3
wait_until "3 replicas of itctl run" 30 count_is itctl 3
wait_until "get vmirs shows itctl 3 3 3" 30 row_is itctl "itctl 3 3 3"
ctl get vmirs >"$T/out"
head -1 "$T/out" | grep -q "^NAME  *DESIRED  *CURRENT  *READY  *AGE$" || fail "get vmirs header: $(head -1 "$T/out")"

ctl get vmis -l app=itctl >"$T/out"
[ "$(grep -c " Running  *True  *default_itctl" "$T/out")" -eq 3 ] || fail "get vmis: $(cat "$T/out")"
ctl get vmis -l app=other >"$T/out" 2>&1
grep -q "No resources found in default namespace." "$T/out" || fail "get vmis -l app=other: $(cat "$T/out")"
ctl get vmirs itctl -o json | grep -q '"readyReplicas": 3' || fail "get vmirs -o json lacks readyReplicas 3"
ctl get vmirs itctl -o yaml | grep -q "^  labelSelector: app=itctl$" || fail "get vmirs -o yaml lacks the label selector"

ctl describe vmirs itctl >"$T/out"
for want in "^Name:  *itctl$" "^Namespace:  *default$" "^Kind:  *VirtualMachineInstanceReplicaSet$" \
    "^  Ready Replicas:  *3$" "^  Replicas:  *3$" "^  Type  *Reason  *Age  *From  *Message$"; do
    grep -q "$want" "$T/out" || fail "describe lacks /$want/"
done
[ "$(grep -c "^  Normal  *SuccessfulCreate .*Created virtual machine: itctl" "$T/out")" -eq 3 ] ||
    fail "describe does not show 3 SuccessfulCreate events: $(cat "$T/out")"

# A replica destroyed: the events show its delete and its replacement.
victim=$(domains_of itctl | head -1)
virsh -c "$URI" destroy "$victim" >/dev/null
wait_until "the delete of ${victim#default_} is recorded" 30 \
    sh -c "[ \$(\"$VMIRSCTL\" -c \"$T/vmirsd.conf\" events itctl | grep -c 'SuccessfulDelete .*Deleted virtual machine: ${victim#default_}$') -eq 1 ]"
wait_until "a fourth SuccessfulCreate" 30 sh -c "[ \$(\"$VMIRSCTL\" -c \"$T/vmirsd.conf\" events itctl | grep -c SuccessfulCreate) -eq 4 ]"
wait_until "READY is back to 3" 30 row_is itctl "itctl 3 3 3"

# A bad edit: the condition and a warning event name the file and line.
cp "$T/spool/itctl.yaml" "$T/good.yaml"
printf 'spec:\n  replicas: -1\n  bogus: [\n' >"$T/spool/.bad.tmp"
mv "$T/spool/.bad.tmp" "$T/spool/itctl.yaml"
wait_until "a ManifestInvalid warning" 30 sh -c "\"$VMIRSCTL\" -c \"$T/vmirsd.conf\" events itctl | grep -q 'Warning  *ManifestInvalid .*$T/spool/itctl.yaml:[0-9]*:[0-9]*:'"
ctl describe vmirs itctl | grep -q "^    Type:  *ManifestInvalid$" || fail "describe lacks the ManifestInvalid condition"
row_is itctl "itctl 3 3 3" || fail "a bad edit changed the replica set: $(ctl get vmirs)"
mv "$T/good.yaml" "$T/spool/itctl.yaml"
wait_until "the condition clears" 30 sh -c "! \"$VMIRSCTL\" -c \"$T/vmirsd.conf\" describe vmirs itctl | grep -q ManifestInvalid$"

# kill -9: the database still answers; a restart loses no event.
kill -KILL "$VMIRSD_PID"
wait "$VMIRSD_PID" 2>/dev/null
VMIRSD_PID=
ctl events itctl >"$T/before" || fail "events while vmirsd is down exited $?"
row_is itctl "itctl 3 3 3" || fail "get vmirs while vmirsd is down: $(ctl get vmirs 2>&1)"
virsh -c "$URI" destroy "$(domains_of itctl | head -1)" >/dev/null
start_vmirsd
wait_until "a fifth SuccessfulCreate after the restart" 30 sh -c "[ \$(\"$VMIRSCTL\" -c \"$T/vmirsd.conf\" events itctl | grep -c SuccessfulCreate) -eq 5 ]"
ctl events itctl >"$T/after"
# Every event from before the restart is still there (AGE aside).
awk 'NR > 1 {$1 = ""; print}' "$T/before" | while read -r line; do
    awk 'NR > 1 {$1 = ""; print}' "$T/after" | sed 's/^ //' | grep -qxF "$line" || echo "lost: $line"
done >"$T/lost"
[ -s "$T/lost" ] && fail "events lost over kill -9 and restart: $(cat "$T/lost")"

# Removal: the replica set is gone from get; its events stay.
rm "$T/spool/itctl.yaml"
wait_until "all itctl replicas are gone" 30 count_is itctl 0
wait_until "get vmirs itctl says NotFound" 30 sh -c "! \"$VMIRSCTL\" -c \"$T/vmirsd.conf\" get vmirs itctl"
ctl get vmirs itctl >"$T/out" 2>&1
[ $? -eq 1 ] || fail "get of a removed vmirs did not exit 1"
grep -qx 'Error from server (NotFound): virtualmachineinstancereplicasets.kubevirt.io "itctl" not found' "$T/out" ||
    fail "NotFound message: $(cat "$T/out")"
[ "$(events_with SuccessfulDelete)" -ge 4 ] || fail "the cascade's deletes are not in the events"

ctl get nodes >"$T/out" 2>&1
[ $? -eq 2 ] || fail "an unknown resource type is not a usage error"
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
