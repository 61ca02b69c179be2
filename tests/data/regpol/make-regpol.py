#!/usr/bin/python3
"""Writes the Registry.pol test files with Samba's own encoder (its preg
NDR structures, samba.dcerpc.preg, as samba-gpupdate and samba-tool use
them), never with autoenroll's parser.  Run by hand with the system
Python (Debian: python3-samba) when a case is added; the output is
committed next to this script and read by tests/unit/test-regpol.c and
tests/unit/test-gpsettings.c, and seeds tests/fuzz/corpus/regpol.

  autoenroll.pol     the adsys/GPMC machine file of ad-data.md 6.4:
                     AEPolicy 7, expiry notification, the LDAP: policy
                     server, key-only SystemCertificates entries
  types.pol          one value of each type Samba writes
  deletions.pol      **del., **delvals., **DeleteValues, **DeleteKeys
  certs-root.pol     root.der as a GPO root (Root\\Certificates\\SHA1\\Blob)
  certs-disallowed.pol  the same certificate Disallowed
  disabled.pol       AEPolicy 0x8000
  empty.pol          the header alone
  bad-size.pol       autoenroll.pol with the AEPolicy size field 0x100
  bad-signature.pol, bad-version.pol, truncated.pol

root.der is a self-signed test certificate (openssl req -x509, P-256,
CN=GPO Test Root), committed once.
"""
import os
import struct
import sys

from samba.dcerpc import preg
from samba.ndr import ndr_pack

HERE = os.path.dirname(os.path.abspath(__file__))
AE = "Software\\Policies\\Microsoft\\Cryptography\\AutoEnrollment"
PS = "Software\\Policies\\Microsoft\\Cryptography\\PolicyServers"
SC = "Software\\Policies\\Microsoft\\SystemCertificates"
LDAP_ID = "37c9dc30f207f27f61a2f7c3aed598a6e2920b54"  # SHA-1(UTF-16LE("ldap:"))
POLICY_ID = "{A5E9BF57-71C6-443A-B7FC-79EFA6F73EBD}"


def entry(key, value, typ, data):
    e = preg.entry()
    e.keyname = key
    e.valuename = value
    e.type = typ
    e.data = data
    return e


def pack(entries):
    f = preg.file()
    f.num_entries = len(entries)
    f.entries = entries
    return ndr_pack(f)


def write(name, data):
    # here, and as a seed of the fuzz target
    for d in (HERE, os.path.join(HERE, "..", "..", "fuzz", "corpus", "regpol")):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def cert_blob(der):
    # A certificate as the registry keeps it (serialized store element):
    # property CERT_CERT_PROP_ID (32), reserved 1, length, DER.
    return struct.pack("<III", 32, 1, len(der)) + der


def main():
    sz = 1
    dword = 4
    autoenroll = [
        entry("Software\\Policies\\Microsoft\\Cryptography", "**DeleteKeys", sz,
              PS),
        entry(AE, "AEPolicy", dword, 7),
        entry(AE, "OfflineExpirationPercent", dword, 10),
        entry(AE, "OfflineExpirationStoreNames", sz, "MY"),
        entry(PS, "", sz, POLICY_ID),
        entry(PS, "Flags", dword, 0),
        entry(PS + "\\" + LDAP_ID, "URL", sz, "LDAP:"),
        entry(PS + "\\" + LDAP_ID, "PolicyID", sz, POLICY_ID),
        entry(PS + "\\" + LDAP_ID, "FriendlyName", sz, "Active Directory Enrollment Policy"),
        entry(PS + "\\" + LDAP_ID, "Flags", dword, 0x14),
        entry(PS + "\\" + LDAP_ID, "AuthFlags", dword, 2),
        entry(PS + "\\" + LDAP_ID, "Cost", dword, 0x7FFFFFFD),
        entry(SC + "\\ACRS\\Certificates", "", 0, b""),
        entry(SC + "\\Disallowed\\CRLs", "", 0, b""),
    ]
    raw = pack(autoenroll)
    write("autoenroll.pol", raw)

    write("types.pol", pack([
        entry("Software\\Test", "sz", 1, "caf\u00e9 \u2713"),
        entry("Software\\Test", "expand", 2, "%SystemRoot%\\x"),
        entry("Software\\Test", "binary", 3, b"\x00\x01\xfe\xff"),
        entry("Software\\Test", "dword", 4, 0xdeadbeef),
        entry("Software\\Test", "dwordbe", 5, 0x01020304),
        entry("Software\\Test", "multi", 7, "one\0two\0\0".encode("utf-16-le")),
        entry("Software\\Test", "qword", 11, 0x1122334455667788),
        entry("Software\\Test\\Empty", "", 0, b""),
    ]))

    write("deletions.pol", pack([
        entry(AE, "**del.OfflineExpirationPercent", sz, " "),
        entry(AE, "**delvals.", sz, " "),
        entry(AE, "**DeleteValues", sz, "AEPolicy;OfflineExpirationStoreNames"),
        entry("Software\\Policies\\Microsoft\\Cryptography", "**DeleteKeys", sz, PS),
    ]))

    certs = []
    for store, path in (("Root", "root.der"), ("Disallowed", "root.der")):
        der = open(os.path.join(HERE, path), "rb").read()
        import hashlib
        thumb = hashlib.sha1(der).hexdigest().upper()
        certs.append(entry(SC + "\\" + store + "\\Certificates\\" + thumb, "Blob", 3, cert_blob(der)))
    write("certs-root.pol", pack(certs[:1]))
    write("certs-disallowed.pol", pack(certs[1:]))

    write("disabled.pol", pack([entry(AE, "AEPolicy", dword, 0x8000)]))
    write("empty.pol", pack([]))

    # The AEPolicy entry's size field made 0x100: the entry starts after
    # the first one; its size field follows "[key;value;type;".
    first_len = len(pack(autoenroll[:1])) - 8
    at = 8 + first_len + 2 + (len(AE) + 1) * 2 + 2 + (len("AEPolicy") + 1) * 2 + 2 + 4 + 2
    assert struct.unpack_from("<I", raw, at)[0] == 4, "size field not where expected"
    bad = bytearray(raw)
    struct.pack_into("<I", bad, at, 0x100)
    write("bad-size.pol", bytes(bad))
    print("bad-size.pol: size field at byte %d" % at, file=sys.stderr)
    write("bad-signature.pol", b"PRef" + raw[4:])
    write("bad-version.pol", raw[:4] + struct.pack("<I", 2) + raw[8:])
    write("truncated.pol", raw[:len(raw) - 3])


if __name__ == "__main__":
    main()
