#!/bin/sh
# End to end with the daemon on real QEMU: three replicas of the test
# guest from its OCI image all answer guest-ping; vmirsctl shows READY go
# from 0 to 3 as their guestAgentPing readiness probes pass, and the
# SuccessfulCreate events; one destroyed with virsh is replaced by a new
# one that boots and answers, the events show the delete and the create and
# READY returns to 3; after kill -9 vmirsctl still answers and a restart
# loses no event; removing the manifest removes every replica and its
# directory.
. "$top_srcdir/tests/e2e/lib.sh"
e2e_start e2eweb
# NAME DESIRED CURRENT READY of get vmirs.
row_is() { [ "$(ctl get vmirs 2>/dev/null | awk '$1 == "e2eweb" {print $2, $3, $4}')" = "$1" ]; }
creates() { ctl events e2eweb 2>/dev/null | grep -c 'SuccessfulCreate' || true; }
replicas() { virsh -c "$URI" list --name | grep '^default_e2eweb' || true; }
count_is() { [ "$(replicas | grep -c .)" -eq "$1" ]; }
pings() { virsh -c "$URI" qemu-agent-command "$1" '{"execute":"guest-ping"}' 2>/dev/null | grep -q '"return"'; }
all_ping() {
    for d in $(replicas); do pings "$d" || return 1; done
}

sed 's/name: web$/name: e2eweb/; s/app: web$/app: e2eweb/' "$top_srcdir/conf/examples/web.yaml" >"$T/spool/.e2eweb.tmp"
mv "$T/spool/.e2eweb.tmp" "$T/spool/e2eweb.yaml"
start=$(date +%s)
wait_until "3 replicas run" 60 count_is 3
wait_until "get vmirs shows 3 replicas, none ready yet" 60 row_is "3 3 0"
wait_until "all 3 replicas answer guest-ping" 300 all_ping
echo "# e2e: 3 replicas answered guest-ping $(($(date +%s) - start)) s after the manifest was dropped"
wait_until "get vmirs shows READY 3" 120 row_is "3 3 3"
echo "# e2e: READY 3 $(($(date +%s) - start)) s after the manifest was dropped"
ctl describe vmirs e2eweb >"$T/describe"
[ "$(grep -c '^  Normal  *SuccessfulCreate .*Created virtual machine: e2eweb' "$T/describe")" -eq 3 ] ||
    fail "describe does not show the 3 SuccessfulCreate events: $(cat "$T/describe")"
grep -q '^  Ready Replicas:  *3$' "$T/describe" || fail "describe: Ready Replicas is not 3"
[ "$(sqlite3 "$T/state/vmirsd.db" 'SELECT ref FROM images')" = "localhost/vmirs-test-guest:latest" ] ||
    fail "the image cache entry is not in the database: $(sqlite3 "$T/state/vmirsd.db" 'SELECT * FROM images')"

victim=$(replicas | head -1)
virsh -c "$URI" destroy "$victim" >/dev/null
start=$(date +%s)
wait_until "a replacement for $victim runs" 60 sh -c \
    "[ \$(virsh -c $URI list --name | grep -c '^default_e2eweb') -eq 3 ] && ! virsh -c $URI list --name | grep -qx '$victim'"
wait_until "the replacement answers guest-ping" 300 all_ping
echo "# e2e: the replacement answered guest-ping $(($(date +%s) - start)) s after virsh destroy"
ctl events e2eweb | grep -q "SuccessfulDelete .*Deleted virtual machine: ${victim#default_}$" ||
    fail "the events do not show the delete of ${victim#default_}: $(ctl events e2eweb)"
[ "$(creates)" -eq 4 ] || fail "the events do not show the replacement's create: $(ctl events e2eweb)"
wait_until "READY returns to 3" 120 row_is "3 3 3"

# kill -9: the database answers without the daemon; a restart loses no event.
kill -KILL "$PID"
wait "$PID" 2>/dev/null
row_is "3 3 3" || fail "get vmirs without the daemon: $(ctl get vmirs 2>&1)"
# Each event without its LAST SEEN column.
ctl events e2eweb | awk 'NR > 1 {$1 = ""; sub(/^ /, ""); print}' >"$T/events.before"
[ -s "$T/events.before" ] || fail "events without the daemon: $(ctl events e2eweb 2>&1)"
"$VMIRSD" -c "$T/vmirsd.conf" >>"$T/vmirsd.log" 2>&1 &
PID=$!
wait_until "the restarted daemon has connected" 60 sh -c "[ \$(grep -c 'connected to' '$T/vmirsd.log') -ge 2 ]"
# Ready replicas stay Ready over the restart: their probes resume from
# what the database says instead of starting over from not Ready. A
# scenario duration, not a wait: READY is watched for 10 s, web.yaml's
# initialDelaySeconds and one periodSeconds (5 s each), in which every
# replica's probe runs under the new daemon; a drop is a failure at once.
watch_end=$(($(date +%s) + 10))
while [ "$(date +%s)" -lt "$watch_end" ]; do
    row_is "3 3 3" || { fail "READY dropped after the restart: $(ctl get vmirs 2>&1)"; break; }
    sleep 1
done
ctl events e2eweb | awk 'NR > 1 {$1 = ""; sub(/^ /, ""); print}' >"$T/events.after"
while read -r line; do
    grep -qxF "$line" "$T/events.after" || fail "event lost over kill -9 and restart: $line"
done <"$T/events.before"
[ ! -e "$T/state/replicas/$victim" ] || wait_until "the destroyed replica's directory is removed" 30 \
    test ! -e "$T/state/replicas/$victim"

rm "$T/spool/e2eweb.yaml"
wait_until "every replica is gone with the manifest" 120 count_is 0
wait_until "every replica directory is removed" 60 sh -c "[ -z \"\$(ls -A '$T/state/replicas')\" ]"
finish
