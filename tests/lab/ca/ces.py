#!/usr/bin/python3
# The lab's Certificate Enrollment Policy (CEP, MS-XCEP) and Certificate
# Enrollment (CES, MS-WSTEP) web services, as AD CS installs them on the CA
# host, written from the specs:
#
#   https://ces.corp.test/ADPolicyProvider_CEP_Kerberos/service.svc/CEP
#       GetPolicies (MS-XCEP 3.1.4.1): the templates of the lab AD that the
#       caller may enroll for (Enroll right in the template's security
#       descriptor, the same walk the lab CA does), the CA with its CES URI
#   https://ces.corp.test/CORP-CA1_CES_Kerberos/service.svc/CES
#       RequestSecurityToken (MS-WSTEP 3.1.4.2): Issue (new and renewal,
#       PKCS#10 / CMS / CMC) and QueryTokenStatus, handed to the lab CA's
#       issuing code (labca.IcprApp.process, policy.py) on the CA's store:
#       the same rules, request IDs, approve/deny levers as over MS-ICPR
#
#   https://ces.corp.test/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP
#   https://ces.corp.test/CORP-CA1_CES_UsernamePassword/service.svc/CES
#       the same with user name and password: a WS-Security UsernameToken
#       in the SOAP header, checked with an AS exchange at the KDC
#   .../ADPolicyProvider_CEP_Certificate/..., .../CORP-CA1_CES_Certificate/...
#       the same with a TLS client certificate from CORP-CA1 (client
#       authentication EKU), the caller named by its UPN
#   .../KeyBasedRenewal_CORP-CA1_CES_Certificate/... (renewal-only CES,
#       listed by every CEP endpoint with renewalOnly true) and
#       .../KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/... (the CEP
#       in key-based renewal mode: the renewal-only CES alone)
#
# Authentication: HTTP Negotiate (Kerberos through SPNEGO, RFC 4559) with
# the service principal HTTP/ces.corp.test (an SPN of CA1$, keytab
# LAB/ces.keytab).  TLS with a certificate for ces.corp.test issued by
# CORP-CA1 on port 443; port 8443 serves the same with a self-signed
# certificate (a server that does not chain to AD's roots); port 9443
# accepts connections and never answers (a hung CES host).
#
#   ces.py serve LAB        (inside the lab netns; labctl ces up|down)
#
# Extended Protection (labctl ces-epa on: LAB/ces/epa): a Kerberos
# authenticator without the TLS channel binding is refused (401).
# State in LAB/ces: tls.pem, rogue.pem, policy-id, ca-uris (labctl ces-uris), epa,
# ces.log, ces.pid.

import base64
import datetime
import http.server
import logging
import socket
import os
import ssl
import sys
import threading
import types
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import labca  # noqa: E402  (AE_LAB_CA unset: CORP-CA1)
import policy  # noqa: E402
from policy import Deny  # noqa: E402
from store import Store  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

ADDR = "127.0.0.16"
HOST = "ces.corp.test"
PORT, ROGUE_PORT, HUNG_PORT = 443, 8443, 9443
CEP_PATH = "/ADPolicyProvider_CEP_Kerberos/service.svc/CEP"
CES_PATH = "/%s_CES_Kerberos/service.svc/CES" % policy.CA_NAME
# the UsernamePassword variants: WS-Security UsernameToken in the SOAP
# header (message security over TLS), no HTTP authentication
CEP_UP_PATH = "/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP"
CES_UP_PATH = "/%s_CES_UsernamePassword/service.svc/CES" % policy.CA_NAME
# the Certificate variants: TLS client authentication with a certificate
# CORP-CA1 issued (client authentication EKU), mapped to its account by
# the UPN in its subject alternative name, as AD CS maps it
CEP_CERT_PATH = "/ADPolicyProvider_CEP_Certificate/service.svc/CEP"
CES_CERT_PATH = "/%s_CES_Certificate/service.svc/CES" % policy.CA_NAME
# a renewal-only CES (AD CS's key-based renewal, Install-AdcsEnrollmentWebService
# -AllowKeyBasedRenewal; MS-XCEP 3.1.4.1.3.5 renewalOnly): Certificate
# authentication where the TLS client certificate is the certificate being
# renewed; only Issue requests that renew that same certificate, signed
# with its key (MS-WSTEP 3.1.1.1.2 and 3.1.1.1.4), are taken
CES_KBR_PATH = "/KeyBasedRenewal_%s_CES_Certificate/service.svc/CES" % policy.CA_NAME
# the CEP in key-based renewal mode (Install-AdcsEnrollmentPolicyWebService
# -AuthenticationType Certificate -KeyBasedRenewal): Certificate
# authentication; its policy lists the CA's renewal-only CES alone
CEP_KBR_PATH = "/KeyBasedRenewal_ADPolicyProvider_CEP_Certificate/service.svc/CEP"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
MAX_BODY = 1 << 20

NS_S = "http://www.w3.org/2003/05/soap-envelope"
NS_A = "http://www.w3.org/2005/08/addressing"
NS_XCEP = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"
NS_WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_ENR = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
NS_AUTH = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
XSI_NIL = '{http://www.w3.org/2001/XMLSchema-instance}nil'
ACT_GETPOLICIES = NS_XCEP + "/IPolicy/GetPolicies"
ACT_RST = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep"
ACT_RSTRC = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep"
ACT_FAULT = "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher/fault"
RT_ISSUE = NS_WST + "/Issue"
# MS-WSTEP 3.1.4.2.2 / 4.1.2: the key exchange token (the CA exchange certificate)
ACT_KET = NS_WST + "/RST/KET"
ACT_KETFINAL = NS_WST + "/RSTR/KETFinal"
RT_KET = NS_WST + "/KET"
RT_QUERY = NS_ENR + "/QueryTokenStatus"
VT_X509 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
VT_PKCS7 = NS_WSSE + "#PKCS7"
ENC_B64 = NS_WSSE + "#base64binary"

# MS-XCEP 3.1.4.1.3.5 clientAuthentication: 2 = Kerberos
AUTH_KERBEROS = 2
AUTH_USERNAME_PASSWORD = 4
AUTH_CERTIFICATE = 8
NEXT_UPDATE_HOURS = 8
# public key algorithm OIDs (group 3) by CNG algorithm name
ALG_OIDS = {"RSA": "1.2.840.113549.1.1.1", "ECDSA_P256": "1.2.840.10045.3.1.7",
            "ECDSA_P384": "1.3.132.0.34", "ECDSA_P521": "1.3.132.0.35",
            "ECDH_P256": "1.2.840.10045.3.1.7", "ECDH_P384": "1.3.132.0.34", "ECDH_P521": "1.3.132.0.35"}
# msPKI-Symmetric-Algorithm (and key length; 0 = any) -> (OID, defaultName, default key length)
SYM_OIDS = {("3DES", 0): ("1.2.840.113549.3.7", "3des", 168),
            ("AES", 128): ("2.16.840.1.101.3.4.1.2", "aes128", 128),
            ("AES", 192): ("2.16.840.1.101.3.4.1.22", "aes192", 192),
            ("AES", 256): ("2.16.840.1.101.3.4.1.42", "aes256", 256),
            ("AES", 0): ("2.16.840.1.101.3.4.1.42", "aes256", 256)}

log = logging.getLogger("ces")


# ------------------------------------------------------------------ TLS
def make_tls(lab, state):
    """tls.pem: ces.corp.test issued by CORP-CA1 (serverAuth), with the
    chain; rogue.pem: the same name, self-signed."""
    pki = os.path.join(lab, "pki")
    with open(os.path.join(pki, "ca1.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(pki, "ca1.pem"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    now = datetime.datetime.utcnow()
    out = {}
    for name, signed_by_ca in (("tls.pem", True), ("rogue.pem", False)):
        key = rsa.generate_private_key(65537, 2048)
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
        b = (x509.CertificateBuilder().subject_name(subj)
             .issuer_name(ca_cert.subject if signed_by_ca else subj)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False))
        cert = b.sign(ca_key if signed_by_ca else key, hashes.SHA256())
        path = os.path.join(state, name)
        with open(path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
            f.write(cert.public_bytes(serialization.Encoding.PEM))
            if signed_by_ca:
                f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
        out[name] = path
    return out


# ------------------------------------------------------------------ Negotiate
class Unauthorized(Exception):
    pass


def negotiate(header, binding=None):
    """RFC 4559: Authorization: Negotiate <token> -> (principal, reply token).
    BINDING (Extended Protection on): the tls-server-end-point channel
    binding (RFC 5929) the authenticator must carry, as IIS requires it
    with Extended Protection "Required"."""
    import gssapi
    if not header or not header.lower().startswith("negotiate "):
        raise Unauthorized("no Negotiate authorization")
    try:
        tok = base64.b64decode(header.split(None, 1)[1].strip(), validate=True)
    except (ValueError, IndexError):
        raise Unauthorized("bad Negotiate token")
    try:
        cb = gssapi.raw.ChannelBindings(application_data=binding) if binding else None
        ctx = gssapi.SecurityContext(usage="accept", creds=None, channel_bindings=cb)
        out = ctx.step(tok)
    except gssapi.exceptions.GSSError as ex:
        raise Unauthorized("GSS-API: %s" % ex)
    if not ctx.complete:
        raise Unauthorized("Negotiate needs more than one leg")
    if binding and gssapi.RequirementFlag.channel_bound not in ctx.actual_flags:
        raise Unauthorized("Extended Protection: the authenticator carries no channel binding")
    return str(ctx.initiator_name), out


def username_token(body, realm):
    """WS-Security UsernameToken (MS-XCEP 4.1.1.1 sample; WSS UsernameToken
    Profile 1.0): a Security header with a Timestamp that holds now and a
    UsernameToken whose password the KDC accepts (an AS exchange) ->
    principal.  Raises Unauthorized."""
    import gssapi
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise Unauthorized("DTDs are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as ex:
        raise Unauthorized("not XML: %s" % ex)
    sec = root.find("{%s}Header/{%s}Security" % (NS_S, NS_WSSE))
    if sec is None:
        raise Unauthorized("no WS-Security header")
    ts = sec.find("{%s}Timestamp" % NS_WSU)
    if ts is None:
        raise Unauthorized("no Timestamp in the Security header")
    try:
        def t(tag):
            return datetime.datetime.fromisoformat(ts.findtext("{%s}%s" % (NS_WSU, tag)).strip()
                                                   .replace("Z", "+00:00"))
        created, expires = t("Created"), t("Expires")
    except (AttributeError, ValueError):
        raise Unauthorized("bad Timestamp")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not (created - datetime.timedelta(minutes=5) <= now <= expires):
        raise Unauthorized("Timestamp does not hold now")
    tok = sec.find("{%s}UsernameToken" % NS_WSSE)
    user = tok.findtext("{%s}Username" % NS_WSSE) if tok is not None else None
    pw_el = tok.find("{%s}Password" % NS_WSSE) if tok is not None else None
    if not user or pw_el is None or pw_el.text is None:
        raise Unauthorized("no UsernameToken with a user name and a password")
    ptype = pw_el.get("Type")
    if ptype and not ptype.endswith("#PasswordText"):
        raise Unauthorized("password type %s is not PasswordText" % ptype)
    user = user.strip()
    if "\\" in user:                       # DOMAIN\name
        user = user.split("\\", 1)[1] + "@" + realm
    elif "@" not in user:
        user = user + "@" + realm
    else:                                   # name@domain -> name@REALM
        user = user.split("@", 1)[0] + "@" + realm
    try:
        name = gssapi.Name(user, gssapi.NameType.kerberos_principal)
        gssapi.raw.acquire_cred_with_password(name, pw_el.text.encode(), usage="initiate")
    except gssapi.exceptions.GSSError as ex:
        raise Unauthorized("the KDC refused %s: %s" % (user, ex))
    return user


def client_certificate(der, realm):
    """The TLS client's certificate (already chained to CORP-CA1 by the TLS
    layer) -> principal by its UPN; raises Unauthorized."""
    if not der:
        raise Unauthorized("no client certificate")
    cert = x509.load_der_x509_certificate(der)
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = []
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise Unauthorized("the client certificate is not for client authentication")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = []
    for n in san:
        if isinstance(n, x509.OtherName) and n.type_id.dotted_string == "1.3.6.1.4.1.311.20.2.3":
            v = n.value                     # DER UTF8String
            if len(v) >= 2 and v[0] == 0x0c and v[1] < 0x80 and len(v) == 2 + v[1]:
                upn = v[2:].decode("utf-8", "replace")
                return upn.split("@", 1)[0] + "@" + realm
    raise Unauthorized("no UPN in the client certificate")


# ------------------------------------------------------------------ SOAP
def parse_envelope(body):
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("DTDs are not accepted")
    root = ET.fromstring(body)
    if root.tag != "{%s}Envelope" % NS_S:
        raise ValueError("not a SOAP 1.2 envelope")
    hdr = root.find("{%s}Header" % NS_S)
    action = hdr.findtext("{%s}Action" % NS_A) if hdr is not None else None
    msgid = hdr.findtext("{%s}MessageID" % NS_A) if hdr is not None else None
    bodyel = root.find("{%s}Body" % NS_S)
    if bodyel is None or len(bodyel) != 1:
        raise ValueError("SOAP Body must hold one element")
    return (action or "").strip(), (msgid or "").strip(), bodyel[0]


def envelope(action, body, relates=None):
    rel = "<a:RelatesTo>%s</a:RelatesTo>" % escape(relates) if relates else ""
    return ('<s:Envelope xmlns:s="%s" xmlns:a="%s"><s:Header>'
            '<a:Action s:mustUnderstand="1">%s</a:Action>%s</s:Header>'
            '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema">%s</s:Body></s:Envelope>'
            % (NS_S, NS_A, action, rel, body)).encode()


def fault(reason, relates=None, detail=""):
    return envelope(ACT_FAULT, '<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>'
                    '<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason>%s</s:Fault>'
                    % (escape(reason), detail), relates)


def b64(b):
    return base64.b64encode(b).decode()


def filetime_to_seconds(v):
    import struct
    return -struct.unpack("<q", v[:8])[0] // 10 ** 7 if v else 0


# ------------------------------------------------------------------ XCEP
class Policy:
    """GetPolicies (MS-XCEP 3.1.4.1) from the lab AD, filtered by the caller."""

    def __init__(self, ca, state):
        self.ca = ca
        self.state = state
        pid = os.path.join(state, "policy-id")
        if not os.path.exists(pid):
            with open(pid, "w") as f:
                f.write("{%s}\n" % str(uuid.uuid4()).upper())
        with open(pid) as f:
            self.policy_id = f.read().strip()

    def all_templates(self):
        import ldb
        d = self.ca.dir
        attrs = d.TEMPLATE_ATTRS + ["whenChanged", "msPKI-Supersede-Templates"]

        def q(db):
            r = db.search("CN=Certificate Templates," + d.pks, scope=ldb.SCOPE_ONELEVEL,
                          expression="(objectClass=pKICertificateTemplate)",
                          attrs=attrs, controls=["sd_flags:1:4"])
            out = []
            for m in r:
                out.append({a: [bytes(v) for v in m[a]] for a in attrs if a in m})
            es = d.pks and db.search("CN=%s,CN=Enrollment Services,%s" % (policy.CA_NAME, d.pks),
                                     scope=ldb.SCOPE_BASE,
                                     attrs=["certificateTemplates", "whenChanged",
                                            "nTSecurityDescriptor"],
                                     controls=["sd_flags:1:4"])
            return out, es[0]
        raw, es = d.query(q)
        pub = [str(v) for v in es.get("certificateTemplates", [])]
        changed = max([str(es["whenChanged"][0])] +
                      [t["whenChanged"][0].decode() for t in raw if "whenChanged" in t])
        ca_sd = bytes(es["nTSecurityDescriptor"][0]) if "nTSecurityDescriptor" in es else None
        return [policy.Template(t) for t in raw], pub, changed, ca_sd

    @staticmethod
    def last_changed(gentime):
        # AD GeneralizedTime 20261204221500.0Z -> aware datetime
        return datetime.datetime.strptime(gentime[:14], "%Y%m%d%H%M%S").replace(
            tzinfo=datetime.timezone.utc)

    def answer(self, principal, req, password=False, certificate=False, kbr=False):
        acct = self.ca.dir.account(principal)
        sids = acct["all_sids"]
        client = req.find("{%s}client" % NS_XCEP)
        last = client.findtext("{%s}lastUpdate" % NS_XCEP) if client is not None else None
        flt = req.find("{%s}requestFilter" % NS_XCEP)
        oids = None
        if flt is not None and flt.get(XSI_NIL) != "true":
            po = flt.find("{%s}policyOIDs" % NS_XCEP)
            if po is not None and po.get(XSI_NIL) != "true":
                oids = {o.text.strip() for o in po.findall("{%s}oid" % NS_XCEP) if o.text}
        tmpls, pub, changed, ca_sd = self.all_templates()
        changed_at = self.last_changed(changed)
        not_changed = False
        if last and last.strip() and not last.startswith("0001-"):
            try:
                t = datetime.datetime.fromisoformat(last.strip().replace("Z", "+00:00"))
                if t.tzinfo is None:
                    t = t.replace(tzinfo=datetime.timezone.utc)
                not_changed = t >= changed_at
            except ValueError:
                pass
        oid_table = {}

        def oid_ref(value, group, name):
            if value not in oid_table:
                oid_table[value] = (len(oid_table) + 1, group, name)
            return oid_table[value][0]

        pols = []
        for t in sorted(tmpls, key=lambda t: t.cn.lower()):
            if oids is not None and t.oid not in oids:
                continue
            enroll, _ = policy.can_enroll(t.sd, sids)
            if not enroll:
                continue   # the server filters by the caller's rights
            auto, _ = policy.can_enroll(t.sd, sids, policy.AUTOENROLL_GUID)
            pols.append(self.policy_xml(t, auto, t.cn in pub, oid_ref))
        ca_enroll = policy.can_enroll(ca_sd, sids)[0] if ca_sd else True
        # MS-XCEP 3.1.4.1.3.5 CAURI: the real CES at priority 1, and the
        # lever's (labctl ces-uris: LAB/ces/ca-uris, "PRIORITY URI" lines)
        uris = [] if kbr else [(1, "https://%s%s" % (HOST, CES_UP_PATH if password else CES_CERT_PATH
                                                      if certificate else CES_PATH))]
        try:
            with open(os.path.join(self.state, "ca-uris")) as f:
                for line in f if not kbr else ():
                    prio, _, uri = line.strip().partition(" ")
                    if prio.isdigit() and uri:
                        uris.append((int(prio), uri))
        except FileNotFoundError:
            pass
        # and the renewal-only CES, listed to every caller as AD CS lists
        # the CA's msPKI-Enrollment-Servers (clientAuthentication 8,
        # renewalOnly true: key-based renewal)
        uris.append((2, "https://%s%s" % (HOST, CES_KBR_PATH)))
        cas = ('<cAs><cA><uris>%s</uris><certificate>%s</certificate><enrollPermission>%s</enrollPermission>'
               '<cAReferenceID>0</cAReferenceID></cA></cAs>'
               % ("".join('<cAURI><clientAuthentication>%d</clientAuthentication><uri>%s</uri>'
                          '<priority>%d</priority><renewalOnly>%s</renewalOnly></cAURI>'
                          % (AUTH_USERNAME_PASSWORD if password and u.endswith(CES_UP_PATH) else
                             AUTH_CERTIFICATE if (certificate and u.endswith(CES_CERT_PATH)) or
                             u.endswith(CES_KBR_PATH) else AUTH_KERBEROS, escape(u), pr,
                             "true" if u.endswith(CES_KBR_PATH) else "false") for pr, u in uris),
                  b64(self.ca.cert.public_bytes(serialization.Encoding.DER)),
                  "true" if ca_enroll else "false"))
        if not_changed:
            policies = '<policiesNotChanged>true</policiesNotChanged><policies xsi:nil="true"/>'
        else:
            policies = ('<policiesNotChanged xsi:nil="true"/><policies>%s</policies>'
                        % "".join(pols))
        oidx = "".join('<oID><value>%s</value><group>%d</group><oIDReferenceID>%d</oIDReferenceID>'
                       '<defaultName>%s</defaultName></oID>' % (v, g, r, escape(n))
                       for v, (r, g, n) in sorted(oid_table.items(), key=lambda kv: kv[1][0]))
        return ('<GetPoliciesResponse xmlns="%s"><response><policyID>%s</policyID>'
                '<policyFriendlyName>corp.test enrollment policy</policyFriendlyName>'
                '<nextUpdateHours>%d</nextUpdateHours>%s</response>%s<oIDs>%s</oIDs>'
                '</GetPoliciesResponse>' % (NS_XCEP, self.policy_id, NEXT_UPDATE_HOURS,
                                            policies, cas if not not_changed else
                                            '<cAs xsi:nil="true"/>', oidx)), len(pols), not_changed

    @staticmethod
    def policy_xml(t, auto, published, oid_ref):
        def num(attr):
            v = t.raw.get(attr)
            return str(t.i(attr)) if v else None

        def opt(tag, v):
            return "<%s>%s</%s>" % (tag, v, tag) if v is not None else '<%s xsi:nil="true"/>' % tag
        ref = oid_ref(t.oid, 9, t.s("displayName", t.cn)) if t.oid else None
        validity = filetime_to_seconds(t.raw.get("pKIExpirationPeriod", [b""])[0])
        renewal = filetime_to_seconds(t.raw.get("pKIOverlapPeriod", [b""])[0])
        sup = t.strs("msPKI-Supersede-Templates") if "msPKI-Supersede-Templates" in t.raw else []
        ext = []
        for o, name in (("2.5.29.37", "Enhanced Key Usage"),):
            ekus = t.strs("pKIExtendedKeyUsage")
            if ekus:
                e = x509.ExtendedKeyUsage([x509.ObjectIdentifier(x) for x in ekus])
                ext.append('<extension><oIDReference>%d</oIDReference><critical>false</critical>'
                           '<value>%s</value></extension>' % (oid_ref(o, 6, name), b64(e.public_bytes())))
        ra = t.i("msPKI-RA-Signature")
        # MS-XCEP 3.1.4.1.3.20 algorithmOIDReference: the key's asymmetric
        # algorithm, an OID of group 3 (public key) named by its CNG name
        alg = t.asymmetric_algorithm() if t.schema >= 3 else None
        alg_oid = ALG_OIDS.get(alg.upper()) if alg else None
        alg_ref = oid_ref(alg_oid, 3, alg.upper()) if alg_oid else None
        # MS-XCEP 3.1.4.1.3.15 keyArchivalAttributes: the template's
        # msPKI-Symmetric-Algorithm converted to an OID (group 2, encryption
        # algorithms) and its -Key-Length (3.1.4.1.3.x processing: "the value
        # of the <symmetricAlgorithmOIDReference> element is converted to an OID")
        sym = t.symmetric_algorithm()
        sym_oid = SYM_OIDS.get((sym[0].upper(), sym[1] or 0)) or SYM_OIDS.get((sym[0].upper(), 0)) \
            if sym else None
        keyarch = ('<keyArchivalAttributes><symmetricAlgorithmOIDReference>%d</symmetricAlgorithmOIDReference>'
                   '<symmetricAlgorithmKeyLength>%d</symmetricAlgorithmKeyLength></keyArchivalAttributes>'
                   % (oid_ref(sym_oid[0], 2, sym_oid[1]), sym[1] or sym_oid[2])) if sym_oid else \
            '<keyArchivalAttributes xsi:nil="true"/>'
        return ('<policy><policyOIDReference>%s</policyOIDReference><cAs>%s</cAs><attributes>'
                '<commonName>%s</commonName><policySchema>%d</policySchema>'
                '<certificateValidity><validityPeriodSeconds>%d</validityPeriodSeconds>'
                '<renewalPeriodSeconds>%d</renewalPeriodSeconds></certificateValidity>'
                '<permission><enroll>true</enroll><autoEnroll>%s</autoEnroll></permission>'
                '<privateKeyAttributes><minimalKeyLength>%d</minimalKeyLength><keySpec>1</keySpec>'
                '<keyUsageProperty xsi:nil="true"/><permissions xsi:nil="true"/>'
                '%s<cryptoProviders xsi:nil="true"/>'
                '</privateKeyAttributes><revision><majorRevision>%d</majorRevision>'
                '<minorRevision>%d</minorRevision></revision>%s%s%s%s%s'
                '<hashAlgorithmOIDReference xsi:nil="true"/>%s'
                '%s<extensions>%s</extensions>'
                '</attributes></policy>'
                % (ref if ref is not None else "", "<cAReference>0</cAReference>" if published else "",
                   escape(t.cn), t.schema, validity, renewal, "true" if auto else "false",
                   t.i("msPKI-Minimal-Key-Size", 2048), opt("algorithmOIDReference", alg_ref),
                   t.i("revision"),
                   t.i("msPKI-Template-Minor-Revision"),
                   ("<supersededPolicies>%s</supersededPolicies>" %
                    "".join("<commonName>%s</commonName>" % escape(x) for x in sup))
                   if sup else '<supersededPolicies xsi:nil="true"/>',
                   opt("privateKeyFlags", num("msPKI-Private-Key-Flag")),
                   opt("subjectNameFlags", num("msPKI-Certificate-Name-Flag")),
                   opt("enrollmentFlags", num("msPKI-Enrollment-Flag")),
                   opt("generalFlags", num("flags")),
                   ('<rARequirements><rASignatures>%d</rASignatures><rAEKUs xsi:nil="true"/>'
                    '<rAPolicies xsi:nil="true"/></rARequirements>' % ra) if ra
                   else '<rARequirements xsi:nil="true"/>',
                   keyarch, "".join(ext)))


# ------------------------------------------------------------------ WSTEP
class Enrollment:
    """RequestSecurityToken (MS-WSTEP 3.1.4.2.1), issued by the lab CA's code."""

    def __init__(self, lab, store, ca):
        self.app = labca.IcprApp(lab, store, ca)
        self.store = store

    def answer(self, principal, peer, rst, renewal_of=None):
        """RENEWAL_OF: the TLS client certificate (DER) of a renewal-only
        CES: only a renewal of that certificate is taken."""
        rtype = (rst.findtext("{%s}RequestType" % NS_WST) or "").strip()
        rid_txt = rst.findtext("{%s}RequestID" % NS_ENR)
        bst = rst.find("{%s}BinarySecurityToken" % NS_WSSE)
        attribs = {}
        ctx = rst.find("{%s}AdditionalContext" % NS_AUTH)
        if ctx is not None:
            for item in ctx.findall("{%s}ContextItem" % NS_AUTH):
                name = (item.get("Name") or "").replace(" ", "").replace("-", "").lower()
                if name:
                    attribs[name] = (item.findtext("{%s}Value" % NS_AUTH) or "").strip()
        if rtype == RT_ISSUE:
            if bst is None or not (bst.text or "").strip():
                raise ValueError("Issue without a BinarySecurityToken (MS-WSTEP 3.1.4.2.1.1)")
            blob = base64.b64decode("".join(bst.text.split()))
            if renewal_of is not None:
                self.renewal_only(principal, peer, blob, renewal_of)
            a = dict(flags=0, authority=policy.CA_NAME, request_id=0, attribs=b"", request=blob)
            kind = "issue"
        elif rtype == RT_QUERY:
            if not rid_txt or not rid_txt.strip().isdigit():
                raise ValueError("QueryTokenStatus without a RequestID (MS-WSTEP 3.1.4.2.1.2)")
            if renewal_of is not None:
                raise Fault("This enrollment service accepts only renewal requests.",
                            policy.E_ACCESSDENIED, 0, True)
            a = dict(flags=0, authority=policy.CA_NAME, request_id=int(rid_txt.strip()),
                     attribs=b"", request=b"")
            kind = "query"
        else:
            raise ValueError("RequestType %r is not Issue or QueryTokenStatus" % rtype)
        conn = types.SimpleNamespace(gss=types.SimpleNamespace(principal=principal), peer=peer)
        e = dict(transport="wstep", peer=peer, caller=principal, wstep=kind,
                 attributes=attribs, request_id_in=a["request_id"])
        rid, disp, chain, cert, msg, ret = self.app.process(conn, a, attribs, True, e)
        e.update(request_id=rid, disposition=disp, message=msg, return_value=ret)
        if "hresult" not in e:
            e["hresult"] = 0 if disp in (3, 5) else disp
        self.store.log(e)
        log.info("%s %s: wstep %s template=%s -> id=%s disposition=0x%x %s", peer, principal,
                 kind, e.get("template"), rid, disp, msg)
        return rid, disp, chain, cert, msg, ret

    def renewal_only(self, principal, peer, blob, client_der):
        """A renewal-only CES: the request must renew the TLS client's own
        certificate (szOID_RENEWAL_CERTIFICATE = that certificate; the CA
        then verifies the signature with its key); anything else, a new
        enrollment above all, is refused before the CA sees it."""
        try:
            p = policy.parse_request(blob, 0)
            olds = [v[0] for o, v in policy.csr_attributes(p.csr_der) if o == policy.OID_RENEWAL_CERT and v]
        except Deny:
            olds = []
        if olds != [client_der]:
            why = "a renewal of another certificate" if olds else "not a renewal"
            self.store.log(dict(transport="wstep", peer=peer, caller=principal, wstep="issue",
                                renewal_only=True, hresult=policy.E_ACCESSDENIED, detail=why))
            log.info("%s %s: renewal-only CES refuses the request: %s", peer, principal, why)
            raise Fault("This enrollment service accepts only renewal requests of the client certificate "
                        "(key-based renewal): %s." % why, policy.E_ACCESSDENIED, 0, True)

    def key_exchange(self, principal, peer, rst):
        """MS-WSTEP 3.1.4.2.2.1: RequestType KET with RequestKET -> the
        RequestSecurityTokenResponseCollection with the KeyExchangeToken."""
        rtype = (rst.findtext("{%s}RequestType" % NS_WST) or "").strip()
        if rtype != RT_KET:
            raise ValueError("RequestType %r with the KET action" % rtype)
        if rst.find("{%s}RequestKET" % NS_WST) is None:
            raise ValueError("KET request without RequestKET (MS-WSTEP 3.1.4.2.2.1)")
        _key, xcert = self.app.ca.exchange()
        xder = xcert.public_bytes(serialization.Encoding.DER)
        self.store.log(dict(transport="wstep", peer=peer, caller=principal, wstep="ket",
                            serial="%x" % xcert.serial_number))
        log.info("%s %s: wstep KET -> exchange certificate %x", peer, principal, xcert.serial_number)
        return ('<RequestSecurityTokenResponseCollection xmlns="%s"><RequestSecurityTokenResponse>'
                '<TokenType>%s</TokenType><RequestedSecurityToken><KeyExchangeToken>'
                '<BinarySecurityToken ValueType="%s" EncodingType="%s" xmlns="%s">%s</BinarySecurityToken>'
                '</KeyExchangeToken></RequestedSecurityToken></RequestSecurityTokenResponse>'
                '</RequestSecurityTokenResponseCollection>'
                % (NS_WST, VT_X509, VT_X509, ENC_B64, NS_WSSE, b64(xder)))

    @staticmethod
    def response(rid, disp, chain, cert, msg, ret):
        """-> (action, body) or raises Fault"""
        if disp == policy.CR_DISP_ISSUED:
            rst = ('<RequestedSecurityToken><BinarySecurityToken ValueType="%s" EncodingType="%s" '
                   'xmlns="%s">%s</BinarySecurityToken></RequestedSecurityToken>'
                   % (VT_X509, ENC_B64, NS_WSSE, b64(cert)))
            token = ('<BinarySecurityToken ValueType="%s" EncodingType="%s" xmlns="%s">%s'
                     '</BinarySecurityToken>' % (VT_PKCS7, ENC_B64, NS_WSSE, b64(chain)))
        elif disp == policy.CR_DISP_UNDER_SUBMISSION:
            # MS-WSTEP 3.1.4.1.3.2: a pending answer refers to where to retrieve it
            rst = ('<RequestedSecurityToken><SecurityTokenReference xmlns="%s"><Reference URI="https://%s%s"/>'
                   '</SecurityTokenReference></RequestedSecurityToken>' % (NS_WSSE, HOST, CES_PATH))
            token = ""
        else:
            hr = ret or disp
            if disp == policy.CR_DISP_DENIED and not hr:
                hr = policy.CERTSRV_E_ADMIN_DENIED_REQUEST
            raise Fault(msg or labca.TEXT(hr), hr, rid, disp == policy.CR_DISP_DENIED or disp > 0xFFFF)
        return ACT_RSTRC, ('<RequestSecurityTokenResponseCollection xmlns="%s"><RequestSecurityTokenResponse>'
                           '<TokenType>%s</TokenType><DispositionMessage xml:lang="en-US" xmlns="%s">%s'
                           '</DispositionMessage>%s%s<RequestID xmlns="%s">%d</RequestID>'
                           '</RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection>'
                           % (NS_WST, VT_X509, NS_ENR, escape(msg), token, rst, NS_ENR, rid))


class Fault(Exception):
    def __init__(self, reason, hresult, rid, invalid):
        super().__init__(reason)
        self.reason, self.hresult, self.rid, self.invalid = reason, hresult, rid, invalid

    def detail(self):
        # MS-WSTEP 3.1.4.1.3.7; ErrorCode is an xs:int (signed)
        code = self.hresult - (1 << 32) if self.hresult >= 1 << 31 else self.hresult
        return ('<s:Detail><CertificateEnrollmentWSDetail xmlns="%s">'
                '<BinaryResponse xsi:nil="true"/><ErrorCode>%d</ErrorCode>'
                '<InvalidRequest>%s</InvalidRequest>%s</CertificateEnrollmentWSDetail></s:Detail>'
                % (NS_ENR, code, "true" if self.invalid else "false",
                   '<RequestID>%d</RequestID>' % self.rid if self.rid else
                   '<RequestID xsi:nil="true"/>'))


# ------------------------------------------------------------------ HTTP
def handler(pol, enr, lab_state, binding):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, code, body=b"", extra=()):
            self.send_response(code)
            for k, v in extra:
                self.send_header(k, v)
            if body:
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.reply(405, b"", [("Allow", "POST")])

        def do_POST(self):
            path = self.path.split("?")[0]
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self.reply(413)
                self.close_connection = True
                return
            body = self.rfile.read(n)
            lp = path.lower()
            password = lp in (CEP_UP_PATH.lower(), CES_UP_PATH.lower())
            kbr = lp == CES_KBR_PATH.lower()
            kbr_cep = lp == CEP_KBR_PATH.lower()
            certificate = kbr or kbr_cep or lp in (CEP_CERT_PATH.lower(), CES_CERT_PATH.lower())
            if lp not in (CEP_PATH.lower(), CES_PATH.lower()) and not password and not certificate:
                self.reply(404)
                return
            if certificate:
                try:
                    principal, out = client_certificate(self.connection.getpeercert(True),
                                                        policy.REALM), None
                except Unauthorized as ex:
                    log.info("%s: 403 (%s)", self.client_address[0], ex)
                    self.reply(403)
                    return
                lp = CEP_PATH.lower() if lp in (CEP_CERT_PATH.lower(), CEP_KBR_PATH.lower()) else CES_PATH.lower()
                if kbr:
                    log.info("%s %s: renewal-only CES, client certificate serial %x", self.client_address[0],
                             principal, x509.load_der_x509_certificate(
                                 self.connection.getpeercert(True)).serial_number)
            elif password:
                try:
                    principal, out = username_token(body, policy.REALM), None
                except Unauthorized as ex:
                    # WCF: a fault, "An error occurred when verifying
                    # security for the message"
                    log.info("%s: security fault (%s)", self.client_address[0], ex)
                    self.reply(500, fault("An error occurred when verifying security for the message."))
                    return
                lp = CEP_PATH.lower() if lp == CEP_UP_PATH.lower() else CES_PATH.lower()
            else:
                try:
                    epa = os.path.exists(os.path.join(lab_state, "epa")) and binding
                    principal, out = negotiate(self.headers.get("Authorization"), binding if epa else None)
                except Unauthorized as ex:
                    log.info("%s: 401 (%s)", self.client_address[0], ex)
                    self.reply(401, b"", [("WWW-Authenticate", "Negotiate")])
                    return
            hdrs = [("WWW-Authenticate", "Negotiate " + b64(out))] if out else []
            msgid = None
            try:
                action, msgid, req = parse_envelope(body)
                if lp == CEP_PATH.lower():
                    if action != ACT_GETPOLICIES or req.tag != "{%s}GetPolicies" % NS_XCEP:
                        raise ValueError("action %r is not GetPolicies" % action)
                    xml, count, same = pol.answer(principal, req, password, certificate, kbr_cep)
                    log.info("%s %s: GetPolicies -> %d policies%s", self.client_address[0],
                             principal, count, " (not changed)" if same else "")
                    self.reply(200, envelope(ACT_GETPOLICIES + "Response", xml, msgid), hdrs)
                    return
                if action == ACT_KET and req.tag == "{%s}RequestSecurityToken" % NS_WST:
                    xml = enr.key_exchange(principal, self.client_address[0], req)
                    self.reply(200, envelope(ACT_KETFINAL, xml, msgid), hdrs)
                    return
                if action != ACT_RST or req.tag != "{%s}RequestSecurityToken" % NS_WST:
                    raise ValueError("action %r is not RST/wstep" % action)
                res = enr.answer(principal, self.client_address[0], req,
                                 self.connection.getpeercert(True) if kbr else None)
                act, xml = Enrollment.response(*res)
                self.reply(200, envelope(act, xml, msgid), hdrs)
            except Fault as f:
                self.reply(500, fault(f.reason, msgid, f.detail()), hdrs)
            except Deny as d:
                self.reply(500, fault(d.message, msgid, Fault(d.message, d.hresult, 0, True).detail()),
                           hdrs)
            except (ValueError, ET.ParseError) as ex:
                log.info("%s %s: bad request: %s", self.client_address[0], principal, ex)
                self.reply(500, fault(str(ex), msgid), hdrs)
            except Exception as ex:  # noqa: BLE001 - a fault, as WCF answers
                log.exception("internal error")
                self.reply(500, fault("internal error: %s" % ex, msgid), hdrs)

        def log_message(self, fmt, *args):
            log.info("https %s: %s", self.client_address[0], fmt % args)
    return H


def serve(lab):
    state = os.path.join(lab, "ces")
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "ces.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    os.environ["KRB5_KTNAME"] = "FILE:" + os.path.join(lab, "ces.keytab")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = Store(labca.state_dir(lab))
    ca = policy.CA(lab, store)
    ca.dir.ccache = os.path.join(state, "ca1.ccache")   # not the CA process's
    pol, enr = Policy(ca, state), Enrollment(lab, store, ca)
    tls = make_tls(lab, state)
    for port, pem in ((PORT, tls["tls.pem"]), (ROGUE_PORT, tls["rogue.pem"])):
        # tls-server-end-point (RFC 5929): "tls-server-end-point:" and the
        # SHA-256 of the server certificate (signed with SHA-256)
        with open(pem, "rb") as f:
            leaf = x509.load_pem_x509_certificate(f.read())
        binding = b"tls-server-end-point:" + leaf.fingerprint(hashes.SHA256())
        httpd = http.server.ThreadingHTTPServer((ADDR, port), handler(pol, enr, state, binding))
        httpd.daemon_threads = True
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.minimum_version = ssl.TLSVersion.TLSv1_2
        sctx.load_cert_chain(pem)
        # client certificates are asked for and checked against the lab
        # PKI; only the Certificate endpoints need one
        sctx.verify_mode = ssl.CERT_OPTIONAL
        sctx.load_verify_locations(os.path.join(lab, "pki", "root.pem"))
        sctx.load_verify_locations(os.path.join(lab, "pki", "ca1.pem"))
        httpd.socket = sctx.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    # port 9443: a CES host that accepts connections and never answers
    # (the listen backlog; nothing accepts): for failover within the timeout
    hung = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind((ADDR, HUNG_PORT))
    hung.listen(64)
    log.info("CEP https://%s%s and CES https://%s%s on %s:%d (self-signed copy on :%d)",
             HOST, CEP_PATH, HOST, CES_PATH, ADDR, PORT, ROGUE_PORT)
    try:
        ca.dir.query(lambda db: None)
    except Exception as ex:  # noqa: BLE001
        log.warning("directory not reachable yet: %s", ex)
    threading.Event().wait()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: ces.py serve LAB")
    serve(os.path.abspath(sys.argv[2]))
