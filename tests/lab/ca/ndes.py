#!/usr/bin/python3
# The lab's NDES (Network Device Enrollment Service): an SCEP server
# (RFC 8894) on ndes.corp.test (127.0.0.17) that behaves as Microsoft's NDES
# does in front of AD CS.  Written from RFC 8894 and NDES's documented
# behaviour, independently of the project's client.
#
#   ndes.py serve LAB      run it (inside the lab netns; labctl scep up)
#   ndes.py log LAB        print its transaction log (JSON lines)
#
# - HTTPS (443, certificate from CORP-CA1) and plain HTTP (80), on NDES's
#   paths: /certsrv/mscep/mscep.dll (also .../mscep.dll/pkiclient.exe) and
#   the admin page /certsrv/mscep_admin/ (HTTP Negotiate, Kerberos service
#   HTTP/ndes.corp.test from LAB/ndes.keytab).
# - Separate RA certificates, as NDES setup enrolls them: a signing one
#   (digitalSignature; template "Exchange Enrollment Agent (Offline
#   request)") that signs every CertRep, and an encryption one
#   (keyEncipherment; template "CEP Encryption") that requests must be
#   encrypted to.  GetCACert returns both and the CA certificate.
# - Single-use challenge passwords from the admin page, valid 60 minutes
#   by default (NDES: KB 959193); used, expired and unknown ones are
#   refused with failInfo badRequest, as NDES does (its event log, here
#   the transaction log, says which).
# - Issuance through the lab CA's own rules (policy.CA: evaluate and issue,
#   the request table ca.db of CORP-CA1), as the NDES service account
#   (Administrator: a Domain Admin, as NDES service accounts are given
#   Enroll on the NDES templates) with a configurable template; a template
#   with PEND_ALL_REQUESTS leaves the request pending until
#   `labctl approve ID`, and the client's CertPoll then gets the
#   certificate.
# - Renewal: a request signed with a certificate CORP-CA1 issued (still
#   valid, not revoked) needs no challenge (RenewalReq, or PKCSReq signed
#   with the existing certificate, as NDES accepts both).
#
# Levers (files in LAB/ndes, read per request; see tests/lab/README.md):
#   template  the template name (default WebServer)
#   caps      the GetCACaps answer, one keyword a line
#   challenge-validity   seconds (default 3600)
#   tls       "untrusted": the HTTPS certificate is self-signed (chains to
#             nothing the domain trusts)
#   ra-swap   "on": GetCACert's encryption RA certificate is the signing one
#             (the certificate clients encrypt to cannot decrypt: NDES's
#             "illegal size of payload")

import base64
import datetime
import hashlib
import http.server
import json
import logging
import os
import secrets
import socket
import sqlite3
import ssl
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

from cryptography import x509  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

import der  # noqa: E402
import policy  # noqa: E402
from policy import Deny  # noqa: E402
from store import Store  # noqa: E402

policy.configure("ca1")

NDES_ADDR = "127.0.0.17"
NDES_HOST = "ndes.corp.test"
HTTPS_PORT = 443
HTTP_PORT = 80
SERVICE_ACCOUNT = "Administrator@" + policy.REALM
SCEP_PATHS = ("/certsrv/mscep/mscep.dll", "/certsrv/mscep/mscep.dll/pkiclient.exe")
ADMIN_PATHS = ("/certsrv/mscep_admin", "/certsrv/mscep_admin/")
DEFAULT_CAPS = ["AES", "DES3", "GetNextCACert", "POSTPKIOperation", "Renewal",
                "SHA-1", "SHA-256", "SHA-512"]
DEFAULT_TEMPLATE = "WebServer"

# RFC 8894 3.2.1 attributes (2.16.840.1.113733.1.9.x)
OID_MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
OID_PKI_STATUS = "2.16.840.1.113733.1.9.3"
OID_FAIL_INFO = "2.16.840.1.113733.1.9.4"
OID_SENDER_NONCE = "2.16.840.1.113733.1.9.5"
OID_RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
OID_TRANSACTION_ID = "2.16.840.1.113733.1.9.7"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"
OID_CHALLENGE = "1.2.840.113549.1.9.7"
OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_RSA = "1.2.840.113549.1.1.1"
OID_DES3 = "1.2.840.113549.3.7"
OID_DES = "1.3.14.3.2.7"    # single DES: legacy SCEP's default; NDES (CryptoAPI) still decrypts it
OID_AES_CBC = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24,
               "2.16.840.1.101.3.4.1.42": 32}
DIGESTS = {"1.3.14.3.2.26": (hashes.SHA1, "SHA-1"), "2.16.840.1.101.3.4.2.1": (hashes.SHA256, "SHA-256"),
           "2.16.840.1.101.3.4.2.3": (hashes.SHA512, "SHA-512")}
SIG_OIDS = {"SHA-1": "1.2.840.113549.1.1.5", "SHA-256": "1.2.840.113549.1.1.11",
            "SHA-512": "1.2.840.113549.1.1.13"}

MT_CERTREP, MT_RENEWAL, MT_PKCSREQ, MT_CERTPOLL, MT_GETCERT, MT_GETCRL = 3, 17, 19, 20, 21, 22
SUCCESS, FAILURE, PENDING = 0, 2, 3
BAD_ALG, BAD_MESSAGE_CHECK, BAD_REQUEST, BAD_TIME, BAD_CERT_ID = 0, 1, 2, 3, 4

log = logging.getLogger("ndes")


class ScepFail(Exception):
    """FAILURE with FAILINFO; WHY goes to the transaction log (NDES's event log)."""

    def __init__(self, failinfo, why, event=None):
        super().__init__(why)
        self.failinfo, self.why, self.event = failinfo, why, event


# ------------------------------------------------------------------ PKI
def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CORP"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "US")])


def _write(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def setup_pki(lab, ca):
    """The NDES host's certificates, made once per lab (LAB/ndes): what NDES
    setup enrolls from CORP-CA1 (RA signing, RA encryption), the IIS site's
    TLS certificate, and a self-signed one for the tls lever."""
    d = os.path.join(lab, "ndes")
    os.makedirs(d, exist_ok=True)
    now = datetime.datetime.utcnow() - datetime.timedelta(minutes=10)
    spec = {
        # name: (subject CN, key usage kwargs, EKUs, SAN, self-signed)
        "ra-sign": ("CORP-NDES-MSCEP-RA", dict(digital_signature=True), ["1.3.6.1.4.1.311.20.2.1"], None, False),
        "ra-encrypt": ("CORP-NDES-MSCEP-RA", dict(key_encipherment=True), ["1.3.6.1.4.1.311.20.2.1"], None, False),
        "tls": (NDES_HOST, dict(digital_signature=True, key_encipherment=True),
                [ExtendedKeyUsageOID.SERVER_AUTH.dotted_string], NDES_HOST, False),
        "tls-untrusted": (NDES_HOST, dict(digital_signature=True, key_encipherment=True),
                          [ExtendedKeyUsageOID.SERVER_AUTH.dotted_string], NDES_HOST, True),
    }
    for name, (cn, ku, ekus, san, selfsigned) in spec.items():
        if os.path.exists(os.path.join(d, name + ".pem")):
            continue
        key = rsa.generate_private_key(65537, 2048)
        kus = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=False,
                   crl_sign=False, encipher_only=False, decipher_only=False)
        kus.update(ku)
        issuer = _name(cn) if selfsigned else ca.cert.subject
        b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=730))
             .add_extension(x509.KeyUsage(**kus), critical=True)
             .add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in ekus]), critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        cert = b.sign(key if selfsigned else ca.key, hashes.SHA256())
        _write(os.path.join(d, name + ".key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), 0o600)
        _write(os.path.join(d, name + ".pem"), cert.public_bytes(serialization.Encoding.PEM))
    out = {}
    for name in spec:
        with open(os.path.join(d, name + ".pem"), "rb") as f:
            c = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(d, name + ".key"), "rb") as f:
            k = serialization.load_pem_private_key(f.read(), None)
        out[name] = (c, k)
    return out


def cder(c):
    return c.public_bytes(serialization.Encoding.DER)


def cder_pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


# ------------------------------------------------------------------ state
class State:
    """Challenges and SCEP transactions (sqlite3, LAB/ndes/ndes.db)."""

    def __init__(self, d):
        self.path = os.path.join(d, "ndes.db")
        self.logpath = os.path.join(d, "transactions.log")
        self.lock = threading.Lock()
        with self.db() as c:
            c.execute("CREATE TABLE IF NOT EXISTS challenge (pw TEXT PRIMARY KEY, user TEXT, "
                      "created REAL, used REAL)")
            c.execute("CREATE TABLE IF NOT EXISTS txn (tid TEXT PRIMARY KEY, rid INTEGER, "
                      "template TEXT, signer BLOB)")

    def db(self):
        c = sqlite3.connect(self.path, timeout=10)
        c.row_factory = sqlite3.Row
        return c

    def new_challenge(self, user):
        pw = secrets.token_hex(8).upper()
        with self.lock, self.db() as c:
            c.execute("INSERT INTO challenge VALUES (?, ?, ?, NULL)", (pw, user, time.time()))
        return pw

    def use_challenge(self, pw, validity):
        """-> None if good (and now used), else why not: unknown, used, expired."""
        with self.lock, self.db() as c:
            r = c.execute("SELECT * FROM challenge WHERE pw = ?", (pw,)).fetchone()
            if r is None:
                return "unknown"
            if r["used"] is not None:
                return "used"
            if time.time() - r["created"] > validity:
                return "expired"
            c.execute("UPDATE challenge SET used = ? WHERE pw = ?", (time.time(), pw))
        return None

    def txn(self, tid):
        with self.db() as c:
            return c.execute("SELECT * FROM txn WHERE tid = ?", (tid,)).fetchone()

    def put_txn(self, tid, rid, template):
        with self.lock, self.db() as c:
            c.execute("INSERT OR REPLACE INTO txn VALUES (?, ?, ?, NULL)", (tid, rid, template))

    def log(self, entry):
        entry = dict(entry, time=time.time())
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        with self.lock, open(self.logpath, "a") as f:
            f.write(line)


# ------------------------------------------------------------------ CMS
def attr_map(signed_attrs_content):
    out = {}
    for t, c, f in der.children(signed_attrs_content):
        a = der.children(c)
        vals = der.children(a[1][1])
        out[der.oid_str(a[0][1])] = vals[0] if vals else None
    return out


def content_info(blob, want, what):
    """The fields of ContentInfo BLOB's content of type WANT, or ScepFail."""
    ci = der.children(der.read_tlv(blob)[1])
    if der.oid_str(ci[0][1]) != want:
        raise ScepFail(BAD_MESSAGE_CHECK, what)
    return der.children(der.children(ci[1][1])[0][1])


def parse_signed(blob, seen_attrs):
    """ContentInfo(SignedData) -> dict(content, certs, signer cert, attrs, digest)."""
    sd = content_info(blob, OID_SIGNED_DATA, "not a SignedData")
    encap = der.children(sd[2][1])
    econtent = b""
    if len(encap) > 1:
        octs = der.children(encap[1][1])
        econtent = b"".join(c for t, c, f in octs) if encap[1][0] == 0xA0 else b""
    idx, certs = 3, []
    while idx < len(sd) and sd[idx][0] in (0xA0, 0xA1):
        if sd[idx][0] == 0xA0:
            for t, c, f in der.children(sd[idx][1]):
                if t == 0x30:
                    certs.append(x509.load_der_x509_certificate(f))
        idx += 1
    sis = der.children(sd[idx][1]) if idx < len(sd) else []
    if len(sis) != 1:
        raise ScepFail(BAD_MESSAGE_CHECK, "%d SignerInfos, SCEP wants one" % len(sis))
    si = der.children(sis[0][1])
    sid = si[1]
    digest_oid = der.oid_str(der.children(si[2][1])[0][1])
    if si[3][0] != 0xA0:
        raise ScepFail(BAD_MESSAGE_CHECK, "SignerInfo without authenticated attributes")
    attrs_content = si[3][1]
    signature = si[5][1]
    signer = None
    for c in certs:
        if sid[0] == 0x30:
            iss = der.children(sid[1])
            if iss[0][2] == c.issuer.public_bytes() and der.int_val(iss[1][1]) == c.serial_number:
                signer = c
        elif sid[0] == 0x80:
            try:
                ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                ski = None
            if ski == sid[1]:
                signer = c
    if signer is None:
        raise ScepFail(BAD_MESSAGE_CHECK, "signer certificate not in the message")
    if digest_oid not in DIGESTS:
        raise ScepFail(BAD_ALG, "digest %s" % digest_oid)
    h = DIGESTS[digest_oid][0]
    attrs = attr_map(attrs_content)
    seen_attrs.update(attrs)    # a FAILURE still answers with the transaction's ID and nonce
    try:
        signer.public_key().verify(signature, der.tlv(0x31, attrs_content), padding.PKCS1v15(), h())
    except (InvalidSignature, TypeError, ValueError):
        raise ScepFail(BAD_MESSAGE_CHECK, "signature does not verify with %s" % signer.subject.rfc4514_string())
    md = attrs.get(OID_MESSAGE_DIGEST)
    dg = hashes.Hash(h())
    dg.update(econtent)
    if md is None or md[1] != dg.finalize():
        raise ScepFail(BAD_MESSAGE_CHECK, "messageDigest does not match the content")
    return dict(content=econtent, certs=certs, signer=signer, attrs=attrs, digest=digest_oid)


def decrypt_enveloped(blob, recipients, caps):
    """EnvelopedData (ContentInfo) -> (plaintext, cipher oid).  RECIPIENTS:
    [(cert, key)] this server can decrypt with."""
    ed = content_info(blob, OID_ENVELOPED_DATA, "pkcsPKIEnvelope is not an EnvelopedData")
    ris = der.children(ed[1][1])
    eci = der.children(ed[2][1])
    for t, c, f in ris:
        ri = der.children(c)
        if ri[1][0] != 0x30:
            continue
        iss = der.children(ri[1][1])
        for cert, key in recipients:
            if iss[0][2] == cert.issuer.public_bytes() and der.int_val(iss[1][1]) == cert.serial_number:
                try:
                    cek = key.decrypt(ri[3][1], padding.PKCS1v15())
                except ValueError:
                    raise ScepFail(BAD_MESSAGE_CHECK, "Integrity check failed, illegal size of payload "
                                   "(key transport does not decrypt)")
                break
        else:
            continue
        break
    else:
        raise ScepFail(BAD_MESSAGE_CHECK, "Integrity check failed, illegal size of payload: the request "
                       "is not encrypted to the RA encryption certificate")
    alg = der.children(eci[1][1])
    aoid = der.oid_str(alg[0][1])
    iv = alg[1][1]
    if aoid == OID_DES3:
        if "DES3" not in caps:
            raise ScepFail(BAD_ALG, "DES3 not offered")
        algo = algorithms.TripleDES(cek)
    elif aoid == OID_DES:
        if len(cek) != 8:
            raise ScepFail(BAD_MESSAGE_CHECK, "illegal size of payload (content key length)")
        algo = algorithms.TripleDES(cek)
    elif aoid in OID_AES_CBC:
        if "AES" not in caps and "SCEPStandard" not in caps:
            raise ScepFail(BAD_ALG, "AES not offered")
        if len(cek) != OID_AES_CBC[aoid]:
            raise ScepFail(BAD_MESSAGE_CHECK, "illegal size of payload (content key length)")
        algo = algorithms.AES(cek)
    else:
        raise ScepFail(BAD_ALG, "content cipher %s" % aoid)
    ct = b""
    if len(eci) > 2:
        ct = eci[2][1] if eci[2][0] == 0x80 else b"".join(c for t, c, f in der.children(eci[2][1]))
    d = Cipher(algo, modes.CBC(iv)).decryptor()
    pt = d.update(ct) + d.finalize()
    n = pt[-1] if pt else 0
    if n < 1 or n > len(iv) or pt[-n:] != bytes([n]) * n:
        raise ScepFail(BAD_MESSAGE_CHECK, "Integrity check failed, illegal size of payload (padding)")
    return pt[:-n], aoid


def envelope(plain, cert, cipher_oid):
    """EnvelopedData to CERT's RSA key, same content cipher as the request."""
    if cipher_oid in (OID_DES3, OID_DES):
        key, bs, algo = os.urandom(24 if cipher_oid == OID_DES3 else 8), 8, algorithms.TripleDES
    else:
        key, bs, algo = os.urandom(OID_AES_CBC[cipher_oid]), 16, algorithms.AES
    iv = os.urandom(bs)
    n = bs - len(plain) % bs
    e = Cipher(algo(key), modes.CBC(iv)).encryptor()
    ct = e.update(plain + bytes([n]) * n) + e.finalize()
    ek = cert.public_key().encrypt(key, padding.PKCS1v15())
    ri = der.seq(der.integer(0), der.seq(cert.issuer.public_bytes(), der.integer(cert.serial_number)),
                 der.seq(der.oid(OID_RSA), der.tlv(0x05, b"")), der.octets(ek))
    eci = der.seq(der.oid(OID_DATA), der.seq(der.oid(cipher_oid), der.octets(iv)), der.tlv(0x80, ct))
    ed = der.seq(der.integer(0), der.set_of(ri), eci)
    return der.seq(der.oid(OID_ENVELOPED_DATA), der.ctx(0, ed))


def certs_only(certs):
    sd = der.seq(der.integer(1), der.set_of(), der.seq(der.oid(OID_DATA)),
                 der.ctx(0, b"".join(cder(c) for c in certs)), der.set_of())
    return der.seq(der.oid(OID_SIGNED_DATA), der.ctx(0, sd))


def printable(s):
    return der.tlv(0x13, s.encode())


def cert_rep(ra_cert, ra_key, digest_oid, tid, recipient_nonce, status, failinfo=None, content=None):
    """CertRep (RFC 8894 3.3.2) signed by the RA signing certificate."""
    if digest_oid not in DIGESTS:
        digest_oid = "2.16.840.1.101.3.4.2.1"
    h, hname = DIGESTS[digest_oid]
    econtent = content or b""
    dg = hashes.Hash(h())
    dg.update(econtent)

    def attr(o, v):
        return der.seq(der.oid(o), der.tlv(0x31, v))
    attrs = [attr(OID_CONTENT_TYPE, der.oid(OID_DATA)),
             attr(OID_SIGNING_TIME, der.tlv(0x17, datetime.datetime.utcnow().strftime("%y%m%d%H%M%SZ").encode())),
             attr(OID_MESSAGE_DIGEST, der.octets(dg.finalize())),
             attr(OID_MESSAGE_TYPE, printable(str(MT_CERTREP))),
             attr(OID_PKI_STATUS, printable(str(status))),
             attr(OID_SENDER_NONCE, der.octets(os.urandom(16)))]
    if tid is not None:
        attrs.append(attr(OID_TRANSACTION_ID, printable(tid)))
    if recipient_nonce is not None:
        attrs.append(attr(OID_RECIPIENT_NONCE, der.octets(recipient_nonce)))
    if failinfo is not None:
        attrs.append(attr(OID_FAIL_INFO, printable(str(failinfo))))
    signed = der.set_of(*attrs)
    sig = ra_key.sign(signed, padding.PKCS1v15(), h())
    si = der.seq(der.integer(1), der.seq(ra_cert.issuer.public_bytes(), der.integer(ra_cert.serial_number)),
                 der.seq(der.oid(digest_oid), der.tlv(0x05, b"")),
                 der.tlv(0xA0, der.read_tlv(signed)[1]),
                 der.seq(der.oid(SIG_OIDS[hname]), der.tlv(0x05, b"")), der.octets(sig))
    encap = der.seq(der.oid(OID_DATA), der.ctx(0, der.octets(econtent))) if content else der.seq(der.oid(OID_DATA))
    sd = der.seq(der.integer(1), der.set_of(der.seq(der.oid(digest_oid), der.tlv(0x05, b""))),
                 encap, der.ctx(0, cder(ra_cert)), der.set_of(si))
    return der.seq(der.oid(OID_SIGNED_DATA), der.ctx(0, sd))


# ------------------------------------------------------------------ the service
class Ndes:
    def __init__(self, lab):
        self.lab = lab
        self.dir = os.path.join(lab, "ndes")
        os.makedirs(self.dir, exist_ok=True)
        self.store = Store(os.path.join(lab, "ca"))
        self.ca = policy.CA(lab, self.store)
        # its own ticket cache for CA1$'s directory access (the CA process has one)
        self.ca.dir.ccache = os.path.join(self.dir, "ca1.ccache")
        self.pki = setup_pki(lab, self.ca)
        self.state = State(self.dir)

    def lever(self, name, default=None):
        try:
            with open(os.path.join(self.dir, name)) as f:
                v = f.read().strip()
                return v if v else default
        except OSError:
            return default

    def caps(self):
        v = self.lever("caps")
        return v.split() if v else list(DEFAULT_CAPS)

    def template(self):
        return self.lever("template", DEFAULT_TEMPLATE)

    def ra_certs(self):
        """-> (signing, encryption) as GetCACert announces them."""
        sign = self.pki["ra-sign"]
        enc = self.pki["ra-sign"] if self.lever("ra-swap") == "on" else self.pki["ra-encrypt"]
        return sign, enc

    def get_ca_cert(self):
        sign, enc = self.ra_certs()
        # the RA certificates, then the CA's chain up to its root (CORP-CA1 is
        # a subordinate CA: a client needs the root to verify the RA's)
        certs = [sign[0]] + ([enc[0]] if enc[0] is not sign[0] else []) + [self.ca.cert, self.ca.root]
        return certs_only(certs)

    # ---- PKIOperation
    def pki_operation(self, blob, method, scheme):
        e = dict(scheme=scheme, method=method, size=len(blob))
        _write(os.path.join(self.dir, "last-request.der"), blob)
        sign_cert, sign_key = self.pki["ra-sign"]
        tid = nonce = None
        digest = "2.16.840.1.101.3.4.2.1"
        seen = {}
        try:
            try:
                m = parse_signed(blob, seen)
            except (der.DERError, IndexError, ValueError) as ex:
                raise ScepFail(BAD_MESSAGE_CHECK, "not a pkiMessage: %s" % ex)
            digest = m["digest"]
            if DIGESTS[digest][1] not in self.caps():
                raise ScepFail(BAD_ALG, "digest %s not offered" % DIGESTS[digest][1])
            a = m["attrs"]
            try:
                tid = a[OID_TRANSACTION_ID][1].decode()
                nonce = a[OID_SENDER_NONCE][1]
                mtype = int(a[OID_MESSAGE_TYPE][1].decode())
            except (KeyError, TypeError, ValueError):
                raise ScepFail(BAD_REQUEST, "transactionID, senderNonce or messageType missing")
            e.update(transaction_id=tid, message_type=mtype, signer=m["signer"].subject.rfc4514_string(),
                     digest=DIGESTS[digest][1])
            # NDES decrypts with its RA encryption key only
            try:
                plain, cipher = decrypt_enveloped(m["content"], [self.pki["ra-encrypt"]], self.caps())
            except (der.DERError, IndexError) as ex:
                raise ScepFail(BAD_MESSAGE_CHECK, "pkcsPKIEnvelope is not DER: %s" % ex)
            e["cipher"] = {OID_DES3: "DES3", OID_DES: "DES"}.get(cipher, "AES")
            if mtype in (MT_PKCSREQ, MT_RENEWAL):
                status, body = self.enroll(plain, m, mtype, tid, e)
            elif mtype == MT_CERTPOLL:
                status, body = self.poll(tid, e)
            elif mtype == MT_GETCERT:
                status, body = self.get_cert(plain, e)
            else:
                raise ScepFail(BAD_REQUEST, "messageType %d not supported" % mtype)
            content = envelope(certs_only(body), m["signer"], cipher) if status == SUCCESS else None
            e.update(status={SUCCESS: "SUCCESS", PENDING: "PENDING"}[status])
            rep = cert_rep(sign_cert, sign_key, digest, tid, nonce, status, content=content)
        except ScepFail as f:
            if tid is None:
                try:
                    tid = seen[OID_TRANSACTION_ID][1].decode()
                    nonce = seen[OID_SENDER_NONCE][1]
                except (KeyError, TypeError, ValueError):
                    pass
            e.update(status="FAILURE", failinfo=f.failinfo, reason=f.why, event=f.event)
            rep = cert_rep(sign_cert, sign_key, digest, tid, nonce, FAILURE, failinfo=f.failinfo)
        self.state.log(e)
        log.info("PKIOperation %s", json.dumps(e, default=str))
        return rep

    def signer_is_ours(self, cert):
        """A certificate CORP-CA1 issued, in its validity, not revoked."""
        if not policy.signed_by(self.ca.cert, cert):
            return False
        now = datetime.datetime.utcnow()
        if not cert.not_valid_before <= now <= cert.not_valid_after:
            raise ScepFail(BAD_TIME, "renewal signed with a certificate outside its validity")
        rec = self.store.get_cert("%x" % cert.serial_number)
        if rec is None:
            return False
        if rec["revoked"]:
            raise ScepFail(BAD_REQUEST, "renewal signed with a revoked certificate")
        return True

    def enroll(self, csr_der, m, mtype, tid, e):
        try:
            csr = x509.load_der_x509_csr(csr_der)
        except ValueError as ex:
            raise ScepFail(BAD_REQUEST, "the envelope does not hold a PKCS#10: %s" % ex)
        if not csr.is_signature_valid:
            raise ScepFail(BAD_MESSAGE_CHECK, "PKCS#10 signature does not verify")
        renewal = self.signer_is_ours(m["signer"])
        if mtype == MT_RENEWAL and not renewal:
            raise ScepFail(BAD_REQUEST, "RenewalReq not signed by a certificate of %s" % policy.CA_NAME)
        if mtype == MT_RENEWAL and "Renewal" not in self.caps():
            raise ScepFail(BAD_REQUEST, "RenewalReq while Renewal is not offered")
        e["renewal"] = renewal
        if renewal:
            e["renewed_serial"] = "%x" % m["signer"].serial_number
        else:
            # the signer is the request's own key (self-signed certificate)
            spki = serialization.PublicFormat.SubjectPublicKeyInfo
            if m["signer"].public_key().public_bytes(serialization.Encoding.DER, spki) != \
                    csr.public_key().public_bytes(serialization.Encoding.DER, spki):
                raise ScepFail(BAD_MESSAGE_CHECK, "PKCSReq not signed with the requested key")
            pw = None
            for aoid, vals in policy.csr_attributes(csr_der):
                if aoid == OID_CHALLENGE and vals:
                    t, c, _, _ = der.read_tlv(vals[0])
                    pw = c.decode(errors="replace")
            if pw is None:
                raise ScepFail(BAD_REQUEST, "no challenge password in the request", event=29)
            why = self.state.use_challenge(pw, float(self.lever("challenge-validity", "3600")))
            if why:
                e["challenge"] = why
                raise ScepFail(BAD_REQUEST, {
                    "unknown": "The password in the certificate request cannot be verified: it is not "
                               "one this service gave out",
                    "used": "The password in the certificate request cannot be verified. It may have "
                            "been used already. Obtain a new password to submit with this request.",
                    "expired": "The password in the certificate request has expired. Obtain a new "
                               "password to submit with this request."}[why], event=29)
            e["challenge"] = "ok"
        tmpl_name = self.template()
        e["template"] = tmpl_name
        # every PKCSReq/RenewalReq is a new CA request (a transactionID made
        # from the key, RFC 8894 3.2.1.1, repeats when the key is kept);
        # CertPoll asks after the latest one of its transactionID
        p = policy.parse_request(csr_der, 1)
        acct = self.ca.dir.account(SERVICE_ACCOUNT)
        rid = self.store.new_request(acct["principal"], acct, None, p.kind, csr_der)
        e["request_id"] = rid
        try:
            tmpl, old_cert, pend = self.ca.evaluate(p, {"certificatetemplate": tmpl_name}, acct)
            self.store.update_request(rid, template=tmpl.cn, request_type="scep")
            self.state.put_txn(tid, rid, tmpl.cn)
            if pend:
                self.store.update_request(rid, status="pending", hresult=0, message="Taken Under Submission")
                return PENDING, None
            cert, chain, serial = self.ca.issue(p, tmpl, acct, old_cert, rid)
        except Deny as d:
            self.store.update_request(rid, status="failed", hresult=d.hresult, message=d.message)
            e.update(hresult="0x%08x" % d.hresult, ca_message=d.message, detail=d.detail)
            raise ScepFail(BAD_REQUEST, "the CA denied the request: %s" % d.message)
        self.store.update_request(rid, status="issued", hresult=0, message="Issued", serial=serial, cert=cert)
        e["serial"] = serial
        return SUCCESS, [x509.load_der_x509_certificate(cert)]

    def poll(self, tid, e):
        t = self.state.txn(tid)
        if t is None:
            raise ScepFail(BAD_CERT_ID, "no transaction %s" % tid)
        rid = t["rid"]
        e["request_id"] = rid
        r = self.store.get_request(rid)
        st = r["status"]
        e["ca_status"] = st
        if st == "pending":
            return PENDING, None
        if st == "approved":
            try:
                p = policy.parse_request(r["request"], 1)
                tmpls, _ = self.ca.dir.templates([r["template"]])
                cert, chain, serial = self.ca.issue(p, tmpls[0], r["account"], None, rid)
            except Deny as d:
                self.store.update_request(rid, status="failed", hresult=d.hresult, message=d.message)
                raise ScepFail(BAD_REQUEST, "the CA denied the request: %s" % d.message)
            self.store.update_request(rid, status="issued", hresult=0, message="Issued", serial=serial, cert=cert)
            e["serial"] = serial
            return SUCCESS, [x509.load_der_x509_certificate(cert)]
        if st == "issued":
            e["serial"] = r["serial"]
            return SUCCESS, [x509.load_der_x509_certificate(r["cert"])]
        raise ScepFail(BAD_REQUEST, "request %d is %s: %s" % (rid, st, r["message"]))

    def get_cert(self, plain, e):
        ias = der.children(der.read_tlv(plain)[1])
        serial = "%x" % der.int_val(ias[1][1])
        rec = self.store.get_cert(serial)
        if rec is None:
            raise ScepFail(BAD_CERT_ID, "no certificate %s" % serial)
        return SUCCESS, [x509.load_der_x509_certificate(rec["cert"])]

    # ---- admin page
    def admin_page(self, user):
        """-> (status, html).  NDES gives a challenge to a user with Enroll on
        its template (or a local administrator)."""
        try:
            acct = self.ca.dir.account(user)
            tmpls, _ = self.ca.dir.templates([self.template()])
        except Deny as d:
            return 403, "<HTML><Body>%s</Body></HTML>" % d.message
        allowed, _ = policy.can_enroll(tmpls[0].sd, set(acct["all_sids"])) if tmpls else (False, None)
        if not allowed:
            self.state.log(dict(admin_page=user, granted=False))
            return 403, ("<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-16\">"
                         "<Title>Network Device Enrollment Service</Title></Head><Body BgColor=#FFFFFF>"
                         "<Font ID=locPageTitleFont Face=\"Arial\" Size=-1 Color=#000000>"
                         "<P> You do not have sufficient permission to enroll with SCEP. "
                         "Please contact your system administrator. </Font></Body></HTML>")
        pw = self.state.new_challenge(user)
        minutes = int(float(self.lever("challenge-validity", "3600")) // 60)
        thumb = " ".join("%02X" % b for b in hashlib.sha1(cder(self.ca.cert)).digest())
        self.state.log(dict(admin_page=user, granted=True))
        return 200, (
            "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-16\">"
            "<Title>Network Device Enrollment Service</Title></Head>\r\n"
            "<Body BgColor=#FFFFFF><Font ID=locPageTitleFont Face=\"Arial\" Size=-1 Color=#000000>"
            "<P> Network Device Enrollment Service allows you to obtain certificates for routers or other "
            "network devices using the Simple Certificate Enrollment Protocol (SCEP). \r\n"
            "<P> To complete certificate enrollment for your network device you will need the following "
            "information: \r\n"
            "<P> The thumbprint (hash value) for the CA certificate is: <B> %s </B> \r\n"
            "<P> The enrollment challenge password is: <B> %s </B> \r\n"
            "<P> This password can be used only once and will expire within %d minutes. \r\n"
            "<P> Each enrollment requires a new challenge password. You can refresh this web page to "
            "obtain a new challenge password. </Font></Body></HTML>" % (thumb, pw, minutes))


# ------------------------------------------------------------------ HTTP
def handler(ndes, scheme):
    import gssapi

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def send(self, code, ctype, body, extra=()):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def not_found(self):
            self.send(404, "text/html", "<HTML><Body>404 - File or directory not found.</Body></HTML>")

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(u.path)
            q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
            if path.lower() in ADMIN_PATHS:
                return self.admin()
            if path.lower() not in SCEP_PATHS:
                return self.not_found()
            op = q.get("operation", "")
            if op == "GetCACaps":
                return self.send(200, "text/plain", "\n".join(ndes.caps()) + "\n")
            if op == "GetCACert":
                return self.send(200, "application/x-x509-ca-ra-cert", ndes.get_ca_cert())
            if op == "GetNextCACert" and "GetNextCACert" in ndes.caps():
                # no rollover pending: NDES answers with the current chain
                return self.send(200, "application/x-x509-next-ca-cert", ndes.get_ca_cert())
            if op == "PKIOperation":
                try:
                    msg = base64.b64decode(q.get("message", ""), validate=False)
                except ValueError:
                    msg = b""
                return self.send(200, "application/x-pki-message", ndes.pki_operation(msg, "GET", scheme))
            self.send(400, "text/html", "<HTML><Body>unknown operation</Body></HTML>")

        do_HEAD = do_GET

        def do_POST(self):
            u = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(u.path)
            q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if 0 < n < 1 << 20 else b""
            if path.lower() not in SCEP_PATHS or q.get("operation") != "PKIOperation":
                return self.not_found()
            if "POSTPKIOperation" not in ndes.caps() and "SCEPStandard" not in ndes.caps():
                return self.send(405, "text/html", "<HTML><Body>405 - POST not offered</Body></HTML>")
            self.send(200, "application/x-pki-message", ndes.pki_operation(body, "POST", scheme))

        def admin(self):
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Negotiate "):
                return self.send(401, "text/html", "<HTML><Body>401 - Unauthorized: Access is denied due to "
                                 "invalid credentials.</Body></HTML>", [("WWW-Authenticate", "Negotiate")])
            try:
                ctx = gssapi.SecurityContext(usage="accept", creds=ndes.http_creds)
                out = ctx.step(base64.b64decode(auth[10:].strip()))
                if not ctx.complete:
                    raise gssapi.exceptions.GSSError(0, 0)
                user = str(ctx.initiator_name)
            except Exception as ex:  # noqa: BLE001 - any GSS failure is a 401
                log.info("admin page: Negotiate failed: %s", ex)
                return self.send(401, "text/html", "<HTML><Body>401 - Unauthorized: Access is denied due "
                                 "to invalid credentials.</Body></HTML>", [("WWW-Authenticate", "Negotiate")])
            code, html = ndes.admin_page(user)
            extra = [("WWW-Authenticate", "Negotiate " + base64.b64encode(out).decode())] if out else []
            self.send(code, "text/html", html, extra)

        def log_message(self, fmt, *args):
            log.info("%s %s: %s", scheme, self.client_address[0], fmt % args)
    return H


def serve(lab):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ["KRB5_KTNAME"] = "FILE:" + os.path.join(lab, "ndes.keytab")
    import gssapi
    ndes = Ndes(lab)
    ndes.http_creds = gssapi.Credentials(usage="accept", name=gssapi.Name(
        "HTTP@" + NDES_HOST, gssapi.NameType.hostbased_service))
    d = ndes.dir

    def ctx_for(name):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.load_cert_chain(os.path.join(d, name + "-chain.pem"), os.path.join(d, name + ".key"))
        return c
    # the chain the IIS site sends: its certificate and CORP-CA1's
    with open(os.path.join(d, "tls-chain.pem"), "wb") as f:
        f.write(cder_pem(ndes.pki["tls"][0]) + cder_pem(ndes.ca.cert))
    with open(os.path.join(d, "tls-untrusted-chain.pem"), "wb") as f:
        f.write(cder_pem(ndes.pki["tls-untrusted"][0]))
    trusted, untrusted = ctx_for("tls"), ctx_for("tls-untrusted")

    def sni(sock, name, ctx):
        sock.context = untrusted if ndes.lever("tls") == "untrusted" else trusted
    trusted.sni_callback = sni

    class TLSServer(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):
            s, a = self.socket.accept()
            s.settimeout(30)
            return trusted.wrap_socket(s, server_side=True, do_handshake_on_connect=False), a

        def finish_request(self, request, client_address):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as ex:
                log.info("https %s: TLS handshake failed: %s", client_address[0], ex)
                return
            super().finish_request(request, client_address)

    https = TLSServer((NDES_ADDR, HTTPS_PORT), handler(ndes, "https"))
    http_ = http.server.ThreadingHTTPServer((NDES_ADDR, HTTP_PORT), handler(ndes, "http"))
    http_.daemon_threads = True
    for s in (https, http_):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(os.path.join(d, "ndes.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    log.info("NDES on %s (%s): https %d, http %d, template %s", NDES_HOST, NDES_ADDR, HTTPS_PORT,
             HTTP_PORT, ndes.template())
    threading.Event().wait()


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: ndes.py serve|log LAB")
    cmd, lab = sys.argv[1], os.path.abspath(sys.argv[2])
    if cmd == "serve":
        serve(lab)
    elif cmd == "log":
        try:
            with open(os.path.join(lab, "ndes", "transactions.log")) as f:
                sys.stdout.write(f.read())
        except OSError:
            pass
    else:
        sys.exit("ndes.py: unknown command %s" % cmd)


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
