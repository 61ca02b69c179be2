# Key archival for the lab CA, from the specs (written independently of the
# client):
#  - the CA exchange certificate (MS-WCCE 1.3.2.1, 3.1.1.4.3.6; the CA
#    Exchange template: EKU szOID_KP_CA_EXCHANGE 1.3.6.1.4.1.311.21.5,
#    keyEncipherment, one week, issued by the CA itself, as AD CS renews it
#    weekly), served as the WSTEP key exchange token (MS-WSTEP 3.1.4.2.2);
#  - an archival request's szOID_ARCHIVED_KEY_ATTR EnvelopedData decrypted
#    with the exchange key and checked as MS-WCCE 3.2.2.6.2.1.2.2 says: the
#    hash in szOID_ENCRYPTED_KEY_HASH, the recipient is the exchange
#    certificate, the private key (a PRIVATEKEYBLOB, 2.2.2.9.1) matches the
#    request's public key.  Failures are CERTSRV_E_BAD_REQUEST_KEY_ARCHIVAL
#    (0x8009400C, winerror.h: "The request is incorrectly formatted, or the
#    encrypted private key is invalid").
import datetime
import os
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding as sympad, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import der

OID_KP_CA_EXCHANGE = "1.3.6.1.4.1.311.21.5"
OID_ARCHIVED_KEY_ATTR = "1.3.6.1.4.1.311.21.13"
OID_ENCRYPTED_KEY_HASH = "1.3.6.1.4.1.311.21.21"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_RSAES_OAEP = "1.2.840.113549.1.1.7"
CERTSRV_E_BAD_REQUEST_KEY_ARCHIVAL = 0x8009400C
EXCHANGE_DAYS = 7
CIPHERS = {  # content encryption algorithms (CBC, IV as the parameter)
    "2.16.840.1.101.3.4.1.2": (algorithms.AES, 16),   # aes128-CBC
    "2.16.840.1.101.3.4.1.22": (algorithms.AES, 24),  # aes192-CBC
    "2.16.840.1.101.3.4.1.42": (algorithms.AES, 32),  # aes256-CBC
    "1.2.840.113549.3.7": (algorithms.TripleDES, 24),  # des-ede3-cbc (Windows' default, MS-WCCE <51>)
}


class ArchivalError(Exception):
    pass


def _bmp(s):
    return der.tlv(0x1E, s.encode("utf-16-be"))


def exchange(ca_key, ca_cert, ca_name, cadir, template_info=None):
    """-> (key, cert): the current CA exchange pair from CADIR, made anew
    (issued by the CA) when absent or within a day of expiry.
    TEMPLATE_INFO() -> (OID, major, minor) of the CAExchange template, or
    None; called only when a certificate is made."""
    kp, cp = os.path.join(cadir, "xchg.key"), os.path.join(cadir, "xchg.pem")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    try:
        with open(kp, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        with open(cp, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        if cert.not_valid_after - now > datetime.timedelta(days=1) and \
                cert.issuer == ca_cert.subject:
            return key, cert
    except (OSError, ValueError):
        pass
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    eku = x509.ObjectIdentifier(OID_KP_CA_EXCHANGE)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, ca_name + "-Xchg")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=10))
            .not_valid_after(now + datetime.timedelta(days=EXCHANGE_DAYS))
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.KeyUsage(False, False, True, False, False, False, False, False, False),
                           critical=True)
            .add_extension(_template_ext(template_info() if template_info else None), critical=False)
            # szOID_APPLICATION_CERT_POLICIES: the CA exchange EKU, as
            # Windows' exchange certificates carry it (MS-WSTEP 4.1.2.2)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.21.10"),
                                                      der.seq(der.seq(der.oid(OID_KP_CA_EXCHANGE)))),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    tmp = kp + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.replace(tmp, kp)
    with open(cp + ".tmp", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(cp + ".tmp", cp)
    return key, cert


def _template_ext(info):
    """The CA Exchange template (schema 2) in szOID_CERTIFICATE_TEMPLATE
    {OID, major, minor} (MS-WCCE 2.2.2.7.7.2), as in Windows' exchange
    certificate (MS-WSTEP 4.1.2.2: 1.3.6.1.4.1.311.21.7, version 106.0);
    without the template, its name (szOID_ENROLL_CERTTYPE_EXTENSION)."""
    if info is None:
        return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2"), _bmp("CAExchange"))
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.21.7"),
                                      der.seq(der.oid(info[0]), der.integer(info[1]), der.integer(info[2])))


def unsigned_attr(unsigned, oid):
    """The first value (full TLV) of attribute OID in a SignerInfo's
    unsignedAttrs ([1] IMPLICIT SET OF Attribute, as (tag, content, full)),
    or None."""
    if unsigned is None:
        return None
    for t, c, f in der.children(unsigned[1]):
        a = der.children(c)
        if der.oid_str(a[0][1]) == oid:
            vals = der.children(a[1][1])
            if len(vals) != 1:
                raise ArchivalError("%s with %d values" % (oid, len(vals)))
            return vals[0][2]
    return None


def _blob_key(blob):
    """PRIVATEKEYBLOB (MS-WCCE 2.2.2.9.1) -> RSA private key."""
    if len(blob) < 20:
        raise ArchivalError("private key BLOB too short")
    btype, ver, _res, alg, magic, bits, e = struct.unpack("<BBHIIII", blob[:20])
    if btype != 7 or ver != 2 or alg != 0xA400 or magic != 0x32415352:
        raise ArchivalError("not an RSA2 PRIVATEKEYBLOB (type %d version %d alg 0x%x magic 0x%x)" %
                            (btype, ver, alg, magic))
    n8, n16 = (bits + 7) // 8, (bits + 15) // 16
    if len(blob) != 20 + n8 * 2 + n16 * 5:
        raise ArchivalError("PRIVATEKEYBLOB of %d bytes for a %d-bit key" % (len(blob), bits))
    off = 20
    vals = []
    for size in (n8, n16, n16, n16, n16, n16, n8):
        vals.append(int.from_bytes(blob[off:off + size], "little"))
        off += size
    n, p, q, dp, dq, iq, d = vals
    if p * q != n:
        raise ArchivalError("PRIVATEKEYBLOB: p*q is not the modulus")
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, iq, rsa.RSAPublicNumbers(e, n)).private_key()


def decrypt(enveloped, xkey, xcert):
    """ContentInfo{id-envelopedData} (RFC 5652 6) to the exchange
    certificate -> the decrypted content."""
    ci = der.children(der.read_tlv(enveloped)[1])
    if len(ci) != 2 or der.oid_str(ci[0][1]) != OID_ENVELOPED_DATA:
        raise ArchivalError("szOID_ARCHIVED_KEY_ATTR is not an id-envelopedData ContentInfo")
    env = der.children(der.children(ci[1][1])[0][1])
    i = 1
    if env[i][0] == 0xA0:  # originatorInfo
        i += 1
    recips, eci = der.children(env[i][1]), der.children(env[i + 1][1])
    want_serial = xcert.serial_number
    want_issuer = xcert.issuer.public_bytes()
    want_ski = x509.SubjectKeyIdentifier.from_public_key(xcert.public_key()).digest
    cek = None
    for t, c, f in recips:
        if t != 0x30:
            continue  # only KeyTransRecipientInfo can name an RSA certificate
        ktri = der.children(c)
        rid_t, rid_c, rid_f = ktri[1]
        if rid_t == 0x30:
            ias = der.children(rid_c)
            match = ias[0][2] == want_issuer and der.int_val(ias[1][1]) == want_serial
        else:
            match = rid_t == 0x80 and rid_c == want_ski
        if not match:
            continue  # "other certificates in this collection SHOULD be ignored"
        alg = der.oid_str(der.children(ktri[2][1])[0][1])
        if alg == OID_RSA_ENCRYPTION:
            pad = padding.PKCS1v15()
        elif alg == OID_RSAES_OAEP:
            pad = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
        else:
            raise ArchivalError("key transport algorithm %s" % alg)
        try:
            cek = xkey.decrypt(ktri[3][1], pad)
        except ValueError:
            raise ArchivalError("the content key does not decrypt with the exchange key")
        break
    if cek is None:
        raise ArchivalError("no recipient is the CA exchange certificate (serial %x)" % want_serial)
    calg = der.children(eci[1][1])
    oid = der.oid_str(calg[0][1])
    if oid not in CIPHERS:
        raise ArchivalError("content encryption algorithm %s" % oid)
    algo, klen = CIPHERS[oid]
    if len(cek) != klen or len(calg) < 2 or calg[1][0] != 0x04:
        raise ArchivalError("content key or IV of the wrong size for %s" % oid)
    if len(eci) < 3 or eci[2][0] not in (0x80, 0xA0):
        raise ArchivalError("no encryptedContent")
    data = eci[2][1] if eci[2][0] == 0x80 else b"".join(x[1] for x in der.children(eci[2][1]))
    dec = Cipher(algo(cek), modes.CBC(calg[1][1])).decryptor()
    plain = dec.update(data) + dec.finalize()
    unpad = sympad.PKCS7(algo.block_size).unpadder()
    try:
        return unpad.update(plain) + unpad.finalize()
    except ValueError:
        raise ArchivalError("bad padding: the content does not decrypt")


def check(enveloped, key_hash, hash_alg, csr_pub, xkey, xcert):
    """MS-WCCE 3.2.2.6.2.1.2.2 -> the archived private key.  Raises
    ArchivalError."""
    if key_hash is None:
        raise ArchivalError("no szOID_ENCRYPTED_KEY_HASH control attribute")
    ok = False
    for h in (hash_alg, hashes.SHA1):  # the request's hash, or SHA-1 (<128>)
        if h is None:
            continue
        d = hashes.Hash(h())
        d.update(enveloped)
        ok = ok or d.finalize() == key_hash
    if not ok:
        raise ArchivalError("szOID_ENCRYPTED_KEY_HASH does not match the archived key")
    key = _blob_key(decrypt(enveloped, xkey, xcert))
    if not isinstance(csr_pub, rsa.RSAPublicKey) or csr_pub.public_numbers() != key.public_key().public_numbers():
        raise ArchivalError("the archived private key is not the request's key")
    return key


def keep(cadir, rid, key):
    """The archived key of request RID, in CADIR/archived/RID.pem (0600)."""
    d = os.path.join(cadir, "archived")
    os.makedirs(d, mode=0o700, exist_ok=True)
    path = os.path.join(d, "%d.pem" % rid)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return path
