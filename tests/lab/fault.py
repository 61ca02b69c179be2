"""fault.py - AD changes behind `labctl fault` (see tests/lab/README.md),
made on the DC's own database as the DC's tools do.

    fault.py LAB spn add|delete DN SPN   servicePrincipalName below Samba's
        uniqueness check (a duplicate SPN, as replication from another DC
        can leave one in a real forest)
    fault.py LAB attr DN ATTR VALUE|-    replace (or, with -, delete) ATTR
    fault.py LAB password NAME PASSWORD  reset an account's password
    fault.py LAB dcom add|delete         Authenticated Users in BUILTIN\\
        Certificate Service DCOM Access
"""
import sys

import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB


def samdb(lab):
    lp = LoadParm()
    lp.load(lab + "/dc/etc/smb.conf")
    return SamDB(url=lab + "/dc/private/sam.ldb", session_info=system_session(), lp=lp)


def main():
    lab, what = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    if what == "spn":
        op, dn, spn = args
        # the domain partition without Samba's modules: its SPN uniqueness
        # check would refuse the duplicate a real forest can end up with
        db = ldb.Ldb(lab + "/dc/private/sam.ldb.d/DC=CORP,DC=TEST.ldb", options=["modules:"])
        m = ldb.Message(ldb.Dn(db, dn))
        flag = ldb.FLAG_MOD_ADD if op == "add" else ldb.FLAG_MOD_DELETE
        m["servicePrincipalName"] = ldb.MessageElement([spn], flag, "servicePrincipalName")
        db.modify(m)
    elif what == "attr":
        dn, attr, value = args
        db = samdb(lab)
        m = ldb.Message(ldb.Dn(db, dn))
        if value == "-":
            m[attr] = ldb.MessageElement([], ldb.FLAG_MOD_DELETE, attr)
        else:
            m[attr] = ldb.MessageElement([value], ldb.FLAG_MOD_REPLACE, attr)
        db.modify(m)
    elif what == "password":
        name, password = args
        samdb(lab).setpassword("(sAMAccountName=%s)" % name, password, force_change_at_next_login=False)
    elif what == "dcom":
        db = samdb(lab)
        base = str(db.domain_dn())
        m = ldb.Message(ldb.Dn(db, "CN=Certificate Service DCOM Access,CN=Builtin," + base))
        flag = ldb.FLAG_MOD_ADD if args[0] == "add" else ldb.FLAG_MOD_DELETE
        m["member"] = ldb.MessageElement(["CN=S-1-5-11,CN=ForeignSecurityPrincipals," + base], flag, "member")
        try:
            db.modify(m)
        except ldb.LdbError as e:
            # already (not) a member: the fault is in place or cleared
            if e.args[0] not in (ldb.ERR_ATTRIBUTE_OR_VALUE_EXISTS, ldb.ERR_NO_SUCH_ATTRIBUTE,
                                 ldb.ERR_ENTRY_ALREADY_EXISTS, ldb.ERR_UNWILLING_TO_PERFORM):
                raise
    else:
        sys.exit("fault.py: unknown change %s" % what)


if __name__ == "__main__":
    main()
