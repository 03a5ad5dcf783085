#!/bin/sh
# Burst at scale (issue 10, "Benchmarks"): one manifest with `replicas: N`
# dropped into the spool, until all N domains have started (seen as
# lifecycle events on another connection), against a floor measured in the
# same run on the same private libvirtd (tests/integration/lib.sh,
# start_private_libvirtd): N virDomainCreateXML calls in a loop on one
# connection, of the XML `vmirsd --render` prints for that manifest, with
# a fresh name and UUID each (tests/bench/burst_floor.c).
# Target: vmirsd <= 1.25 x floor + 100 ms.
#
# BENCH_BURST_SIZES: "200 1000" by default. BENCH_BURST_RUNS: runs per size
# (3); each run measures its floor just before, and the best of each is
# reported too. BENCH_PERF=1: perf record (DWARF call graphs) of vmirsd
# during the last run of the largest size, and the top of its report
# (KEEP=1 keeps $T/perf.data for perf report -i). BENCH_BURST_DEVICES: the
# template's devices (default {autoattachPodInterface: false}, as
# bench_controller; {} gives the default pod interface).
# BENCH_VMIRSD_FLAGS: extra vmirsd flags (-v for debug logging).
# Run it with `make bench-burst`. Exit status 1 when a target is missed.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/integration/lib.sh"
SIZES=${BENCH_BURST_SIZES:-200 1000}
RUNS=${BENCH_BURST_RUNS:-3}
FLOOR="$top_builddir/tests/bench/burst_floor"
[ -x "$FLOOR" ] || { echo "build $FLOOR first (make bench-burst)" >&2; exit 2; }
PRIVATE_LIBVIRTD=1
setup
# vmirsd as installed runs it: default max_parallel, no debug logging.
cat >"$T/bench.conf" <<CONF
spool_dir = $T/spool
state_dir = $T/state
libvirt_uri = $URI
domain_type = test
CONF
missed=0
largest=$(printf '%s\n' $SIZES | sort -n | tail -1)
report=

bench_manifest() { # PATH N
    printf '%s\n' "apiVersion: kubevirt.io/v1" "kind: VirtualMachineInstanceReplicaSet" \
        "metadata: {name: bb}" "spec:" "  replicas: $2" "  selector: {matchLabels: {app: bb}}" \
        "  template:" "    metadata: {labels: {app: bb}}" "    spec:" \
        "      terminationGracePeriodSeconds: 0" \
        "      domain: {memory: {guest: 64Mi}, devices: ${BENCH_BURST_DEVICES:-{autoattachPodInterface: false\}}}" >"$1"
}

for n in $SIZES; do
    bench_manifest "$T/bb.yaml" "$n"
    xml=$("$VMIRSD" -c "$T/bench.conf" --render "$T/bb.yaml") || { fail "--render failed"; break; }
    name=$(printf '%s\n' "$xml" | sed -n 's|^  <name>\(.*\)</name>$|\1|p')
    uuid=$(printf '%s\n' "$xml" | sed -n 's|^  <uuid>\(.*\)</uuid>$|\1|p')
    printf '%s\n' "$xml" | sed -e "s|$name|@NAME@|g" -e "s|$uuid|@UUID@|g" >"$T/template.xml"
    best_f='' best_b=''
    run=0
    while [ $run -lt "$RUNS" ]; do
        run=$((run + 1))
        f=$("$FLOOR" floor "$URI" "$T/template.xml" "$n") || { fail "floor of $n failed"; break 2; }
        wait_until "the floor's domains are gone" 60 sh -c "! virsh -c '$URI' list --name | grep -q ^benchfloor"
        rm -rf "$T/state" && mkdir -p "$T/state"
        "$VMIRSD" ${BENCH_VMIRSD_FLAGS:-} -c "$T/bench.conf" >>"$T/vmirsd.log" 2>&1 &
        VMIRSD_PID=$!
        r=$(grep -c resynchronising "$T/vmirsd.log")
        wait_until "vmirsd has listed the domains" 30 sh -c "[ \$(grep -c resynchronising '$T/vmirsd.log') -gt $r ]"
        bench_manifest "$T/spool/.bb.tmp" "$n"
        perf_pid=
        if [ -n "${BENCH_PERF:-}" ] && [ "$n" = "$largest" ] && [ $run -eq "$RUNS" ]; then
            perf record -q --call-graph dwarf -F 2999 -p "$VMIRSD_PID" -o "$T/perf.data" >/dev/null 2>&1 &
            perf_pid=$!
            sleep 0.5 # perf attaches; the measurement below starts after it
        fi
        b=$("$FLOOR" watch "$URI" default_bb "$n" "$T/spool/.bb.tmp" "$T/spool/bb.yaml") ||
            fail "vmirsd did not start $n replicas"
        if [ -n "$perf_pid" ]; then
            kill -INT "$perf_pid"
            wait "$perf_pid"
        fi
        rm -f "$T/spool/bb.yaml"
        wait_until "the burst's replicas are gone" 300 count_is bb 0
        stop_vmirsd
        [ -n "$b" ] || break 2
        target=$(awk -v f="$f" 'BEGIN { printf "%.4f", 1.25 * f + 0.1 }')
        verdict=$(awk -v b="$b" -v t="$target" 'BEGIN { print (b <= t ? "met" : "MISSED") }')
        line=$(awk -v n="$n" -v f="$f" -v b="$b" -v t="$target" -v v="$verdict" -v r="$run" 'BEGIN {
            printf "burst %d run %d: floor %.1f ms (%d creates, one connection), vmirsd %.1f ms, ratio %.2f; target <= 1.25 x floor + 100 ms = %.1f ms: %s",
                n, r, f * 1e3, n, b * 1e3, b / f, t * 1e3, v }')
        echo "$line"
        best_f=$(awk -v a="${best_f:-1e9}" -v b="$f" 'BEGIN { print (b < a ? b : a) }')
        best_b=$(awk -v a="${best_b:-1e9}" -v b="$b" 'BEGIN { print (b < a ? b : a) }')
    done
    [ -n "$best_b" ] || continue
    line=$(awk -v n="$n" -v f="$best_f" -v b="$best_b" 'BEGIN { t = 1.25 * f + 0.1;
        printf "burst %d best: floor %.1f ms, vmirsd %.1f ms, ratio %.2f; target %.1f ms: %s",
            n, f * 1e3, b * 1e3, b / f, t * 1e3, (b <= t ? "met" : "MISSED") }')
    case $line in *MISSED) missed=1 ;; esac
    report="$report
$line"
done
printf '%s\n' "$report" | sed '/^$/d'
if [ -f "$T/perf.data" ]; then
    echo "perf: vmirsd during the last $largest burst, self time (perf report --no-children):"
    perf report -q -i "$T/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
        grep -v '^$' | head -25
    echo "perf: with children (callers' inclusive time):"
    perf report -q -i "$T/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -v '^$' | head -25
fi
[ "$failures" -eq 0 ] || finish
exit $missed
