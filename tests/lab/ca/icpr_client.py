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


def make_csr(args):
    if args.key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=args.key_size)
    b = x509.CertificateSigningRequestBuilder()
    b = b.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, args.subject_cn)])
                       if args.subject_cn else x509.Name([]))
    if args.template_oid:
        major, _, minor = (args.template_version or "0.0").partition(".")
        body = der_oid(args.template_oid) + der_int(int(major)) + der_int(int(minor or 0))
        b = b.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.311.21.7"), b"\x30" + der_len(len(body)) + body),
            critical=False)
    if args.template_name_ext:
        v = args.template_name_ext.encode("utf-16-be")
        b = b.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2"), b"\x1e" + der_len(len(v)) + v),
            critical=False)
    csr = b.sign(key, hashes.SHA256())
    if args.key_out:
        with open(args.key_out, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return csr.public_bytes(serialization.Encoding.DER)


def der_tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def make_renewal(args):
    """CMS+PKCS#10 renewal (MS-WCCE 3.2.1.4.2.1.4.1.2; what certreq -renew and
    Certipy send): a new key's PKCS#10 carrying szOID_RENEWAL_CERTIFICATE
    (1.3.6.1.4.1.311.13.1) = the old certificate, wrapped in a SignedData
    signed by the old key with the old certificate included."""
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import pkcs7
    old = x509.load_pem_x509_certificate(open(args.renew_cert, "rb").read())
    old_key = serialization.load_pem_private_key(open(args.renew_key, "rb").read(), None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=args.key_size)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    subject = x509.Name([]).public_bytes()
    attrs = []
    old_der = old.public_bytes(serialization.Encoding.DER)
    attrs.append(der_tlv(0x30, der_oid("1.3.6.1.4.1.311.13.1") + der_tlv(0x31, old_der)))
    exts = []
    if args.template_oid:
        major, _, minor = (args.template_version or "0.0").partition(".")
        body = der_oid(args.template_oid) + der_int(int(major)) + der_int(int(minor or 0))
        exts.append(der_tlv(0x30, der_oid("1.3.6.1.4.1.311.21.7") +
                            der_tlv(0x04, der_tlv(0x30, body))))
    if exts:
        attrs.append(der_tlv(0x30, der_oid("1.2.840.113549.1.9.14") +
                             der_tlv(0x31, der_tlv(0x30, b"".join(exts)))))
    cri = der_tlv(0x30, der_int(0) + subject + spki + der_tlv(0xA0, b"".join(sorted(attrs))))
    sig = key.sign(cri, padding.PKCS1v15(), hashes.SHA256())
    alg = der_tlv(0x30, der_oid("1.2.840.113549.1.1.11") + b"\x05\x00")
    csr = der_tlv(0x30, cri + alg + der_tlv(0x03, b"\x00" + sig))
    if args.key_out:
        with open(args.key_out, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return (pkcs7.PKCS7SignatureBuilder().set_data(csr)
            .add_signer(old, old_key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))


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
            request_der = load_csr(args.csr) if args.csr else \
                make_renewal(args) if args.renew_cert else make_csr(args)
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
