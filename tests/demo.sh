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
(cd build && "$top/configure" -q && make -j"$(nproc)" >/dev/null &&
	make -j"$(nproc)" tests/pam/pam-session tests/pam/pam_autoenroll_build.la >/dev/null)
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
echo "### alice logs in through PAM: pam_krb5 (password, against the lab KDC) then pam_autoenroll"
# The stack is loaded through pam_wrapper from a private directory, so
# /etc/pam.d is untouched; the module is built from the same sources as
# pam_autoenroll.so, with build/ as its helper directory.
$labctl local-users
pamdir=$demo/pam.d
mkdir -p "$pamdir"
chmod 755 "$demo"
secdir=$(ls -d /lib/*/security | head -1)
printf '[global]\ndomain = %s\n' "$AE_LAB_DOMAIN" >"$demo/pam.conf"
chmod 644 "$demo/pam.conf"
{
	echo "auth     required  $secdir/pam_krb5.so minimum_uid=1000"
	echo "account  required  $secdir/pam_permit.so"
	echo "session  optional  $secdir/pam_krb5.so minimum_uid=1000"
	echo "session  optional  $top/build/tests/pam/.libs/pam_autoenroll_build.so conf=$demo/pam.conf"
} >"$pamdir/login"
printf 'auth required %s/pam_deny.so\naccount required %s/pam_deny.so\nsession required %s/pam_deny.so\n' \
	"$secdir" "$secdir" "$secdir" >"$pamdir/other"
sed -n 's/^alice=//p' "$AE_LAB_DIR/passwords" >"$demo/alice.pw"
home=$AE_LAB_DIR/home/alice
rm -rf "$home/.local"
$labctl run -- env LD_PRELOAD="$(ls /usr/lib/*/libpam_wrapper.so | head -1)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$pamdir" \
	build/tests/pam/pam-session --auth --password-file "$demo/alice.pw" --item PAM_TTY=/dev/tty2 --hold 15 login alice 2>/dev/null |
	sed 's/^open_session_us \(.*\)/session opened: pam_open_session took \1 us; her helper works in the background/'
for _ in $(seq 60); do [ -s "$home/.local/share/autoenroll/last-pulse.json" ] && break; sleep 0.5; done
echo "her pulse, from ~alice/.local/share/autoenroll/last-pulse.json:"
jq -r '"  \(.counts.enrolled) enrolled, \(.counts.pending) pending, \(.counts.skipped) skipped",
       (.events[] | select(.event != "pulse-started" and .event != "pulse-completed") | "  \(.event): \(.message)")' \
	"$home/.local/share/autoenroll/last-pulse.json"
echo "(in a graphical session, a notification offers LabInteractive a minute after logon)"
runuser -u alice -- env HOME="$home" build/autoenroll status -c "$demo/pam.conf"

echo
echo "The lab is still running: try 'tests/lab/labctl run --user alice -- build/autoenroll policy --json'"
echo "Stop it with: tests/lab/labctl down"
