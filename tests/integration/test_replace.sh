#!/bin/sh
# A destroyed replica is replaced by a new one with a new name; a bad edit
# keeps the replicas; a selector that does not match creates nothing; two
# VMIRS side by side; paused stops creating and deleting.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
setup
start_vmirsd

manifest itrep 3
wait_until "3 replicas of itrep run" 30 count_is itrep 3
victim=$(domains_of itrep | head -1)
before=$(domains_of itrep | sort | tr '\n' ' ')
virsh -c "$URI" destroy "$victim" >/dev/null
wait_until "the destroyed replica $victim is replaced" 30 sh -c \
    "[ \$(virsh -c $URI list --name | grep -c '^default_itrep') -eq 3 ] && ! virsh -c $URI list --name | grep -qx '$victim'"
after=$(domains_of itrep | sort | tr '\n' ' ')
note "replaced $victim: before [$before] after [$after]"
[ "$before" != "$after" ] || fail "the replacement kept the old name"

# A bad edit keeps the last good content in force.
printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\nmetadata: {name: itrep}\nspec:\n  replicas: [oops\n' \
    >"$T/spool/.itrep.tmp" && mv "$T/spool/.itrep.tmp" "$T/spool/itrep.yaml"
wait_until "the bad edit is reported with its position" 30 grep -q "itrep.yaml:6:1: error: invalid YAML" "$T/vmirsd.log"
wait_until "the log says the last good content stays" 30 grep -q "keeping the last good content" "$T/vmirsd.log"
count_is itrep 3 || fail "a bad edit changed the replicas: $(count_of itrep)"

# Two VMIRS side by side, each with its own count.
manifest itside 2
wait_until "itside runs 2 next to itrep's 3" 30 count_is itside 2
count_is itrep 3 || fail "itrep changed when itside started"

# A selector that does not match the template creates nothing.
cat >"$T/spool/.itsel.tmp" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceReplicaSet
metadata: {name: itsel}
spec:
  replicas: 2
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: itsel}}
    spec:
      domain: {memory: {guest: 64Mi}, devices: {}}
YAML
mv "$T/spool/.itsel.tmp" "$T/spool/itsel.yaml"
wait_until "SelectorMismatch is reported" 30 grep -q "default/itsel: SelectorMismatch" "$T/vmirsd.log"
count_is itsel 0 || fail "a VMIRS whose selector does not match created replicas"

# Paused: no creates, no deletes.
manifest itside 4 "paused: true"
wait_until "itside is paused" 30 grep -q "default/itside: SuccessfulPaused" "$T/vmirsd.log"
count_is itside 2 || fail "a paused VMIRS scaled"
manifest itside 4
wait_until "itside resumes and scales to 4" 30 count_is itside 4
grep -q "default/itside: SuccessfulResumed" "$T/vmirsd.log" || fail "no SuccessfulResumed"

# SIGHUP re-reads the configuration and rescans; nothing changes.
kill -HUP "$VMIRSD_PID"
wait_until "SIGHUP is handled" 30 grep -q "SIGHUP: reloading" "$T/vmirsd.log"
count_is itside 4 || fail "SIGHUP changed itside's replicas"

rm "$T/spool/itrep.yaml" "$T/spool/itside.yaml" "$T/spool/itsel.yaml"
wait_until "all replicas are gone with their manifests" 30 sh -c \
    "! virsh -c $URI list --name | grep -q '^default_it'"
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
