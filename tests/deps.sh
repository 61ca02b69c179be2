#!/bin/sh
# deps.sh - install what building, the lab and the tests need on Debian 12.
# Run as root.  Idempotent.
set -e
PACKAGES="
  build-essential autoconf automake libtool pkg-config clang libclang-rt-14-dev
  libpam0g-dev libkrb5-dev libldap2-dev libsasl2-dev libsasl2-modules-gssapi-mit
  libssl-dev libp11-kit-dev libcurl4-openssl-dev libxml2-dev
  samba samba-ad-dc samba-ad-provision python3-samba krb5-user ldap-utils adcli
  python3-cryptography python3-gssapi python3-impacket python3-ldap3 python3-requests-kerberos
  iproute2 nftables dnsutils jq bc time openssl valgrind tshark python3-pyasn1 python3-pyasn1-modules
  softhsm2 opensc gnutls-bin
  libnss3-tools openssh-client libengine-pkcs11-openssl curl
  libsmbclient-dev libdbus-1-dev dbus-daemon libpam-wrapper libpam-krb5 pamtester python3-dbusmock
  python3-dbus dunst xvfb x11-apps imagemagick procps util-linux
  debhelper lintian
  swtpm swtpm-tools tpm2-tools tpm2-abrmd libtss2-tcti-tabrmd0 libtpm2-pkcs11-1 libtpm2-pkcs11-tools heimdal-kcm
  libfaketime certmonger scep
"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q $missing
# The samba package enables system daemons; the lab runs its own instance
# in a namespace and needs none of them.  Nor do the tests need the host's
# KCM server, TPM broker or certmonger: they start their own.
for s in samba-ad-dc smbd nmbd winbind heimdal-kcm tpm2-abrmd certmonger; do
	systemctl disable --now "$s" >/dev/null 2>&1 || true
done
