#!/bin/sh
# A database lock held by another process delays vmirsd's writes, never
# its supervision (SPEC section 7): while `sqlite3` holds the write lock,
# a scale-up from 2 to 5 runs at once and the database stays behind; once
# the lock is released the database catches up, and no write is lost.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_itbusy
VMIRSCTL="$top_builddir/src/vmirsctl"
command -v sqlite3 >/dev/null || { echo "sqlite3 not installed"; exit 77; }
setup

ctl() {
    "$VMIRSCTL" -c "$T/vmirsd.conf" "$@"
}

# "NAME DESIRED CURRENT READY" of get vmirs, spaces squeezed.
row_is() {
    [ "$(ctl get vmirs 2>/dev/null | awk -v n="$1" '$1 == n {print $1, $2, $3, $4}')" = "$2" ]
}

creates_are() {
    [ "$(ctl events itbusy 2>/dev/null | grep -c 'SuccessfulCreate')" -eq "$1" ]
}

# Whether another writer would be refused at once: the lock is held.
db_locked() {
    ! sqlite3 "$T/state/vmirsd.db" '.timeout 0' 'BEGIN IMMEDIATE;' 'ROLLBACK;' 2>/dev/null
}

start_vmirsd
manifest itbusy 2
wait_until "2 replicas of itbusy run" 30 count_is itbusy 2
wait_until "get vmirs shows itbusy 2 2 2" 30 row_is itbusy "itbusy 2 2 2"

# The lock holder: sqlite3 reading its commands from a fifo, so the test
# decides when the transaction ends.
mkfifo "$T/lock.in"
sqlite3 "$T/state/vmirsd.db" <"$T/lock.in" >"$T/lock.out" 2>&1 &
LOCKER=$!
exec 3>"$T/lock.in"
trap 'exec 3>&-; kill "$LOCKER" 2>/dev/null; cleanup' EXIT
printf '.timeout 0\nBEGIN IMMEDIATE;\nSELECT %s;\n' "'holding'" >&3
wait_until "sqlite3 holds the write lock" 30 grep -qx holding "$T/lock.out"
db_locked || fail "the write lock is not held"

ctl scale vmirs itbusy --replicas 5 >/dev/null || fail "vmirsctl scale failed"
# Supervision goes on: well within the 5 s a single write used to wait.
wait_until "itbusy scales up to 5 while the database is locked" 4 count_is itbusy 5
wait_until "vmirsd says its writes wait" 10 grep -q "database .*vmirsd.db.* is locked" "$T/vmirsd.log"
db_locked || fail "the lock was not held through the scale-up"
# The database is behind: nothing was written while the lock was held.
row_is itbusy "itbusy 2 2 2" || fail "the database changed under the lock: $(ctl get vmirs 2>&1)"

# Released: the writes that waited land, none lost.
printf 'COMMIT;\n' >&3
exec 3>&-
wait "$LOCKER" || fail "sqlite3 failed: $(cat "$T/lock.out")"
wait_until "get vmirs catches up to itbusy 5 5 5" 30 row_is itbusy "itbusy 5 5 5"
wait_until "the events show 5 SuccessfulCreate" 30 creates_are 5
wait_until "vmirsd says its writes got through" 10 grep -q "database .*vmirsd.db.* is writable again" "$T/vmirsd.log"
[ "$(grep -c "database .*vmirsd.db.* is locked" "$T/vmirsd.log")" -eq 1 ] ||
    fail "the wait is not logged once: $(grep "vmirsd.db" "$T/vmirsd.log")"
[ "$(ctl get vmis -l app=itbusy 2>/dev/null | grep -c ' Running ')" -eq 5 ] ||
    fail "get vmis does not show 5 running: $(ctl get vmis -l app=itbusy 2>&1)"

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
count_is itbusy 5 || fail "SIGTERM took replicas down: $(count_of itbusy) left"
finish
