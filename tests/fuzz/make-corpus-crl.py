#!/usr/bin/python3
"""Writes the seed corpus of fuzz-crl (corpus/crl/).  Run by hand when the
input format changes; the output is committed.

  AD CS's ldap:/// CDP and delta locations (text), a base CRL as AD CS
  makes it (CRL number, Freshest CRL naming ldap:/// and http://), a delta
  CRL (delta CRL indicator, a certificateHold and a removeFromCRL entry),
  the same in PEM, and an LDAP attribute's values in fuzz-crl.c's layout
  (first byte 0: one value, the base CRL).
"""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
DN = ("CN=CORP-CA1,CN=CA1,CN=CDP,CN=Public%20Key%20Services,CN=Services,"
      "CN=Configuration,DC=corp,DC=test")
CDP = "ldap:///%s?certificateRevocationList?base?objectClass=cRLDistributionPoint" % DN
DELTA = "ldap:///%s?deltaRevocationList?base?objectClass=cRLDistributionPoint" % DN


def write(name, data):
    d = os.path.join(HERE, "corpus", "crl")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crl(key, number, entries, delta_base=None, freshest=None):
    now = datetime.datetime(2026, 1, 1)
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corp-CA")]))
         .last_update(now - datetime.timedelta(hours=1)).next_update(now + datetime.timedelta(days=7))
         .add_extension(x509.CRLNumber(number), critical=False))
    if delta_base is not None:
        b = b.add_extension(x509.DeltaCRLIndicator(delta_base), critical=True)
    if freshest:
        b = b.add_extension(x509.FreshestCRL([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(u) for u in freshest], None, None, None)]), critical=False)
    for serial, reason in entries:
        rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now)
        if reason is not None:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(rb.build())
    return b.sign(key, hashes.SHA256())


def main():
    key = ec.generate_private_key(ec.SECP256R1())
    write("adcs-cdp.txt", CDP.encode())
    write("adcs-delta.txt", DELTA.encode())
    write("ldap-host-binary.txt", b"ldap://dc1.corp.test/CN=x,DC=corp?certificateRevocationList;binary?base")
    base = crl(key, 5, [(7, x509.ReasonFlags.key_compromise), (8, x509.ReasonFlags.certificate_hold)],
               freshest=[DELTA, "http://ca1.corp.test/CertEnroll/CORP-CA1%2B.crl"])
    delta = crl(key, 6, [(7, x509.ReasonFlags.superseded), (8, x509.ReasonFlags.remove_from_crl), (9, None)],
                delta_base=5)
    der = base.public_bytes(serialization.Encoding.DER)
    write("base.der", der)
    write("delta.der", delta.public_bytes(serialization.Encoding.DER))
    write("delta.pem", delta.public_bytes(serialization.Encoding.PEM))
    write("values.bin", bytes([0]) + der)


if __name__ == "__main__":
    main()
