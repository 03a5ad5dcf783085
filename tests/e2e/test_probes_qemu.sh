#!/bin/sh
# Network probes end to end on real QEMU with user-mode networking: the
# test guest's httpd on port 80 is reached through a loopback host port
# that vmirsd forwards (hostfwd_add), an httpGet readinessProbe makes the
# replica Ready, a tcpSocket livenessProbe keeps it alive, and a probe on
# a port where nothing listens keeps another replica not Ready.
. "$top_srcdir/tests/e2e/lib.sh"
e2e_start e2enet "host_port_range = 31400-31499"
row_is() { [ "$(ctl get vmirs 2>/dev/null | awk -v n="$1" '$1 == n {print $2, $3, $4}')" = "$2" ]; }

# manifest NAME PROBES: one replica of the test guest with these probe lines.
manifest() {
    {
        printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n'
        printf 'metadata: {name: %s}\nspec:\n  replicas: 1\n' "$1"
        printf '  selector: {matchLabels: {app: %s}}\n  template:\n' "$1"
        printf '    metadata: {labels: {app: %s}}\n    spec:\n' "$1"
        printf '      terminationGracePeriodSeconds: 0\n%s\n' "$2"
        printf '      domain:\n        devices:\n          disks:\n'
        printf '          - {name: containerdisk, disk: {bus: virtio}}\n'
        printf '        resources: {requests: {memory: 128Mi}}\n'
        printf '      volumes:\n      - name: containerdisk\n'
        printf '        containerDisk: {image: localhost/vmirs-test-guest:latest}\n'
    } >"$T/spool/.$1.tmp"
    mv "$T/spool/.$1.tmp" "$T/spool/$1.yaml"
}

manifest e2enetok "      readinessProbe: {httpGet: {port: 80, path: /}, periodSeconds: 2}
      livenessProbe: {tcpSocket: {port: 80}, initialDelaySeconds: 60, periodSeconds: 5}"
manifest e2enetno "      readinessProbe: {tcpSocket: {port: 8081}, periodSeconds: 2}"
start=$(date +%s)
wait_until "e2enetok is Ready through its httpGet probe" 300 row_is e2enetok "1 1 1"
echo "# e2e: httpGet readiness passed $(($(date +%s) - start)) s after the manifest was dropped"
ctl get vmis -o wide -l app=e2enetok >"$T/vmis"
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)->80\/tcp.*/\1/p' "$T/vmis")
[ -n "$port" ] || fail "get vmis -o wide shows no forwarded port: $(cat "$T/vmis")"
case "$port" in 314[0-9][0-9]) ;; *) fail "port $port is outside host_port_range" ;; esac
curl -fsS -m 5 -o "$T/page" "http://127.0.0.1:$port/" || fail "nothing answers on the forwarded port $port"
# Once its guest is up, the guest refuses port 8081: the probe says so.
wait_until "the tcpSocket probe of e2enetno reports the refusal" 120 sh -c \
    "\"$VMIRSCTL\" -c \"$T/vmirsd.conf\" events | grep -q 'Unhealthy .*virtualmachineinstance/e2enetno.*Readiness probe failed: connection closed: nothing listens on the port'" ||
    ctl events >&2
row_is e2enetno "1 1 0" || fail "a tcpSocket probe on a port where nothing listens passed: $(ctl get vmirs)"
# A forward lost while vmirsd is down (as when it dies between a create
# and its forwards) is set up again when it restarts; the others are left
# as they are.
okdom=$(virsh -c "$URI" list --name | grep '^default_e2enetok')
virsh -c "$URI" qemu-monitor-command "$okdom" --hmp "hostfwd_remove hostua-default tcp:127.0.0.1:$port" >/dev/null
kill -KILL "$PID"
wait "$PID" 2>/dev/null
curl -fsS -m 3 -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && fail "the forward was not removed"
"$VMIRSD" -c "$T/vmirsd.conf" >>"$T/vmirsd.log" 2>&1 &
PID=$!
wait_until "the forward is back after the restart" 60 curl -fsS -m 3 -o /dev/null "http://127.0.0.1:$port/"
ctl events | grep -q FailedPortForward && fail "a restart failed to forward: $(ctl events | grep FailedPortForward)"
rm "$T/spool/e2enetok.yaml" "$T/spool/e2enetno.yaml"
wait_until "the replicas are gone" 120 sh -c "! virsh -c $URI list --name | grep -q '^default_e2enet'"
finish
