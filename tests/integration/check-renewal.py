# check-renewal.py REQUEST.der OLD.pem SCHEMA - decodes a renewal request
# as the CA received it, independently of autoenroll (pyasn1's RFC 5652
# CMS and RFC 2986 PKCS#10 modules, python3-cryptography for signatures),
# and checks the layout MS-WCCE asks for:
#   schema >= 2: CMS SignedData around CMC PKIData (3.1.1.4.3.2.2) with two
#     SignerInfos, the first naming the new key by subjectKeyIdentifier and
#     signed with it, the second the old certificate's, signed with its key;
#   schema 1: CMS SignedData around the PKCS#10 as id-data (3.1.1.4.3.2.1),
#     the first SignerInfo the old certificate's key;
#   both: the old certificate in certificates and in the PKCS#10's
#     szOID_RENEWAL_CERTIFICATE attribute.
# Prints one line per check ("ok ..." / "FAIL ...") and exits 1 on a failure.
import hashlib
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyasn1.codec.der import decoder, encoder
from pyasn1_modules import rfc2986, rfc5652

OID_PKIDATA = "1.3.6.1.5.5.7.12.2"
OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED = "1.2.840.113549.1.7.2"
OID_RENEWAL = "1.3.6.1.4.1.311.13.1"
OID_MD = "1.2.840.113549.1.9.4"
HASHES = {"2.16.840.1.101.3.4.2.1": hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384,
          "2.16.840.1.101.3.4.2.3": hashes.SHA512, "1.3.14.3.2.26": hashes.SHA1}

failed = 0


def check(cond, what):
    global failed
    print(("ok " if cond else "FAIL ") + what)
    if not cond:
        failed += 1
    return cond


def tlv(b, off=0):
    """(tag, content_start, end) of the TLV at OFF (definite lengths)."""
    tag, n = b[off], b[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[off:off + k], "big")
        off += k
    return tag, off, off + n


def children(b, start, end):
    out = []
    while start < end:
        t, s, e = tlv(b, start)
        out.append((t, s, e, start))
        start = e
    return out


def verify(pub, sig, data, hash_cls):
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, data, padding.PKCS1v15(), hash_cls())
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, data, ec.ECDSA(hash_cls()))
        else:
            return False
        return True
    except Exception:
        return False


def signer_ok(si, content, pub):
    h = HASHES.get(str(si["digestAlgorithm"]["algorithm"]))
    if h is None:
        return False
    attrs = si["signedAttrs"]
    if not attrs.isValue:
        return verify(pub, bytes(si["signature"]), content, h)
    md = None
    for a in attrs:
        if str(a["attrType"]) == OID_MD:
            md = bytes(decoder.decode(bytes(a["attrValues"][0]))[0])
    d = hashes.Hash(h())
    d.update(content)
    if md != d.finalize():
        return False
    # The signature covers the attributes as a DER SET OF.
    der = bytearray(encoder.encode(attrs))
    der[0] = 0x31
    return verify(pub, bytes(si["signature"]), bytes(der), h)


req_der = open(sys.argv[1], "rb").read()
old = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
schema = int(sys.argv[3])
old_der = old.public_bytes(serialization.Encoding.DER)

ci, rest = decoder.decode(req_der, asn1Spec=rfc5652.ContentInfo())
check(not rest and str(ci["contentType"]) == OID_SIGNED, "a CMS ContentInfo with SignedData")
sd, _ = decoder.decode(bytes(ci["content"]), asn1Spec=rfc5652.SignedData())
ctype = str(sd["encapContentInfo"]["eContentType"])
content = bytes(sd["encapContentInfo"]["eContent"])
check(ctype == (OID_PKIDATA if schema >= 2 else OID_DATA),
      "eContentType %s for schema %d" % (ctype, schema))

certs = [encoder.encode(c["certificate"]) for c in sd["certificates"]] if sd["certificates"].isValue else []
check(old_der in certs, "the old certificate is in certificates")

# The PKCS#10 inside.
if ctype == OID_PKIDATA:
    _, s, e = tlv(content)                  # PKIData
    seqs = children(content, s, e)
    _, rs, re_, _ = seqs[1]                 # reqSequence
    trs = children(content, rs, re_)
    check(len(trs) == 1 and trs[0][0] == 0xA0, "one TaggedRequest tcr [0]")
    parts = children(content, trs[0][1], trs[0][2])
    p10 = content[parts[1][3]:parts[1][2]]
else:
    p10 = content
csr = x509.load_der_x509_csr(p10)
check(csr.is_signature_valid, "the PKCS#10 is signed with its own (new) key")
req, _ = decoder.decode(p10, asn1Spec=rfc2986.CertificationRequest())
renewal = [a for a in req["certificationRequestInfo"]["attributes"] if str(a["type"]) == OID_RENEWAL]
check(len(renewal) == 1 and bytes(renewal[0]["values"][0]) == old_der,
      "szOID_RENEWAL_CERTIFICATE holds the old certificate")
new_pub = csr.public_key()
spki = new_pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
_, s, e = tlv(spki)
bitstr = children(spki, s, e)[1]
new_ski = hashlib.sha1(spki[bitstr[1] + 1:bitstr[2]]).digest()

sis = list(sd["signerInfos"])
old_serial = old.serial_number
if schema >= 2:
    check(len(sis) == 2, "two SignerInfos (%d)" % len(sis))
    first = sis[0]
    sid = first["sid"]
    check(sid.getName() == "subjectKeyIdentifier" and bytes(sid["subjectKeyIdentifier"]) == new_ski,
          "the first SignerInfo names the new key by its subjectKeyIdentifier")
    check(signer_ok(first, content, new_pub), "the first SignerInfo's signature verifies with the new key")
    second = sis[1] if len(sis) > 1 else None
else:
    check(len(sis) >= 1, "a SignerInfo")
    second = sis[0]
which = "second" if schema >= 2 else "first"
check(second is not None and second["sid"].getName() == "issuerAndSerialNumber" and
      int(second["sid"]["issuerAndSerialNumber"]["serialNumber"]) == old_serial,
      "the %s SignerInfo names the old certificate (issuer and serial)" % which)
check(second is not None and signer_ok(second, content, old.public_key()),
      "the %s SignerInfo's signature verifies with the old certificate's key" % which)
sys.exit(1 if failed else 0)
