#!/bin/sh
# A full state file system (a small tmpfs): creates fail with the reason,
# the daemon and the running replicas are unharmed, and once there is
# room again the count is restored and the database catches up.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
PRIVATE_LIBVIRTD=1
VMIRSCTL="$top_builddir/src/vmirsctl"
setup
if ! mount -t tmpfs -o size=8m tmpfs "$T/state" 2>/dev/null; then
    note "cannot mount a tmpfs here: skipped"
    exit 77
fi
umount_state() { umount "$T/state" 2>/dev/null; }
trap 'umount_state; cleanup' EXIT

# Each replica writes a seed ISO into its directory.
TEMPLATE_EXTRA='volumes: [{name: ci, cloudInitNoCloud: {userData: "#cloud-config"}}]'
start_vmirsd
manifest itfull 2
wait_until "2 replicas of itfull run" 30 count_is itfull 2
before=$(domains_of itfull | sort | tr '\n' ' ')

dd if=/dev/zero of="$T/state/filler" bs=64k 2>/dev/null
df "$T/state" | tail -1 | grep -q ' 100% ' || note "the tmpfs is not quite full: $(df "$T/state" | tail -1)"
: >"$T/mark"
from=$(($(wc -l <"$T/vmirsd.log") + 1))
manifest itfull 4
wait_until "a create fails for want of space, and says so" 30 sh -c \
    "tail -n +$from '$T/vmirsd.log' | grep -q 'FailedCreate.*No space left on device'"
kill -0 "$VMIRSD_PID" || fail "vmirsd died on a full state file system"
for d in $before; do
    virsh -c "$URI" domstate "$d" 2>/dev/null | grep -q running || fail "$d was harmed by the full file system"
done

rm "$T/state/filler"
wait_until "4 replicas of itfull run once there is room" 60 count_is itfull 4
wait_until "the database catches up" 30 sh -c \
    "'$VMIRSCTL' -c '$T/vmirsd.conf' get vmirs itfull | grep -q '^itfull  *4  *4 '"
for d in $before; do
    domains_of itfull | grep -qx "$d" || fail "$d was replaced"
done

rm "$T/spool/itfull.yaml"
wait_until "itfull's replicas are gone" 30 count_is itfull 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
