#!/bin/sh
# vmirsctl's commands that change things, against a running vmirsd:
# scale edits spec.replicas in the manifest file in place (every other
# byte kept) and refuses what would not validate; delete vmi evicts one
# replica, which the daemon replaces, and refuses a foreign domain;
# expose writes a Service manifest that --validate accepts, once.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_ed
VMIRSCTL="$top_builddir/src/vmirsctl"
setup

ctl() {
    "$VMIRSCTL" -c "$T/vmirsd.conf" "$@"
}

# expect_exit STATUS COMMAND...: run, output in $T/out, check the status.
expect_exit() {
    want=$1
    shift
    "$@" >"$T/out" 2>&1
    got=$?
    [ "$got" -eq "$want" ] || fail "$* exited $got, not $want: $(cat "$T/out")"
}

# expect_out TEXT: $T/out is exactly TEXT.
expect_out() {
    [ "$(cat "$T/out")" = "$1" ] || fail "output is [$(cat "$T/out")], not [$1]"
}

# "NAME DESIRED CURRENT" of get vmirs.
row_is() {
    [ "$(ctl get vmirs 2>/dev/null | awk -v n="$1" '$1 == n {print $1, $2, $3}')" = "$2" ]
}

# The same file as the copy, but for one line: diff's report is exactly
# the expected text.
diff_is() {
    d=$(diff "$1" "$2")
    [ "$d" = "$3" ] || fail "$2 changed beyond the expected line: [$d], want [$3]"
}

start_vmirsd

# A file with comments (some not ASCII), odd spacing, a ConfigMap whose
# data has a replicas key, and a second replica set after the first.
cat >"$T/spool/.edscale.tmp" <<'YAML'
# Edited by hand — café ✓; comments stay.
apiVersion: v1
kind: ConfigMap
metadata:
  name: edscale-config
data:
  replicas: "5"
---
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceReplicaSet
metadata:
  name: edscale   # ✓ this one
spec:
  # replicas: 9 in a comment is not the key
  replicas:   2     # two to start
  selector:
    matchLabels: {app: edscale}
  template:
    metadata:
      labels:
        app: edscale
    spec:
      terminationGracePeriodSeconds: 0
      domain:
        memory:
          guest: 64Mi
        devices: {}
---
# The second replica set: no terminationGracePeriodSeconds (30 s).
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceReplicaSet
metadata:
  name: edgrace
spec:
  replicas: 1
  selector:
    matchLabels: {app: edgrace}
  template:
    metadata: {labels: {app: edgrace}}
    spec:
      domain: {memory: {guest: 64Mi}, devices: {}}
YAML
chmod 0640 "$T/spool/.edscale.tmp"
mv "$T/spool/.edscale.tmp" "$T/spool/edscale.yaml"
cp "$T/spool/edscale.yaml" "$T/orig.yaml"
wait_until "2 replicas of edscale run" 30 count_is edscale 2
wait_until "1 replica of edgrace runs" 30 count_is edgrace 1
wait_until "get vmirs shows edscale 2 2" 30 row_is edscale "edscale 2 2"

# Scale up: one number changes, nothing else; the count follows.
expect_exit 0 ctl scale vmirs edscale --replicas 4
expect_out "virtualmachineinstancereplicaset.kubevirt.io/edscale scaled"
diff_is "$T/orig.yaml" "$T/spool/edscale.yaml" "15c15
<   replicas:   2     # two to start
---
>   replicas:   4     # two to start"
[ "$(stat -c %a "$T/spool/edscale.yaml")" = 640 ] ||
    fail "scale changed the file mode to $(stat -c %a "$T/spool/edscale.yaml")"
wait_until "4 replicas of edscale run" 30 count_is edscale 4
wait_until "get vmirs shows edscale 4 4" 30 row_is edscale "edscale 4 4"

# Scale down, kubectl's vmirs/NAME form: the file is the original again
# but for the number.
expect_exit 0 ctl scale vmirs/edscale --replicas=1
expect_out "virtualmachineinstancereplicaset.kubevirt.io/edscale scaled"
diff_is "$T/orig.yaml" "$T/spool/edscale.yaml" "15c15
<   replicas:   2     # two to start
---
>   replicas:   1     # two to start"
wait_until "1 replica of edscale runs" 30 count_is edscale 1
count_is edgrace 1 || fail "scaling edscale changed edgrace: $(count_of edgrace)"

# Refusals leave the file as it is: a bad number is a usage error, a
# number the schema refuses is an error with the validator's diagnostic.
cp "$T/spool/edscale.yaml" "$T/before.yaml"
for bad in -1 abc 1.5 " 3" +3 ""; do
    expect_exit 2 ctl scale vmirs edscale --replicas "$bad"
    grep -q "must be a non-negative integer" "$T/out" || fail "--replicas \"$bad\": $(cat "$T/out")"
done
expect_exit 2 ctl scale vmirs edscale
expect_exit 2 ctl scale vmis edscale --replicas 1
expect_exit 1 ctl scale vmirs edscale --replicas 2147483648
grep -q "^$T/spool/edscale.yaml:15:15: error: spec.replicas: Invalid value: 2147483648" "$T/out" ||
    fail "scale beyond the schema's bound: $(cat "$T/out")"
grep -q "refuse to scale \"edscale\" to 2147483648" "$T/out" || fail "no refusal: $(cat "$T/out")"
cmp -s "$T/before.yaml" "$T/spool/edscale.yaml" || fail "a refused scale changed the file"
expect_exit 1 ctl scale vmirs nosuch --replicas 1
expect_out 'Error from server (NotFound): virtualmachineinstancereplicasets.kubevirt.io "nosuch" not found'
expect_exit 1 ctl scale vmirs edscale -n other --replicas 1
expect_out 'Error from server (NotFound): virtualmachineinstancereplicasets.kubevirt.io "edscale" not found'

# A manifest without spec.replicas (1 by default): the key is added as
# the spec mapping's first key, at its indentation.
manifest ednorep -
cp "$T/spool/ednorep.yaml" "$T/orig.yaml"
wait_until "1 replica of ednorep runs" 30 count_is ednorep 1
expect_exit 0 ctl scale vmirs ednorep --replicas 3
expect_out "virtualmachineinstancereplicaset.kubevirt.io/ednorep scaled"
diff_is "$T/orig.yaml" "$T/spool/ednorep.yaml" "5a6
>   replicas: 3"
wait_until "3 replicas of ednorep run" 30 count_is ednorep 3
"$VMIRSD" --validate "$T/spool/ednorep.yaml" "$T/spool/edscale.yaml" >"$T/out" 2>&1 ||
    fail "the scaled files do not validate: $(cat "$T/out")"

# delete vmi: the replica goes (destroyed at once: grace 0), the daemon
# starts another with a new name, and the count is back.
victim=$(domains_of edscale | head -1)
expect_exit 0 ctl delete vmi "${victim#default_}"
expect_out "virtualmachineinstance.kubevirt.io \"${victim#default_}\" deleted"
virsh -c "$URI" list --name | grep -qx "$victim" && fail "$victim still runs after delete"
wait_until "$victim is replaced by a new replica" 30 sh -c \
    "[ \$(virsh -c $URI list --name | grep -c '^default_edscale') -eq 1 ] && ! virsh -c $URI list --name | grep -qx '$victim'"

# The graceful path (30 s allowed): the mock hypervisor's guest shuts
# down at once, so delete returns at once, and the replica is replaced.
victim=$(domains_of edgrace | head -1)
start=$(date +%s)
expect_exit 0 ctl delete vmi "${victim#default_}" -n default
expect_out "virtualmachineinstance.kubevirt.io \"${victim#default_}\" deleted"
[ $(($(date +%s) - start)) -lt 20 ] || fail "delete waited for the whole grace period"
wait_until "$victim is replaced by a new replica" 30 sh -c \
    "[ \$(virsh -c $URI list --name | grep -c '^default_edgrace') -eq 1 ] && ! virsh -c $URI list --name | grep -qx '$victim'"

# A domain without vmirsd's metadata is not vmirsctl's to delete.
cat >"$T/foreign.xml" <<'XML'
<domain type='test'>
  <name>default_edforeign</name>
  <memory>65536</memory>
  <os><type>hvm</type></os>
</domain>
XML
virsh -c "$URI" create "$T/foreign.xml" >/dev/null || fail "cannot create the foreign domain"
expect_exit 1 ctl delete vmi edforeign
grep -q "refuse to delete domain \`default_edforeign\`: it is not a vmirsd replica" "$T/out" ||
    fail "delete of a foreign domain: $(cat "$T/out")"
[ "$(virsh -c "$URI" domstate default_edforeign 2>/dev/null | head -1)" = running ] ||
    fail "the foreign domain was touched"
virsh -c "$URI" destroy default_edforeign >/dev/null 2>&1
expect_exit 1 ctl delete vmi nosuch
expect_out 'Error from server (NotFound): virtualmachineinstances.kubevirt.io "nosuch" not found'
expect_exit 2 ctl delete vmirs edscale
expect_exit 2 ctl delete vmi

# expose: a Service manifest that selects the replicas, which vmirsd
# --validate accepts; the same name again is refused.
expect_exit 0 ctl expose vmirs edscale --name edsvc --port 38917 --target-port 80
expect_out "service/edsvc exposed"
cat >"$T/want.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: edsvc
  namespace: default
spec:
  ports:
  - port: 38917
    protocol: TCP
    targetPort: 80
  selector:
    app: edscale
YAML
diff "$T/want.yaml" "$T/spool/edsvc.yaml" >"$T/out" || fail "the Service manifest: $(cat "$T/out")"
"$VMIRSD" --validate "$T/spool/edsvc.yaml" >"$T/out" 2>&1 || fail "--validate refuses it: $(cat "$T/out")"
cp "$T/spool/edsvc.yaml" "$T/before.yaml"
expect_exit 1 ctl expose vmirs edscale --name edsvc --port 38918
grep -q "refuse to expose: \`$T/spool/edsvc.yaml\` exists" "$T/out" || fail "second expose: $(cat "$T/out")"
cmp -s "$T/before.yaml" "$T/spool/edsvc.yaml" || fail "a refused expose changed the file"
# A Service of that name in another file counts too; target-port defaults to port.
mv "$T/spool/edsvc.yaml" "$T/spool/services.yaml"
expect_exit 1 ctl expose vmirs edscale --name edsvc --port 38918
grep -q 'Error from server (AlreadyExists): services "edsvc" already exists' "$T/out" ||
    fail "expose of a name another file defines: $(cat "$T/out")"
[ -e "$T/spool/edsvc.yaml" ] && fail "a refused expose wrote a file"
expect_exit 0 ctl expose vmirs ednorep --name edsvc2 --port 38919
grep -q "^    targetPort: 38919$" "$T/spool/edsvc2.yaml" || fail "targetPort is not the port: $(cat "$T/spool/edsvc2.yaml")"

# A selector with matchExpressions cannot become a Service selector.
cat >"$T/spool/.edexpr.tmp" <<'YAML'
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceReplicaSet
metadata: {name: edexpr}
spec:
  replicas: 0
  selector:
    matchExpressions: [{key: app, operator: In, values: [edexpr]}]
  template:
    metadata: {labels: {app: edexpr}}
    spec: {domain: {memory: {guest: 64Mi}, devices: {}}}
YAML
mv "$T/spool/.edexpr.tmp" "$T/spool/edexpr.yaml"
wait_until "the daemon records edexpr" 30 ctl get vmirs edexpr
expect_exit 1 ctl expose vmirs edexpr --name edsvc3 --port 38920
grep -q 'cannot expose vmirs "edexpr": its selector has matchExpressions' "$T/out" ||
    fail "expose with matchExpressions: $(cat "$T/out")"
[ -e "$T/spool/edsvc3.yaml" ] && fail "a refused expose wrote a file"
expect_exit 1 ctl expose vmirs nosuch --name edsvc4 --port 38921
expect_out 'Error from server (NotFound): virtualmachineinstancereplicasets.kubevirt.io "nosuch" not found'
expect_exit 2 ctl expose vmirs edscale --name edsvc5
expect_exit 2 ctl expose vmirs edscale --name edsvc5 --port 0
expect_exit 1 ctl expose vmirs edscale --name Bad_Name --port 38922

# The daemon took all this in stride.
"$VMIRSD" --validate "$T/spool" >"$T/out" 2>&1 || fail "the spool does not validate: $(cat "$T/out")"
count_is edscale 1 || fail "edscale ends with $(count_of edscale) replicas"
count_is ednorep 3 || fail "ednorep ends with $(count_of ednorep) replicas"
stop_vmirsd || fail "vmirsd did not exit 0 on SIGTERM"
finish
