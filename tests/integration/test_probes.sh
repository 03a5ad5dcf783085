#!/bin/sh
# Probes on the mock hypervisor, which has no guest agent: a replica with a
# guestAgentPing readinessProbe runs but is never Ready; one with a failing
# livenessProbe is killed and replaced under a new name. Without probes a
# running replica is Ready at once.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_itp
VMIRSCTL="$top_builddir/src/vmirsctl"
setup

ctl() {
    "$VMIRSCTL" -c "$T/vmirsd.conf" "$@"
}

# The readiness failures of itpready fold into one event per replica,
# counted (kubectl's "(xN over AGE)").
folded() {
    ctl events | grep "Readiness probe failed" | grep -q "(x[0-9]* over"
}

row_is() {
    [ "$(ctl get vmirs 2>/dev/null | awk -v n="$1" '$1 == n {print $1, $2, $3, $4}')" = "$2" ]
}

start_vmirsd
TEMPLATE_EXTRA="readinessProbe: {guestAgentPing: {}, periodSeconds: 1, failureThreshold: 1}" \
    manifest itpready 2
manifest itpnone 2
wait_until "2 replicas of itpready run" 30 count_is itpready 2
wait_until "itpnone is 2 2 2" 30 row_is itpnone "itpnone 2 2 2"
wait_until "readiness probes fail and are recorded" 30 sh -c "\"$VMIRSCTL\" -c \"$T/vmirsd.conf\" events | grep -q 'Warning  *Unhealthy  *virtualmachineinstance/itpready.*Readiness probe failed: guest agent of'"
row_is itpready "itpready 2 2 0" || fail "a replica whose readiness probe fails counts as ready: $(ctl get vmirs)"
[ "$(ctl get vmis -l app=itpready | grep -c ' Running  *False ')" -eq 2 ] ||
    fail "get vmis does not show itpready Running and not Ready: $(ctl get vmis -l app=itpready)"
# The failures fold into one event per replica, counted: the probe runs
# every second, so the second failure comes a second after the first.
wait_until "repeated probe failures fold into one counted event" 30 folded ||
    note "repeated probe failures are not folded: $(ctl events)"

# Liveness: killed after failureThreshold failures, replaced, new name.
first=$(domains_of itpready | sort | tr '\n' ' ')
TEMPLATE_EXTRA="livenessProbe: {guestAgentPing: {}, periodSeconds: 1, failureThreshold: 2}" \
    manifest itplive 1
wait_until "1 replica of itplive runs" 30 count_is itplive 1
victim=$(domains_of itplive)
wait_until "the replica failing its liveness probe is gone" 30 sh -c "! virsh -c $URI list --name | grep -qx $victim"
wait_until "a replacement runs" 30 count_is itplive 1
[ "$(domains_of itplive)" != "$victim" ] || fail "the replacement has the old name"
ctl events | grep -q "Killing  *virtualmachineinstance/${victim#default_} .*failed its liveness probe" ||
    fail "no Killing event for ${victim#default_}: $(ctl events)"
[ "$(domains_of itpready | sort | tr '\n' ' ')" = "$first" ] || fail "readiness failures replaced replicas"

rm "$T/spool/itpready.yaml" "$T/spool/itpnone.yaml" "$T/spool/itplive.yaml"
wait_until "all replicas are gone" 60 sh -c "[ -z \"\$(virsh -c $URI list --name | grep ^default_itp)\" ]"
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
