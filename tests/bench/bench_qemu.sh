#!/bin/sh
# Benchmark (issue 10): crash -> replacement on real QEMU (qemu:///system,
# domain_type qemu = TCG, network user, the test guest of `make images`).
#   vmirsd: kill -9 of a replica's QEMU process (its pid from
#           /run/libvirt/qemu/DOMAIN.pid) until libvirt reports its
#           replacement Started; each victim has run at least 10 s, so
#           no crash-loop back-off applies (the oldest replica is killed).
#   floor:  `virsh create` of the same domain until libvirt reports it
#           Started: a replica's XML (`virsh dumpxml --inactive`) under a
#           new name and UUID, without the vmirsd metadata, the live-only
#           labels and paths, on a fresh overlay of the same cached disk
#           (made beforehand: the floor is libvirt and QEMU starting it).
# Both ends are read from one `virsh event --loop --timestamp` (libvirt's
# clock, ms) against the wall clock read just before the kill or the
# create. Target: vmirsd <= floor + 50 ms (medians). libvirt itself takes
# a while to report a QEMU killed with SIGKILL (measured here on the floor's
# own domain, which nobody replaces): that part and vmirsd's own (Stopped
# event to the replacement Started) are printed as well. Domains are named
# default_bq<pid>* and bqfloor<pid>-*; all are destroyed at the end.
# BENCH_QEMU_TRIALS (5), BENCH_QEMU_REPLICAS (2).
: "${top_srcdir:?}" "${top_builddir:?}"
URI=qemu:///system
VMIRSD=$top_builddir/src/vmirsd
TRIALS=${BENCH_QEMU_TRIALS:-5}
R=${BENCH_QEMU_REPLICAS:-2}
NAME=bq$$
FLOOR=bqfloor$$

skip() {
    echo "# crash (QEMU): skipped: $*"
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (kill -9 of QEMU, /run/libvirt/qemu)"
virsh -c "$URI" version >/dev/null 2>&1 || skip "libvirtd ($URI) is not running"
[ -d "$top_builddir/images/out/oci" ] || skip "run make images first"
command -v qemu-img >/dev/null || skip "qemu-img is not installed"

T=$(mktemp -d /tmp/vmirs-bq.XXXXXX)
chmod 0711 "$T"
mkdir -p "$T/spool" "$T/state"
cat >"$T/vmirsd.conf" <<CONF
spool_dir = $T/spool
state_dir = $T/state
image_dir = $top_builddir/images/out
libvirt_uri = $URI
domain_type = qemu
network = user
CONF

cleanup() {
    rm -f "$T/spool/$NAME.yaml"
    i=0
    while [ $i -lt 100 ] && virsh -c "$URI" list --name | grep -q "^default_$NAME"; do
        sleep 0.2
        i=$((i + 1))
    done
    [ -n "${PID:-}" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    for d in $(virsh -c "$URI" list --all --name | grep -e "^default_$NAME" -e "^$FLOOR-"); do
        virsh -c "$URI" destroy "$d" >/dev/null 2>&1
    done
    [ -n "${EV:-}" ] && kill "$EV" 2>/dev/null
    if [ -n "${BENCH_KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat >"$T/spool/.$NAME.tmp" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceReplicaSet
metadata:
  name: $NAME
spec:
  replicas: $R
  selector:
    matchLabels:
      app: $NAME
  template:
    metadata:
      labels:
        app: $NAME
    spec:
      terminationGracePeriodSeconds: 0
      domain:
        devices:
          disks:
          - name: containerdisk
            disk:
              bus: virtio
        resources:
          requests:
            memory: 128Mi
      volumes:
      - name: containerdisk
        containerDisk:
          image: localhost/vmirs-test-guest:latest
YAML

stdbuf -oL virsh -c "$URI" event --all --loop --timestamp >"$T/events" 2>/dev/null &
EV=$!
sleep 0.5
"$VMIRSD" -v -c "$T/vmirsd.conf" >"$T/vmirsd.log" 2>&1 &
PID=$!
mv "$T/spool/.$NAME.tmp" "$T/spool/$NAME.yaml"

replicas() { virsh -c "$URI" list --name | grep "^default_$NAME" || true; }
wallclock() { date +%s.%N; }
# started_at DOMAIN: libvirt's time of its (last) Started event, in s.
started_at() {
    line=$(grep "domain '$1': Started" "$T/events" | tail -1)
    [ -n "$line" ] || return 1
    date -d "$(echo "$line" | cut -d' ' -f1,2 | sed 's/:$//')" +%s.%N
}
# wait_started DOMAIN-PATTERN EXCLUDE-FILE: the first domain matching the
# pattern with a Started event that is not listed in EXCLUDE-FILE.
wait_new_started() {
    i=0
    while [ $i -lt 600 ]; do
        d=$(sed -n "s/.*domain '\\($1[^']*\\)': Started.*/\\1/p" "$T/events" | grep -vxF -f "$2" | head -1)
        [ -n "$d" ] && { echo "$d"; return 0; }
        sleep 0.02
        i=$((i + 1))
    done
    return 1
}

i=0
until [ "$(replicas | grep -c .)" -eq "$R" ]; do
    i=$((i + 1))
    [ $i -gt 600 ] && { echo "crash (QEMU): the $R replicas did not start" >&2; tail -20 "$T/vmirsd.log" >&2; exit 1; }
    sleep 0.1
done
replicas >"$T/seen"

fl="" dm="" kl="" rl=""
for t in $(seq 1 "$TRIALS"); do
    # ---- floor: virsh create of a replica's domain, renamed ----
    src=$(replicas | head -1)
    F=$T/floor$t
    mkdir -p "$F"
    virsh -c "$URI" dumpxml --inactive "$src" >"$F/src.xml"
    rdir=$(sed -n "s|.*<source file='\\(.*\\)/containerdisk.qcow2'.*|\\1|p" "$F/src.xml" | head -1)
    backing=$(sed -n '/<backingStore type/,/<\/backingStore>/s|.*<source file='"'"'\(.*\)'"'"'/>.*|\1|p' "$F/src.xml" | head -1)
    qemu-img create -q -f qcow2 -F qcow2 -b "$backing" "$F/containerdisk.qcow2"
    uuid=$(cat /proc/sys/kernel/random/uuid)
    olduuid=$(sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' "$F/src.xml")
    sed -e "s|<name>$src</name>|<name>$FLOOR-$t</name>|" -e "s|$olduuid|$uuid|g" \
        -e "s|$rdir|$F|g" -e '/<metadata>/,/<\/metadata>/d' -e '/<seclabel/,/<\/seclabel>/d' \
        -e '/<mac address/d' -e "s| path='/var/lib/libvirt/qemu/channel/[^']*'||" \
        "$F/src.xml" >"$F/dom.xml"
    t0=$(wallclock)
    virsh -c "$URI" create "$F/dom.xml" >/dev/null || { echo "crash (QEMU): virsh create failed" >&2; exit 1; }
    : >"$F/none"
    wait_new_started "$FLOOR-$t" "$F/none" >/dev/null || { echo "crash (QEMU): no Started event for the floor" >&2; exit 1; }
    t1=$(started_at "$FLOOR-$t")
    f=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
    # libvirt's own part of a crash: kill -9 of the floor domain's QEMU
    # until libvirt reports it Stopped (nobody replaces it).
    sleep 1
    pid=$(cat "/run/libvirt/qemu/$FLOOR-$t.pid")
    t0=$(wallclock)
    kill -9 "$pid"
    i=0
    until grep -q "domain '$FLOOR-$t': Stopped" "$T/events"; do
        i=$((i + 1))
        [ $i -gt 1000 ] && { echo "crash (QEMU): no Stopped event for the floor" >&2; exit 1; }
        sleep 0.02
    done
    t1=$(date -d "$(grep "domain '$FLOOR-$t': Stopped" "$T/events" | cut -d' ' -f1,2 | sed 's/:$//')" +%s.%N)
    k=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')

    # ---- vmirsd: kill -9 of the oldest replica's QEMU, once it has run 10 s ----
    victim="" oldest=""
    for d in $(replicas); do
        s=$(started_at "$d") || continue
        if [ -z "$oldest" ] || awk -v a="$s" -v b="$oldest" 'BEGIN { exit !(a < b) }'; then
            oldest=$s victim=$d
        fi
    done
    [ -n "$victim" ] || { echo "crash (QEMU): no replica to kill" >&2; exit 1; }
    while awk -v s="$oldest" -v n="$(wallclock)" 'BEGIN { exit !(n - s < 10.5) }'; do sleep 0.2; done
    pid=$(cat "/run/libvirt/qemu/$victim.pid")
    replicas >>"$T/seen"
    t0=$(wallclock)
    kill -9 "$pid"
    new=$(wait_new_started "default_$NAME" "$T/seen") || { echo "crash (QEMU): no replacement for $victim" >&2; tail -20 "$T/vmirsd.log" >&2; exit 1; }
    echo "$new" >>"$T/seen"
    t1=$(started_at "$new")
    ts=$(date -d "$(grep "domain '$victim': Stopped" "$T/events" | tail -1 | cut -d' ' -f1,2 | sed 's/:$//')" +%s.%N)
    d=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
    r=$(awk -v a="$ts" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
    echo "# crash trial $t: floor $f ms (virsh create $FLOOR-$t), libvirt's kill -9 to Stopped $k ms; vmirsd $d ms (kill -9 of $victim, $(awk -v s="$oldest" -v n="$t0" 'BEGIN { printf "%.1f", n - s }') s old, replaced by $new): kill -9 to Stopped $(awk -v a="$d" -v b="$r" 'BEGIN { printf "%.1f", a - b }') ms, Stopped to Started $r ms"
    fl="$fl $f" dm="$dm $d" kl="$kl $k" rl="$rl $r"
done

median() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mf=$(median $fl)
md=$(median $dm)
mk=$(median $kl)
mr=$(median $rl)
awk -v f="$mf" -v d="$md" -v k="$mk" -v r="$mr" -v n="$TRIALS" -v fl="$fl" -v dm="$dm" -v kl="$kl" -v rl="$rl" 'BEGIN {
    printf "crash:       floor %.1f ms (virsh create of the same domain until Started), vmirsd %.1f ms " \
        "(kill -9 of a replica'"'"'s QEMU until its replacement is Started), ratio %.2f; " \
        "target <= floor + 50 ms = %.1f ms: %s; medians of %d (floor:%s ms; vmirsd:%s ms)\n",
        f, d, d / f, f + 50, d <= f + 50 ? "met" : "MISSED", n, fl, dm
    printf "crash:       of which libvirt reporting the death (kill -9 to Stopped, measured on the floor'"'"'s " \
        "own domain) %.1f ms (%s ms), and vmirsd from the Stopped event to the replacement Started " \
        "%.1f ms (%s ms): vmirsd'"'"'s part <= floor + 50 ms = %.1f ms: %s; total <= libvirt'"'"'s " \
        "detection + floor + 50 ms = %.1f ms: %s\n",
        k, kl, r, rl, f + 50, r <= f + 50 ? "met" : "MISSED", k + f + 50, d <= k + f + 50 ? "met" : "MISSED"
}'
grep -q "back-off\|backoff" "$T/vmirsd.log" && grep "back-off\|backoff" "$T/vmirsd.log" | head -3
exit 0
