#!/bin/bash
# config-check.sh - autoenroll config check: every problem of a
# configuration on a line of its own (FILE:LINE: KEY in [SECTION] ...),
# key stores parsed and looked at as the programs would use them, exit 0
# when there is none and 1 otherwise; --json.  Needs no lab and no root.
. "$(dirname "$0")/lib.sh"
[ -x "$AUTOENROLL" ] || skip_all "autoenroll is not built"
command -v jq >/dev/null || skip_all "jq is not installed"

T=$TEST_TMP
mkdir -p -m 700 "$T/private"
mkdir -p -m 777 "$T/open"
chmod 777 "$T/open" # whatever the umask
touch "$T/plainfile"
ln -s "$T/private" "$T/link"

cat >"$T/good.conf" <<CONF
# a configuration with nothing wrong
[global]
domain = corp.test
servers = dc1.corp.test, dc2.corp.test
ldap_timeout = 10
x-site = extensions are fine
[user]
store = pkcs11:token=Alice%20Token;object=autoenroll
aepolicy = enroll, manage
[machine]
store = file:$T/private
state_dir = $T/state
CONF
"$AUTOENROLL" config check -c "$T/good.conf" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/out")" = "$T/good.conf: configuration OK" ] && [ ! -s "$T/err" ]
ok $? "a good configuration: exit 0, configuration OK" || diag "rc=$rc" "$(cat "$T/out" "$T/err")"
"$AUTOENROLL" -c "$T/good.conf" config check --json >"$T/out"
[ $? -eq 0 ] && jq -e '.ok == true and .exists == true and .problems == [] and .format_version == 1' "$T/out" >/dev/null
ok $? "--json of a good configuration (and -c before the command)"

cat >"$T/bad.conf" <<CONF
[global]
domain = corp.test
ldap_timeout = 0
domian = typo.test
dns_timeout = 5
dns_timeout = 6
servers = dc1.corp.test, bad/host
[user]
store = pkcs11:token=My%ZZ
aepolicy = enroll, bogus
[machine]
store = file:relative/dir
state_dir = $T/plainfile
system_trust = maybe
[weird]
key = value
just words
CONF
"$AUTOENROLL" config check -c "$T/bad.conf" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ]; ok $? "a bad configuration: exit 1" || diag "rc=$rc"
expect() { # LINE TEXT
	grep -qF -- "$T/bad.conf:$1: $2" "$T/out"
	ok $? "line $1: $2" || diag "$(cat "$T/out")"
}
expect 3 "ldap_timeout in [global] must be a number of seconds from 1 to 3600"
expect 4 "unknown key \"domian\" in [global]"
expect 6 "dns_timeout in [global] is set again (first at line 5)"
expect 7 "servers in [global] lists \"bad/host\", which is not a host name"
expect 9 "store in [user] cannot be used: key store \"pkcs11:token=My%ZZ\" is not a PKCS#11 URI"
expect 10 "aepolicy in [user] takes a number like 0x7"
expect 12 "store in [machine] cannot be used: key store \"file:relative/dir\" must name an absolute directory"
expect 13 "state_dir in [machine] names $T/plainfile, which is not a directory"
expect 14 "system_trust in [machine] is none, p11-kit or update-ca-certificates"
expect 15 "unknown section [weird]"
expect 17 "expected \"key = value\""
[ "$(grep -c "^$T/bad.conf:[0-9]*: " "$T/out")" = 11 ] && [ "$(tail -1 "$T/out")" = "$T/bad.conf: 11 problems" ]
ok $? "all 11 problems, one per line, then their count" || diag "$(cat "$T/out")"
[ "$(grep "^$T/bad.conf:[0-9]*: " "$T/out" | cut -d: -f2 | tr '\n' ' ')" = "3 4 6 7 9 10 12 13 14 15 17 " ]
ok $? "in line order"
"$AUTOENROLL" config check --json -c "$T/bad.conf" >"$T/out"
[ $? -eq 1 ] && jq -e '.ok == false and (.problems | length) == 11 and
	(.problems[] | select(.line == 9) | .section == "user" and .key == "store" and (.message | test("PKCS#11 URI")))' "$T/out" >/dev/null
ok $? "--json: ok false, each problem with line, section, key and message"

# Key stores, as the programs would open them.
store() { # CONF-STORE-LINE -> problems of [machine] store (line 2)
	printf '[machine]\nstore = %s\n' "$1" >"$T/s.conf"
	"$AUTOENROLL" config check -c "$T/s.conf" 2>&1 | grep "^$T/s.conf:2: "
}
store "file:$T/not/yet/made" >"$T/out"; [ ! -s "$T/out" ]; ok $? "file: store not made yet but creatable: fine" || diag "$(cat "$T/out")"
[ ! -e "$T/not" ]; ok $? "... and the check made nothing"
store "file:$T/open" | grep -q "writable by group or others (mode 0777)"; ok $? "file: store writable by others: reported"
store "file:$T/plainfile/keys" | grep -q "does not exist and cannot be made: $T/plainfile is not a directory"
ok $? "file: store under a file: reported"
store "file:$T/link" | grep -q "is a symbolic link"; ok $? "file: store that is a symbolic link: reported"
mkdir -p -m 700 "$T/private/keys" && chmod 775 "$T/private/keys"
store "file:$T/private" | grep -q "key directory $T/private/keys is writable by group"; ok $? "file: its keys directory is checked too"
chmod 700 "$T/private/keys"
store "pkcs11:token=A;bogus-attr=1" | grep -q "has an attribute p11-kit does not know"; ok $? "pkcs11: an attribute p11-kit does not know: reported"
store "pkcs11:model=SoftHSM%20v2;token=T;pin-value=1234" >"$T/out"; [ ! -s "$T/out" ]; ok $? "pkcs11: a good URI (with a PIN): fine"
store "pkcs:token=A;pin-value=secret" | grep -q "neither \"pkcs11:<RFC 7512 URI>\" nor \"file:/directory\""; ok $? "neither pkcs11: nor file: reported"
store "pkcs11:token=A;pin-value=s3cret%ZZ" >"$T/out"; ! grep -q s3cret "$T/out" && grep -q "is not a PKCS#11 URI" "$T/out"
ok $? "a bad URI's PIN is not shown" || diag "$(cat "$T/out")"

# expiry_warning_percent (Group Policy's OfflineExpirationPercent): 0 to 100.
for v in 0 10 100; do
	printf '[global]\nexpiry_warning_percent = %s\n' "$v" >"$T/pct.conf"
	"$AUTOENROLL" config check -c "$T/pct.conf" >/dev/null 2>&1 || echo "$v"
done >"$T/out"
printf '[global]\nexpiry_warning_percent = 101\n' >"$T/pct.conf"
"$AUTOENROLL" config check -c "$T/pct.conf" >>"$T/out" 2>&1
[ $? -eq 1 ] && [ "$(head -1 "$T/out")" = "$T/pct.conf:2: expiry_warning_percent in [global] must be a number of percent from 0 to 100, not \"101\"" ]
ok $? "expiry_warning_percent: 0, 10 and 100 accepted, 101 refused with its range" || diag "$(cat "$T/out")"

# policy_servers (policy/xcep.h) and the CEP password file.
printf 'secret\n' >"$T/pw"
chmod 600 "$T/pw"
printf '[global]\ncep_username = CORP\\alice\ncep_password_file = %s\n[user]\npolicy_servers = LDAP:@5 https://cep/CEP\n[machine]\npolicy_servers = https://cep/CEP@1\n' "$T/pw" >"$T/ps.conf"
"$AUTOENROLL" config check -c "$T/ps.conf" >"$T/out" 2>&1
ok $? "policy_servers with costs and a 0600 password file: fine" || diag "$(cat "$T/out")"
chmod 644 "$T/pw"
printf '[global]\ncep_password_file = %s\n[user]\npolicy_servers = ldap://dc/ https://cep/CEP@x\n[machine]\npolicy_servers = http://cep/CEP\n' "$T/pw" >"$T/ps.conf"
"$AUTOENROLL" config check -c "$T/ps.conf" >"$T/out" 2>&1
[ $? -eq 1 ] && grep -q "ps.conf:2: cep_password_file in \[global\] needs the other" "$T/out" &&
	grep -q "cep_password_file in \[global\] cannot be used: .*mode 0600 or 0400" "$T/out" &&
	grep -q "ps.conf:4: policy_servers in \[user\] .*the cost after @ must be a number" "$T/out" &&
	grep -q "ps.conf:6: policy_servers in \[machine\] lists \"http://cep/CEP\": only LDAP: and https://" "$T/out"
ok $? "policy_servers: a bad cost and plain http refused; a password file without user name or readable by others refused" ||
	diag "$(cat "$T/out")"

# Files.
"$AUTOENROLL" config check -c "$T/none.conf" >"$T/out" 2>&1
[ $? -eq 1 ] && grep -q "$T/none.conf" "$T/out"; ok $? "-c naming no file: exit 1, said" || diag "$(cat "$T/out")"
AUTOENROLL_CONF="$T/none.conf" "$AUTOENROLL" config check >"$T/out" 2>&1
[ $? -eq 0 ] && grep -q "no such file: the defaults apply" "$T/out"; ok $? "no configuration file by default: the defaults, exit 0"
"$AUTOENROLL" config check -c "$T" >"$T/out" 2>&1
[ $? -eq 1 ] && grep -q "not a regular file" "$T/out"; ok $? "a directory as the configuration: exit 1"
"$AUTOENROLL" config >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "config without check: usage error"

# StrictModes: root reads only a configuration that only root can change
# (the file and every directory above it; a sticky directory as /tmp may
# be open).  As another user, nothing is checked.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	mkdir -m 755 "$T/strict"
	printf '[global]\ndomain = corp.test\n' >"$T/strict/a.conf"
	chmod 644 "$T/strict/a.conf"
	"$AUTOENROLL" config check -c "$T/strict/a.conf" >"$T/out" 2>&1
	ok $? "root: a configuration of root's, 0644, in root's directories: accepted" || diag "$(cat "$T/out")"
	chmod 664 "$T/strict/a.conf"
	"$AUTOENROLL" config check -c "$T/strict/a.conf" >"$T/out" 2>&1
	[ $? -eq 1 ] && grep -q "the configuration $T/strict/a.conf: $T/strict/a.conf is writable by group or others (mode 0664).*refused (chmod go-w $T/strict/a.conf)" "$T/out"
	ok $? "root: a group-writable configuration is refused, with the file and chmod" || diag "$(cat "$T/out")"
	chmod 644 "$T/strict/a.conf"
	chown nobody "$T/strict/a.conf"
	"$AUTOENROLL" config check -c "$T/strict/a.conf" >"$T/out" 2>&1
	[ $? -eq 1 ] && grep -q "$T/strict/a.conf belongs to uid $(id -u nobody), not to root.*(chown root: $T/strict/a.conf)" "$T/out"
	ok $? "root: a configuration owned by another user is refused, with chown" || diag "$(cat "$T/out")"
	chown root "$T/strict/a.conf"
	chmod 777 "$T/strict"
	"$AUTOENROLL" -c "$T/strict/a.conf" policy >"$T/out" 2>&1
	[ $? -ne 0 ] && grep -q "$T/strict is writable by group or others (mode 0777)" "$T/out"
	ok $? "root: a world-writable directory above it: refused by every command" || diag "$(cat "$T/out")"
	chmod 1777 "$T/strict"
	"$AUTOENROLL" config check -c "$T/strict/a.conf" >"$T/out" 2>&1
	ok $? "root: a sticky directory above it (as /tmp) is fine" || diag "$(cat "$T/out")"
	ln -s "$T/strict/a.conf" "$T/strict-link.conf"
	chmod 755 "$T/strict"; chmod 666 "$T/strict/a.conf"
	"$AUTOENROLL" config check -c "$T/strict-link.conf" >"$T/out" 2>&1
	[ $? -eq 1 ] && grep -q "$T/strict/a.conf is writable" "$T/out"
	ok $? "root: through a symbolic link, the file it points at is checked" || diag "$(cat "$T/out")"
	chmod 644 "$T/strict/a.conf"
	chmod 755 "$T"
	chown nobody "$T/strict/a.conf"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$AUTOENROLL" config check -c "$T/strict/a.conf" >"$T/out" 2>&1
	ok $? "another user: its own configuration is not root's business" || diag "$(cat "$T/out")"
	chown root "$T/strict/a.conf"; chmod 700 "$T"
fi
"$AUTOENROLL" config check --help | grep -q -- "--json"; ok $? "config --help"

done_testing
