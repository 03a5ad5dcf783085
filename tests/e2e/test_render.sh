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
# The image cache is the one thing --render may fill.
[ -n "$(ls -A "$tmp/state/cache" 2>/dev/null)" ] || fail "the image cache is empty after --render"

# An image that is not in the store is a clear error naming it and the directory.
expect_status 1 "$VMIRSD" -c "$tmp/vmirsd.conf" --render "$top_srcdir/tests/fixtures/manifests/good/seed-v1alpha2.yaml"
expect_match "$err" 'image "docker.io/kubevirt/cirros-container-disk-demo:latest" not found in .*/images/out'

finish
