#!/bin/sh
# Hostile spool files (SPEC section 2, "Spool directory": trust and
# limits), dropped one at a time next to a good VMIRS: each is refused
# with a FILE:LINE:COL or named-file error, or (100,000 ConfigMaps)
# handled in bounded time; after each the daemon is alive and answers a
# SIGHUP, and the good set's replicas are the same domains.
. "$top_srcdir/tests/integration/lib.sh"
# Its own prefix: the mock is shared, and other tests clean up default_it*.
PREFIX=default_hs
# Seconds from dropping a file to its diagnostic in the log. The old
# parser took 30 s for deep nesting, minutes for many documents, and
# never finished an alias bomb; here each takes well under a second.
BOUND=15
setup
start_vmirsd

S=$T/spool
uid=$(id -u)
owner="uid $uid ($(id -un))"
[ "$uid" -eq 0 ] && vmirsd_user= || vmirsd_user=" or by vmirsd's user"
rule="it must be owned by root$vmirsd_user and not writable by group or others"

# vmirs_yaml NAME REPLICAS [LABEL]: a VMIRS document as lib.sh's manifest
# writes it, selecting app=LABEL (default NAME; label values stop at 63).
vmirs_yaml() {
    printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n'
    printf 'metadata:\n  name: %s\nspec:\n  replicas: %s\n' "$1" "$2"
    printf '  selector:\n    matchLabels:\n      app: %s\n' "${3:-$1}"
    printf '  template:\n    metadata:\n      labels:\n        app: %s\n' "${3:-$1}"
    printf '    spec:\n      terminationGracePeriodSeconds: 0\n'
    printf '      domain:\n        memory:\n          guest: 64Mi\n        devices: {}\n'
}

# Move a prepared hidden file into the spool under NAME in one rename, so
# that the spool never sees it half made (or before its chmod or chown).
tmpfile() {
    echo "$S/.hostile.tmp"
}
drop() {
    DROPPED_AT=$(date +%s)
    mv "$(tmpfile)" "$S/$1"
}

log_has() {
    grep -qF -- "$1" "$T/vmirsd.log"
}

hups() {
    grep -c "SIGHUP: reloading" "$T/vmirsd.log" || true
}
hups_past() {
    [ "$(hups)" -gt "$1" ]
}

# expect_log WHAT TEXT: TEXT (a fixed string) appears in the log within
# BOUND seconds of the last drop; then the checks every case shares.
expect_log() {
    what=$1 text=$2
    if wait_until "$what is reported" 120 log_has "$text"; then
        took=$(($(date +%s) - DROPPED_AT))
        note "$what: reported after ${took}s"
        [ "$took" -le "$BOUND" ] || fail "$what took ${took}s, more than ${BOUND}s"
    else
        note "wanted: $text"
    fi
    unharmed "$what"
}

# The daemon lives, its loop answers, the good set is untouched.
unharmed() {
    kill -0 "$VMIRSD_PID" 2>/dev/null || { fail "vmirsd died after $1"; finish; }
    before=$(hups)
    kill -HUP "$VMIRSD_PID"
    wait_until "vmirsd answers a SIGHUP after $1" 30 hups_past "$before"
    now=$(domains_of hsgood | sort | tr '\n' ' ')
    [ "$now" = "$good" ] || fail "after $1 the replicas of hsgood are [$now], not [$good]"
}

manifest hsgood 3
wait_until "3 replicas of hsgood run" 30 count_is hsgood 3
good=$(domains_of hsgood | sort | tr '\n' ' ')
note "good set: $good"

# An alias bomb under a VMI's disks (the fixture, 1.2 KB): refused where
# the aliases pass Kubernetes' share; expected line from its .expected.
cp "$top_srcdir/tests/fixtures/manifests/bad/alias-bomb.yaml" "$(tmpfile)"
drop bomb.yaml
expect_log "the alias bomb" "$(sed "s|^tests/fixtures/manifests/bad/alias-bomb.yaml|$S/bomb.yaml|" \
    "$top_srcdir/tests/fixtures/manifests/bad/alias-bomb.expected")"
rm "$S/bomb.yaml"

# 100,000 levels of flow nesting (200 KB): refused at the 1001st level.
{
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n  k: '
    head -c 100000 /dev/zero | tr '\0' '['
    printf '\n'
} >"$(tmpfile)"
drop deep.yaml
# The document and data mappings are two levels, so the 999th "[" is
# level 1001; "  k: " is 5 columns, so it is at column 5 + 999.
expect_log "100,000 levels of nesting" \
    "$S/deep.yaml:5:$((5 + 999)): error: invalid YAML: nesting deeper than 1000 levels"
rm "$S/deep.yaml"

# 100,000 ConfigMaps, the last one a second cm0: its duplicate diagnostic
# shows the whole file was parsed and indexed.
awk 'BEGIN { for (i = 0; i < 100000; i++)
    printf "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm%d}\n", i
    printf "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm0}\n" }' >"$(tmpfile)"
drop many.yaml
expect_log "100,000 ConfigMaps" \
    "$S/many.yaml:400004:18: error: metadata.name: Duplicate value: ConfigMap \"default/cm0\" is already defined at $S/many.yaml:4:18; this definition is ignored"
rm "$S/many.yaml"

# Files others may have written: skipped, naming owner and mode; their
# VMIRS never runs.
vmirs_yaml hsworld 1 >"$(tmpfile)"
chmod 0666 "$(tmpfile)"
drop world.yaml
expect_log "a world-writable file" "skip \`$S/world.yaml\`: owned by $owner with mode 0666; $rule"
rm "$S/world.yaml"

if [ "$uid" -eq 0 ]; then
    vmirs_yaml hsnobody 1 >"$(tmpfile)"
    chown 65534 "$(tmpfile)"
    nobody=$(getent passwd 65534 | cut -d: -f1)
    drop nobody.yaml
    expect_log "a file of uid 65534" \
        "skip \`$S/nobody.yaml\`: owned by uid 65534${nobody:+ ($nobody)} with mode 0644; $rule"
    rm "$S/nobody.yaml"
else
    note "not root: no file of another user"
fi

vmirs_yaml hslink 1 >"$T/outside.yaml"
chmod 0666 "$T/outside.yaml"
ln -s "$T/outside.yaml" "$(tmpfile)"
drop link.yaml
expect_log "a link to a world-writable file outside the spool" \
    "skip \`$S/link.yaml\`: symbolic link to \`$T/outside.yaml\`, owned by $owner with mode 0666; $rule"
rm "$S/link.yaml"

# Files that are not regular: never opened in a way that blocks.
mkfifo "$T/fifo"
ln -s "$T/fifo" "$(tmpfile)"
drop fifolink.yaml
expect_log "a link to a FIFO" \
    "skip \`$S/fifolink.yaml\`: symbolic link to \`$T/fifo\`, not a regular file (a FIFO)"
rm "$S/fifolink.yaml"

mkfifo "$(tmpfile)"
drop fifo.yaml
expect_log "a FIFO" "skip \`$S/fifo.yaml\`: not a regular file (a FIFO)"
rm "$S/fifo.yaml"

# Sparse: 17 MiB that cost nothing to write.
truncate -s 17M "$(tmpfile)"
drop big.yaml
expect_log "a 17 MiB file" "skip \`$S/big.yaml\`: larger than 16 MiB"
rm "$S/big.yaml"

# A name with a newline and what would be a record after it: logged
# escaped, so no line of the log starts with the forged record.
nl='
'
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nl}\ndata: [oops\n' >"$(tmpfile)"
drop "x${nl}ERROR desired: forged.yaml"
expect_log "a file name with a newline" \
    "$S/x\\nERROR desired: forged.yaml:5:1: error: invalid YAML: did not find expected ',' or ']'"
grep -q '^ERROR desired: forged' "$T/vmirsd.log" && fail "a file name forged a log record"
rm "$S/x${nl}ERROR desired: forged.yaml"

# A NUL byte and a byte that is not UTF-8, in a value.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nul}\ndata: {k: a\000b}\n' >"$(tmpfile)"
drop nul.yaml
expect_log "a NUL byte" "$S/nul.yaml:4:12: error: invalid YAML: control characters are not allowed (#0)"
rm "$S/nul.yaml"

printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: utf}\ndata: {k: a\377b}\n' >"$(tmpfile)"
drop utf.yaml
expect_log "bad UTF-8" "$S/utf.yaml:4:12: error: invalid YAML: invalid leading UTF-8 octet (#FF)"
rm "$S/utf.yaml"

# Object names at Kubernetes' DNS-subdomain limit (253) and past it: the
# first runs (its VMI names are cut to 58 characters), the second is
# refused at its name.
n253=hs$(head -c 251 /dev/zero | tr '\0' 'a')
n254=${n253}a
vmirs_yaml "$n254" 1 hslong >"$(tmpfile)"
drop name254.yaml
expect_log "a name of 254 characters" \
    "$S/name254.yaml:4:9: error: metadata.name: Invalid value: \"$n254\": must be no more than 253 characters"
rm "$S/name254.yaml"
vmirs_yaml "$n253" 1 hslong >"$(tmpfile)"
drop name253.yaml
base=$(printf %s "$n253" | cut -c1-58)
wait_until "the VMIRS named with 253 characters runs one replica" 30 count_is "$base" 1
unharmed "a name of 253 characters"
rm "$S/name253.yaml"
wait_until "its replica goes with its file" 30 count_is "$base" 0

# The good VMIRS defined again in a file that sorts after it, with more
# replicas: the first file wins, the other is an error at its name.
vmirs_yaml hsgood 7 >"$(tmpfile)"
drop zz-hsgood.yaml
expect_log "the same object in two files" \
    "$S/zz-hsgood.yaml:4:9: error: metadata.name: Duplicate value: VirtualMachineInstanceReplicaSet \"default/hsgood\" is already defined at $S/hsgood.yaml:4:9; this definition is ignored"
rm "$S/zz-hsgood.yaml"

# Nothing refused ever ran.
for name in hsworld hsnobody hslink; do
    count_is "$name" 0 || fail "the refused VMIRS $name has replicas"
done
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$VMIRSD_PID/status")
note "vmirsd peak resident memory: ${peak} kB"
[ "$peak" -lt 524288 ] || fail "vmirsd's peak resident memory is ${peak} kB, over 512 MiB"

rm "$S/hsgood.yaml"
wait_until "hsgood's replicas go with its manifest" 30 count_is hsgood 0
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
