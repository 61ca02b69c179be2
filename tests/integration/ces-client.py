#!/usr/bin/python3
# A second client for the lab's CEP/CES (tests/lab/ca/ces.py), not ours:
# python3-requests-kerberos sending the MS-XCEP 4.1.1.1 / 4.1.2.1 and
# MS-WSTEP 4.1.1.1 / 4.1.3.1 sample messages (Kerberos instead of the
# samples' UsernameToken).  Run in the lab netns with a ticket:
#
#   ces-client.py policy [LASTUPDATE]   -> JSON: policyID, notChanged, templates {cn: autoEnroll}, cesUris,
#                                          keyArchival {cn: "OID/group/bits"}
#   ces-client.py issue TEMPLATE KEYOUT -> JSON: requestId, disposition, certificate (PEM) or fault
#   ces-client.py query ID              -> JSON, the same
#   ces-client.py raw URL               -> HTTP status of an unauthenticated POST (expects 401)
#
# CA bundle: $AE_LAB_DIR/pki/root.pem.  Environment: AE_LAB_CEP_URL, AE_LAB_CES_URL.
import base64
import json
import os
import sys
import uuid
import xml.etree.ElementTree as ET

import requests
from requests_kerberos import OPTIONAL, HTTPKerberosAuth
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

S = "http://www.w3.org/2003/05/soap-envelope"
XCEP = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"
WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ENR = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
AUTH = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
CA = os.path.join(os.environ.get("AE_LAB_DIR", "/tmp/autoenroll-lab"), "pki", "root.pem")

GETPOLICIES = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">
<s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies</a:Action>
<a:MessageID>urn:uuid:%s</a:MessageID><a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>
<a:To s:mustUnderstand="1">%s</a:To></s:Header>
<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema">
<GetPolicies xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy">
<client><lastUpdate>%s</lastUpdate><preferredLanguage xsi:nil="true"></preferredLanguage></client>
<requestFilter xsi:nil="true"></requestFilter></GetPolicies></s:Body></s:Envelope>"""

RST = """<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope">
<s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep</a:Action>
<a:MessageID>urn:uuid:%s</a:MessageID><a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo></s:Header>
<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
<RequestSecurityToken xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512">
<TokenType>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3</TokenType>
<RequestType>%s</RequestType>%s</RequestSecurityToken></s:Body></s:Envelope>"""


def post(url, body):
    r = requests.post(url, data=body.encode(), verify=CA, timeout=30,
                      headers={"Content-Type": "application/soap+xml; charset=utf-8"},
                      auth=HTTPKerberosAuth(mutual_authentication=OPTIONAL))
    return r.status_code, ET.fromstring(r.content) if r.content else None


def policy(last):
    url = os.environ["AE_LAB_CEP_URL"]
    code, env = post(url, GETPOLICIES % (uuid.uuid4(), url, last))
    resp = env.find(".//{%s}response" % XCEP)
    out = dict(status=code, policyID=resp.findtext("{%s}policyID" % XCEP),
               nextUpdateHours=resp.findtext("{%s}nextUpdateHours" % XCEP),
               notChanged=resp.findtext("{%s}policiesNotChanged" % XCEP), templates={},
               cesUris=[u.text for u in env.iter("{%s}uri" % XCEP)], keyArchival={})
    oids = {o.findtext("{%s}oIDReferenceID" % XCEP): "%s/%s" % (o.findtext("{%s}value" % XCEP),
                                                                  o.findtext("{%s}group" % XCEP))
            for o in env.iter("{%s}oID" % XCEP)}
    for p in env.iter("{%s}policy" % XCEP):
        a = p.find("{%s}attributes" % XCEP)
        out["templates"][a.findtext("{%s}commonName" % XCEP)] = \
            a.findtext("{%s}permission/{%s}autoEnroll" % (XCEP, XCEP))
        # MS-XCEP 3.1.4.1.3.15: "OID/group/key length"
        ref = a.findtext("{%s}keyArchivalAttributes/{%s}symmetricAlgorithmOIDReference" % (XCEP, XCEP))
        if ref is not None:
            out["keyArchival"][a.findtext("{%s}commonName" % XCEP)] = "%s/%s" % (
                oids.get(ref), a.findtext("{%s}keyArchivalAttributes/{%s}symmetricAlgorithmKeyLength" % (XCEP, XCEP)))
    return out


def answer(code, env):
    out = dict(status=code)
    f = env.find(".//{%s}Fault" % S)
    if f is not None:
        d = f.find(".//{%s}CertificateEnrollmentWSDetail" % ENR)
        out.update(fault=f.findtext(".//{%s}Text" % S))
        if d is not None:
            out.update(errorCode="0x%08x" % (int(d.findtext("{%s}ErrorCode" % ENR)) & 0xFFFFFFFF),
                       invalidRequest=d.findtext("{%s}InvalidRequest" % ENR),
                       requestId=d.findtext("{%s}RequestID" % ENR))
        return out
    r = env.find(".//{%s}RequestSecurityTokenResponse" % WST)
    out.update(requestId=r.findtext("{%s}RequestID" % ENR),
               disposition=(r.findtext("{%s}DispositionMessage" % ENR) or "").strip())
    tok = r.find("{%s}RequestedSecurityToken/{%s}BinarySecurityToken" % (WST, WSSE))
    if tok is not None:
        c = x509.load_der_x509_certificate(base64.b64decode(tok.text))
        out["certificate"] = c.public_bytes(serialization.Encoding.PEM).decode()
        out["pkcs7"] = r.find("{%s}BinarySecurityToken" % WSSE) is not None
    elif r.find(".//{%s}SecurityTokenReference" % WSSE) is not None:
        out["pending"] = True
    return out


def issue(template, keyout):
    key = rsa.generate_private_key(65537, 2048)
    with open(keyout, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    # the template by name in the request (MS-WCCE 2.2.2.7.7.4 BMPString), as the sample's CSR
    name = template.encode("utf-16-be")
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2"),
                                     bytes([0x1E, len(name)]) + name)
    # SMIME capabilities (RFC 4262) as Windows puts them in: aes256-CBC
    smime = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.840.113549.1.9.15"),
                                       bytes.fromhex("300d300b060960864801650304012a"))
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(ext, False).add_extension(smime, False).sign(key, hashes.SHA256()))
    b64 = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()
    body = ('<BinarySecurityToken EncodingType="%s#base64binary" ValueType="%s#PKCS10" xmlns="%s">%s'
            '</BinarySecurityToken><AdditionalContext xmlns="%s"><ContextItem Name="ccm">'
            '<Value>ces-client</Value></ContextItem></AdditionalContext>'
            '<RequestID xsi:nil="true" xmlns="%s" />' % (WSSE, WSSE, WSSE, b64, AUTH, ENR))
    return answer(*post(os.environ["AE_LAB_CES_URL"],
                        RST % (uuid.uuid4(), WST + "/Issue", body)))


def query(rid):
    body = '<RequestID xmlns="%s">%s</RequestID>' % (ENR, rid)
    return answer(*post(os.environ["AE_LAB_CES_URL"],
                        RST % (uuid.uuid4(), ENR + "/QueryTokenStatus", body)))


def main():
    cmd = sys.argv[1]
    if cmd == "policy":
        out = policy(sys.argv[2] if len(sys.argv) > 2 else "0001-01-01T00:00:00")
    elif cmd == "issue":
        out = issue(sys.argv[2], sys.argv[3])
    elif cmd == "query":
        out = query(sys.argv[2])
    elif cmd == "raw":
        out = dict(status=requests.post(sys.argv[2], data=b"<x/>", verify=CA, timeout=30).status_code)
    else:
        sys.exit("usage: ces-client.py policy|issue|query|raw ...")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
