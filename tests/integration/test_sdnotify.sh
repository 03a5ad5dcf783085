#!/bin/sh
# systemd's notify protocol, on a socket the test owns: READY=1 once the
# first reconcile has run, STATUS= with counts, WATCHDOG=1 at half of
# WATCHDOG_USEC, RELOADING=1 and READY=1 around SIGHUP, STOPPING=1.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_itnotify
setup

"$top_builddir/tests/integration/notify_recv" "$T/notify.sock" >"$T/notify.log" &
RECV=$!
wait_until "the notify socket exists" 10 test -S "$T/notify.sock"
manifest itnotify 2
# WATCHDOG_PID must be vmirsd's own pid: exec keeps the shell's.
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=1000000 \
    sh -c 'WATCHDOG_PID=$$ exec "$0" -c "$1"' "$VMIRSD" "$T/vmirsd.conf" >>"$T/vmirsd.log" 2>&1 &
VMIRSD_PID=$!

wait_until "READY=1" 30 grep -qx "READY=1" "$T/notify.log"
wait_until "STATUS= counts both replicas" 30 grep -qx "STATUS=1 replica set, 2 replicas running" "$T/notify.log"
count_is itnotify 2 || fail "READY=1 before the replicas: $(count_of itnotify)"
wait_until "three watchdog pings" 10 sh -c "[ \$(grep -cx WATCHDOG=1 '$T/notify.log') -ge 3 ]"

kill -HUP "$VMIRSD_PID"
wait_until "RELOADING=1 on SIGHUP" 10 grep -qx "RELOADING=1" "$T/notify.log"
wait_until "READY=1 after the reload" 10 sh -c "[ \$(grep -cx READY=1 '$T/notify.log') -ge 2 ]"

manifest itnotify 3
wait_until "STATUS= follows the count" 30 grep -qx "STATUS=1 replica set, 3 replicas running" "$T/notify.log"

stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
wait_until "STOPPING=1" 10 grep -qx "STOPPING=1" "$T/notify.log"
kill "$RECV"
rm "$T/spool/itnotify.yaml"
# Without NOTIFY_SOCKET nothing is sent and nothing fails.
start_vmirsd
wait_until "the replicas are deleted without systemd" 30 count_is itnotify 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
