#!/bin/sh
# Killed between the intent and the create: the journal records a create
# that libvirt never saw. The restarted daemon counts it as pending only
# until a list taken a moment later settles it, then removes its files and
# replaces it: never a minute short of a replica, never a release of a
# domain that does not exist.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
PRIVATE_LIBVIRTD=1
setup
start_vmirsd

manifest itph 2
wait_until "2 replicas of itph run" 30 count_is itph 2
wait_until "the set's uid is in the database" 30 sh -c \
    "sqlite3 '$T/state/vmirsd.db' \"select uid from replica_sets where name='itph'\" | grep -q ."
uid=$(sqlite3 "$T/state/vmirsd.db" "select uid from replica_sets where name='itph'")
kill -KILL "$VMIRSD_PID"
wait "$VMIRSD_PID" 2>/dev/null
VMIRSD_PID=

# What a kill -9 right after write_intent leaves: an unsettled journal
# line of a fresh create, and its replica directory, but no domain.
phantom=default_itphzzzzz
now_ms=$(($(date +%s) * 1000))
printf '%s %s 2 %s\n' "$phantom" "$uid" "$now_ms" >>"$T/state/intents"
mkdir -p "$T/state/replicas/$phantom"
: >"$T/state/replicas/$phantom/seed.iso"
manifest itph 3
: >"$T/vmirsd.log"
start_vmirsd
wait_until "the restart counts the recorded create as pending" 30 \
    grep -q "replica \`$phantom\` was being created before a restart" "$T/vmirsd.log"
# Within a few seconds, not the old minute: settled by the next list.
wait_until "3 replicas of itph run" 15 count_is itph 3
wait_until "the phantom's files are removed" 15 sh -c "[ ! -e '$T/state/replicas/$phantom' ]"
grep -q "set the owner" "$T/vmirsd.log" && fail "a phantom was released: $(grep 'set the owner' "$T/vmirsd.log")"
grep -q "release replica" "$T/vmirsd.log" && fail "the restart released a replica"
virsh -c "$URI" list --all --name | grep -qx "$phantom" && fail "the phantom became a domain"

# Settled for good: the next restart does not count it again.
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
: >"$T/vmirsd.log"
start_vmirsd
wait_until "the next restart has listed the domains" 30 grep -q "desired 3, active 3" "$T/vmirsd.log"
grep -q "replica \`$phantom\` was being created" "$T/vmirsd.log" &&
    fail "the given-up create was counted as pending again at the next restart"
grep -q "Deleted virtual machine: $phantom" "$T/vmirsd.log" && fail "a create that never happened was reported deleted"
count_is itph 3 || fail "expected 3 replicas after the second restart, got $(count_of itph)"

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
rm "$T/spool/itph.yaml"
start_vmirsd
wait_until "itph's replicas are gone" 30 count_is itph 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
