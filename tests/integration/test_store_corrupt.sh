#!/bin/sh
# A corrupt vmirsd.db does not stop vmirsd (SPEC section 7): it is moved
# aside as vmirsd.db.corrupt-<UTC time>, the log says where it went, and
# a new database is rebuilt from the domains, which keep running and are
# adopted as they are: no create, no duplicate.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_itcor
VMIRSCTL="$top_builddir/src/vmirsctl"
setup

ctl() {
    "$VMIRSCTL" -c "$T/vmirsd.conf" "$@"
}

# "NAME DESIRED CURRENT READY" of get vmirs, spaces squeezed.
row_is() {
    [ "$(ctl get vmirs 2>/dev/null | awk -v n="$1" '$1 == n {print $1, $2, $3, $4}')" = "$2" ]
}

# The VMI names get vmis shows as Running, sorted, one line.
running_vmis() {
    ctl get vmis -l app=itcor 2>/dev/null | awk '$2 == "Running" {print $1}' | sort | tr '\n' ' '
}

vmis_are() {
    [ "$(running_vmis)" = "$1" ]
}

creates_are() {
    [ "$(ctl events itcor 2>/dev/null | grep -c 'SuccessfulCreate')" -eq "$1" ]
}

start_vmirsd
manifest itcor 3
wait_until "3 replicas of itcor run" 30 count_is itcor 3
wait_until "get vmirs shows itcor 3 3 3" 30 row_is itcor "itcor 3 3 3"
names=$(domains_of itcor | sort | tr '\n' ' ')
vmis=$(running_vmis)
[ -n "$vmis" ] || fail "get vmis shows no running VMI before the damage"

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
count_is itcor 3 || fail "SIGTERM took replicas down: $(count_of itcor) left"
# The damage: the whole file overwritten, as a bad disk or a stray
# command would.
yes 'not a database' | head -c 65536 >"$T/garbage"
cp "$T/garbage" "$T/state/vmirsd.db"
rm -f "$T/state/vmirsd.db-wal" "$T/state/vmirsd.db-shm"
ctl get vmirs >/dev/null 2>&1 && fail "vmirsctl read the damaged file"

: >"$T/vmirsd.log"
start_vmirsd
wait_until "vmirsd logs where the damaged file went" 30 \
    grep -q "^ERROR store: .*vmirsd.db\`: file is not a database: moved to \`$T/state/vmirsd.db.corrupt-[0-9]\{8\}T[0-9]\{6\}Z\`" "$T/vmirsd.log"
kill -0 "$VMIRSD_PID" 2>/dev/null || { fail "vmirsd exited: $(tail -1 "$T/vmirsd.log")"; VMIRSD_PID=; finish; }
aside=$(sed -n "s/^ERROR store: .* moved to \`\(.*\)\`; a new database is rebuilt from the domains$/\1/p" "$T/vmirsd.log")
[ -f "$aside" ] || fail "the damaged file is not at \`$aside\`: $(ls "$T/state")"
cmp -s "$T/garbage" "$aside" || fail "the file moved aside is not the damaged one"
# Rebuilt from the domains: the same three, adopted, none created.
wait_until "get vmirs shows itcor 3 3 3 again" 30 row_is itcor "itcor 3 3 3"
wait_until "get vmis shows the same 3 VMIs running" 30 vmis_are "$vmis"
[ "$(domains_of itcor | sort | tr '\n' ' ')" = "$names" ] ||
    fail "the replicas changed: $(domains_of itcor | tr '\n' ' '), were $names"
grep -q "SuccessfulCreate" "$T/vmirsd.log" && fail "a replica was created: $(grep SuccessfulCreate "$T/vmirsd.log")"

# A fresh history is recorded: a replica destroyed is replaced, and the
# events say so.
victim=$(domains_of itcor | head -1)
virsh -c "$URI" destroy "$victim" >/dev/null
wait_until "the destroyed replica is replaced" 30 \
    sh -c "[ \$(virsh -c $URI list --name | grep -c ^default_itcor) -eq 3 ] && ! virsh -c $URI list --name | grep -qx $victim"
wait_until "the events show its replacement" 30 creates_are 1
wait_until "get vmirs shows itcor 3 3 3 after the replacement" 30 row_is itcor "itcor 3 3 3"

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
[ -f "$aside" ] || fail "the damaged file went away"
finish
