#!/bin/sh
# make install DESTDIR=... of a build configured as Debian lays packages
# out: every file where Debian expects it, the unit as installed passes
# systemd-analyze verify (with the staged binary and man pages bound over
# /usr/sbin and /usr/share/man in a private mount namespace, so the host
# is not touched), and every man page renders without a warning.
: "${top_srcdir:?}"
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
B=$(mktemp -d)
D="$B/dest"
trap 'rm -rf "$B"' EXIT
(
    cd "$B" &&
        "$top_srcdir/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
            --with-systemdsystemunitdir=/lib/systemd/system >configure.log 2>&1 &&
        make -j"$(nproc)" >make.log 2>&1 &&
        make install DESTDIR="$D" >install.log 2>&1
) || {
    tail -n 30 "$B"/*.log >&2
    echo "FAIL: configure, build or install"
    exit 1
}

for f in usr/sbin/vmirsd usr/bin/vmirsctl etc/vmirsd.conf lib/systemd/system/vmirsd.service \
    usr/share/doc/vmirsd/examples/web.yaml usr/share/man/man8/vmirsd.8 \
    usr/share/man/man5/vmirsd.conf.5 usr/share/man/man5/vmirs.d.5 usr/share/man/man1/vmirsctl.1; do
    [ -f "$D/$f" ] || fail "/$f is not installed"
done
[ -d "$D/etc/vmirs.d" ] || fail "/etc/vmirs.d is not installed"
grep -qx "ExecStart=/usr/sbin/vmirsd" "$D/lib/systemd/system/vmirsd.service" ||
    fail "the unit does not start /usr/sbin/vmirsd: $(grep ExecStart "$D/lib/systemd/system/vmirsd.service")"
"$D/usr/sbin/vmirsd" --version | grep -q "^vmirsd " || fail "the installed vmirsd does not run"

if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v systemd-analyze >/dev/null; then
    out=$(unshare -m sh -c "mount --bind '$D/usr/sbin' /usr/sbin &&
        mount --bind '$D/usr/share/man' /usr/share/man &&
        systemd-analyze verify '$D/lib/systemd/system/vmirsd.service'" 2>&1)
    [ $? -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify: $out"
else
    echo "# skipped systemd-analyze verify: needs root, unshare and systemd-analyze"
fi

for page in "$D"/usr/share/man/man*/*; do
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
    [ -z "$out" ] || fail "man -l $(basename "$page"): $out"
done
if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "# installed and verified in $D"
