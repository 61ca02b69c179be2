#!/bin/bash
# lab-publish.sh - certificates for services against the lab: a machine
# pulse enrolls LabMachine and its stable place appears
# (<state_dir>/live/LabMachine/: cert.pem, chain.pem, fullchain.pem,
# key.pem) and verifies with openssl; a pulse that changes nothing runs no
# hook; a renewal (the clock shifted past the renewal point with
# AE_TEST_NOW_OFFSET, as lab-pulse.sh does) replaces the files and runs
# the hook exactly once with the old and the new serial.  A user's key on
# a SoftHSM2 token is published as key.uri.  Then the shipped
# example hook examples/hooks/reload-nginx, with a stand-in nginx.
. "$(dirname "$0")/lib.sh"
lab_require
. <("$LABCTL" env)
DAY=86400
journal_sink
trap 'rm -f "$SOCK"; kill "$sink" 2>/dev/null; rm -rf "$TEST_TMP"' EXIT

HOOKS=$TEST_TMP/hooks.d
LOG=$TEST_TMP/hook.log
LIVE=$TEST_TMP/m/machine/live/LabMachine
mkdir -p "$HOOKS"
chmod 0755 "$TEST_TMP" "$HOOKS"
cat >"$HOOKS/10-record" <<EOF
#!/bin/sh
[ "\$AE_HOOK_TEMPLATE" = LabMachine ] || exit 0
echo "\$AE_HOOK_TEMPLATE \$AE_HOOK_CONTEXT old=\$AE_HOOK_OLD_SERIAL new=\$AE_HOOK_NEW_SERIAL \$AE_HOOK_CERT \$AE_HOOK_CHAIN \$AE_HOOK_FULLCHAIN \$AE_HOOK_KEY uid=\$(id -u)" >>"$LOG"
EOF
printf '#!/bin/sh\nexit 4\n' >"$HOOKS/20-fails"
chmod 0755 "$HOOKS/10-record" "$HOOKS/20-fails"
cat >"$TEST_TMP/m.conf" <<CONF
[global]
rpc_timeout = 10
crl_timeout = 5
policy_refresh = 0
hook_timeout = 20
[user]
state_dir = $TEST_TMP/m/user
hooks_dir = none
[machine]
keytab = $AE_LAB_DIR/ws1.keytab
state_dir = $TEST_TMP/m/machine
hooks_dir = $HOOKS
CONF
pulse_machine() { # [OFFSET]
	as_machine env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" \
		AE_TEST_NOW_OFFSET="${1:-0}" "$AUTOENROLL" pulse --machine --wait --json -c "$TEST_TMP/m.conf" \
		>"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
}
ev() { jq -r --arg e "$1" --arg t "${2:-}" '[.events[] | select(.event==$e and ($t=="" or .template==$t))] | length' "$TEST_TMP/r.json"; }
show() { diag "$(jq -c '[.events[] | {event, template, message}]' "$TEST_TMP/r.json" 2>/dev/null | head -c 3000)" "$(head -c 1500 "$TEST_TMP/r.err")"; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
mode() { stat -c %a "$1"; }
# The stable files as a service reads them: cert matches key, chain
# validates to the lab root, fullchain is cert then chain.
check_files() { # WHAT
	[ "$(openssl x509 -in "$LIVE/cert.pem" -noout -pubkey)" = "$(openssl pkey -in "$LIVE/key.pem" -pubout)" ]
	ok $? "$1: cert.pem matches key.pem (openssl x509 -pubkey = openssl pkey -pubout)"
	openssl verify -CAfile "$AE_LAB_DIR/pki/root.pem" -untrusted "$LIVE/chain.pem" "$LIVE/cert.pem" >/dev/null 2>&1
	ok $? "$1: cert.pem verifies to the lab root through chain.pem"
	cmp -s "$LIVE/fullchain.pem" <(cat "$LIVE/cert.pem" "$LIVE/chain.pem")
	ok $? "$1: fullchain.pem is cert.pem then chain.pem"
	[ "$(mode "$LIVE")" = 755 ] && [ "$(mode "$LIVE/key.pem")" = 600 ] && [ "$(mode "$LIVE/cert.pem")" = 644 ] &&
		[ "$(stat -c %u "$LIVE/key.pem")" = 0 ] && [ -z "$(find "$LIVE" -name '*.tmp.*')" ]
	ok $? "$1: directory 0755, key.pem 0600 owned by root, cert.pem 0644, no temporary file"
}

# ===== first pulse: enrolled, published, the hook once =====
pulse_machine
ok $? "machine pulse runs" || show
[ "$(ev enrolled LabMachine)" = 1 ] && [ "$(ev published LabMachine)" = 1 ]
ok $? "LabMachine enrolled and published" || show
check_files "enrolled"
s1=$(serial "$LIVE/cert.pem")
want="LabMachine machine old= new=$s1 $LIVE/cert.pem $LIVE/chain.pem $LIVE/fullchain.pem $LIVE/key.pem uid=0"
[ "$(cat "$LOG")" = "$want" ]
ok $? "the hook ran once, with the template, the paths, no old serial and the new one" || diag "$(cat "$LOG")" "want: $want"
[ "$(ev hook-ran LabMachine)" = 1 ] && [ "$(ev hook-failed LabMachine)" = 1 ] &&
	jq -e '.events[] | select(.event=="hook-failed") | .message | test("20-fails.*status 4")' "$TEST_TMP/r.json" >/dev/null &&
	jq -e '.ok != false' "$TEST_TMP/r.json" >/dev/null
ok $? "hook exit statuses are events (hook-ran, hook-failed with status 4); the pulse does not fail" || show
tail -n 100 "$EVENTS" | jq -s -e 'map(select(.AUTOENROLL_EVENT=="hook-failed" and .AUTOENROLL_TEMPLATE=="LabMachine" and (.MESSAGE_ID|length)==32)) | length == 1' >/dev/null
ok $? "journal: a hook-failed event with its MESSAGE_ID"

# ===== nothing changes: nothing written, no hook =====
ino=$(stat -c %i "$LIVE/cert.pem")
pulse_machine
[ "$(ev enrolled)" = 0 ] && [ "$(ev renewed)" = 0 ] && [ "$(ev published)" = 0 ] && [ "$(wc -l <"$LOG")" = 1 ] &&
	[ "$(stat -c %i "$LIVE/cert.pem")" = "$ino" ]
ok $? "a pulse that changes nothing rewrites nothing and runs no hook" || show

# ===== renewal: the clock past the renewal point =====
nb=$(date -d "$(openssl x509 -in "$LIVE/cert.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$LIVE/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
# Due at the later of 80 % of the lifetime and notAfter - 6 weeks (LabMachine's renewal period).
due=$((nb + (na - nb) * 80 / 100))
[ $((na - 42 * DAY)) -gt $due ] && due=$((na - 42 * DAY))
offset=$((due - $(date +%s) + DAY))
ino=$(stat -c %i "$LIVE/cert.pem")
pulse_machine "$offset"
[ "$(ev renewed LabMachine)" = 1 ] && [ "$(ev published LabMachine)" = 1 ]
ok $? "renewal (clock +$((offset / DAY)) days): renewed and published again" || show
s2=$(serial "$LIVE/cert.pem")
[ -n "$s2" ] && [ "$s2" != "$s1" ] && [ "$(stat -c %i "$LIVE/cert.pem")" != "$ino" ]
ok $? "cert.pem holds the new certificate (serial $s1 -> $s2), replaced by rename"
check_files "renewed"
want2="LabMachine machine old=$s1 new=$s2 $LIVE/cert.pem $LIVE/chain.pem $LIVE/fullchain.pem $LIVE/key.pem uid=0"
[ "$(wc -l <"$LOG")" = 2 ] && [ "$(tail -1 "$LOG")" = "$want2" ]
ok $? "the hook ran exactly once more, with the old and the new serial" || diag "$(cat "$LOG")" "want: $want2"

# ===== a user's key on a token: key.uri, the URI of the key on it =====
if [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v pkcs11-tool >/dev/null; then
	softhsm_token ae-publish
	cat >"$TEST_TMP/u.conf" <<CONF
[global]
rpc_timeout = 10
policy_refresh = 0
[user]
store = pkcs11:token=ae-publish;module-path=$MODULE?pin-source=$TEST_TMP/pin
state_dir = $TEST_TMP/u/user
hooks_dir = $HOOKS
CONF
	: >"$LOG"
	as_user alice env AUTOENROLL_LIBEXECDIR="$AE_BIN" AE_JOURNAL_SOCKET="$SOCK" "$AUTOENROLL" pulse --user --wait \
		--json -c "$TEST_TMP/u.conf" >"$TEST_TMP/r.json" 2>"$TEST_TMP/r.err"
	ULIVE=$TEST_TMP/u/user/live/LabUser
	[ "$(ev enrolled LabUser)" = 1 ] && [ "$(ev published LabUser)" = 1 ] && [ -s "$ULIVE/key.uri" ] &&
		[ ! -e "$ULIVE/key.pem" ] && [ -s "$ULIVE/fullchain.pem" ]
	ok $? "token: alice's LabUser published with key.uri, no key file" || show
	uri=$(cat "$ULIVE/key.uri")
	id=$(printf '%s' "$uri" | sed -n 's/.*[;:]id=\([^;?]*\).*/\1/p' | tr -d %)
	case $uri in pkcs11:*token=ae-publish*type=private*) true ;; *) false ;; esac &&
		pkcs11-tool --module $MODULE --token-label ae-publish --read-object --type pubkey --id "$id" 2>/dev/null |
		openssl pkey -pubin -inform DER -pubout 2>/dev/null | cmp -s - <(openssl x509 -in "$ULIVE/cert.pem" -noout -pubkey)
	ok $? "token: key.uri names the private key on the token whose public key is cert.pem's" || diag "$uri"
	if [ "$(id -u)" -eq 0 ]; then
		[ ! -s "$LOG" ] && [ "$(ev hook-ran)" = 0 ] && [ "$(ev hook-failed)" = 0 ]
		ok $? "a user pulse running as root (the lab's as_user) runs no hook"
	fi
fi

# ===== examples/hooks/reload-nginx with a stand-in nginx =====
fake=$TEST_TMP/bin
mkdir -p "$fake"
printf '#!/bin/sh\necho "nginx $*" >>%s/nginx.log\n' "$TEST_TMP" >"$fake/nginx"
printf '#!/bin/sh\nexit 3\n' >"$fake/systemctl" # no nginx.service running
chmod 0755 "$fake/nginx" "$fake/systemctl"
sed 's/^TEMPLATES=.*/TEMPLATES="LabMachine"/' "$top_srcdir/examples/hooks/reload-nginx" >"$HOOKS/50-reload-nginx"
chmod 0755 "$HOOKS/50-reload-nginx"
env -i PATH="$fake:/usr/bin:/bin" AE_HOOK_CONTEXT=machine AE_HOOK_TEMPLATE=LabMachine AE_HOOK_OLD_SERIAL="$s1" \
	AE_HOOK_NEW_SERIAL="$s2" sh "$HOOKS/50-reload-nginx" 2>/dev/null
rc=$?
[ $rc -eq 0 ] && [ "$(cat "$TEST_TMP/nginx.log")" = "$(printf 'nginx -t -q\nnginx -s reload')" ]
ok $? "reload-nginx: its template changed: nginx -t, then nginx -s reload" || diag "rc=$rc" "$(cat "$TEST_TMP/nginx.log")"
rm -f "$TEST_TMP/nginx.log"
env -i PATH="$fake:/usr/bin:/bin" AE_HOOK_CONTEXT=machine AE_HOOK_TEMPLATE=Other sh "$HOOKS/50-reload-nginx"
[ $? -eq 0 ] && [ ! -e "$TEST_TMP/nginx.log" ]
ok $? "reload-nginx: another template: nothing reloaded"

rm -f "$SOCK"
done_testing
