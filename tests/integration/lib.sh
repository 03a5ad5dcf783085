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

# PRIVATE_LIBVIRTD=1 before setup: the test gets a libvirtd of its own
# (start_private_libvirtd below) instead of the shared one. Tests that stop,
# kill or restart libvirtd must use it: the shared daemon serves other tests
# and other people.
setup() {
    command -v virsh >/dev/null || { echo "virsh not installed"; exit 77; }
    T=$(mktemp -d)
    mkdir -p "$T/spool" "$T/state"
    trap cleanup EXIT
    if [ -n "${PRIVATE_LIBVIRTD:-}" ]; then
        start_private_libvirtd
    else
        ensure_libvirtd
        hold_connection
    fi
    cat >"$T/vmirsd.conf" <<CONF
spool_dir = $T/spool
state_dir = $T/state
libvirt_uri = $URI
domain_type = test
max_parallel = 8
resync_interval = 60
CONF
}

# A private libvirtd: its own socket directory, pid file, log and state, so
# killing it leaves the shared daemon (test+unix:///default, the default
# socket under /run/libvirt) alone. As root without systemd, libvirtd's
# state paths are fixed (/run/libvirt/..., /var/lib/libvirt, the admin
# socket and the drivers' lock files), so it runs in a mount namespace of
# its own (unshare --mount) where $PLV/run, $PLV/lib and $PLV/cache are
# bound over /run/libvirt, /var/lib/libvirt and /var/cache/libvirt. Its
# sockets are in $PLV/sock, outside those, visible to every process.
# LIBVIRT_DRIVER_DIR names an empty directory: no qemu, network, storage...
# driver is loaded (the mock hypervisor, test://, is built into libvirt),
# so it starts in milliseconds and never touches bridges, firewall rules
# or the host's guests. The mock forgets every domain when this libvirtd
# exits. Sets URI, PLV_PID and HOLDER (a connection that keeps the mock's
# state alive). Runs again after stop_private_libvirtd with the same paths.
start_private_libvirtd() {
    command -v unshare >/dev/null || { echo "unshare not installed"; exit 77; }
    [ "$(id -u)" -eq 0 ] || { echo "a private libvirtd needs root"; exit 77; }
    PLV=$T/plv
    mkdir -p "$PLV/sock" "$PLV/run" "$PLV/lib" "$PLV/cache" "$PLV/drivers"
    URI="test+unix:///default?socket=$PLV/sock/libvirt-sock"
    cat >"$PLV/libvirtd.conf" <<CONF
unix_sock_dir = "$PLV/sock"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$PLV/libvirtd.log"
CONF
    binds="mount --bind $PLV/run /run/libvirt"
    for pair in lib:/var/lib/libvirt cache:/var/cache/libvirt; do
        [ -d "${pair#*:}" ] && binds="$binds && mount --bind $PLV/${pair%%:*} ${pair#*:}"
    done
    # unshare execs the shell, which execs libvirtd: $! is libvirtd.
    LIBVIRT_DRIVER_DIR="$PLV/drivers" unshare --mount --propagation private \
        sh -c "$binds && exec libvirtd -f $PLV/libvirtd.conf -p $PLV/libvirtd.pid" \
        >>"$PLV/libvirtd.out" 2>&1 &
    PLV_PID=$!
    i=0
    until virsh -c "$URI" version >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$PLV_PID" 2>/dev/null; then
            echo "the private libvirtd does not answer:" >&2
            cat "$PLV/libvirtd.out" >&2
            exit 99
        fi
        sleep 0.1
    done
    hold_connection
}

# stop_private_libvirtd [SIGNAL]: SIGTERM by default; returns once it is
# gone, and drops the holder connection.
stop_private_libvirtd() {
    [ -n "${PLV_PID:-}" ] || return 0
    kill "-${1:-TERM}" "$PLV_PID" 2>/dev/null
    wait "$PLV_PID" 2>/dev/null
    PLV_PID=
    if [ -n "${HOLDER:-}" ]; then
        kill "$HOLDER" 2>/dev/null
        wait "$HOLDER" 2>/dev/null
        HOLDER=
    fi
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
    if [ -n "${PLV:-}" ]; then
        stop_private_libvirtd KILL
    else
        for d in $(virsh -c "$URI" list --all --name 2>/dev/null); do
            case "$d" in "${PREFIX:-default_it}"*) virsh -c "$URI" destroy "$d" >/dev/null 2>&1 ;; esac
        done
        [ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null
    fi
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

# wait_until DESCRIPTION SECONDS COMMAND...: poll every 0.1 s (or $POLL).
wait_until() {
    desc=$1 limit=$2
    shift 2
    end=$(($(date +%s) + limit))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            fail "timed out after ${limit}s waiting until $desc"
            return 1
        fi
        sleep "${POLL:-0.1}"
    done
}

count_is() {
    [ "$(count_of "$1")" -eq "$2" ]
}

count_at_least() {
    [ "$(count_of "$1")" -ge "$2" ]
}

# vmirsd_domains: "DOMAIN VMI OWNER" for each running domain carrying
# vmirsd metadata (namespace urn:vmirsd:1; OWNER is the owning VMIRS's
# name, - when it has none); all domains read in one virsh session.
vmirsd_domains() {
    virsh -c "$URI" list --name 2>/dev/null | grep . | sed 's/^/dumpxml /' |
        virsh -c "$URI" 2>/dev/null | awk '
        function attr(k,   s) {
            s = $0
            if (!sub(".* " k "=\"", "", s)) return ""
            sub("\".*", "", s)
            return s
        }
        /^<domain / { dom = ""; owner = "-"; vmi = "" }
        /^  <name>/ { dom = $0; sub(".*<name>", "", dom); sub("</name>.*", "", dom) }
        /<[A-Za-z0-9_]*:?owner / { owner = attr("name") }
        /<[A-Za-z0-9_]*:?vmi / { vmi = attr("name") }
        /^<\/domain>/ { if (vmi != "") print dom, vmi, owner }'
}

# replicas_of NAME: "DOMAIN VMI" of the running domains VMIRS NAME owns.
replicas_of() {
    vmirsd_domains | awk -v want="$1" '$3 == want { print $1, $2 }'
}

# Seconds since the epoch, with nanoseconds (GNU date).
now() {
    date +%s.%N
}

# elapsed FROM [TO]: seconds between two now() readings, 2 decimals.
elapsed() {
    awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.2f", b - a }'
}

# cpu_ticks PID: user + system time of a process, in clock ticks.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

finish() {
    if [ "$failures" -gt 0 ]; then
        echo "$failures failure(s)" >&2
        exit 1
    fi
    exit 0
}
