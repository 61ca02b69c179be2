#!/usr/bin/python3
# The second issuing CA's directory objects, as AD CS setup writes them for
# an enterprise CA (as an Enterprise Admin), or their removal:
#
#   ca2.py up LAB     CN=CORP-CA2 under Enrollment Services (dNSHostName
#                     ca2.corp.test, the templates and security descriptor
#                     CORP-CA1 has), its certificate in CN=AIA and in
#                     NTAuthCertificates
#   ca2.py down LAB   removes them, and the CDP objects the CA made
#
# The certificate and key ($LAB/pki/ca2.*) come from populate.py; the
# computer account CA2$ from labctl (adcli join).  labctl ca2 up|down runs
# this in the lab's namespace, then starts or stops the CA.

import os
import sys

import ldb
from samba.credentials import Credentials
from samba.param import LoadParm
from samba.samdb import SamDB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ca"))
sys.dont_write_bytecode = True
from crl import Publisher  # noqa: E402

exists = Publisher._exists
NAME, SHORT, HOST = "CORP-CA2", "CA2", "ca2.corp.test"


def connect(lab):
    pw = {}
    with open(os.path.join(lab, "passwords")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                pw[k] = v
    lp = LoadParm()
    lp.set("realm", "CORP.TEST")
    lp.set("workgroup", "CORP")
    creds = Credentials()
    creds.guess(lp)
    creds.set_username("Administrator")
    creds.set_password(pw["Administrator"])
    return SamDB(url="ldap://dc1.corp.test", credentials=creds, lp=lp)


def up(db, lab, pks):
    with open(os.path.join(lab, "pki", "ca2.der"), "rb") as f:
        cert = f.read()
    ca1 = db.search("CN=CORP-CA1,CN=Enrollment Services," + pks, scope=ldb.SCOPE_BASE,
                    attrs=["certificateTemplates", "nTSecurityDescriptor"], controls=["sd_flags:1:7"])[0]

    def add(dn, attrs):
        if exists(db, dn):
            return
        m = ldb.Message(ldb.Dn(db, dn))
        for k, v in attrs.items():
            m[k] = ldb.MessageElement(v if isinstance(v, list) else [v], ldb.FLAG_MOD_ADD, k)
        db.add(m)

    add("CN=%s,CN=AIA,%s" % (NAME, pks),
        {"objectClass": ["top", "certificationAuthority"], "cn": NAME, "cACertificate": cert,
         "authorityRevocationList": b"\x00", "certificateRevocationList": b"\x00"})
    nt = db.search("CN=NTAuthCertificates," + pks, scope=ldb.SCOPE_BASE, attrs=["cACertificate"])[0]
    if cert not in [bytes(v) for v in nt.get("cACertificate", [])]:
        m = ldb.Message(ldb.Dn(db, "CN=NTAuthCertificates," + pks))
        m["cACertificate"] = ldb.MessageElement([cert], ldb.FLAG_MOD_ADD, "cACertificate")
        db.modify(m)
    add("CN=%s,CN=Enrollment Services,%s" % (NAME, pks),
        {"objectClass": ["top", "pKIEnrollmentService"], "cn": NAME, "displayName": NAME,
         "dNSHostName": HOST, "cACertificate": cert, "cACertificateDN": "CN=%s, DC=corp, DC=test" % NAME,
         "flags": "10", "certificateTemplates": [str(v) for v in ca1["certificateTemplates"]],
         "nTSecurityDescriptor": bytes(ca1["nTSecurityDescriptor"][0])})


def down(db, lab, pks):
    for dn in ("CN=%s,CN=Enrollment Services,%s" % (NAME, pks), "CN=%s,CN=AIA,%s" % (NAME, pks),
               "CN=%s,CN=%s,CN=CDP,%s" % (NAME, SHORT, pks), "CN=%s,CN=CDP,%s" % (SHORT, pks)):
        if exists(db, dn):
            db.delete(dn)
    try:
        with open(os.path.join(lab, "pki", "ca2.der"), "rb") as f:
            cert = f.read()
        m = ldb.Message(ldb.Dn(db, "CN=NTAuthCertificates," + pks))
        m["cACertificate"] = ldb.MessageElement([cert], ldb.FLAG_MOD_DELETE, "cACertificate")
        db.modify(m)
    except (OSError, ldb.LdbError):
        pass  # not there


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("up", "down"):
        sys.exit("usage: ca2.py up|down LAB")
    lab = os.path.abspath(sys.argv[2])
    db = connect(lab)
    pks = "CN=Public Key Services,CN=Services," + str(db.get_config_basedn())
    (up if sys.argv[1] == "up" else down)(db, lab, pks)


if __name__ == "__main__":
    main()
