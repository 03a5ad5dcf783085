# End-to-end harness (sourced, POSIX sh): the real vmirsd on qemu:///system
# with the test guest built by `make images`. e2e_start PREFIX [CONF
# LINES...] writes a configuration in a fresh directory $T, starts vmirsd
# (pid in $PID) and, on exit, stops it, destroys the domains named
# default_PREFIX* and removes $T. Waits poll conditions with deadlines.
. "$top_srcdir/tests/cli/lib.sh"
URI=qemu:///system
VMIRSCTL="$top_builddir/src/vmirsctl"

e2e_start() {
    E2E_PREFIX=$1
    shift
    virsh -c "$URI" version >/dev/null 2>&1 || { echo "libvirtd (qemu:///system) is not running"; exit 77; }
    [ -d "$top_builddir/images/out/oci" ] || { echo "run make images first"; exit 99; }
    T=$(mktemp -d)
    chmod 0711 "$T"
    mkdir -p "$T/spool" "$T/state"
    {
        printf 'spool_dir = %s\nstate_dir = %s\n' "$T/spool" "$T/state"
        printf 'image_dir = %s\nlibvirt_uri = %s\n' "$top_builddir/images/out" "$URI"
        printf 'domain_type = %s\n' "${VMIRS_E2E_DOMAIN_TYPE:-qemu}"
        for line in "$@"; do printf '%s\n' "$line"; done
    } >"$T/vmirsd.conf"
    trap e2e_cleanup EXIT
    "$VMIRSD" -c "$T/vmirsd.conf" >"$T/vmirsd.log" 2>&1 &
    PID=$!
}

e2e_cleanup() {
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    for d in $(virsh -c "$URI" list --name | grep "^default_$E2E_PREFIX"); do
        virsh -c "$URI" destroy "$d" >/dev/null 2>&1
    done
    [ "$failures" -gt 0 ] && tail -40 "$T/vmirsd.log" >&2
    rm -rf "$T"
}

ctl() {
    "$VMIRSCTL" -c "$T/vmirsd.conf" "$@"
}

# wait_until DESCRIPTION SECONDS COMMAND...: poll every 0.5 s.
wait_until() {
    desc=$1 limit=$2
    shift 2
    end=$(($(date +%s) + limit))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && { fail "timed out after ${limit}s waiting until $desc"; return 1; }
        sleep 0.5
    done
}
