#!/bin/sh
# vmirsd --render of every example manifest, with the test guest's image
# store: the XML is what libvirt's schema accepts, and nothing is created
# but the image cache.
. "$top_srcdir/tests/cli/lib.sh"
command -v virt-xml-validate >/dev/null || { echo "virt-xml-validate not installed"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'state_dir = %s/state\nimage_dir = %s/images/out\ndomain_type = qemu\n' "$tmp" "$top_builddir" >"$tmp/vmirsd.conf"

for f in "$top_srcdir"/conf/examples/*.yaml; do
    expect_status 0 "$VMIRSD" -c "$tmp/vmirsd.conf" --render "$f"
    printf '%s\n' "$out" >"$tmp/domain.xml"
    virt-xml-validate "$tmp/domain.xml" domain >/dev/null 2>&1 || fail "$f: rendered XML does not validate: $(virt-xml-validate "$tmp/domain.xml" domain 2>&1)"
    expect_match "$out" '<domain type="qemu">'
    expect_match "$out" "<source file=\"$tmp/state/replicas/default_"
    [ ! -e "$tmp/state/replicas" ] || [ -z "$(ls -A "$tmp/state/replicas")" ] || fail "$f: --render created replica files"
done
# The KubeVirt fields of the conformance fixtures, rendered as libvirt
# takes them (each validated by libvirt's schema).
render() {
    expect_status 0 "$VMIRSD" -c "$tmp/vmirsd.conf" --render "$top_srcdir/tests/fixtures/manifests/good/$1.yaml"
    printf '%s\n' "$out" >"$tmp/$1.xml"
    virt-xml-validate "$tmp/$1.xml" domain >/dev/null 2>&1 || fail "$1: rendered XML does not validate: $(virt-xml-validate "$tmp/$1.xml" domain 2>&1)"
}
render machine-type-empty
expect_match "$out" '<type arch="x86_64" machine="q35">hvm</type>'
render mac-dashes
expect_match "$out" '<mac address="DE:AD:00:00:BE:AF"/>'
render rng
expect_match "$out" '<rng model="virtio">'
expect_match "$out" '<backend model="random">/dev/urandom</backend>'
render config-drive
expect_match "$out" '<source file="[^"]*/cloudinitdisk.iso"/>'
render config-drive-secrets
render cloudinit-secretref
render userguide-startup-script
render kernel-boot
expect_match "$out" "<kernel>$tmp/state/cache/[0-9a-f]{64}/path-[0-9a-f]{16}.img</kernel>"
expect_match "$out" "<initrd>$tmp/state/cache/[0-9a-f]{64}/path-[0-9a-f]{16}.img</initrd>"
expect_match "$out" '<cmdline>console=ttyS0</cmdline>'
kernel=$(printf '%s\n' "$out" | sed -n 's:.*<kernel>\(.*\)</kernel>.*:\1:p')
# The extracted kernel is a bzImage: its setup header says "HdrS" at 0x202.
[ "$(dd if="$kernel" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || fail "kernel-boot: $kernel is not a Linux kernel"
render virtiofs-configmap
expect_match "$out" '<filesystem type="mount" accessmode="passthrough">'
expect_match "$out" '<target dir="config"/>'
expect_match "$out" '<source type="memfd"/>'
[ "$(printf '%s\n' "$out" | grep -c '<disk ')" -eq 1 ] || fail "virtiofs-configmap: the shared volume must get no disk"
render virtiofs-secret-emptydisk
expect_match "$out" '<target dir="creds"/>'
expect_match "$out" '<target dir="scratch"/>'
[ ! -e "$tmp/state/replicas" ] || [ -z "$(ls -A "$tmp/state/replicas")" ] || fail "--render created replica files"

# The image cache is the one thing --render may fill.
[ -n "$(ls -A "$tmp/state/cache" 2>/dev/null)" ] || fail "the image cache is empty after --render"

# An image that is not in the store is a clear error naming it and the directory.
expect_status 1 "$VMIRSD" -c "$tmp/vmirsd.conf" --render "$top_srcdir/tests/fixtures/manifests/good/seed-v1alpha2.yaml"
expect_match "$err" 'image "docker.io/kubevirt/cirros-container-disk-demo:latest" not found in .*/images/out'

finish
