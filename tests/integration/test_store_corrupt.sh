#!/bin/sh
# A corrupt vmirsd.db does not stop vmirsd (SPEC section 7): it is moved
# aside as vmirsd.db.corrupt-<UTC time>, the log says where it went, and
# a new database is rebuilt from the domains, which keep running and are
# adopted as they are: no create, no duplicate. The same when a commit
# finds the file damaged while vmirsd runs.
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

# Damage found while vmirsd runs: the table's root page overwritten in
# the file (after a checkpoint, so the page is read from there) and
# another connection's write, so that vmirsd's cached pages are stale.
# The next commit finds it, the file is replaced the same way, and what
# vmirsd knows is recorded again.
db="$T/state/vmirsd.db"
[ "$(sqlite3 "$db" '.timeout 5000' 'PRAGMA wal_checkpoint(TRUNCATE);')" = "0|0|0" ] ||
    fail "the test's checkpoint did not complete"
root=$(sqlite3 "$db" "SELECT rootpage FROM sqlite_master WHERE name = 'replica_sets'")
yes Z | head -c 4096 | dd of="$db" bs=4096 seek=$((root - 1)) conv=notrunc status=none
sqlite3 "$db" '.timeout 5000' "INSERT INTO images VALUES ('sha256:test', 'r', '/p', 1, 1);" ||
    fail "the test's write failed"
manifest itcor 4
wait_until "4 replicas of itcor run" 30 count_is itcor 4
wait_until "vmirsd logs where the file damaged at run time went" 30 \
    grep -q "^ERROR store: commit to database \`$db\`: database disk image is malformed: moved to \`$db.corrupt-[0-9]\{8\}T[0-9]\{6\}Z[.0-9]*\`" "$T/vmirsd.log"
wait_until "get vmirs shows itcor 4 4 4 from the new file" 30 row_is itcor "itcor 4 4 4"
wait_until "get vmis shows 4 VMIs running" 30 sh -c "[ \$(\"$VMIRSCTL\" -c \"$T/vmirsd.conf\" get vmis -l app=itcor | grep -c ' Running ') -eq 4 ]"
[ "$(ls "$T/state" | grep -c '^vmirsd.db.corrupt-[0-9T]*Z[.0-9]*$')" -eq 2 ] ||
    fail "expected two files moved aside: $(ls "$T/state")"

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
[ -f "$aside" ] || fail "the damaged file went away"
finish
