# The lab CA's policy and issuance: request parsing (PKCS#10, CMS+PKCS#10,
# CMC, renewal), template identification and checks, the Enroll access check
# on the template's security descriptor, subject/SAN from AD, certificate
# construction.  Follows MS-WCCE 3.2.1.4.2.1 and 3.2.2.6.2.1.4.x, MS-CRTD.

import datetime
import hashlib
import logging
import os
import struct
import subprocess
import threading
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

import archive
import crl
import der

log = logging.getLogger("labca.policy")

CA_SHORT = "CA1"          # the CA computer's NetBIOS name; files are named after it in lower case
CA_NAME = "CORP-CA1"
CA_HOST = "ca1.corp.test"
REALM = "CORP.TEST"
NETBIOS = "CORP"
DC_HOST = "dc1.corp.test"
DC_URL = "ldap://" + DC_HOST
AIA_URL = "http://%s/CertEnroll/%s_%s.crt" % (CA_HOST, CA_HOST, CA_NAME)


def configure(short):
    """Makes this process the lab CA SHORT ("ca1": CORP-CA1 on ca1.corp.test,
    "ca2": CORP-CA2 on ca2.corp.test): same code, its own key, keytab and
    enrollment service object."""
    global CA_SHORT, CA_NAME, CA_HOST, AIA_URL
    CA_SHORT = short.upper()
    CA_NAME = "CORP-" + CA_SHORT
    CA_HOST = "%s.%s" % (short.lower(), REALM.lower())
    AIA_URL = "http://%s/CertEnroll/%s_%s.crt" % (CA_HOST, CA_HOST, CA_NAME)
    crl.configure(CA_SHORT, CA_NAME, CA_HOST)

ENROLL_GUID = "0e10c968-78fb-11d2-90d4-00c04f79dc55"
AUTOENROLL_GUID = "a05b8cc2-17bc-4802-a710-e7c15ab866a2"

# HRESULTs
S_OK = 0
E_INVALIDARG = 0x80070057
E_ACCESSDENIED = 0x80070005
SID_CERT_DCOM_ACCESS = "S-1-5-32-574"
ERROR_DS_NO_SUCH_OBJECT_HR = 0x80072030   # LDAP noSuchObject via MS-WCCE 3.2.2.1.7
NTE_BAD_SIGNATURE = 0x80090006
NTE_BAD_ALGID = 0x80090008
CRYPT_E_NO_SIGNER = 0x8009200E
CRYPT_E_ASN1_BADTAG = 0x8009310B
CRYPT_E_REVOKED = 0x80092010
CRYPT_E_REVOCATION_OFFLINE = 0x80092013
CERT_E_EXPIRED = 0x800B0101
CERT_E_CHAINING = 0x800B010A
CERTSRV_E_BAD_REQUESTSUBJECT = 0x80094001
CERTSRV_E_PROPERTY_EMPTY = 0x80094004
CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE = 0x8009400E
CERTSRV_E_TEMPLATE_DENIED = 0x80094012
CERTSRV_E_ADMIN_DENIED_REQUEST = 0x80094014
CERTSRV_E_UNSUPPORTED_CERT_TYPE = 0x80094800
CERTSRV_E_NO_CERT_TYPE = 0x80094801
CERTSRV_E_TEMPLATE_CONFLICT = 0x80094802
CERTSRV_E_ARCHIVED_KEY_REQUIRED = 0x80094804
CERTSRV_E_SMIME_REQUIRED = 0x80094805
CERTSRV_E_BAD_RENEWAL_SUBJECT = 0x80094806
CERTSRV_E_BAD_TEMPLATE_VERSION = 0x80094807
CERTSRV_E_SIGNATURE_POLICY_REQUIRED = 0x80094809
CERTSRV_E_SIGNATURE_COUNT = 0x8009480A
CERTSRV_E_SIGNATURE_REJECTED = 0x8009480B
CERTSRV_E_SUBJECT_UPN_REQUIRED = 0x8009480D
CERTSRV_E_SUBJECT_DIRECTORY_GUID_REQUIRED = 0x8009480E
CERTSRV_E_SUBJECT_DNS_REQUIRED = 0x8009480F
CERTSRV_E_KEY_LENGTH = 0x80094811
CERTSRV_E_SUBJECT_EMAIL_REQUIRED = 0x80094812
CERTSRV_E_CERT_TYPE_OVERLAP = 0x80094814
CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY = 0x80094816
CERTSRV_E_KEY_ATTESTATION = 0x8009481A

TEXT = {
    E_INVALIDARG: "The parameter is incorrect.",
    E_ACCESSDENIED: "Access is denied.",
    ERROR_DS_NO_SUCH_OBJECT_HR: "There is no such object on the server.",
    NTE_BAD_SIGNATURE: "Invalid Signature.",
    NTE_BAD_ALGID: "Invalid algorithm specified.",
    CRYPT_E_NO_SIGNER: "The message does not contain any signers.",
    CRYPT_E_ASN1_BADTAG: "ASN1 bad tag value met.",
    CRYPT_E_REVOKED: "The certificate is revoked.",
    CRYPT_E_REVOCATION_OFFLINE: "The revocation function was unable to check revocation because the revocation server was offline.",
    CERT_E_EXPIRED: "A required certificate is not within its validity period.",
    CERT_E_CHAINING: "A certificate chain could not be built to a trusted root authority.",
    CERTSRV_E_BAD_REQUESTSUBJECT: "The request subject name is invalid or too long.",
    CERTSRV_E_PROPERTY_EMPTY: "The requested property value is empty.",
    CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE: "The request contains an invalid renewal certificate attribute.",
    CERTSRV_E_TEMPLATE_DENIED: "The permissions on the certificate template do not allow the "
                               "current user to enroll for this type of certificate.",
    CERTSRV_E_ADMIN_DENIED_REQUEST: "The request was denied by a certificate manager or CA administrator.",
    CERTSRV_E_UNSUPPORTED_CERT_TYPE: "The requested certificate template is not supported by this CA.",
    CERTSRV_E_NO_CERT_TYPE: "The request contains no certificate template information.",
    CERTSRV_E_TEMPLATE_CONFLICT: "The request contains conflicting template information.",
    CERTSRV_E_ARCHIVED_KEY_REQUIRED: "The request must include a private key for archival by the server.",
    CERTSRV_E_BAD_RENEWAL_SUBJECT: "The request was made on behalf of a subject other than the caller.  The "
                                   "certificate template must be configured to require at least one signature "
                                   "to authorize the request.",
    CERTSRV_E_SMIME_REQUIRED: "The request is missing a required SMIME capabilities extension.",
    CERTSRV_E_BAD_TEMPLATE_VERSION: "The request template version is newer than the supported template version.",
    CERTSRV_E_SIGNATURE_POLICY_REQUIRED: "The request is missing required signature policy information.",
    CERTSRV_E_SIGNATURE_COUNT: "The request is missing one or more required signatures.",
    CERTSRV_E_SIGNATURE_REJECTED: "One or more signatures did not include the required application or "
                                  "issuance policies.  The request is missing one or more required valid "
                                  "signatures.",
    CERTSRV_E_SUBJECT_UPN_REQUIRED: "The UPN is unavailable and cannot be added to the Subject Alternate name.",
    CERTSRV_E_SUBJECT_DIRECTORY_GUID_REQUIRED: "The Active Directory GUID is unavailable and cannot be "
                                               "added to the Subject Alternate name.",
    CERTSRV_E_SUBJECT_DNS_REQUIRED: "The DNS name is unavailable and cannot be added to the Subject Alternate name.",
    CERTSRV_E_KEY_LENGTH: "The public key does not meet the minimum size required by the specified "
                          "certificate template.",
    CERTSRV_E_SUBJECT_EMAIL_REQUIRED: "The email name is unavailable and cannot be added to the Subject "
                                      "or Subject Alternate name.",
    CERTSRV_E_CERT_TYPE_OVERLAP: "The certificate template renewal period is longer than the certificate "
                                 "validity period.  The template should be reconfigured or the CA certificate "
                                 "renewed.",
    CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY: "The certificate template requires renewal with the same public key, "
                                      "but the request uses a different public key.",
    CERTSRV_E_KEY_ATTESTATION: "The request does not support private key attestation as defined in the "
                               "certificate template.",
}

# dispositions
CR_DISP_DENIED, CR_DISP_ISSUED, CR_DISP_UNDER_SUBMISSION = 2, 3, 5

# template flags (MS-CRTD 2.4, 2.26, 2.27, 2.28)
CT_FLAG_MACHINE_TYPE = 0x40
CT_FLAG_IS_CA = 0x80
EF_INCLUDE_SYMMETRIC_ALGORITHMS = 0x1
EF_PEND_ALL_REQUESTS = 0x2
EF_PUBLISH_TO_DS = 0x8
EF_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT = 0x40
EF_NO_SECURITY_EXTENSION = 0x80000
EF_NOREVOCATIONINFOINISSUEDCERTS = 0x4000
EF_INCLUDE_BASIC_CONSTRAINTS_FOR_EE_CERTS = 0x8000
EF_ISSUANCE_POLICIES_FROM_REQUEST = 0x20000
PKF_REQUIRE_PRIVATE_KEY_ARCHIVAL = 0x1
PKF_REQUIRE_SAME_KEY_RENEWAL = 0x80
PKF_ATTEST_REQUIRED = 0x2000
NF_ENROLLEE_SUPPLIES_SUBJECT = 0x1
NF_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME = 0x8
NF_ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME = 0x10000
NF_SAN_REQUIRE_DOMAIN_DNS = 0x400000
NF_SAN_REQUIRE_SPN = 0x800000
NF_SAN_REQUIRE_DIRECTORY_GUID = 0x1000000
NF_SAN_REQUIRE_UPN = 0x2000000
NF_SAN_REQUIRE_EMAIL = 0x4000000
NF_SAN_REQUIRE_DNS = 0x8000000
NF_SUBJECT_REQUIRE_DNS_AS_CN = 0x10000000
NF_SUBJECT_REQUIRE_EMAIL = 0x20000000
NF_SUBJECT_REQUIRE_COMMON_NAME = 0x40000000
NF_SUBJECT_REQUIRE_DIRECTORY_PATH = 0x80000000

OID_TEMPLATE_V2 = "1.3.6.1.4.1.311.21.7"
OID_TEMPLATE_NAME = "1.3.6.1.4.1.311.20.2"
OID_APP_POLICIES = "1.3.6.1.4.1.311.21.10"
OID_SID_EXT = "1.3.6.1.4.1.311.25.2"
OID_SID_OTHERNAME = "1.3.6.1.4.1.311.25.2.1"
OID_UPN = "1.3.6.1.4.1.311.20.2.3"
OID_NTDS_REPLICATION = "1.3.6.1.4.1.311.25.1"
OID_RENEWAL_CERT = "1.3.6.1.4.1.311.13.1"
OID_NAME_VALUE = "1.3.6.1.4.1.311.13.2.1"
OID_EXT_REQ = "1.2.840.113549.1.9.14"
OID_EXT_REQ_MS = "1.3.6.1.4.1.311.2.1.14"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_DATA = "1.2.840.113549.1.7.1"
OID_PKIDATA = "1.3.6.1.5.5.7.12.2"
OID_CMC_REGINFO = "1.3.6.1.5.5.7.7.18"
OID_CMC_ADD_ATTRIBUTES = "1.3.6.1.4.1.311.10.10.1"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SMIME_CAPS = "1.2.840.113549.1.9.15"
OID_CERT_POLICIES = "2.5.29.32"
OID_CERT_REQUEST_AGENT = "1.3.6.1.4.1.311.20.2.1"  # szOID_ENROLLMENT_AGENT
OID_NO_SIGNATURE = "1.3.6.1.5.5.7.6.2"     # id-alg-noSignature (RFC 2797 3.3.3.1 / RFC 5272)
# key attestation request attributes (MS-WCCE 2.2.2.8.x, 3.1.1.4.3.4)
OID_ATTESTATION = ("1.3.6.1.4.1.311.21.23", "1.3.6.1.4.1.311.21.24", "1.3.6.1.4.1.311.21.39")

HASHES = {
    "1.3.14.3.2.26": hashes.SHA1, "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384, "2.16.840.1.101.3.4.2.3": hashes.SHA512,
    "1.2.840.113549.1.1.5": hashes.SHA1, "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384, "1.2.840.113549.1.1.13": hashes.SHA512,
    "1.2.840.10045.4.1": hashes.SHA1, "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384, "1.2.840.10045.4.3.4": hashes.SHA512,
}


class Deny(Exception):
    """Policy result other than issue: hresult (+ optional message)."""

    def __init__(self, hresult, detail=None):
        self.hresult = hresult
        self.detail = detail
        super().__init__("0x%08x %s" % (hresult, detail or TEXT.get(hresult, "")))

    @property
    def message(self):
        return "Denied by Policy Module  0x%x, %s" % (self.hresult, TEXT.get(self.hresult, self.detail or ""))


# ------------------------------------------------------------------ SIDs / SD
def sid_from_bytes(b, off=0):
    rev, n = b[off], b[off + 1]
    auth = int.from_bytes(b[off + 2:off + 8], "big")
    subs = struct.unpack_from("<%dI" % n, b, off + 8)
    return "S-%d-%d" % (rev, auth) + "".join("-%d" % s for s in subs), 8 + 4 * n


def guid_from_bytes(b):
    import uuid
    return str(uuid.UUID(bytes_le=bytes(b)))


def sd_aces(sd):
    """Parse the DACL of a self-relative security descriptor -> list of
    dict(type, flags, mask, object_type, sid)."""
    dacl_off = struct.unpack_from("<I", sd, 16)[0]
    if not dacl_off:
        return None  # NULL DACL: everyone has access
    count = struct.unpack_from("<H", sd, dacl_off + 4)[0]
    off = dacl_off + 8
    aces = []
    for _ in range(count):
        atype, aflags, asize = struct.unpack_from("<BBH", sd, off)
        body = off + 4
        mask = struct.unpack_from("<I", sd, body)[0]
        ace = dict(type=atype, flags=aflags, mask=mask, object_type=None, sid=None)
        if atype in (0, 1):
            ace["sid"] = sid_from_bytes(sd, body + 4)[0]
        elif atype in (5, 6):
            oflags = struct.unpack_from("<I", sd, body + 4)[0]
            p = body + 8
            if oflags & 1:
                ace["object_type"] = guid_from_bytes(sd[p:p + 16])
                p += 16
            if oflags & 2:
                p += 16
            ace["sid"] = sid_from_bytes(sd, p)[0]
        aces.append(ace)
        off += asize
    return aces


def can_enroll(sd, sids, right=None):
    """MS-CRTD 2.5.1: walk the DACL in order; the first ACE that matches one
    of the caller's SIDs and speaks about the Enroll extended right (CR bit
    0x100 with no object type or the Enroll GUID; GENERIC_ALL) decides.
    right: the extended right's GUID, Enroll unless given (the CEP server
    asks about AutoEnroll with the same walk).
    -> (allowed: bool, deciding ACE or None)"""
    right = right or ENROLL_GUID
    aces = sd_aces(sd)
    if aces is None:
        return True, None
    for ace in aces:
        if ace["flags"] & 0x08:  # INHERIT_ONLY
            continue
        if ace["sid"] not in sids:
            continue
        if not ace["mask"] & (0x100 | 0x10000000):
            continue
        if ace["type"] in (5, 6) and ace["object_type"] not in (None, right):
            continue
        if ace["type"] in (0, 5):
            return True, ace
        if ace["type"] in (1, 6):
            return False, ace
    return False, None


# ------------------------------------------------------------------ directory
class Directory:
    """AD access as the CA's computer account (CA1$; CA2$ for CORP-CA2; Kerberos from the keytab)
    through python3-samba's SamDB over LDAP (sign+seal)."""

    def __init__(self, lab, cadir):
        self.lab = lab
        self.cadir = cadir
        self.keytab = os.path.join(lab, CA_SHORT.lower() + ".keytab")
        self.ccache = os.path.join(cadir, CA_SHORT.lower() + ".ccache")
        self.lock = threading.Lock()
        self.kinit_time = 0
        self.base = "DC=corp,DC=test"
        self.config = "CN=Configuration," + self.base
        self.pks = "CN=Public Key Services,CN=Services," + self.config

    def _kinit(self):
        subprocess.run(["kinit", "-k", "-t", self.keytab, "-c", "FILE:" + self.ccache,
                        CA_SHORT + "$@" + REALM], check=True, capture_output=True)
        self.kinit_time = time.time()

    def _connect(self, url=DC_URL):
        from samba.credentials import MUST_USE_KERBEROS, Credentials
        from samba.param import LoadParm
        from samba.samdb import SamDB
        if time.time() - self.kinit_time > 3600 or not os.path.exists(self.ccache):
            self._kinit()
        lp = LoadParm()
        lp.set("realm", REALM)
        lp.set("workgroup", "CORP")
        creds = Credentials()
        creds.guess(lp)
        creds.set_kerberos_state(MUST_USE_KERBEROS)
        creds.set_named_ccache(self.ccache)
        return SamDB(url=url, credentials=creds, lp=lp)

    def as_admin(self, fn):
        """FN(db) as the lab's Administrator (what AD CS setup does as an
        Enterprise Admin: creating the CA's objects)."""
        from samba.credentials import Credentials
        from samba.param import LoadParm
        from samba.samdb import SamDB
        pw = {}
        with open(os.path.join(self.lab, "passwords")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    pw[k] = v
        lp = LoadParm()
        lp.set("realm", REALM)
        lp.set("workgroup", "CORP")
        creds = Credentials()
        creds.guess(lp)
        creds.set_username("Administrator")
        creds.set_password(pw["Administrator"])
        with self.lock:
            return fn(SamDB(url=DC_URL, credentials=creds, lp=lp))

    def query(self, fn, url=DC_URL):
        with self.lock:
            try:
                db = self._connect(url)
            except Exception:
                self._kinit()
                db = self._connect(url)
            return fn(db)

    def unreplicated(self):
        """labctl ca-unreplicated: sAMAccountNames the working directory
        pretends not to have yet (a just-joined machine on another DC)."""
        try:
            with open(os.path.join(self.cadir, "unreplicated")) as f:
                return {ln.strip().lower() for ln in f if ln.strip()}
        except OSError:
            return set()

    def is_dc(self, fqdn):
        """MS-WCCE 3.2.2.1.3.1: the computer with servicePrincipalName
        HOST/<fqdn> whose serverReferenceBL holds exactly one nTDSDSA."""
        import ldb

        def q(db):
            r = db.search(self.base, scope=ldb.SCOPE_SUBTREE,
                          expression="(&(objectCategory=computer)(servicePrincipalName=HOST/%s))" %
                          self._escape(fqdn), attrs=["dNSHostName", "serverReferenceBL"])
            if len(r) != 1 or "serverReferenceBL" not in r[0]:
                return False
            d = db.search(str(r[0]["serverReferenceBL"][0]), scope=ldb.SCOPE_SUBTREE,
                          expression="(objectCategory=nTDSDSA)", attrs=["cn"])
            return len(d) == 1
        return self.query(q)

    def publish(self, dn, cert_der):
        import ldb

        def q(db):
            r = db.search(dn, scope=ldb.SCOPE_BASE, attrs=["userCertificate"])
            have = [bytes(v) for v in r[0].get("userCertificate", [])]
            if cert_der in have:
                return "already there"
            keep = []
            limit = datetime.datetime.utcnow() - datetime.timedelta(hours=24)
            for c in have:
                try:
                    if x509.load_der_x509_certificate(c).not_valid_after < limit:
                        continue
                except ValueError:
                    pass
                keep.append(c)
            m = ldb.Message(ldb.Dn(db, dn))
            m["userCertificate"] = ldb.MessageElement(keep + [cert_der], ldb.FLAG_MOD_REPLACE,
                                                      "userCertificate")
            db.modify(m)
            return "published (%d values)" % (len(keep) + 1)
        return self.query(q)

    def enterprise_cas(self):
        """The CA certificates AD CS setup puts in CN=AIA (every enterprise
        CA of the forest)."""
        import ldb

        def q(db):
            r = db.search("CN=AIA," + self.pks, scope=ldb.SCOPE_ONELEVEL,
                          expression="(objectClass=certificationAuthority)", attrs=["cACertificate"])
            out = []
            for m in r:
                for v in m.get("cACertificate", []):
                    try:
                        out.append(x509.load_der_x509_certificate(bytes(v)))
                    except ValueError:
                        pass
            return out
        return self.query(q)

    def revoked_by(self, issuer, serial):
        """Whether ISSUER's CRL in AD (certificateRevocationList and
        deltaRevocationList of its objects under CN=CDP) lists SERIAL; None
        when AD holds no CRL of ISSUER."""
        import ldb

        def q(db):
            r = db.search("CN=CDP," + self.pks, scope=ldb.SCOPE_SUBTREE,
                          expression="(objectClass=cRLDistributionPoint)",
                          attrs=["certificateRevocationList", "deltaRevocationList"])
            return [bytes(v) for m in r for a in ("certificateRevocationList", "deltaRevocationList")
                    for v in m.get(a, []) if bytes(v)]
        found = None
        for d in self.query(q):
            try:
                c = x509.load_der_x509_crl(d)
            except ValueError:
                continue
            if c.issuer != issuer.subject or not c.is_signature_valid(issuer.public_key()):
                continue
            found = found or c.get_revoked_certificate_by_serial_number(serial) is not None
        return found

    @staticmethod
    def _escape(v):
        out = ""
        for ch in v:
            out += "\\%02x" % ord(ch) if ch in "*()\\\x00" else ch
        return out

    def account(self, principal, cdc=None, info=None):
        import ldb
        from samba.dcerpc import security
        from samba.ndr import ndr_unpack
        name, _, realm = principal.rpartition("@")
        if realm.upper() != REALM:
            raise Deny(E_ACCESSDENIED, "principal %s is not from %s" % (principal, REALM))

        def q(db):
            r = db.search(self.base, scope=ldb.SCOPE_SUBTREE,
                          expression="(sAMAccountName=%s)" % self._escape(name),
                          attrs=["objectSid", "primaryGroupID", "userPrincipalName", "mail",
                                 "dNSHostName", "sAMAccountName", "userAccountControl", "cn",
                                 "objectClass", "objectGUID", "servicePrincipalName"])
            if len(r) != 1:
                return None
            m = r[0]
            tg = db.search(m.dn, scope=ldb.SCOPE_BASE, attrs=["tokenGroups"])
            groups = [str(ndr_unpack(security.dom_sid, bytes(v)))
                      for v in tg[0].get("tokenGroups", [])]

            # BUILTIN\Certificate Service DCOM Access (S-1-5-32-574): its
            # members' SIDs (Authenticated Users through its foreign
            # security principal, in a real AD as in the lab's)
            dcom = []
            for g in db.search("CN=Builtin," + self.base, scope=ldb.SCOPE_ONELEVEL,
                               expression="(objectSid=%s)" % SID_CERT_DCOM_ACCESS, attrs=["member"]):
                for d in g.get("member", []):
                    r2 = db.search(str(d), scope=ldb.SCOPE_BASE, attrs=["objectSid"])
                    if len(r2) and "objectSid" in r2[0]:
                        dcom.append(str(ndr_unpack(security.dom_sid, bytes(r2[0]["objectSid"][0]))))

            def one(a):
                return str(m[a][0]) if a in m and len(m[a]) else None
            sid = str(ndr_unpack(security.dom_sid, bytes(m["objectSid"][0])))
            import uuid
            return dict(
                dn=str(m.dn), sid=sid, groups=groups, dcom_members=dcom,
                primary_group=sid.rsplit("-", 1)[0] + "-" + one("primaryGroupID"),
                upn=one("userPrincipalName"), mail=one("mail"), dns=one("dNSHostName"),
                sam=one("sAMAccountName"), cn=one("cn"),
                uac=int(one("userAccountControl") or 0),
                guid=str(uuid.UUID(bytes_le=bytes(m["objectGUID"][0]))),
                is_computer="computer" in [str(x) for x in m["objectClass"]],
                spn=[str(x) for x in m.get("servicePrincipalName", [])])
        info = {} if info is None else info
        acct = None
        if name.lower() not in self.unreplicated():
            acct = self.query(q)
            info["account_dc"] = DC_HOST
        if acct is None and cdc:
            # MS-WCCE 3.2.2.6.2.1.1 cdc: only when the working directory fails;
            # the named server must be a DC of the domain (3.2.2.1.3.1)
            dc = cdc.strip().lstrip("\\")
            if not self.is_dc(dc):
                raise Deny(ERROR_DS_NO_SUCH_OBJECT_HR, "cdc %s is not a domain controller" % dc)
            acct = self.query(q, url="ldap://" + dc)
            info["account_dc"] = dc
        if acct is None:
            info.pop("account_dc", None)
            raise Deny(E_ACCESSDENIED, "no account %s in the directory" % name)
        acct["principal"] = principal
        acct["all_sids"] = sorted(set([acct["sid"], acct["primary_group"], "S-1-1-0", "S-1-5-11",
                                       "S-1-5-15"] + acct["groups"]))
        # The caller's logon token on the CA holds the alias when one of its
        # SIDs is a member (one level: the lab nests nothing in it)
        acct["dcom_access"] = bool(set(acct["all_sids"]) & set(acct["dcom_members"]))
        return acct

    TEMPLATE_ATTRS = ["cn", "displayName", "flags", "revision", "msPKI-Template-Minor-Revision",
                      "msPKI-Template-Schema-Version", "msPKI-Cert-Template-OID",
                      "msPKI-Enrollment-Flag", "msPKI-Certificate-Name-Flag",
                      "msPKI-Private-Key-Flag", "msPKI-Minimal-Key-Size", "msPKI-RA-Signature",
                      "pKIKeyUsage", "pKIExpirationPeriod", "pKIExtendedKeyUsage",
                      "msPKI-Certificate-Application-Policy", "pKICriticalExtensions",
                      "msPKI-Certificate-Policy", "pKIMaxIssuingDepth", "nTSecurityDescriptor",
                      "pKIOverlapPeriod", "msPKI-RA-Application-Policies", "msPKI-RA-Policies"]

    def templates(self, names=(), oids=()):
        """-> (list of template dicts matching any name/oid, published cns)"""
        import ldb
        conds = ["(cn=%s)" % self._escape(n) for n in names] + \
                ["(msPKI-Cert-Template-OID=%s)" % self._escape(o) for o in oids]

        def q(db):
            out = []
            if conds:
                r = db.search("CN=Certificate Templates," + self.pks, scope=ldb.SCOPE_ONELEVEL,
                              expression="(&(objectClass=pKICertificateTemplate)(|%s))" % "".join(conds),
                              attrs=self.TEMPLATE_ATTRS, controls=["sd_flags:1:4"])
                for m in r:
                    t = {}
                    for a in self.TEMPLATE_ATTRS:
                        if a in m:
                            vals = [bytes(v) for v in m[a]]
                            t[a] = vals
                    out.append(t)
            es = db.search("CN=%s,CN=Enrollment Services,%s" % (CA_NAME, self.pks),
                           scope=ldb.SCOPE_BASE, attrs=["certificateTemplates"])
            pub = [str(v) for v in es[0].get("certificateTemplates", [])]
            return out, pub
        raw, pub = self.query(q)
        return [Template(t) for t in raw], pub


class Template:
    def __init__(self, raw):
        self.raw = raw

    def s(self, a, default=None):
        v = self.raw.get(a)
        return v[0].decode() if v else default

    def i(self, a, default=0):
        v = self.raw.get(a)
        return int(v[0]) & 0xFFFFFFFF if v else default

    def strs(self, a):
        return [v.decode() for v in self.raw.get(a, [])]

    @property
    def cn(self):
        return self.s("cn")

    @property
    def oid(self):
        return self.s("msPKI-Cert-Template-OID")

    @property
    def schema(self):
        return self.i("msPKI-Template-Schema-Version", 1) or 1

    @property
    def sd(self):
        return self.raw["nTSecurityDescriptor"][0]

    def period(self, attr="pKIExpirationPeriod", default=365):
        v = self.raw.get(attr)
        if not v:
            return datetime.timedelta(days=default)
        ft = struct.unpack("<q", v[0][:8])[0]
        return datetime.timedelta(seconds=-ft / 10 ** 7)

    def overlap(self):
        return self.period("pKIOverlapPeriod", 0)

    def asymmetric_algorithm(self):
        """schema 3+: msPKI-Asymmetric-Algorithm from msPKI-RA-Application-
        Policies syntax 2 (MS-CRTD 2.23); None = not given."""
        for v in self.strs("msPKI-RA-Application-Policies"):
            parts = v.split("`")
            for i in range(0, len(parts) - 2, 3):
                if parts[i] == "msPKI-Asymmetric-Algorithm":
                    return parts[i + 2]
        return None

    def symmetric_algorithm(self):
        """schema 3+: (msPKI-Symmetric-Algorithm, msPKI-Symmetric-Key-Length
        or None) from msPKI-RA-Application-Policies syntax 2 (MS-CRTD 2.23);
        None = not given."""
        alg = bits = None
        for v in self.strs("msPKI-RA-Application-Policies") if self.schema >= 3 else []:
            parts = v.split("`")
            for i in range(0, len(parts) - 2, 3):
                if parts[i] == "msPKI-Symmetric-Algorithm":
                    alg = parts[i + 2]
                elif parts[i] == "msPKI-Symmetric-Key-Length" and parts[i + 2].isdigit():
                    bits = int(parts[i + 2])
        return (alg, bits) if alg else None

    def ra_app_policies(self):
        """msPKI-RA-Application-Policies as OIDs: syntax 1 values, and for
        schema 3+ the msPKI-RA-Application-Policies entries of the syntax 2
        name`type`value` list (MS-CRTD 2.23)."""
        out = []
        for v in self.strs("msPKI-RA-Application-Policies"):
            if "`" not in v:
                out.append(v)
                continue
            parts = v.split("`")
            for k in range(0, len(parts) - 2, 3):
                if parts[k] == "msPKI-RA-Application-Policies":
                    out.append(parts[k + 2])
        return out

    def ra_policies(self):
        """msPKI-RA-Policies: issuance policy OIDs an RA signer's certificate
        must carry (MS-CRTD 2.24)."""
        return self.strs("msPKI-RA-Policies")


# ------------------------------------------------------------------ requests
class Parsed:
    """A request blob after unwrapping: .csr, .kind, .signers, .certs, ..."""
    kind = "pkcs10"
    csr = None
    csr_der = None
    content = None      # encapsulated content (CMS)
    certs = ()          # certificates in the SignedData
    signers = ()        # list of dict(sid=(kind, value), digest, sigalg, signature, signed_attrs)
    reginfo = ()        # name/value pairs from CMC regInfo
    robo_agent = None   # request on behalf of another: the caller (the enrollment agent's account)
    renewal_signers = ()  # indexes of the renewal's own SignerInfos
    prev_approval = None  # PREVIOUS_APPROVAL decision (3.2.2.6.2.1.4.8), for the log
    old_template = None   # template of the renewed certificate in the CA database
    archived = None       # szOID_ARCHIVED_KEY_ATTR of the first SignerInfo (an EnvelopedData ContentInfo)
    key_hash = None       # szOID_ENCRYPTED_KEY_HASH from the CMC controls


def parse_request(blob, req_type):
    """req_type: RequestType byte of dwFlags (0 = detect).  Raises Deny."""
    p = Parsed()
    if req_type not in (0, 1, 3, 4):
        raise Deny(E_INVALIDARG, "request type %d not supported" % req_type)
    try:
        tag, content, full, end = der.read_tlv(blob)
    except der.DERError:
        raise Deny(CRYPT_E_ASN1_BADTAG, "request is not DER")
    if tag != 0x30:
        raise Deny(CRYPT_E_ASN1_BADTAG, "request is not DER")
    kids = der.children(content)
    is_cms = len(kids) >= 1 and kids[0][0] == 0x06
    if req_type == 1 or (req_type == 0 and not is_cms):
        p.csr_der = full
        p.csr = _load_csr(full)
        return p
    if not is_cms or der.oid_str(kids[0][1]) != OID_SIGNED_DATA:
        raise Deny(CRYPT_E_ASN1_BADTAG, "not a CMS SignedData")
    sd = der.children(der.children(kids[1][1])[0][1])
    # SignedData: version, digestAlgorithms, encapContentInfo, [0] certs, [1] crls, signerInfos
    encap = der.children(sd[2][1])
    ctype = der.oid_str(encap[0][1])
    econtent = b""
    if len(encap) > 1:
        octs = der.children(encap[1][1])
        econtent = octs[0][1] if octs and octs[0][0] == 0x04 else b""
    p.content = econtent
    idx = 3
    certs = []
    while idx < len(sd) and sd[idx][0] in (0xA0, 0xA1):
        if sd[idx][0] == 0xA0:
            for t, c, f in der.children(sd[idx][1]):
                if t == 0x30:
                    try:
                        certs.append(x509.load_der_x509_certificate(f))
                    except ValueError:
                        pass
        idx += 1
    p.certs = certs
    signers = []
    for t, c, f in der.children(sd[idx][1]) if idx < len(sd) else []:
        si = der.children(c)
        sid_t, sid_c, sid_f = si[1]
        if sid_t == 0x30:
            iss = der.children(sid_c)
            sid = ("issuer_serial", (iss[0][2], der.int_val(iss[1][1])))
        else:
            sid = ("ski", sid_c)
        digest = der.oid_str(der.children(si[2][1])[0][1])
        j = 3
        signed_attrs = None
        if si[j][0] == 0xA0:
            signed_attrs = si[j]
            j += 1
        sigalg = der.oid_str(der.children(si[j][1])[0][1])
        signature = si[j + 1][1]
        unsigned = si[j + 2] if len(si) > j + 2 and si[j + 2][0] == 0xA1 else None
        signers.append(dict(sid=sid, digest=digest, sigalg=sigalg, signature=signature,
                            signed_attrs=signed_attrs, unsigned_attrs=unsigned))
    p.signers = signers
    # MS-WCCE 3.2.2.6.2.1.2.2: the key to archive is an unauthenticated
    # attribute of the (first) SignerInfo
    try:
        p.archived = archive.unsigned_attr(signers[0]["unsigned_attrs"], archive.OID_ARCHIVED_KEY_ATTR) \
            if signers else None
    except (archive.ArchivalError, der.DERError) as ex:
        raise Deny(archive.CERTSRV_E_BAD_REQUEST_KEY_ARCHIVAL, str(ex))
    if ctype == OID_DATA:
        if req_type == 4:
            raise Deny(CRYPT_E_ASN1_BADTAG, "CMC expected, got CMS id-data")
        p.kind = "cms"
        p.csr_der = econtent
        p.csr = _load_csr(econtent)
    elif ctype == OID_PKIDATA:
        p.kind = "cmc"
        pkidata = der.children(der.read_tlv(econtent)[1])
        controls, reqs = pkidata[0], pkidata[1]
        trs = der.children(reqs[1])
        if len(trs) != 1 or trs[0][0] != 0xA0:
            raise Deny(0x8007000D, "CMC: exactly one TaggedCertificationRequest expected")
        tcr = der.children(trs[0][1])
        p.csr_der = tcr[1][2]
        p.csr = _load_csr(p.csr_der)
        reginfo = []
        for t, c, f in der.children(controls[1]):
            ta = der.children(c)
            aoid = der.oid_str(ta[1][1])
            if aoid == OID_CMC_REGINFO:
                for vt, vc, vf in der.children(ta[2][1]):
                    for pair in vc.decode(errors="replace").split("&"):
                        if "=" in pair:
                            k, v = pair.split("=", 1)
                            reginfo.append((_urldecode(k), _urldecode(v)))
            elif aoid == archive.OID_ENCRYPTED_KEY_HASH:
                p.key_hash = der.children(ta[2][1])[0][1]
            elif aoid == OID_CMC_ADD_ATTRIBUTES:
                for vt, vc, vf in der.children(ta[2][1]):
                    info = der.children(vc)
                    for at, ac, af in der.children(info[2][1]) if len(info) > 2 else []:
                        a = der.children(ac)
                        if der.oid_str(a[0][1]) == archive.OID_ENCRYPTED_KEY_HASH:
                            p.key_hash = der.children(a[1][1])[0][1]
                        if der.oid_str(a[0][1]) == OID_NAME_VALUE:
                            for nv in der.children(a[1][1]):
                                n2 = der.children(nv[1])
                                reginfo.append((der.string_val(n2[0][0], n2[0][1]),
                                                der.string_val(n2[1][0], n2[1][1])))
        p.reginfo = reginfo
    else:
        raise Deny(CRYPT_E_ASN1_BADTAG, "unsupported CMS content type %s" % ctype)
    return p


def _urldecode(s):
    from urllib.parse import unquote
    return unquote(s)


def _load_csr(b):
    try:
        return x509.load_der_x509_csr(b)
    except ValueError as e:
        raise Deny(CRYPT_E_ASN1_BADTAG, "bad PKCS#10: %s" % e)


def csr_attributes(csr_der):
    """-> list of (oid, [value TLVs]) from CertificationRequestInfo.attributes"""
    cri = der.children(der.children(der.read_tlv(csr_der)[1])[0][1])
    out = []
    for t, c, f in cri:
        if t == 0xA0:
            for at, ac, af in der.children(c):
                a = der.children(ac)
                out.append((der.oid_str(a[0][1]), [x[2] for x in der.children(a[1][1])]))
    return out


def verify_with_key(pub, signature, data, hash_oid, sigalg_oid=None):
    h = HASHES.get(hash_oid) or HASHES.get(sigalg_oid or "")
    if h is None:
        raise InvalidSignature("unknown hash %s" % hash_oid)
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(signature, data, padding.PKCS1v15(), h())
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(signature, data, ec.ECDSA(h()))
    else:
        raise InvalidSignature("unsupported key type")


def verify_signer(p, signer, pub):
    data = p.content
    if signer["signed_attrs"] is not None:
        attrs = signer["signed_attrs"]
        md = None
        for t, c, f in der.children(attrs[1]):
            a = der.children(c)
            if der.oid_str(a[0][1]) == OID_MESSAGE_DIGEST:
                md = der.children(a[1][1])[0][1]
        h = HASHES.get(signer["digest"])
        if h is None or md is None:
            raise InvalidSignature("no messageDigest")
        d = hashes.Hash(h())
        d.update(data)
        if d.finalize() != md:
            raise InvalidSignature("messageDigest mismatch")
        data = b"\x31" + attrs[2][1:]
    verify_with_key(pub, signer["signature"], data, signer["digest"], signer["sigalg"])


def ski_of(pub):
    return x509.SubjectKeyIdentifier.from_public_key(pub).digest


def verify_no_signature(p, signer):
    """No-Signature mechanism (RFC 2797 3.3.3.1, id-alg-noSignature): the
    signature value is the hash of the (signed attributes or) content."""
    h = HASHES.get(signer["digest"])
    if h is None:
        return False
    data = p.content
    if signer["signed_attrs"] is not None:
        data = b"\x31" + signer["signed_attrs"][2][1:]
    d = hashes.Hash(h())
    d.update(data)
    return d.finalize() == signer["signature"]


# ------------------------------------------------------------------ the CA
class CA:
    def __init__(self, lab, store):
        self.lab = lab
        self.store = store
        pki = os.path.join(lab, "pki")
        with open(os.path.join(pki, CA_SHORT.lower() + ".key"), "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(pki, CA_SHORT.lower() + ".pem"), "rb") as f:
            self.cert = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(pki, "root.pem"), "rb") as f:
            self.root = x509.load_pem_x509_certificate(f.read())
        self.dir = Directory(lab, store.dir)
        self._xchg_lock = threading.Lock()

    def name_ok(self, authority):
        return authority is not None and authority.strip().lower() == CA_NAME.lower()

    # ---- template identification
    def identify_template(self, p, attribs):
        names, oids = [], []
        ext_version = None
        for e in p.csr.extensions if _has_exts(p.csr) else []:
            o = e.oid.dotted_string
            if o == OID_TEMPLATE_V2:
                kids = der.children(der.read_tlv(e.value.value)[1])
                oids.append(der.oid_str(kids[0][1]))
                major = der.int_val(kids[1][1]) if len(kids) > 1 else 0
                minor = der.int_val(kids[2][1]) if len(kids) > 2 else 0
                ext_version = (major, minor)
            elif o == OID_TEMPLATE_NAME:
                t, c, _, _ = der.read_tlv(e.value.value)
                if t == 0x30:  # SEQUENCE { UTF8String } per the spec text
                    t, c, _ = der.children(c)[0]
                names.append(der.string_val(t, c))
        for aoid, vals in csr_attributes(p.csr_der):
            if aoid == OID_NAME_VALUE:
                for v in vals:
                    nv = der.children(der.read_tlv(v)[1])
                    if der.string_val(nv[0][0], nv[0][1]).strip().lower() == "certificatetemplate":
                        names.append(der.string_val(nv[1][0], nv[1][1]).strip())
        for k, v in p.reginfo:
            if k.strip().lower() == "certificatetemplate":
                names.append(v.strip())
        if attribs.get("certificatetemplate"):
            names.append(attribs["certificatetemplate"])
        if not names and not oids:
            raise Deny(CERTSRV_E_NO_CERT_TYPE)
        templates, published = self.dir.templates(set(names), set(oids))
        by_cn = {t.cn.lower(): t for t in templates}
        by_oid = {t.oid: t for t in templates if t.oid}
        found = set()
        for n in names:
            t = by_cn.get(n.lower())
            if t is None:
                raise Deny(CERTSRV_E_UNSUPPORTED_CERT_TYPE, "unknown template name %s" % n)
            found.add(t.cn)
        for o in oids:
            t = by_oid.get(o)
            if t is None:
                raise Deny(CERTSRV_E_UNSUPPORTED_CERT_TYPE, "unknown template OID %s" % o)
            found.add(t.cn)
        if len(found) > 1:
            raise Deny(CERTSRV_E_TEMPLATE_CONFLICT, "identifiers name %s" % sorted(found))
        tmpl = by_cn[found.pop().lower()]
        if tmpl.cn not in published:
            raise Deny(CERTSRV_E_UNSUPPORTED_CERT_TYPE, "%s is not published by %s" % (tmpl.cn, CA_NAME))
        if tmpl.schema >= 2 and ext_version is not None:
            if ext_version[0] > tmpl.i("revision") or (
                    ext_version[0] == tmpl.i("revision") and
                    ext_version[1] > tmpl.i("msPKI-Template-Minor-Revision")):
                raise Deny(CERTSRV_E_BAD_TEMPLATE_VERSION,
                           "request has version %d.%d" % ext_version)
        return tmpl

    def on_behalf(self, p, caller):
        """MS-WCCE 3.2.2.6.2.1.2.1.2: a CMC request whose RegInfo names a
        requestername (DOMAIN\\account) other than the caller is made on
        behalf of that account, whose data builds the subject.  -> the
        account the certificate is for (sets p.robo_agent to the caller).
        The lab has no Config_Permissions_Enrollment_Agent_Rights: every
        agent may enroll for everyone (AD CS's default)."""
        names = [v for k, v in p.reginfo if k.strip().lower() == "requestername"]
        if not names:
            return caller
        if p.kind != "cmc" or len(names) > 1:
            raise Deny(E_INVALIDARG, "requestername must be one value in a CMC request")
        dom, _, sam = names[0].strip().rpartition("\\")
        if not sam or dom.upper() not in (NETBIOS, REALM):
            raise Deny(CERTSRV_E_BAD_REQUESTSUBJECT, "requestername %r is not an account of %s" % (names[0], NETBIOS))
        if sam.lower() == caller["principal"].rpartition("@")[0].lower():
            return caller
        try:
            subject = self.dir.account("%s@%s" % (sam, REALM))
        except Deny as d:
            raise Deny(CERTSRV_E_BAD_REQUESTSUBJECT, "requestername %r: %s" % (names[0], d.detail))
        p.robo_agent = caller
        return subject

    # ---- levers (files in $LAB/ca written by labctl, read per request)
    def lever(self, name, default=None):
        try:
            with open(os.path.join(self.store.dir, name)) as f:
                v = f.read().strip()
            return v or default
        except OSError:
            return default

    # ---- renewal
    def check_renewal(self, p, acct):
        """If the PKCS#10 carries szOID_RENEWAL_CERTIFICATE: verify the
        renewal form (MS-WCCE 3.2.1.4.2.1.4.2.1 CMS+PKCS#10, 3.2.1.4.2.1.4.2.2
        CMC; signer layout of the client sections 3.1.1.4.3.2.1/.2) and return
        the old certificate; else None.  Sets p.renewal_signers (indexes of
        the signers that belong to the renewal, not RA signatures)."""
        old_der = None
        for aoid, vals in csr_attributes(p.csr_der):
            if aoid == OID_RENEWAL_CERT:
                old_der = vals[0] if vals else b""
        if old_der is None:
            return None
        try:
            old = x509.load_der_x509_certificate(old_der)
        except ValueError:
            # 3.2.1.4.2.1.4.2.1: "If the issued certificate is not included in
            # the value of this attribute, the CA MUST return 0x8009400E"
            raise Deny(CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE, "renewal attribute is not a certificate")
        if p.kind == "pkcs10":
            # 3.2.1.4.2.1.4 table: no renewal in plain PKCS#10
            raise Deny(CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE, "renewal must be signed with the old key (CMS/CMC)")
        # Certificates: MUST include the already-issued certificate -> 0x8009400E
        if not any(c.public_bytes(serialization.Encoding.DER) == old_der for c in p.certs):
            raise Deny(CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE, "old certificate missing from the CMS certificates")
        if not p.signers:
            # 3.2.1.4.2.1.4.1.2/.3: "If the request is not signed ... 0x8009200E"
            raise Deny(CRYPT_E_NO_SIGNER, "renewal without SignerInfo")

        def by_old(s):
            kind, v = s["sid"]
            return (kind == "issuer_serial" and v[1] == old.serial_number) or \
                (kind == "ski" and v == ski_of(old.public_key()))

        def verify_old(s, where):
            if not by_old(s):
                raise Deny(NTE_BAD_SIGNATURE, "%s SignerInfo does not identify the old certificate" % where)
            try:
                verify_signer(p, s, old.public_key())
            except InvalidSignature as e:
                raise Deny(NTE_BAD_SIGNATURE, "%s SignerInfo (old key): %s" % (where, e))

        if p.kind == "cms":
            # 3.1.1.4.3.2.1: "The first SignerInfo ... MUST use the key associated
            # with the certificate to be renewed" (3.2.1.4.2.1.4.2.1 SignerInfo)
            verify_old(p.signers[0], "first")
            p.renewal_signers = {0}
        else:
            # 3.1.1.4.3.2.2: at least two SignerInfos; the first uses the
            # subjectKeyIdentifier form (new key) or the No-Signature mechanism,
            # the second the old certificate's key (3.2.1.4.2.1.4.2.2 SignerInfo)
            if len(p.signers) < 2:
                raise Deny(NTE_BAD_SIGNATURE, "CMC renewal with %d SignerInfo: the first must be the new "
                           "key (subjectKeyIdentifier), the second the old certificate's key" % len(p.signers))
            first = p.signers[0]
            if first["sigalg"] == OID_NO_SIGNATURE:
                if not verify_no_signature(p, first):
                    raise Deny(NTE_BAD_SIGNATURE, "first SignerInfo: no-signature hash does not match")
            else:
                if first["sid"][0] != "ski":
                    raise Deny(NTE_BAD_SIGNATURE, "first SignerInfo must use the subjectKeyIdentifier form")
                try:
                    verify_signer(p, first, p.csr.public_key())
                except InvalidSignature as e:
                    raise Deny(NTE_BAD_SIGNATURE, "first SignerInfo is not signed with the new key: %s" % e)
            verify_old(p.signers[1], "second")
            p.renewal_signers = {0, 1}
        # Issued by this CA (its database says whether it is revoked), or by
        # another enterprise CA of the forest: AD CS verifies the old
        # certificate's chain and revocation like any signer's, so a renewal
        # may go to any CA that publishes the template (the client fails
        # over to the next one).  The other CA's CRL is the one it publishes
        # in AD (its CDP object), as CryptoAPI would find it cached or there.
        rec = None
        if signed_by(self.cert, old):
            rec = self.store.get_cert("%x" % old.serial_number)
            if rec is None:
                raise Deny(CERT_E_CHAINING, "old certificate not in this CA's database")
            if rec["revoked"]:
                raise Deny(CRYPT_E_REVOKED)
        else:
            issuer = next((c for c in self.dir.enterprise_cas() if signed_by(c, old)), None)
            if issuer is None or not signed_by(self.root, issuer):
                raise Deny(CERT_E_CHAINING, "old certificate not issued by %s or another enterprise CA "
                           "chaining to the root" % CA_NAME)
            revoked = self.dir.revoked_by(issuer, old.serial_number)
            if revoked is None:
                raise Deny(CRYPT_E_REVOCATION_OFFLINE, "no CRL of %s in AD" % issuer.subject.rfc4514_string())
            if revoked:
                raise Deny(CRYPT_E_REVOKED)
        now = datetime.datetime.utcnow()
        if not (old.not_valid_before <= now <= old.not_valid_after):
            raise Deny(CERT_E_EXPIRED)
        same = rec is not None and rec["caller"] and rec["caller"].lower() == acct["principal"].lower()
        try:
            ext = old.extensions.get_extension_for_oid(x509.ObjectIdentifier(OID_SID_EXT))
            same = same or acct["sid"].encode() in ext.value.value
        except x509.ExtensionNotFound:
            pass
        if not same:
            raise Deny(CERTSRV_E_BAD_RENEWAL_SUBJECT)
        if rec is not None:
            p.old_template = rec["template"]
        return old

    @staticmethod
    def cert_template(cert):
        """(kind, value) of the template a certificate was issued from: ("oid", OID)
        from 1.3.6.1.4.1.311.21.7, ("name", cn) from 1.3.6.1.4.1.311.20.2, or None."""
        for e in cert.extensions:
            o = e.oid.dotted_string
            try:
                if o == OID_TEMPLATE_V2:
                    return "oid", der.oid_str(der.children(der.read_tlv(e.value.value)[1])[0][1])
                if o == OID_TEMPLATE_NAME:
                    t, c, _, _ = der.read_tlv(e.value.value)
                    if t == 0x30:
                        t, c, _ = der.children(c)[0]
                    return "name", der.string_val(t, c)
            except (der.DERError, IndexError, AttributeError):
                pass
        return None

    def same_template(self, p, tmpl, old):
        ident = self.cert_template(old)
        if ident is None:
            return (p.old_template or "").lower() == tmpl.cn.lower()
        if ident[0] == "oid":
            return ident[1] == tmpl.oid
        return ident[1].lower() == tmpl.cn.lower()

    def prev_approval_ok(self, p, tmpl, acct, old):
        """MS-WCCE 3.2.2.6.2.1.4.8: the conditions under which
        PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT is enforced."""
        ident = self.cert_template(old)
        if ident is None or ident[0] != "oid" or ident[1] != tmpl.oid:
            return False, "old certificate has no template OID extension of %s" % tmpl.cn
        nf = tmpl.i("msPKI-Certificate-Name-Flag")
        if nf & NF_ENROLLEE_SUPPLIES_SUBJECT:
            if not len(p.csr.subject) or p.csr.subject != old.subject:
                return False, "request subject missing or not the old certificate's"
            return True, None
        try:
            san = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False, "old certificate has no SubjectAltName"
        upns = [n.value for n in san if isinstance(n, x509.OtherName) and n.type_id.dotted_string == OID_UPN]
        mails = [n.value for n in san if isinstance(n, x509.RFC822Name)]
        if not upns and not mails:
            return False, "old SubjectAltName has neither UPN nor rfc822Name"
        for u in upns:
            try:
                t, c, _, _ = der.read_tlv(u)
                val = der.string_val(t, c)
            except der.DERError:
                val = None
            if (val or "").lower() != (acct.get("upn") or "").lower():
                return False, "old UPN %r is not the account's %r" % (val, acct.get("upn"))
        for m in mails:
            if m.lower() != (acct.get("mail") or "").lower():
                return False, "old rfc822Name %r is not the account's mail %r" % (m, acct.get("mail"))
        return True, None

    def validity(self, tmpl):
        """-> notAfter: the template's period capped by the CA's ValidityPeriod
        (labctl ca-max-validity) and the CA certificate's notAfter.
        AD CS refuses when the capped validity is shorter than the template's
        renewal (overlap) period: CERTSRV_E_CERT_TYPE_OVERLAP (0x80094814)."""
        now = datetime.datetime.utcnow().replace(microsecond=0)
        na = min(now + tmpl.period(), self.cert.not_valid_after)
        cap = self.lever("max-validity", "off")
        if cap != "off":
            na = min(na, now + datetime.timedelta(days=int(cap)))
        if na - now < tmpl.overlap():
            raise Deny(CERTSRV_E_CERT_TYPE_OVERLAP, "validity %s < renewal period %s" % (na - now, tmpl.overlap()))
        return now, na

    def ra_signatures(self, p, tmpl, old):
        """MS-WCCE 3.2.2.6.2.1.4.5.1/.4: count the valid RA signatures (signers
        other than the request's own key and the renewal's signers, whose
        certificate chains to this CA and carries every OID of
        msPKI-RA-Application-Policies).  -> (valid, rejected)"""
        skip = set(getattr(p, "renewal_signers", ()))
        valid = rejected = 0
        need = set(tmpl.ra_app_policies())
        if p.robo_agent is not None:
            # 3.2.2.6.2.1.2.1.2: on behalf of another, the signers' certificates
            # MUST have the Certificate Request Agent EKU
            need.add(OID_CERT_REQUEST_AGENT)
        need_issuance = set(tmpl.ra_policies())
        now = datetime.datetime.utcnow()
        for i, s in enumerate(p.signers):
            if i in skip or p.kind == "pkcs10":
                continue
            if s["sigalg"] == OID_NO_SIGNATURE:
                continue
            try:
                verify_signer(p, s, p.csr.public_key())
                continue    # the request key's own signature (CMC first signer)
            except (InvalidSignature, ValueError, TypeError):
                pass
            cert = None
            for c in p.certs:
                kind, v = s["sid"]
                if (kind == "issuer_serial" and v[1] == c.serial_number) or \
                        (kind == "ski" and v == ski_of(c.public_key())):
                    cert = c
            ok = cert is not None
            if ok:
                try:
                    verify_signer(p, s, cert.public_key())
                    self.cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                                  padding.PKCS1v15(), cert.signature_hash_algorithm)
                except (InvalidSignature, ValueError, TypeError):
                    ok = False
            # 3.2.2.6.2.1.4.5.1: a signature counts only if its certificate
            # chains (here: issued by this CA), is time-valid and not revoked
            if ok and not (cert.not_valid_before <= now <= cert.not_valid_after):
                ok = False
            if ok:
                rec = self.store.get_cert("%x" % cert.serial_number)
                ok = rec is not None and not rec["revoked"]
            if ok and need:
                try:
                    ekus = {e.dotted_string for e in
                            cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
                except x509.ExtensionNotFound:
                    ekus = set()
                ok = need <= ekus
            if ok and need_issuance:
                # 3.2.2.6.2.1.4.5.1 msPKI-RA-Policies: the signer's issuance policies
                try:
                    pols = {q.policy_identifier.dotted_string for q in
                            cert.extensions.get_extension_for_class(x509.CertificatePolicies).value}
                except x509.ExtensionNotFound:
                    pols = set()
                ok = need_issuance <= pols
            if ok:
                valid += 1
            else:
                rejected += 1
        return valid, rejected

    @staticmethod
    def request_ext(p, oid):
        """extnValue (bytes) of extension oid in the request's extensionRequest
        attribute (PKCS#9 or szOID_CERT_EXTENSIONS), read with the DER walker so
        that an extension cryptography cannot parse does not hide the others;
        None if absent."""
        try:
            for aoid, vals in csr_attributes(p.csr_der):
                if aoid not in (OID_EXT_REQ, OID_EXT_REQ_MS):
                    continue
                for v in vals:
                    for t, c, f in der.children(der.read_tlv(v)[1]):
                        kids = der.children(c)
                        if der.oid_str(kids[0][1]) == oid:
                            return kids[-1][1]
        except (der.DERError, IndexError):
            return None
        return None

    def issuance_policies(self, p, tmpl):
        """MS-WCCE 3.2.2.6.2.1.4.5.8 -> list of policy OIDs for the certificate."""
        tpl = tmpl.strs("msPKI-Certificate-Policy")
        if not tmpl.i("msPKI-Enrollment-Flag") & EF_ISSUANCE_POLICIES_FROM_REQUEST:
            return tpl
        ext = self.request_ext(p, OID_CERT_POLICIES)
        req = []
        try:
            for t, c, f in der.children(der.read_tlv(ext)[1]) if ext else []:
                req.append(der.oid_str(der.children(c)[0][1]))
        except (der.DERError, IndexError):
            req = []
        if not tpl and req:
            raise Deny(CERTSRV_E_TEMPLATE_CONFLICT, "request has policies %s, template none" % req)
        # OIDs the template does not list are dropped (the spec's loop only
        # walks the template's OIDs), not refused.
        return [o for o in tpl if o in req]

    # ---- full policy for a new request
    def evaluate(self, p, attribs, acct):
        """-> (template, old_cert_or_None, pend: bool).  Raises Deny.
        Order: MS-WCCE 3.2.2.6.2.1.4 (template, version, Enroll), renewal
        form (3.2.1.4.2.1.4.2), then the template rules of 3.2.2.6.2.1.4.5.x."""
        tmpl = self.identify_template(p, attribs)
        for who in [acct] + ([p.robo_agent] if p.robo_agent is not None else []):
            allowed, ace = can_enroll(tmpl.sd, set(who["all_sids"]))
            if not allowed:
                raise Deny(CERTSRV_E_TEMPLATE_DENIED,
                           "%s: deciding ACE %s" % (who["principal"], ace["sid"] if ace else "none"))
        if p.robo_agent is not None and tmpl.i("msPKI-RA-Signature") < 1:
            # AD CS: a request on behalf of another subject needs a template
            # that requires at least one RA signature (CERTSRV_E_BAD_RENEWAL_SUBJECT,
            # whose text says so)
            raise Deny(CERTSRV_E_BAD_RENEWAL_SUBJECT, "on behalf of %s, template %s needs no RA signature" %
                       (acct["principal"], tmpl.cn))
        old = self.check_renewal(p, acct)
        pkf = tmpl.i("msPKI-Private-Key-Flag")
        ef = tmpl.i("msPKI-Enrollment-Flag")
        if old is not None:
            # 3.2.2.6.2.1.2.3: a renewal MUST be based on the same template as
            # the certificate being renewed ("non-zero error"; the lab answers
            # CERTSRV_E_TEMPLATE_CONFLICT, the request's template information
            # conflicts with the old certificate's)
            if not self.same_template(p, tmpl, old):
                raise Deny(CERTSRV_E_TEMPLATE_CONFLICT, "renewal of a %s certificate names template %s" %
                           (p.old_template, tmpl.cn))
            # 3.2.2.6.2.1.4.5.7 CT_FLAG_REQUIRE_SAME_KEY_RENEWAL
            if pkf & PKF_REQUIRE_SAME_KEY_RENEWAL:
                spki = serialization.PublicFormat.SubjectPublicKeyInfo
                if p.csr.public_key().public_bytes(serialization.Encoding.DER, spki) != \
                        old.public_key().public_bytes(serialization.Encoding.DER, spki):
                    raise Deny(CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY, "renewal with a new key")
        # 3.2.1.4.2.1.4.1.2/.3: a CMS or CMC request MUST be signed
        if p.kind in ("cms", "cmc") and not p.signers:
            raise Deny(CRYPT_E_NO_SIGNER, "%s request without SignerInfo" % p.kind)
        # signature of the request itself
        if not p.csr.is_signature_valid:
            ok = False
            if p.kind == "cmc":
                for s in p.signers:
                    try:
                        verify_signer(p, s, p.csr.public_key())
                        ok = True
                    except InvalidSignature:
                        pass
            if not ok:
                raise Deny(NTE_BAD_SIGNATURE, "PKCS#10 signature does not verify")
        # key algorithm and size (3.2.2.6.2.1.4.5.2).  Schema 1/2 templates
        # (CryptoAPI) have no algorithm of their own: an EC key simply fails
        # the minimum (256 < 2048, CERTSRV_E_KEY_LENGTH, as AD CS answers an
        # ECC request to an RSA template).  Schema 3+ (CNG) name the algorithm
        # in msPKI-Asymmetric-Algorithm; another algorithm or curve is refused
        # with NTE_BAD_ALGID "Invalid algorithm specified" (lab choice: the
        # spec gives no code, this is the CryptoAPI/CNG error for it).
        pub = p.csr.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            alg, bits = "RSA", pub.key_size
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            bits = pub.curve.key_size
            alg = {"secp256r1": "ECDSA_P256", "secp384r1": "ECDSA_P384",
                   "secp521r1": "ECDSA_P521"}.get(pub.curve.name, "EC_" + pub.curve.name)
        else:
            alg, bits = type(pub).__name__, 0
        want = tmpl.asymmetric_algorithm() if tmpl.schema >= 3 else None
        if want and not (alg == want or (want.startswith("ECDH_") and alg == "ECDSA_" + want[5:])):
            raise Deny(NTE_BAD_ALGID, "%s key, template wants %s" % (alg, want))
        minimum = tmpl.i("msPKI-Minimal-Key-Size", 0)
        if minimum and bits < minimum:
            raise Deny(CERTSRV_E_KEY_LENGTH, "%d-bit %s key, template wants %d" % (bits, alg, minimum))
        # 3.2.2.6.2.1.4.5.7 CT_FLAG_ATTEST_REQUIRED: the lab CA has no
        # endorsement roots nor hardware key lists, so no attestation is ever
        # performed -> CERTSRV_E_KEY_ATTESTATION
        if pkf & PKF_ATTEST_REQUIRED:
            has = [o for o, _ in csr_attributes(p.csr_der) if o in OID_ATTESTATION]
            raise Deny(CERTSRV_E_KEY_ATTESTATION, "attestation required; request has %s" %
                       (has or "no attestation data"))
        if pkf & PKF_REQUIRE_PRIVATE_KEY_ARCHIVAL and not (old is not None and pkf & PKF_REQUIRE_SAME_KEY_RENEWAL) \
                and (p.archived is None or p.kind != "cmc"):
            raise Deny(CERTSRV_E_ARCHIVED_KEY_REQUIRED)
        if p.archived is not None:
            self.archived_key(p)
        # 3.2.2.6.2.1.4.5.6 CT_FLAG_INCLUDE_SYMMETRIC_ALGORITHMS: the CA includes
        # the request's S/MIME capabilities; AD CS refuses a request without
        # them (client side 3.1.2.4.2.2.2.7 says the client MUST send them)
        if ef & EF_INCLUDE_SYMMETRIC_ALGORITHMS and self.request_ext(p, OID_SMIME_CAPS) is None:
            raise Deny(CERTSRV_E_SMIME_REQUIRED, "no S/MIME capabilities extension (1.2.840.113549.1.9.15)")
        # 3.2.2.6.2.1.4.5.6 / 3.2.2.6.2.1.4.8 PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT
        prev = False
        if old is not None and ef & EF_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT:
            prev, why = self.prev_approval_ok(p, tmpl, acct, old)
            p.prev_approval = why or "honoured"
        # 3.2.2.6.2.1.4.5.1 msPKI-RA-Signature (not enforced under previous approval)
        need = tmpl.i("msPKI-RA-Signature")
        if need > 0 and not prev:
            valid, rejected = self.ra_signatures(p, tmpl, old)
            if valid + rejected == 0:
                raise Deny(CERTSRV_E_SIGNATURE_POLICY_REQUIRED, "template wants %d RA signature(s), "
                           "request has none" % need)
            if valid < need and rejected:
                raise Deny(CERTSRV_E_SIGNATURE_REJECTED, "%d RA signature(s) without the RA policies %s" %
                           (rejected, tmpl.ra_app_policies()))
            if valid < need:
                raise Deny(CERTSRV_E_SIGNATURE_COUNT, "%d of %d RA signatures" % (valid, need))
        self.issuance_policies(p, tmpl)
        # subject data must be available now (fail early, like AD CS)
        self.build_names(p, tmpl, acct, old)
        self.validity(tmpl)
        pend = bool(ef & EF_PEND_ALL_REQUESTS) and not prev
        return tmpl, old, pend

    # ---- names
    def build_names(self, p, tmpl, acct, old=None):
        nf = tmpl.i("msPKI-Certificate-Name-Flag")
        if tmpl.schema == 1 and not nf:
            # v1 defaults: user templates behave like User, machine like Machine
            nf = (NF_SUBJECT_REQUIRE_DNS_AS_CN | NF_SAN_REQUIRE_DNS) \
                if tmpl.i("flags") & CT_FLAG_MACHINE_TYPE else 0xA6000000
        san = []
        if old is not None and nf & NF_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME:
            subject = old.subject
            try:
                san = list(old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
            except x509.ExtensionNotFound:
                pass
            return subject, san, nf
        if nf & NF_ENROLLEE_SUPPLIES_SUBJECT:
            subject = p.csr.subject
            try:
                san = list(p.csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
            except (x509.ExtensionNotFound, ValueError):
                pass
            if not len(subject) and not san:
                raise Deny(CERTSRV_E_BAD_REQUESTSUBJECT, "enrollee must supply a subject")
            return subject, san, nf
        rdns = []
        if nf & NF_SUBJECT_REQUIRE_DIRECTORY_PATH:
            rdns = dn_to_rdns(acct["dn"])
        elif nf & (NF_SUBJECT_REQUIRE_COMMON_NAME | NF_SUBJECT_REQUIRE_DNS_AS_CN):
            if acct["is_computer"] or nf & NF_SUBJECT_REQUIRE_DNS_AS_CN:
                if not acct.get("dns"):
                    raise Deny(CERTSRV_E_SUBJECT_DNS_REQUIRED)
                rdns = [x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, acct["dns"])])]
            else:
                rdns = [x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, acct["cn"])])]
        if nf & NF_SUBJECT_REQUIRE_EMAIL:
            if not acct.get("mail"):
                raise Deny(CERTSRV_E_SUBJECT_EMAIL_REQUIRED)
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.EMAIL_ADDRESS, acct["mail"])]))
        if nf & (NF_SAN_REQUIRE_UPN | NF_SAN_REQUIRE_SPN):
            if not acct.get("upn"):
                raise Deny(CERTSRV_E_SUBJECT_UPN_REQUIRED)
            san.append(x509.OtherName(x509.ObjectIdentifier(OID_UPN), der.utf8(acct["upn"])))
        if nf & NF_SAN_REQUIRE_EMAIL:
            if not acct.get("mail"):
                raise Deny(CERTSRV_E_SUBJECT_EMAIL_REQUIRED)
            san.append(x509.RFC822Name(acct["mail"]))
        if nf & NF_SAN_REQUIRE_DIRECTORY_GUID:
            import uuid
            san.append(x509.OtherName(x509.ObjectIdentifier(OID_NTDS_REPLICATION),
                                      der.octets(uuid.UUID(acct["guid"]).bytes_le)))
        if nf & NF_SAN_REQUIRE_DNS:
            if not acct.get("dns"):
                raise Deny(CERTSRV_E_SUBJECT_DNS_REQUIRED)
            san.append(x509.DNSName(acct["dns"]))
        if nf & NF_SAN_REQUIRE_DOMAIN_DNS:
            san.append(x509.DNSName("corp.test"))
            san.append(x509.DNSName("CORP"))
        subject = x509.Name(rdns)
        if not rdns and not san:
            raise Deny(CERTSRV_E_BAD_REQUESTSUBJECT)
        return subject, san, nf

    # ---- issuance
    def exchange(self):
        """The CA exchange key and certificate (made when due)."""
        def info():
            ts = self.dir.templates(["CAExchange"])[0]
            return (ts[0].oid, ts[0].i("revision"), ts[0].i("msPKI-Template-Minor-Revision")) \
                if ts and ts[0].oid else None
        with self._xchg_lock:
            return archive.exchange(self.key, self.cert, CA_NAME, self.store.dir, info)

    def archived_key(self, p):
        """MS-WCCE 3.2.2.6.2.1.2.2: the request's archived key, checked."""
        xkey, xcert = self.exchange()
        try:
            return archive.check(p.archived, p.key_hash, HASHES.get(p.signers[0]["digest"]),
                                 p.csr.public_key(), xkey, xcert)
        except (archive.ArchivalError, der.DERError, IndexError) as ex:
            raise Deny(archive.CERTSRV_E_BAD_REQUEST_KEY_ARCHIVAL, str(ex))

    def issue(self, p, tmpl, acct, old, rid):
        if p.archived is not None:
            # 3.2.2.6.2.1.2.2: the CA keeps the key (the lab: a file per request)
            archive.keep(self.store.dir, rid, self.archived_key(p))
        subject, san, nf = self.build_names(p, tmpl, acct, old)
        pub = p.csr.public_key()
        now, na = self.validity(tmpl)
        nb = now - datetime.timedelta(minutes=10)
        serial = int.from_bytes(os.urandom(16), "big") & ((1 << 127) - 1) | (1 << 126)
        crit = set(tmpl.strs("pKICriticalExtensions"))
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
             .public_key(pub).serial_number(serial).not_valid_before(nb).not_valid_after(na))

        def add(ext, oid=None):
            nonlocal b
            o = oid or ext.oid.dotted_string
            b = b.add_extension(ext, critical=o in crit)

        # template identity
        if tmpl.schema >= 2 and tmpl.oid:
            add(x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_TEMPLATE_V2), der.seq(
                der.oid(tmpl.oid), der.integer(tmpl.i("revision")),
                der.integer(tmpl.i("msPKI-Template-Minor-Revision")))))
        else:
            add(x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_TEMPLATE_NAME), der.bmp(tmpl.cn)))
        ekus = tmpl.strs("pKIExtendedKeyUsage")
        if ekus:
            add(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in ekus]))
        apps = tmpl.strs("msPKI-Certificate-Application-Policy") if tmpl.schema >= 2 else ekus
        apps = [a for a in apps if "`" not in a] or ekus
        if apps:
            add(x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_APP_POLICIES),
                                           der.seq(*[der.seq(der.oid(a)) for a in apps])))
        ku = self.key_usage(tmpl)
        if ku is not None:
            add(ku)
        # 3.2.2.6.2.1.4.5.6 INCLUDE_SYMMETRIC_ALGORITHMS: the S/MIME extension
        # (RFC 4262) of the request goes into the certificate
        if tmpl.i("msPKI-Enrollment-Flag") & EF_INCLUDE_SYMMETRIC_ALGORITHMS:
            smime = self.request_ext(p, OID_SMIME_CAPS)
            if smime is not None:
                add(x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_SMIME_CAPS), smime))
        policies = self.issuance_policies(p, tmpl)
        if policies:
            add(x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), None)
                                          for o in policies]))
        if tmpl.i("flags") & CT_FLAG_IS_CA or tmpl.cn.lower() in ("subca", "ca", "crossca"):
            depth = tmpl.i("pKIMaxIssuingDepth", 0xFFFFFFFF)
            add(x509.BasicConstraints(ca=True, path_length=None if depth == 0xFFFFFFFF else depth))
        elif tmpl.i("msPKI-Enrollment-Flag") & EF_INCLUDE_BASIC_CONSTRAINTS_FOR_EE_CERTS:
            add(x509.BasicConstraints(ca=False, path_length=None))   # 3.2.2.6.2.1.4.5.6
        if san:
            add(x509.SubjectAlternativeName(san))
        add(x509.SubjectKeyIdentifier.from_public_key(pub))
        add(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()))
        if not tmpl.i("msPKI-Enrollment-Flag") & EF_NOREVOCATIONINFOINISSUEDCERTS:  # 3.2.2.6.2.1.4.5.6
            # labctl cdp ldap|http|both: AD CS's ldap:/// URL first
            add(x509.CRLDistributionPoints(crl.distribution_points(self.lever("cdp", "http"))))
        add(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(AIA_URL))]))
        if not tmpl.i("msPKI-Enrollment-Flag") & EF_NO_SECURITY_EXTENSION:
            sid = None
            if nf & NF_ENROLLEE_SUPPLIES_SUBJECT:
                # only if the request carries it
                try:
                    sid = p.csr.extensions.get_extension_for_oid(
                        x509.ObjectIdentifier(OID_SID_EXT)).value.value
                except (x509.ExtensionNotFound, ValueError):
                    sid = None
            else:
                sid = der.seq(der.ctx(0, der.oid(OID_SID_OTHERNAME) +
                                      der.ctx(0, der.octets(acct["sid"].encode()))))
            if sid:
                add(x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_SID_EXT), sid))
        cert = b.sign(self.key, hashes.SHA256())
        cder = cert.public_bytes(serialization.Encoding.DER)
        serial_hex = "%x" % serial
        self.store.add_cert(serial_hex, rid, acct["principal"], tmpl.cn, cert.subject.rfc4514_string(),
                            na.timestamp(), cder)
        chain = pkcs7.serialize_certificates([cert, self.cert, self.root], serialization.Encoding.DER)
        return cder, chain, serial_hex

    def publish(self, acct, cert_der):
        """3.2.2.6.2.1.4.5.6 CT_FLAG_PUBLISH_TO_DS -> 3.2.2.1.5: add the
        certificate to the account's userCertificate (and drop values expired
        more than 24 hours ago).  Done as CA1$, a member of Cert Publishers.
        Failures are logged, not fatal: AD CS publishes from its exit module
        after issuance and reports failures in the event log (the spec's
        "return a nonzero error" is not what clients see)."""
        return self.dir.publish(acct["dn"], cert_der)

    @staticmethod
    def key_usage(tmpl):
        v = tmpl.raw.get("pKIKeyUsage")
        if not v:
            return None
        b = v[0] + b"\x00\x00"
        b0, b1 = b[0], b[1]
        return x509.KeyUsage(
            digital_signature=bool(b0 & 0x80), content_commitment=bool(b0 & 0x40),
            key_encipherment=bool(b0 & 0x20), data_encipherment=bool(b0 & 0x10),
            key_agreement=bool(b0 & 0x08), key_cert_sign=bool(b0 & 0x04),
            crl_sign=bool(b0 & 0x02), encipher_only=bool(b0 & 0x08 and b0 & 0x01),
            decipher_only=bool(b0 & 0x08 and b1 & 0x80))

    # ---- CRL (crl.py): the base CRL, delta CRLs, published over HTTP and in AD
    def write_crl(self, new_base=False):
        return crl.Publisher(self).publish(new_base)


def signed_by(issuer, cert):
    """CERT's signature verifies with ISSUER's key (RSA or ECDSA)."""
    if cert.issuer != issuer.subject:
        return False
    pub = issuer.public_key()
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        else:
            pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        return True
    except InvalidSignature:
        return False


def _has_exts(csr):
    try:
        csr.extensions
        return True
    except (ValueError, x509.DuplicateExtension):
        return False


def dn_to_rdns(dn):
    """AD DN string -> RDN list in certificate order (most significant first)."""
    parts, cur, esc = [], "", False
    for ch in dn:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    m = {"CN": NameOID.COMMON_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
         "DC": NameOID.DOMAIN_COMPONENT, "O": NameOID.ORGANIZATION_NAME,
         "L": NameOID.LOCALITY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
         "C": NameOID.COUNTRY_NAME}
    rdns = []
    for part in reversed(parts):
        k, _, v = part.strip().partition("=")
        oid = m.get(k.strip().upper())
        if oid is None:
            continue
        rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, v.strip())]))
    return rdns


def sha1(b):
    return hashlib.sha1(b).hexdigest()
