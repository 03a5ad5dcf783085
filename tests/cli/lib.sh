# Shared helpers for the command-line tests (sourced, POSIX sh).
# The automake harness exports top_srcdir and top_builddir.
: "${top_srcdir:?}" "${top_builddir:?}"
VMIRSD="$top_builddir/src/vmirsd"
VMIRSCTL="$top_builddir/src/vmirsctl"
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_status WANT CMD...: run CMD, capture stdout/stderr in $out/$err.
expect_status() {
    want=$1
    shift
    out=$("$@" 2>/tmp/vmirs-cli-err.$$) && got=0 || got=$?
    err=$(cat /tmp/vmirs-cli-err.$$)
    rm -f /tmp/vmirs-cli-err.$$
    [ "$got" -eq "$want" ] || fail "$* exited $got, expected $want (stderr: $err)"
}

# expect_match TEXT PATTERN: grep -E PATTERN must match TEXT.
expect_match() {
    printf '%s\n' "$1" | grep -Eq -- "$2" || fail "expected /$2/ in: $1"
}

finish() {
    if [ "$failures" -gt 0 ]; then
        echo "$failures failure(s)" >&2
        exit 1
    fi
    exit 0
}
