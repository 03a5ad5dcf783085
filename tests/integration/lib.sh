# Integration harness (sourced by each test, POSIX sh): a real libvirtd on
# libvirt's mock hypervisor, test+unix:///default, and the real vmirsd.
# The mock's state lives while one connection stays open, so the harness
# holds one for the whole test. Waits poll conditions with generous
# deadlines; nothing sleeps a fixed time to assert a result.
: "${top_srcdir:?}" "${top_builddir:?}"
VMIRSD="$top_builddir/src/vmirsd"
URI=test+unix:///default
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

note() {
    echo "# $*"
}

ensure_libvirtd() {
    if ! virsh -c "$URI" version >/dev/null 2>&1; then
        [ -e /dev/kvm ] && { chgrp kvm /dev/kvm; chmod 0660 /dev/kvm; } 2>/dev/null
        # Started without this shell's extra descriptors: a daemon that
        # inherited a lock (flock around a test run) would hold it forever.
        pgrep -x virtlogd >/dev/null || virtlogd -d 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
        pgrep -x libvirtd >/dev/null || libvirtd -d 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
        i=0
        until virsh -c "$URI" version >/dev/null 2>&1; do
            i=$((i + 1))
            [ $i -gt 100 ] && { echo "libvirtd does not answer" >&2; exit 99; }
            sleep 0.2
        done
    fi
}

# Keep the mock's state alive for the whole test.
hold_connection() {
    virsh -c "$URI" event --all --loop >/dev/null 2>&1 &
    HOLDER=$!
}

setup() {
    command -v virsh >/dev/null || { echo "virsh not installed"; exit 77; }
    ensure_libvirtd
    hold_connection
    T=$(mktemp -d)
    mkdir -p "$T/spool" "$T/state"
    cat >"$T/vmirsd.conf" <<CONF
spool_dir = $T/spool
state_dir = $T/state
libvirt_uri = $URI
domain_type = test
max_parallel = 8
resync_interval = 60
CONF
    trap cleanup EXIT
}

start_vmirsd() {
    "$VMIRSD" -v -c "$T/vmirsd.conf" >>"$T/vmirsd.log" 2>&1 &
    VMIRSD_PID=$!
}

stop_vmirsd() {
    if [ -n "${VMIRSD_PID:-}" ]; then
        kill -TERM "$VMIRSD_PID" 2>/dev/null
        wait "$VMIRSD_PID"
        status=$?
        VMIRSD_PID=
        return $status
    fi
}

cleanup() {
    [ -n "${VMIRSD_PID:-}" ] && kill -KILL "$VMIRSD_PID" 2>/dev/null
    for d in $(virsh -c "$URI" list --all --name 2>/dev/null); do
        case "$d" in "${PREFIX:-default_it}"*) virsh -c "$URI" destroy "$d" >/dev/null 2>&1 ;; esac
    done
    [ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null
    if [ "$failures" -gt 0 ] && [ -f "$T/vmirsd.log" ]; then
        echo "--- vmirsd log" >&2
        tail -50 "$T/vmirsd.log" >&2
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}

# manifest NAME REPLICAS [extra spec lines]: write spool/NAME.yaml atomically.
# TEMPLATE_EXTRA, when set, is one more line of the template's spec (a
# probe, in flow style).
manifest() {
    name=$1 replicas=$2
    shift 2
    tmp="$T/spool/.$name.yaml.tmp"
    {
        printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n'
        printf 'metadata:\n  name: %s\nspec:\n' "$name"
        [ "$replicas" != - ] && printf '  replicas: %s\n' "$replicas"
        for line in "$@"; do printf '  %s\n' "$line"; done
        printf '  selector:\n    matchLabels:\n      app: %s\n' "$name"
        printf '  template:\n    metadata:\n      labels:\n        app: %s\n' "$name"
        printf '    spec:\n      terminationGracePeriodSeconds: 0\n'
        [ -n "${TEMPLATE_EXTRA:-}" ] && printf '      %s\n' "$TEMPLATE_EXTRA"
        printf '      domain:\n        memory:\n          guest: 64Mi\n        devices: {}\n'
    } >"$tmp"
    mv "$tmp" "$T/spool/$name.yaml"
}

# Names of running domains of VMIRS NAME (their names start default_NAME).
domains_of() {
    virsh -c "$URI" list --name 2>/dev/null | grep "^default_$1" || true
}

count_of() {
    domains_of "$1" | grep -c . || true
}

# wait_until DESCRIPTION SECONDS COMMAND...: poll every 0.1 s.
wait_until() {
    desc=$1 limit=$2
    shift 2
    end=$(($(date +%s) + limit))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            fail "timed out after ${limit}s waiting until $desc"
            return 1
        fi
        sleep 0.1
    done
}

count_is() {
    [ "$(count_of "$1")" -eq "$2" ]
}

finish() {
    if [ "$failures" -gt 0 ]; then
        echo "$failures failure(s)" >&2
        exit 1
    fi
    exit 0
}
