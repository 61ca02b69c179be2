# gpo-lib.sh - making GPOs in the lab the way an admin does, for
# lab-gpo.sh and tests/bench/gpo.sh: samba-tool and ldapmodify as
# Administrator, and Registry.pol files written by Samba's own Python
# (samba.dcerpc.preg) into the DC's SYSVOL.  Needs LABCTL, TEST_TMP and the
# lab's environment (labctl env); sets POL, SYSVOL, AEK.  Every GPO made
# with gpo_add is in $ALL, for the caller's cleanup.
POL="CN=Policies,CN=System,${AE_LAB_DOMAIN_DN:-DC=corp,DC=test}"
SYSVOL=$AE_LAB_DIR/dc/state/sysvol/$AE_LAB_DOMAIN/Policies
ldapmod() { "$LABCTL" run --admin -- ldapmodify -Q -c -Y GSSAPI -H ldap://dc1.corp.test >/dev/null 2>&1; }
st() { # samba-tool as Administrator
	"$LABCTL" run --admin -- sh -c 'samba-tool "$@" -H ldap://dc1.corp.test --use-krb5-ccache="$KRB5CCNAME"' \
		samba-tool "$@"
}
# gpo_add VAR NAME FLAGS: samba-tool gpo create, then versionNumber 1/1
# (edited once in each half) and FLAGS; the new GPO's GUID in VAR.
gpo_add() {
	local out guid
	out=$(st gpo create "$2" 2>&1)
	guid=$(printf '%s\n' "$out" | sed -n 's/.* created as \({[0-9A-Fa-f-]*}\).*/\1/p')
	[ -n "$guid" ] || { diag "samba-tool gpo create \"$2\": $out"; return 1; }
	printf -v "$1" '%s' "$guid"
	ALL="$ALL $guid"
	printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: versionNumber\nversionNumber: 65537\n-\nreplace: flags\nflags: %s\n-\n\n' \
		"$guid" "$POL" "$3" | ldapmod
}
ALL=
cat >"$TEST_TMP/pol.py" <<'PY'
# pol.py FILE KEY|VALUE|TYPE|DATA...: a Registry.pol by Samba's encoder;
# DATA: a number (REG_DWORD), text (REG_SZ), or @FILE.der (REG_BINARY: a
# certificate blob as the registry keeps it)
import struct, sys
from samba.dcerpc import preg
from samba.ndr import ndr_pack
entries = []
for spec in sys.argv[2:]:
    key, value, typ, data = spec.split("|", 3)
    e = preg.entry()
    e.keyname, e.valuename, e.type = key, value, int(typ)
    if e.type == 4:
        e.data = int(data, 0)
    elif e.type == 3:
        der = open(data[1:], "rb").read()
        e.data = struct.pack("<III", 32, 1, len(der)) + der
    else:
        e.data = data
    entries.append(e)
f = preg.file()
f.num_entries = len(entries)
f.entries = entries
open(sys.argv[1], "wb").write(ndr_pack(f))
PY
AEK='Software\Policies\Microsoft\Cryptography\AutoEnrollment'
pol() { # GUID Machine|User VERSION ENTRY...: the file, GPT.INI and versionNumber at VERSION
	local g=$1 half=$2 v=$3
	shift 3
	/usr/bin/python3 "$TEST_TMP/pol.py" "$SYSVOL/$g/$half/Registry.pol" "$@" &&
	printf '[General]\r\nVersion=%s\r\n' "$v" >"$SYSVOL/$g/GPT.INI" &&
	printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: versionNumber\nversionNumber: %s\n-\n\n' "$g" "$POL" "$v" | ldapmod
}
