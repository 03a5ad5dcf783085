#!/bin/sh
# KubeVirt's fields that vmirsd used to drop or refuse, end to end on
# real QEMU (TCG): a replica booted straight from a kernel image answers
# its guest agent; a config drive gives a replica its hostname; user data
# kept in a Secret runs; a ConfigMap shared through virtiofs is read in
# the guest.
. "$top_srcdir/tests/e2e/lib.sh"
e2e_start e2ecf

# The guest agent of the one replica of VMIRS $1 runs $2 with arguments
# $3...; prints the command's stdout, fails when it cannot be run.
dom_of() { virsh -c "$URI" list --name | grep "^default_$1" | head -n 1; }
agent() { virsh -c "$URI" qemu-agent-command "$1" "$2" 2>/dev/null; }
guest_exec() {
    d=$(dom_of "$1")
    [ -n "$d" ] || return 1
    path=$2
    shift 2
    args=""
    for a in "$@"; do args="$args${args:+,}\"$a\""; done
    pid=$(agent "$d" "{\"execute\":\"guest-exec\",\"arguments\":{\"path\":\"$path\",\"arg\":[$args],\"capture-output\":true}}" |
        sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    [ -n "$pid" ] || return 1
    i=0
    while [ $i -lt 50 ]; do
        st=$(agent "$d" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}")
        if printf '%s' "$st" | grep -q '"exited": *true'; then
            printf '%s' "$st" | grep -q '"exitcode": *0' || return 1
            printf '%s' "$st" | sed -n 's/.*"out-data": *"\([^"]*\)".*/\1/p' | base64 -d
            return 0
        fi
        i=$((i + 1))
        sleep 0.2
    done
    return 1
}
ping_ok() {
    d=$(dom_of "$1")
    [ -n "$d" ] && agent "$d" '{"execute":"guest-ping"}' | grep -q '"return"'
}
hostname_is() {
    d=$(dom_of "$1")
    [ -n "$d" ] && agent "$d" '{"execute":"guest-get-host-name"}' | grep -q "\"host-name\": *\"$2\""
}
file_says() { [ "$(guest_exec "$1" /bin/cat "$2")" = "$3" ]; }

# head NAME: a one-replica VMIRS whose template spec continues on stdin.
put() {
    {
        printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n'
        printf 'metadata: {name: %s}\nspec:\n  replicas: 1\n' "$1"
        printf '  selector: {matchLabels: {app: %s}}\n  template:\n' "$1"
        printf '    metadata: {labels: {app: %s}}\n    spec:\n' "$1"
        printf '      terminationGracePeriodSeconds: 0\n'
        cat
    } >"$T/spool/.$1.tmp"
    mv "$T/spool/.$1.tmp" "$T/spool/$1.yaml"
}

put e2ecfkernel <<'YAML'
      domain:
        firmware:
          kernelBoot:
            kernelArgs: console=ttyS0 quiet
            container:
              image: localhost/vmirs-test-guest-kernel:latest
              kernelPath: /boot/vmlinuz
              initrdPath: /boot/initrd.img
        devices:
          rng: {}
        resources: {requests: {memory: 128Mi}}
YAML
put e2ecfdrive <<'YAML'
      hostname: from-config-drive
      domain:
        machine: {type: ""}
        devices:
          disks:
          - {name: containerdisk, disk: {bus: virtio}}
          - {name: cloudinitdisk, disk: {bus: virtio}}
          interfaces: [{name: default, masquerade: {}, macAddress: 02-00-00-00-CF-01}]
        resources: {requests: {memory: 128Mi}}
      networks: [{name: default, pod: {}}]
      volumes:
      - name: containerdisk
        containerDisk: {image: localhost/vmirs-test-guest:latest}
      - name: cloudinitdisk
        cloudInitConfigDrive:
          userData: |
            #!/bin/sh
            echo config-drive-ran > /run/cd-ran
YAML
cat >"$T/spool/.e2ecfsecret.tmp" <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: e2ecf-userdata}
stringData:
  userdata: |
    #!/bin/sh
    echo secret-user-data-ran > /run/secret-ran
---
apiVersion: v1
kind: ConfigMap
metadata: {name: e2ecf-config}
data:
  greeting: hello-through-virtiofs
YAML
mv "$T/spool/.e2ecfsecret.tmp" "$T/spool/e2ecfobjects.yaml"
put e2ecfsecret <<'YAML'
      domain:
        devices:
          disks:
          - {name: containerdisk, disk: {bus: virtio}}
          - {name: cloudinitdisk, disk: {bus: virtio}}
        resources: {requests: {memory: 128Mi}}
      volumes:
      - name: containerdisk
        containerDisk: {image: localhost/vmirs-test-guest:latest}
      - name: cloudinitdisk
        cloudInitNoCloud:
          secretRef: {name: e2ecf-userdata}
YAML
put e2ecffs <<'YAML'
      domain:
        devices:
          disks:
          - {name: containerdisk, disk: {bus: virtio}}
          filesystems:
          - {name: config, virtiofs: {}}
        resources: {requests: {memory: 128Mi}}
      volumes:
      - name: containerdisk
        containerDisk: {image: localhost/vmirs-test-guest:latest}
      - name: config
        configMap: {name: e2ecf-config}
YAML

start=$(date +%s)
wait_until "the kernel-boot replica answers guest-ping" 300 ping_ok e2ecfkernel
echo "# e2e: kernel-boot replica answered guest-ping $(($(date +%s) - start)) s after the manifest"
d=$(dom_of e2ecfkernel)
virsh -c "$URI" dumpxml "$d" | grep -q '<kernel>' || fail "the kernel-boot replica has no <kernel>"
virsh -c "$URI" dumpxml "$d" | grep -q "<rng model='virtio'>" || fail "the rng is missing from $d"

wait_until "the config-drive replica reports its hostname" 300 hostname_is e2ecfdrive from-config-drive
wait_until "the config drive's user data ran" 60 file_says e2ecfdrive /run/cd-ran config-drive-ran
virsh -c "$URI" dumpxml "$(dom_of e2ecfdrive)" | grep -qi "<mac address='02:00:00:00:cf:01'/>" ||
    fail "the dashed MAC did not reach the domain"

wait_until "the user data from the Secret ran" 300 file_says e2ecfsecret /run/secret-ran secret-user-data-ran

wait_until "the ConfigMap is read through virtiofs" 300 file_says e2ecffs /mnt/config/greeting hello-through-virtiofs

rm "$T/spool"/e2ecf*.yaml
wait_until "the replicas are gone" 120 sh -c "! virsh -c $URI list --name | grep -q '^default_e2ecf'"
finish
