#!/bin/sh
# --validate as a user runs it: examples pass, broken manifests fail with
# one FILE:LINE:COL line per problem, and vmirsctl validate agrees.
. "$top_srcdir/tests/cli/lib.sh"
cd "$top_srcdir" || exit 1

expect_status 0 "$VMIRSD" --validate conf/examples/
# The seed document's example is kept in v1alpha2: its one warning says so.
expect_match "$out" '^conf/examples/seed-v1alpha2.yaml:6:13: warning: apiVersion: kubevirt.io/v1alpha2 is accepted here'
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "conf/examples/ should give one warning, got: $out"
expect_match "$err" '^[0-9]+ files, [0-9]+ objects: 0 errors, 1 warning$'

# The bad fixtures as one directory: every problem, each on its own line.
expect_status 1 "$VMIRSD" --validate tests/fixtures/manifests/bad
lines=$(printf '%s\n' "$out" | grep -c ': error: ')
[ "$lines" -ge 20 ] || fail "expected at least 20 errors from the bad fixtures, got $lines"
printf '%s\n' "$out" | grep -Ev '^tests/fixtures/manifests/bad/[^:]+:([0-9]+:[0-9]+:)? (error|warning): ' &&
    fail "a diagnostic line is not FILE:LINE:COL: error|warning: MESSAGE"

# vmirsctl validate prints exactly the same.
vmirsd_out=$out
expect_status 1 "$VMIRSCTL" validate tests/fixtures/manifests/bad
[ "$out" = "$vmirsd_out" ] || fail "vmirsctl validate differs from vmirsd --validate"

# A mixture of files and directories, and a missing path.
expect_status 1 "$VMIRSD" --validate conf/examples tests/fixtures/manifests/good/emptydisk.yaml /nonexistent.yaml
expect_match "$out" '^/nonexistent.yaml: error: stat: No such file or directory$'

finish
