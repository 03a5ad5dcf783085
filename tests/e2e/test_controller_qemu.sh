#!/bin/sh
# End to end with the daemon on real QEMU: three replicas of the test
# guest from its OCI image all answer guest-ping; one destroyed with virsh
# is replaced by a new one that boots and answers; removing the manifest
# removes every replica and its directory.
. "$top_srcdir/tests/cli/lib.sh"
URI=qemu:///system
virsh -c "$URI" version >/dev/null 2>&1 || { echo "libvirtd (qemu:///system) is not running"; exit 77; }
[ -d "$top_builddir/images/out/oci" ] || { echo "run make images first"; exit 99; }

T=$(mktemp -d)
chmod 0711 "$T"
mkdir -p "$T/spool" "$T/state"
cat >"$T/vmirsd.conf" <<CONF
spool_dir = $T/spool
state_dir = $T/state
image_dir = $top_builddir/images/out
libvirt_uri = $URI
domain_type = ${VMIRS_E2E_DOMAIN_TYPE:-qemu}
CONF
"$VMIRSD" -c "$T/vmirsd.conf" >"$T/vmirsd.log" 2>&1 &
PID=$!
cleanup() {
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    for d in $(virsh -c "$URI" list --name | grep '^default_e2eweb'); do virsh -c "$URI" destroy "$d" >/dev/null 2>&1; done
    [ "$failures" -gt 0 ] && tail -40 "$T/vmirsd.log" >&2
    rm -rf "$T"
}
trap cleanup EXIT

wait_until() {
    desc=$1 limit=$2
    shift 2
    end=$(($(date +%s) + limit))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && { fail "timed out after ${limit}s waiting until $desc"; return 1; }
        sleep 0.5
    done
}
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
wait_until "all 3 replicas answer guest-ping" 300 all_ping
echo "# e2e: 3 replicas answered guest-ping $(($(date +%s) - start)) s after the manifest was dropped"

victim=$(replicas | head -1)
virsh -c "$URI" destroy "$victim" >/dev/null
start=$(date +%s)
wait_until "a replacement for $victim runs" 60 sh -c \
    "[ \$(virsh -c $URI list --name | grep -c '^default_e2eweb') -eq 3 ] && ! virsh -c $URI list --name | grep -qx '$victim'"
wait_until "the replacement answers guest-ping" 300 all_ping
echo "# e2e: the replacement answered guest-ping $(($(date +%s) - start)) s after virsh destroy"
[ ! -e "$T/state/replicas/$victim" ] || wait_until "the destroyed replica's directory is removed" 30 \
    test ! -e "$T/state/replicas/$victim"

rm "$T/spool/e2eweb.yaml"
wait_until "every replica is gone with the manifest" 120 count_is 0
wait_until "every replica directory is removed" 60 sh -c "[ -z \"\$(ls -A '$T/state/replicas')\" ]"
finish
