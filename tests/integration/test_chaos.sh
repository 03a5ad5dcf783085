#!/bin/sh
# Chaos (SPEC section 3, restart): kill -9 or SIGTERM at random points of
# random scale edits between 0 and 200 replicas, on the test's own libvirtd
# (lib.sh, start_private_libvirtd). Sometimes a replica is destroyed with
# virsh, or the manifest edited, while vmirsd is down. About one cycle in
# five (and at least one from cycle 2 on) is the worst moment, made
# exact with strace: vmirsd held just after a create's intent reached the
# intent journal, and killed before the create reaches libvirt (issue 10,
# defect 6); without strace those cycles are skipped. After each restart,
# once vmirsd has settled (the desired count running and `vmirsctl get
# vmirs` showing it), a user must see:
#   - exactly the desired count of running replicas, each with vmirsd
#     metadata naming the set, domain name default_<vmi name>;
#   - no two domains with one VMI name;
#   - `vmirsctl get vmirs` and `get vmis` agreeing with virsh;
#   - no phantom release in the log ("set the owner of replica ...", "a
#     required field is missing", "release replica": nothing in this test
#     changes labels, so nothing may be released).
# Settling takes at most CHAOS_SETTLE_SECONDS (30; a restart re-lists 200
# domains and creates the difference in well under a second).
#
# CHAOS_SEED=N reproduces a series (the random choices; kill timing is
# only as repeatable as the machine); the seed is printed first.
# CHAOS_CYCLES: 20 by default (CI, under a minute when all is well); `make chaos` runs 300.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_it
PRIVATE_LIBVIRTD=1
SEED=${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
CYCLES=${CHAOS_CYCLES:-20}
MAX=${CHAOS_MAX_REPLICAS:-200}
SETTLE=${CHAOS_SETTLE_SECONDS:-30}
SET=itch
note "chaos: seed $SEED, $CYCLES cycles, 0..$MAX replicas (reproduce: CHAOS_SEED=$SEED CHAOS_CYCLES=$CYCLES)"
setup
LOG=$T/vmirsd.log
CTL="$top_builddir/src/vmirsctl"
failed_cycles=

# A 31-bit linear congruential generator in shell arithmetic: the same
# seed gives the same choices everywhere. rnd N sets R to 0..N-1.
X=$((SEED % 2147483648))
rnd() {
    X=$(((X * 1103515245 + 12345) % 2147483648))
    R=$(((X / 65536) % $1))
}

# A failure of this cycle: cfail MESSAGE; after a failed wait_until (which
# has counted and printed it), mark_cycle.
cfail() {
    fail "seed $SEED cycle $cycle: $*"
    mark_cycle
}

mark_cycle() {
    case " $failed_cycles " in *" $cycle "*) ;; *) failed_cycles="$failed_cycles $cycle" ;; esac
}

# await_exit WHAT: wait for vmirsd to exit and reap it. A watchdog sends
# SIGKILL 30 s on: a daemon that ignores SIGTERM that long is a failure.
# After a SIGKILL the watchdog only notes the delay: no process can catch
# or delay SIGKILL, so a slow exit there is the kernel's (seen on a loaded
# 2-core machine), not vmirsd's. The shell's own wait is the exit test:
# reading /proc/PID/stat while a process is torn down is not reliable.
await_exit() {
    rm -f "$T/watchdog"
    # The watchdog is a program of its own that ends by itself once vmirsd
    # is reaped (kill -0 fails), so no signal is ever sent to a shell here:
    # a bash subshell killed in the instant after its fork, before it has
    # reset its traps, runs the test's EXIT trap (cleanup: libvirtd killed,
    # $T removed) while the test goes on.
    sh -c 'n=0
        while kill -0 "$1" 2>/dev/null; do
            [ $n -eq 300 ] && kill -KILL "$1" 2>/dev/null && : >"$2"
            n=$((n + 1))
            sleep 0.1
        done' watchdog "$VMIRSD_PID" "$T/watchdog" </dev/null >/dev/null 2>&1 &
    wd=$!
    wait "$VMIRSD_PID" 2>/dev/null
    wait "$wd" 2>/dev/null
    if [ -e "$T/watchdog" ]; then
        if [ "$1" = SIGKILL ]; then
            note "cycle $cycle: vmirsd took over 30 s to exit after SIGKILL"
        else
            cfail "vmirsd still runs 30 s after $1"
        fi
        rm -f "$T/watchdog"
    fi
    VMIRSD_PID=
}

# stop_daemon SIGNAL: bounded; a daemon that ignores SIGTERM is a failure.
stop_daemon() {
    kill "-$1" "$VMIRSD_PID" 2>/dev/null
    await_exit "SIG$1"
}

# The log since byte offset $cycle_off (the start of this cycle).
cycle_log() {
    tail -c +"$((cycle_off + 1))" "$LOG"
}

# wait_events K: until K creates or deletes were logged in this cycle, or 5 s.
wait_events() {
    i=0
    until [ "$(cycle_log | grep -c "SuccessfulCreate\|SuccessfulDelete")" -ge "$1" ] || [ $i -ge 500 ]; do
        i=$((i + 1))
        sleep 0.01
    done
}

# The daemon has settled when, since the restarted vmirsd has listed the
# domains (its log says "resynchronising"), virsh has counted the desired
# number and vmirsctl shown DESIRED = CURRENT = READY = desired for 1 s
# without a break: just after a restart the database still shows what the
# previous daemon wrote, and a pass may briefly count a pending create.
settled() {
    tail -c +"$((restart_off + 1))" "$LOG" | grep -q resynchronising &&
        count_is $SET "$desired" &&
        "$CTL" -c "$T/vmirsd.conf" get vmirs $SET 2>/dev/null |
        awk -v d="$desired" 'NR == 2 { ok = ($2 == d && $3 == d && $4 == d) } END { exit !ok }'
}

settled_for_a_second() {
    if settled; then
        [ -n "$stable_since" ] || stable_since=$(now)
        awk -v a="$stable_since" -v b="$(now)" 'BEGIN { exit !(b - a >= 1) }'
    else
        stable_since=
        return 1
    fi
}

check() {
    doms=$(vmirsd_domains)
    mine=$(printf '%s\n' "$doms" | awk -v s=$SET '$3 == s')
    n=$(printf '%s\n' "$mine" | grep -c . || true)
    [ "$n" -eq "$desired" ] || cfail "$n running domains carry metadata naming $SET, desired $desired"
    [ "$(count_of $SET)" -eq "$desired" ] || cfail "$(count_of $SET) running domains named default_$SET*, desired $desired"
    dups=$(printf '%s\n' "$doms" | awk 'NF { print $2 }' | sort | uniq -d | tr '\n' ' ')
    [ -z "$dups" ] || cfail "two domains with one VMI name: $dups"
    bad=$(printf '%s\n' "$mine" | awk 'NF && $1 != "default_" $2 { print $1 }' | tr '\n' ' ')
    [ -z "$bad" ] || cfail "domain name is not default_<vmi name>: $bad"
    virsh_vmis=$(printf '%s\n' "$mine" | awk 'NF { print $2 }' | sort)
    ctl=$("$CTL" -c "$T/vmirsd.conf" get vmis -l app=$SET 2>&1) || cfail "vmirsctl get vmis: $ctl"
    ctl_vmis=$(printf '%s\n' "$ctl" | awk 'NR > 1 { print $1 }' | sort)
    [ "$ctl_vmis" = "$virsh_vmis" ] ||
        cfail "vmirsctl get vmis disagrees with virsh: $(printf '%s\n' "$ctl_vmis" "$virsh_vmis" | sort | uniq -u | head -5 | tr '\n' ' ')"
    notrun=$(printf '%s\n' "$ctl" | awk 'NR > 1 && $2 != "Running" { print $1 ":" $2 }' | head -5 | tr '\n' ' ')
    [ -z "$notrun" ] || cfail "vmirsctl get vmis shows replicas not Running: $notrun"
    rs=$("$CTL" -c "$T/vmirsd.conf" get vmirs $SET 2>&1 | awk 'NR == 2 { print $2, $3 }')
    [ "$rs" = "$desired $desired" ] || cfail "vmirsctl get vmirs shows DESIRED CURRENT '$rs', desired $desired"
    phantom=$(cycle_log | grep "a required field is missing\|set the owner of replica\|release replica" | head -3)
    [ -z "$phantom" ] || cfail "phantom release in the log: $phantom"
}

# hold_at_intent_write: strace attached to vmirsd (every thread) holds the
# first thread to write(2) to state_dir/intents for 30 s as that write
# returns, so the intent is in the file and its create not yet sent.
# strace counts per thread; workers write the intents, the loop thread the
# "done" lines after them, so the first write by any thread is an intent.
# Returns once strace is attached.
# Only with CHAOS_STRACE=1 (make chaos): strace's hold makes the series slow
# and, on a loaded machine, timing-dependent; the same window is covered
# deterministically by test_intent_phantom.sh in every run.
STRACE=
if [ "${CHAOS_STRACE:-0}" = 1 ]; then
    STRACE=$(command -v strace || true)
    [ -n "$STRACE" ] || note "strace not installed: no kills between the intent and the create"
fi
hold_at_intent_write() {
    journal_size=$(stat -c %s "$T/state/intents")
    "$STRACE" -qq -f -o /dev/null -p "$VMIRSD_PID" -P "$T/state/intents" \
        -e trace=write -e inject=write:delay_exit=30s:when=1 &
    STRACE_PID=$!
    i=0
    while [ $i -lt 100 ]; do
        attached=1
        for task in /proc/"$VMIRSD_PID"/task/*; do
            grep -q '^TracerPid:[[:space:]]*0$' "$task/status" 2>/dev/null && attached=
        done
        [ -n "$attached" ] && return 0
        i=$((i + 1))
        sleep 0.05
    done
    cfail "strace did not attach to vmirsd within 5 s"
}

journal_grew() {
    [ "$(stat -c %s "$T/state/intents")" -gt "$journal_size" ]
}

start_vmirsd
desired=0
settle_max=0
slow=0
targeted=0
pending_names=
pending=0
cycle=0
while [ $cycle -lt "$CYCLES" ]; do
    cycle=$((cycle + 1))
    cycle_off=$(stat -c %s "$LOG")
    before=$desired
    # The edit: often an extreme, mostly anywhere between.
    rnd 10
    case $R in
    0) desired=0 ;;
    1) desired=$MAX ;;
    *) rnd $((MAX + 1)); desired=$R ;;
    esac
    rnd 2
    [ $R -eq 0 ] && sig=KILL || sig=TERM
    # Now and then (and at least once from cycle 2 on) a kill at the worst
    # moment: after a create's intent is written, before libvirt sees it.
    rnd 5
    target=
    if [ -n "$STRACE" ] && { [ $R -eq 0 ] || { [ $targeted -eq 0 ] && [ $cycle -ge 2 ]; }; } &&
        [ "$before" -lt "$MAX" ]; then
        target=1
        targeted=$((targeted + 1))
        [ "$desired" -gt "$before" ] || { rnd $((MAX - before)); desired=$((before + R + 1)); }
    fi
    diff=$((desired > before ? desired - before : before - desired))
    rnd 2
    if [ -n "$target" ]; then
        sig=KILL
        how="between a create's intent and the create (strace)"
        hold_at_intent_write
        manifest $SET "$desired"
        POLL=0.01
        wait_until "seed $SEED cycle $cycle: an intent is written" 10 journal_grew || mark_cycle
        POLL=
        # strace first: a tracee held in its delay cannot finish exiting.
        kill -KILL "$VMIRSD_PID" 2>/dev/null
        kill "$STRACE_PID" 2>/dev/null
        wait "$STRACE_PID" 2>/dev/null
        await_exit SIGKILL
    elif [ $R -eq 0 ] || [ $diff -eq 0 ]; then
        rnd 400
        how="${R} ms after the edit"
        manifest $SET "$desired"
        sleep "$(awk -v m=$R 'BEGIN { printf "%.3f", m / 1000 }')"
        stop_daemon $sig
    else
        rnd $diff
        k=$((R + 1))
        how="after $k creates or deletes"
        manifest $SET "$desired"
        wait_events $k
        stop_daemon $sig
    fi
    what="SIG$sig $how, to $desired"
    rnd 10
    if [ $R -lt 3 ]; then
        victim=$(domains_of $SET | head -n $((R + 1)) | tail -n 1)
        if [ -n "$victim" ]; then
            virsh -c "$URI" destroy "$victim" >/dev/null 2>&1
            what="$what, $victim destroyed while down"
        fi
    elif [ $R -eq 3 ]; then
        rnd $((MAX + 1))
        desired=$R
        manifest $SET "$desired"
        what="$what, edited to $desired while down"
    fi
    t0=$(now)
    restart_off=$(stat -c %s "$LOG")
    stable_since=
    start_vmirsd
    if wait_until "seed $SEED cycle $cycle: vmirsd settles at $desired" 90 settled_for_a_second; then
        took=$(elapsed "$t0" "$stable_since")
        check
    else
        took=timeout
        mark_cycle
        note "cycle $cycle: $(count_of $SET) running after 90 s, desired $desired"
    fi
    # A create found pending at a restart is settled by that daemon (its
    # domain exists, or it is given up): the same name pending again at a
    # later restart is a journal entry that is never settled.
    names=$(cycle_log | sed -n 's/.*replica `\([^`]*\)` was being created before a restart.*/\1/p')
    if [ -n "$names" ]; then
        pending=$((pending + 1))
        what="$what, a create pending across the restart"
        for n in $names; do
            case " $pending_names " in
            *" $n "*) cfail "replica \`$n\` found pending again at a later restart: its intent is never settled" ;;
            esac
        done
        pending_names="$pending_names $names"
    fi
    note "cycle $cycle: $what; settled in $took s"
    if [ "$took" != timeout ]; then
        awk -v t="$took" -v s="$SETTLE" 'BEGIN { exit !(t > s) }' && {
            slow=$((slow + 1))
            cfail "settling took $took s (limit $SETTLE s)"
        }
        settle_max=$(awk -v a="$settle_max" -v b="$took" 'BEGIN { print (b > a ? b : a) }')
    fi
done
note "chaos: seed $SEED, $cycle cycles ($targeted killed between an intent and its create), slowest settle $settle_max s, $slow over ${SETTLE}s, $pending with a create pending across a restart"
[ -z "$failed_cycles" ] || note "failed cycles:$failed_cycles (reproduce: CHAOS_SEED=$SEED CHAOS_CYCLES=$CYCLES)"
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
