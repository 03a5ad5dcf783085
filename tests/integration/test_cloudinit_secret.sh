#!/bin/sh
# Cloud-init data kept in a Secret of another spool file reaches each
# replica's seed (NoCloud and config drive); without the Secret the
# create fails with FailedCreate naming it, and the data is never logged.
. "$top_srcdir/tests/integration/lib.sh"
PREFIX=default_itci
setup
start_vmirsd

cat >"$T/spool/.secret.tmp" <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: itci-data}
stringData:
  userData: "#!/bin/sh\necho itci-s3cr3t-payload\n"
  networkdata: "{\"links\": []}"
YAML
mv "$T/spool/.secret.tmp" "$T/spool/itci-secret.yaml"
for kind in NoCloud ConfigDrive; do
    name=itci$(echo $kind | tr 'A-Z' 'a-z')
    cat >"$T/spool/.$name.tmp" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceReplicaSet
metadata: {name: $name}
spec:
  replicas: 2
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name}}
    spec:
      terminationGracePeriodSeconds: 0
      domain:
        memory: {guest: 64Mi}
        devices:
          disks: [{name: seed, disk: {bus: virtio}}]
      volumes:
      - name: seed
        cloudInit$kind:
          secretRef: {name: itci-data}
          networkDataSecretRef: {name: itci-data}
YAML
    mv "$T/spool/.$name.tmp" "$T/spool/$name.yaml"
done
wait_until "2 NoCloud replicas run" 30 count_is itcinocloud 2
wait_until "2 config-drive replicas run" 30 count_is itciconfigdrive 2

# The seeds carry the Secret's data where each datasource wants it.
iso_file() { # ISO PATH: a file of the ISO on stdout
    x=$(mktemp -d)
    xorriso -osirrox on -indev "$1" -extract "$2" "$x/f" >/dev/null 2>&1 && cat "$x/f"
    rm -rf "$x"
}
d=$(domains_of itcinocloud | head -n 1)
iso_file "$T/state/replicas/$d/seed.iso" /user-data | grep -q itci-s3cr3t-payload ||
    fail "$d: the NoCloud user-data does not hold the Secret's userData"
iso_file "$T/state/replicas/$d/seed.iso" /network-config | grep -q links ||
    fail "$d: the NoCloud network-config does not hold the Secret's networkdata"
d=$(domains_of itciconfigdrive | head -n 1)
iso_file "$T/state/replicas/$d/seed.iso" /openstack/latest/user_data | grep -q itci-s3cr3t-payload ||
    fail "$d: the config drive's user_data does not hold the Secret's userData"
iso_file "$T/state/replicas/$d/seed.iso" /openstack/latest/meta_data.json | grep -q '"hostname"' ||
    fail "$d: the config drive has no meta_data.json"

# Without the Secret a replacement cannot be made: FailedCreate names it.
rm "$T/spool/itci-secret.yaml"
wait_until "the Secret's removal is seen" 30 grep -q "itci-secret.yaml removed" "$T/vmirsd.log"
virsh -c "$URI" destroy "$(domains_of itcinocloud | head -n 1)" >/dev/null
wait_until "FailedCreate names the missing Secret" 30 grep -q \
    'FailedCreate: .*secretRef: Secret "default/itci-data" not found' "$T/vmirsd.log"
count_is itciconfigdrive 2 || fail "the config-drive replicas changed: $(count_of itciconfigdrive)"
grep -q itci-s3cr3t-payload "$T/vmirsd.log" && fail "the Secret's data reached the log"

rm "$T/spool/itcinocloud.yaml" "$T/spool/itciconfigdrive.yaml"
wait_until "the replicas are gone" 30 count_is itci 0
stop_vmirsd || fail "vmirsd did not exit 0"
finish
