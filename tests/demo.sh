#!/bin/bash
# demo.sh - the main job on the lab: install what is needed, build, start
# the lab Active Directory (tests/lab), and show the enrollment policy as
# alice, bob and the workstation see it.  Run as root on Debian 12.
# Leaves the lab running; stop it with: tests/lab/labctl down
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (packages, network namespace)" >&2; exit 1; }
tests/deps.sh
autoreconf -fi >/dev/null
mkdir -p build
(cd build && "$top/configure" -q && make -j"$(nproc)" >/dev/null)
labctl=tests/lab/labctl
$labctl up
. <($labctl env)

echo
echo "### autoenroll policy, as alice (Domain Users)"
$labctl run --user alice -- build/autoenroll policy
echo
echo "### as bob (also in CertPlus, which is granted LabPlus, and CertDenied, denied LabDenied): templates that differ"
$labctl run --user bob -- build/autoenroll policy --json |
	jq -r '.templates[] | select(.name=="LabPlus" or .name=="LabDenied") | "  \(.name): \(.decision) - \(.reason)"'
echo
echo "### autoenroll policy --machine, as the workstation WS1\$ (machine keytab)"
$labctl run --machine -- build/autoenroll policy --machine
echo
echo "### autoenroll request: alice's key on a SoftHSM2 token, the request for LabUser (like certreq -new)"
demo=$(mktemp -d /tmp/autoenroll-demo.XXXXXX)
export SOFTHSM2_CONF=$demo/softhsm2.conf
mkdir -p "$demo/tokens"
printf 'directories.tokendir = %s/tokens\n' "$demo" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label alice-card --so-pin 4321 --pin 1111 >/dev/null
printf '1111' >"$demo/pin"
printf '[user]\nstore = pkcs11:token=alice-card;module-path=/usr/lib/softhsm/libsofthsm2.so?pin-source=%s/pin\nstate_dir = %s/state\n' \
	"$demo" "$demo" >"$demo/autoenroll.conf"
$labctl run --user alice -- build/autoenroll request -c "$demo/autoenroll.conf" --template LabUser --out "$demo/labuser.req"
openssl req -in "$demo/labuser.req" -noout -verify
echo
echo "### autoenroll enroll: alice gets a LabUser certificate from CORP-CA1 over MS-ICPR (key on her token)"
$labctl run --user alice -- build/autoenroll enroll -c "$demo/autoenroll.conf" --template LabUser
echo
echo "### autoenroll status (alice)"
$labctl run --user alice -- build/autoenroll status -c "$demo/autoenroll.conf"
echo
echo "### the workstation enrolls for LabMachine with its keytab (keys and records in $demo/machine)"
printf '[machine]\nkeytab = %s/ws1.keytab\nstate_dir = %s/machine\n' "$AE_LAB_DIR" "$demo" >"$demo/machine.conf"
$labctl run --machine -- build/autoenroll enroll --machine -c "$demo/machine.conf" --template LabMachine
$labctl run --machine -- build/autoenroll status --machine -c "$demo/machine.conf"
for c in "$demo"/state/certs/*.pem "$demo"/machine/certs/*.pem; do
	echo
	openssl x509 -in "$c" -noout -subject -issuer -enddate -ext subjectAltName
done
echo
echo "The lab is still running: try 'tests/lab/labctl run --user alice -- build/autoenroll policy --json'"
echo "Stop it with: tests/lab/labctl down"
