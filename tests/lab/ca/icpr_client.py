#!/usr/bin/python3
# icpr_client.py: a small third-party MS-ICPR client built on impacket
# (DCE/RPC over TCP via the endpoint mapper, Kerberos with SPNEGO, packet
# privacy).  It proves the lab CA against an implementation other than the
# project's C client.  impacket 0.10 has no icpr module, so CertServerRequest
# is declared here with impacket's NDR classes.
#
#   icpr_client.py --template LabUser [--template-oid OID --template-version 100.0]
#                  [--csr FILE | --key-out FILE] [--cert-out FILE] [--ca CORP-CA1]
#   icpr_client.py --retrieve ID
#   icpr_client.py --template LabUser --renew-cert OLD.pem --renew-key OLD.key
#                  [--renew-form auto|cms|cmc|...] [--renew-same-key]
#   wrong forms for the CA's rules: --smime no, --key-size 1024, --key-type ec,
#   --renew-form cmc-old-only|cmc-new-only|cmc-swapped|cms-new-key|no-old-cert,
#   --policy OID, --ra-cert/--ra-key (see --help)
#   (machine: --keytab $AE_LAB_DIR/ws1.keytab --principal 'WS1$')
#
# Credentials: the ccache in KRB5CCNAME, or --keytab/--principal (kinit into
# a temporary ccache).  Prints one JSON object: disposition, request_id,
# message, hresult, return_value, cert_pem (and fault on an RPC fault).

import argparse
import json
import os
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.dtypes import DWORD, LPWSTR, NULL, PBYTE, ULONG
from impacket.dcerpc.v5.ndr import NDRCALL, NDRSTRUCT
from impacket.dcerpc.v5.rpcrt import (DCERPCException, RPC_C_AUTHN_GSS_NEGOTIATE,
                                      RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
from impacket.krb5.ccache import CCache
from impacket.uuid import uuidtup_to_bin

MSRPC_UUID_ICPR = uuidtup_to_bin(("91ae6020-9e3c-11cf-8d7c-00aa00c091be", "0.0"))


class DCERPCSessionError(DCERPCException):
    pass


class CERTTRANSBLOB(NDRSTRUCT):
    structure = (("cb", ULONG), ("pb", PBYTE))


class CertServerRequest(NDRCALL):
    opnum = 0
    structure = (
        ("dwFlags", DWORD),
        ("pwszAuthority", LPWSTR),
        ("pdwRequestId", DWORD),
        ("pctbAttribs", CERTTRANSBLOB),
        ("pctbRequest", CERTTRANSBLOB),
    )


class CertServerRequestResponse(NDRCALL):
    structure = (
        ("pdwRequestId", DWORD),
        ("pdwDisposition", ULONG),
        ("pctbCert", CERTTRANSBLOB),
        ("pctbEncodedCert", CERTTRANSBLOB),
        ("pctbDispositionMessage", CERTTRANSBLOB),
        ("ErrorCode", ULONG),
    )


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_oid(dotted):
    arcs = [int(x) for x in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        enc = [a & 0x7F]
        a >>= 7
        while a:
            enc.append(0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(reversed(enc))
    return b"\x06" + der_len(len(body)) + body


def der_int(v):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")
    return b"\x02" + der_len(len(b)) + b


def der_tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


OID_SMIME_CAPS = "1.2.840.113549.1.9.15"
OID_NO_SIGNATURE = "1.3.6.1.5.5.7.6.2"
TEMPLATES_DN = "CN=Certificate Templates,CN=Public Key Services,CN=Services,CN=Configuration,DC=corp,DC=test"


def der_seq(*items):
    return der_tlv(0x30, b"".join(items))


def der_set(*items):
    return der_tlv(0x31, b"".join(sorted(items)))


def template_info(args):
    """msPKI-Enrollment-Flag and schema version of --template, read from AD
    with the caller's Kerberos ticket (what a Windows client reads from its
    policy cache).  {} if unknown."""
    if not args.template:
        return {}
    r = subprocess.run(["ldapsearch", "-Q", "-LLL", "-Y", "GSSAPI", "-H", "ldap://%s" % args.kdc,
                        "-b", TEMPLATES_DN, "(cn=%s)" % args.template,
                        "msPKI-Enrollment-Flag", "msPKI-Template-Schema-Version"],
                       capture_output=True, text=True)
    info = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(": ")
        if k in ("msPKI-Enrollment-Flag", "msPKI-Template-Schema-Version"):
            info[k] = int(v) & 0xFFFFFFFF
    return info


def new_key(args):
    if args.key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=args.key_size)


def sign_alg(key):
    """-> (AlgorithmIdentifier DER of the signature, sign(data) function)"""
    from cryptography.hazmat.primitives.asymmetric import padding
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return der_seq(der_oid("1.2.840.10045.4.3.2")), lambda d: key.sign(d, ec.ECDSA(hashes.SHA256()))
    return (der_seq(der_oid("1.2.840.113549.1.1.11"), b"\x05\x00"),
            lambda d: key.sign(d, padding.PKCS1v15(), hashes.SHA256()))


def smime_caps():
    """S/MIME capabilities (RFC 4262) as Windows requests them: AES-256,
    AES-128, 3DES (MS-WCCE 3.1.2.4.2.2.2.7)."""
    return der_seq(der_seq(der_oid("2.16.840.1.101.3.4.1.42")),
                   der_seq(der_oid("2.16.840.1.101.3.4.1.2")),
                   der_seq(der_oid("1.2.840.113549.3.7")))


def build_csr(args, key, old=None, info=None):
    """PKCS#10 (DER) as a Windows client builds it: template extension,
    S/MIME capabilities when the template has INCLUDE_SYMMETRIC_ALGORITHMS
    (or --smime yes), certificate policies (--policy), renewal attribute."""
    info = info or {}
    exts = []
    if args.template_oid:
        major, _, minor = (args.template_version or "0.0").partition(".")
        body = der_oid(args.template_oid) + der_int(int(major)) + der_int(int(minor or 0))
        exts.append(der_seq(der_oid("1.3.6.1.4.1.311.21.7"), der_tlv(0x04, der_seq(body))))
    if args.template_name_ext:
        v = args.template_name_ext.encode("utf-16-be")
        exts.append(der_seq(der_oid("1.3.6.1.4.1.311.20.2"), der_tlv(0x04, der_tlv(0x1E, v))))
    smime = args.smime == "yes" or (args.smime == "auto" and info.get("msPKI-Enrollment-Flag", 0) & 1)
    if smime:
        exts.append(der_seq(der_oid(OID_SMIME_CAPS), der_tlv(0x04, smime_caps())))
    if args.policy:
        exts.append(der_seq(der_oid("2.5.29.32"), der_tlv(0x04, der_seq(
            *[der_seq(der_oid(o)) for o in args.policy]))))
    attrs = []
    if old is not None:
        attrs.append(der_seq(der_oid("1.3.6.1.4.1.311.13.1"),
                             der_set(old.public_bytes(serialization.Encoding.DER))))
    if exts:
        attrs.append(der_seq(der_oid("1.2.840.113549.1.9.14"), der_set(der_seq(*exts))))
    subject = (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, args.subject_cn)]) if args.subject_cn
               else x509.Name([])).public_bytes()
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    cri = der_seq(der_int(0), subject, spki, der_tlv(0xA0, b"".join(sorted(attrs))))
    alg, sign = sign_alg(key)
    return der_seq(cri, alg, der_tlv(0x03, b"\x00" + sign(cri)))


def signer_info(content_type, content, key=None, cert=None, ski=None, no_signature=False):
    """CMS SignerInfo over content with contentType/messageDigest signed
    attributes; sid = issuerAndSerialNumber of cert, or [0] ski."""
    d = hashes.Hash(hashes.SHA256())
    d.update(content)
    md = d.finalize()
    sattrs = [der_seq(der_oid("1.2.840.113549.1.9.3"), der_set(der_oid(content_type))),
              der_seq(der_oid("1.2.840.113549.1.9.4"), der_set(der_tlv(0x04, md)))]
    sset = der_set(*sattrs)
    if ski is not None:
        version, sid = 3, der_tlv(0x80, ski)
    else:
        version, sid = 1, der_seq(cert.issuer.public_bytes(), der_int(cert.serial_number))
    if no_signature:
        h = hashes.Hash(hashes.SHA256())
        h.update(sset)
        alg, sig = der_seq(der_oid(OID_NO_SIGNATURE)), h.finalize()
    else:
        alg, sign = sign_alg(key)
        sig = sign(sset)
    return der_seq(der_int(version), sid, der_seq(der_oid("2.16.840.1.101.3.4.2.1")),
                   b"\xa0" + sset[1:],
                   alg, der_tlv(0x04, sig))


def signed_data(content_type, content, certs, signers):
    """ContentInfo(SignedData) around content, signers built by signer_info."""
    sd = der_seq(der_int(3), der_set(der_seq(der_oid("2.16.840.1.101.3.4.2.1"))),
                 der_seq(der_oid(content_type), der_tlv(0xA0, der_tlv(0x04, content))),
                 *([der_tlv(0xA0, b"".join(c.public_bytes(serialization.Encoding.DER) for c in certs))]
                   if certs else []),
                 der_tlv(0x31, b"".join(signers)))
    return der_seq(der_oid("1.2.840.113549.1.7.2"), der_tlv(0xA0, sd))


def pkidata(csr):
    """CMC PKIData with the one TaggedRequest (bodyPartID 1)."""
    return der_seq(der_seq(), der_seq(der_tlv(0xA0, der_int(1) + csr)), der_seq(), der_seq())


def write_key(args, key):
    if args.key_out:
        with open(args.key_out, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))


def ra_signers(args, ctype, content):
    out, certs = [], []
    for c, k in zip(args.ra_cert, args.ra_key):
        cert = x509.load_pem_x509_certificate(open(c, "rb").read())
        key = serialization.load_pem_private_key(open(k, "rb").read(), None)
        out.append(signer_info(ctype, content, key=key, cert=cert))
        certs.append(cert)
    return out, certs


def make_csr(args, info):
    """New request: PKCS#10 (--format pkcs10, the default) or CMC signed
    with the new key (--format cmc, what Windows sends for schema 2+), plus
    RA signatures (--ra-cert/--ra-key)."""
    key = new_key(args)
    csr = build_csr(args, key, info=info)
    write_key(args, key)
    if args.format == "pkcs10" and not args.ra_cert:
        return csr
    ctype = "1.3.6.1.5.5.7.12.2"
    content = pkidata(csr)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    signers = [signer_info(ctype, content, key=key, ski=ski)]
    ras, certs = ra_signers(args, ctype, content)
    return signed_data(ctype, content, certs, signers + ras)


def make_renewal(args, info):
    """Renewal (MS-WCCE 3.1.1.4.3.2): a PKCS#10 carrying szOID_RENEWAL_CERTIFICATE
    (1.3.6.1.4.1.311.13.1) = the old certificate, with the old certificate
    in the SignedData's certificates.
      cms: id-data, one SignerInfo by the old key (3.1.1.4.3.2.1; schema 1;
           what certreq -renew and Certipy send)
      cmc: id-cct-PKIData, first SignerInfo = subjectKeyIdentifier of the new
           key signed with the new key, second = the old key (3.1.1.4.3.2.2)
      cmc-nosig: as cmc, first SignerInfo uses the No-Signature mechanism
    Wrong forms for the lab CA's tests: cmc-old-only, cmc-new-only,
    cmc-swapped, cms-new-key (CMS signed by the new key), no-old-cert
    (cmc without the old certificate in certificates)."""
    old = x509.load_pem_x509_certificate(open(args.renew_cert, "rb").read())
    old_key = serialization.load_pem_private_key(open(args.renew_key, "rb").read(), None)
    key = old_key if args.renew_same_key else new_key(args)
    csr = build_csr(args, key, old=old, info=info)
    write_key(args, key)
    form = args.renew_form
    if form == "auto":
        form = "cmc" if info.get("msPKI-Template-Schema-Version", 2) >= 2 else "cms"
    if form in ("cms", "cms-new-key"):
        ctype, content = "1.2.840.113549.1.7.1", csr
    else:
        ctype, content = "1.3.6.1.5.5.7.12.2", pkidata(csr)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    new_s = signer_info(ctype, content, key=key, ski=ski)
    old_s = signer_info(ctype, content, key=old_key, cert=old)
    signers = {"cms": [old_s], "cms-new-key": [new_s], "cmc": [new_s, old_s],
               "cmc-nosig": [signer_info(ctype, content, ski=ski, no_signature=True), old_s],
               "cmc-old-only": [old_s], "cmc-new-only": [new_s], "cmc-swapped": [old_s, new_s],
               "no-old-cert": [new_s, old_s]}[form]
    ras, racerts = ra_signers(args, ctype, content)
    certs = ([] if form == "no-old-cert" else [old]) + racerts
    return signed_data(ctype, content, certs, signers + ras)


def load_csr(path):
    data = open(path, "rb").read()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_csr(data).public_bytes(serialization.Encoding.DER)
    return data


def use_keytab(args):
    fd, path = tempfile.mkstemp(prefix="icpr-cc.")
    os.close(fd)
    subprocess.run(["kinit", "-k", "-t", args.keytab, "-c", "FILE:" + path, args.principal],
                   check=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ca", default="CORP-CA1", help="CA name (pwszAuthority)")
    ap.add_argument("--host", default="ca1.corp.test", help="CA host (SPN host/<host>)")
    ap.add_argument("--kdc", default="dc1.corp.test")
    ap.add_argument("--domain", default="CORP.TEST")
    ap.add_argument("--template", help="CertificateTemplate:<name> attribute")
    ap.add_argument("--template-oid", help="put the v2 template extension (OID) in the CSR")
    ap.add_argument("--template-version", default="100.0", help="major.minor for --template-oid")
    ap.add_argument("--template-name-ext", help="put the v1 template name extension in the CSR")
    ap.add_argument("--csr", help="DER or PEM PKCS#10 file (default: make one)")
    ap.add_argument("--key-out", help="write the generated private key here")
    ap.add_argument("--key-size", type=int, default=2048)
    ap.add_argument("--key-type", choices=["rsa", "ec"], default="rsa")
    ap.add_argument("--subject-cn")
    ap.add_argument("--cert-out", help="write the issued certificate (PEM) here")
    ap.add_argument("--renew-cert", help="renew this certificate (PEM): CMS+PKCS#10 signed by --renew-key")
    ap.add_argument("--renew-key", help="private key (PEM) of --renew-cert")
    ap.add_argument("--renew-form", default="auto",
                    choices=["auto", "cms", "cmc", "cmc-nosig", "cmc-old-only", "cmc-new-only",
                             "cmc-swapped", "cms-new-key", "no-old-cert"],
                    help="renewal layout (auto: cmc for schema 2+ templates, cms for schema 1)")
    ap.add_argument("--renew-same-key", action="store_true", help="renew with the old key")
    ap.add_argument("--format", choices=["pkcs10", "cmc"], default="pkcs10", help="new request format")
    ap.add_argument("--smime", choices=["auto", "yes", "no"], default="auto",
                    help="S/MIME capabilities extension (auto: if the template has "
                         "INCLUDE_SYMMETRIC_ALGORITHMS, read from AD)")
    ap.add_argument("--policy", action="append", default=[], help="certificate policy OID to request")
    ap.add_argument("--ra-cert", action="append", default=[], help="RA signer certificate (PEM)")
    ap.add_argument("--ra-key", action="append", default=[], help="RA signer key (PEM)")
    ap.add_argument("--retrieve", type=int, metavar="ID", help="status inspection of request ID")
    ap.add_argument("--flags", type=lambda s: int(s, 0), default=0, help="dwFlags (default 0)")
    ap.add_argument("--attr", action="append", default=[], help="extra Name:Value attribute")
    ap.add_argument("--keytab", help="kinit from this keytab into a temporary ccache")
    ap.add_argument("--principal", help="principal for --keytab")
    ap.add_argument("--auth-level", type=int, default=RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    ap.add_argument("--max-frag", type=int, default=0, help="fragment requests to this size")
    args = ap.parse_args()

    tmpcc = None
    if args.keytab:
        tmpcc = use_keytab(args)
        os.environ["KRB5CCNAME"] = tmpcc
    cc = os.environ.get("KRB5CCNAME", "")
    if cc.startswith("FILE:"):
        cc = cc[5:]
        os.environ["KRB5CCNAME"] = cc
    out = {}
    try:
        # impacket 0.10's own TGS-REQ is refused by the Samba KDC
        # (KRB_AP_ERR_INAPP_CKSUM): get the service ticket with MIT's kvno
        # into the same ccache; impacket then finds it there.
        subprocess.run(["kvno", "-q", "-c", "FILE:" + cc, "host/%s@%s" % (args.host, args.domain)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ccache = CCache.loadFile(cc)
        user = ccache.principal.prettyPrint().decode().split("@")[0]

        if args.retrieve is not None:
            request_der = b""
        else:
            info = template_info(args) if args.smime == "auto" or args.renew_form == "auto" else {}
            out["template_info"] = info
            request_der = load_csr(args.csr) if args.csr else \
                make_renewal(args, info) if args.renew_cert else make_csr(args, info)
        attrs = list(args.attr)
        if args.template:
            attrs.insert(0, "CertificateTemplate:%s" % args.template)

        binding = epm.hept_map(args.host, MSRPC_UUID_ICPR, protocol="ncacn_ip_tcp")
        out["binding"] = binding
        rpctransport = transport.DCERPCTransportFactory(binding)
        rpctransport.set_credentials(user, "", args.domain, "", "", None)
        rpctransport.set_kerberos(True, kdcHost=args.kdc)
        dce = rpctransport.get_dce_rpc()
        dce.set_auth_type(RPC_C_AUTHN_GSS_NEGOTIATE)
        dce.set_auth_level(args.auth_level)
        if args.max_frag:
            dce.set_max_fragment_size(args.max_frag)
        dce.connect()
        dce.bind(MSRPC_UUID_ICPR)

        req = CertServerRequest()
        req["dwFlags"] = args.flags
        req["pwszAuthority"] = args.ca + "\x00"
        req["pdwRequestId"] = args.retrieve or 0
        if attrs:
            a = ("\n".join(attrs) + "\x00").encode("utf-16-le")
            req["pctbAttribs"]["cb"] = len(a)
            req["pctbAttribs"]["pb"] = a
        else:
            req["pctbAttribs"]["cb"] = 0
            req["pctbAttribs"]["pb"] = NULL
        if request_der:
            req["pctbRequest"]["cb"] = len(request_der)
            req["pctbRequest"]["pb"] = request_der
        else:
            req["pctbRequest"]["cb"] = 0
            req["pctbRequest"]["pb"] = NULL
        resp = dce.request(req, checkError=False)
        disp = resp["pdwDisposition"]
        msg = b"".join(resp["pctbDispositionMessage"]["pb"] or []).decode("utf-16-le").rstrip("\x00")
        cert = b"".join(resp["pctbEncodedCert"]["pb"] or [])
        chain = b"".join(resp["pctbCert"]["pb"] or [])
        out.update(disposition=disp, request_id=resp["pdwRequestId"], message=msg,
                   return_value=resp["ErrorCode"],
                   hresult=disp if disp > 6 else resp["ErrorCode"],
                   chain_len=len(chain))
        if cert:
            c = x509.load_der_x509_certificate(cert)
            pem = c.public_bytes(serialization.Encoding.PEM).decode()
            out["cert_pem"] = pem
            out["serial"] = "%x" % c.serial_number
            if args.cert_out:
                with open(args.cert_out, "w") as f:
                    f.write(pem)
        else:
            out["cert_pem"] = None
        dce.disconnect()
    except DCERPCException as e:
        out["fault"] = True
        out["error"] = str(e)
        out["hresult"] = getattr(e, "error_code", None)
        print(json.dumps(out))
        return 2
    finally:
        if tmpcc:
            os.unlink(tmpcc)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
