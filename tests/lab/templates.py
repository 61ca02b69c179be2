# Lab certificate templates (the ones that are not Windows defaults).
#
# Data only: tests/lab/populate.py turns each entry into a pKICertificateTemplate
# object under CN=Certificate Templates, an msPKI-Enterprise-Oid object under
# CN=OID, and (if "publish" says so) a certificateTemplates value on an
# enrollment service.  To add a template for a new test, append an entry here;
# pick the next free "oid" number (<forest root>.1.<oid>).
#
# Keys (all optional except name/oid/kind/purpose):
#   name        cn of the template (also the value in certificateTemplates)
#   display     displayName (default: name)
#   purpose     one line: what the template exists to test (also in README.md)
#   kind        "user" or "machine": selects the base attribute set below
#   oid         N in <forest OID root>.1.N; None = no msPKI-Cert-Template-OID
#   sddl        DACL in SDDL; {ENROLL}/{AUTOENROLL} are the extended-right GUIDs,
#               {SID:name} the objectSid of a lab group or user ("CertDenied")
#   publish     "ca1" (default), "rogue", or None (published by no CA)
#   attrs       attribute overrides (LDAP name -> value or list of values);
#               integers are written as signed 32-bit decimal like AD does,
#               bytes are written as binary.
#   enroll_flag_add  bits OR-ed into msPKI-Enrollment-Flag

import struct

ENROLL = "0e10c968-78fb-11d2-90d4-00c04f79dc55"
AUTOENROLL = "a05b8cc2-17bc-4802-a710-e7c15ab866a2"

# Owner/group Domain Admins; admins get full control WITHOUT the CR
# (control access) right, like the Windows defaults; Authenticated Users read.
_ADMIN = ("(A;;CCDCLCSWRPWPDTLOSDRCWDWO;;;DA)"
          "(A;;CCDCLCSWRPWPDTLOSDRCWDWO;;;EA)"
          "(A;;LCRPLORC;;;AU)")


def sddl_grant(*trustees, deny=None):
    """O:DAG:DA DACL granting Enroll+AutoEnroll to each trustee (SDDL alias
    like DU/DC or "{SID:Group}"), with optional Enroll DENY ACEs first."""
    aces = ""
    for t in (deny or []):
        aces += "(OD;;CR;%s;;%s)" % (ENROLL, t)
    for t in trustees:
        aces += "(OA;;CR;%s;;%s)(OA;;CR;%s;;%s)" % (ENROLL, t, AUTOENROLL, t)
    return "O:DAG:DAD:PAI" + aces + _ADMIN


def period(seconds):
    """pKIExpirationPeriod / pKIOverlapPeriod value: negative FILETIME span,
    int64 little-endian."""
    return struct.pack("<q", -int(seconds) * 10 ** 7)


DAY = 86400
YEAR = 365 * DAY
WEEK = 7 * DAY

EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
EKU_EFS = "1.3.6.1.4.1.311.10.3.4"
EKU_CERT_REQUEST_AGENT = "1.3.6.1.4.1.311.20.2.1"
OID_APP_POLICIES = "1.3.6.1.4.1.311.21.10"
# Issuance policies of the lab forest: msPKI-Enterprise-Oid objects with
# flags 2 that populate.py creates as <forest root>.1.400/401/402.
ISSUANCE_POLICY = "1.3.6.1.4.1.311.21.8.7638725.13898300.1985460.3383425.7519116.119.1.%d"

# Base attribute sets for a schema version 2 template duplicated from
# User / Workstation on a Windows CA.  Values are those of the real "User"
# and "Workstation" templates (/work/shared/data/windows-default-templates.json,
# tests/data/windows-default-templates.ldif) where a duplicate carries them:
#   user:    flags 0x1023a -> 0x2023a (a duplicate trades IS_DEFAULT 0x10000
#            for IS_MODIFIED 0x20000), msPKI-Enrollment-Flag 0x29, private
#            key flag 0x10 (exportable) plus the 0x01010000 version bits a
#            duplicate gets, both CSPs of pKIDefaultCSPs, KU a000, 1 year /
#            6 weeks.  Deliberately not copied: the EKUs (User has EFS, secure
#            mail and client auth; lab templates are client auth only).
#   machine: as Workstation (flags 0x20260, enrollment flag 0x20, private
#            key flag 0, SAN DNS) plus the version bits; server auth is added.
BASE = {
    "user": {
        # ADD_EMAIL | PUBLISH_TO_DS | EXPORTABLE_KEY | AUTO_ENROLLMENT |
        # ADD_TEMPLATE_NAME | IS_MODIFIED (User's 0x1023a, duplicated)
        "flags": 0x2023A,
        "msPKI-Template-Schema-Version": 2,
        "revision": 100,
        "msPKI-Template-Minor-Revision": 0,
        # INCLUDE_SYMMETRIC_ALGORITHMS | PUBLISH_TO_DS | AUTO_ENROLLMENT, as
        # User (MS-CRTD 2.26): the request must carry S/MIME capabilities and
        # the CA publishes the certificate to userCertificate.
        "msPKI-Enrollment-Flag": 0x29,
        # SAN_REQUIRE_UPN | SAN_REQUIRE_EMAIL | SUBJ_REQUIRE_EMAIL |
        # SUBJ_REQUIRE_DIRECTORY_PATH (as the default User template)
        "msPKI-Certificate-Name-Flag": 0xA6000000,
        "msPKI-Private-Key-Flag": 0x01010010,
        "msPKI-Minimal-Key-Size": 2048,
        "msPKI-RA-Signature": 0,
        "pKIKeyUsage": b"\xa0\x00",
        "pKIDefaultKeySpec": 1,
        "pKIMaxIssuingDepth": 0,
        "pKICriticalExtensions": ["2.5.29.15"],
        "pKIDefaultCSPs": ["2,Microsoft Base Cryptographic Provider v1.0",
                           "1,Microsoft Enhanced Cryptographic Provider v1.0"],
        "pKIExpirationPeriod": period(YEAR),
        "pKIOverlapPeriod": period(6 * WEEK),
        "pKIExtendedKeyUsage": [EKU_CLIENT_AUTH],
        "msPKI-Certificate-Application-Policy": [EKU_CLIENT_AUTH],
    },
    "machine": {
        # AUTO_ENROLLMENT | MACHINE_TYPE | ADD_TEMPLATE_NAME | IS_MODIFIED
        "flags": 0x20260,
        "msPKI-Template-Schema-Version": 2,
        "revision": 100,
        "msPKI-Template-Minor-Revision": 0,
        "msPKI-Enrollment-Flag": 0x20,
        "msPKI-Certificate-Name-Flag": 0x08000000,  # SAN_REQUIRE_DNS
        "msPKI-Private-Key-Flag": 0x01010000,
        "msPKI-Minimal-Key-Size": 2048,
        "msPKI-RA-Signature": 0,
        "pKIKeyUsage": b"\xa0\x00",
        "pKIDefaultKeySpec": 1,
        "pKIMaxIssuingDepth": 0,
        "pKICriticalExtensions": ["2.5.29.15"],
        "pKIDefaultCSPs": ["1,Microsoft RSA SChannel Cryptographic Provider"],
        "pKIExpirationPeriod": period(YEAR),
        "pKIOverlapPeriod": period(6 * WEEK),
        "pKIExtendedKeyUsage": [EKU_CLIENT_AUTH, EKU_SERVER_AUTH],
        "msPKI-Certificate-Application-Policy": [EKU_CLIENT_AUTH,
                                                 EKU_SERVER_AUTH],
    },
}

TEMPLATES = [
    dict(name="LabUser", display="Lab User", oid=101, kind="user", sddl=sddl_grant("DU"),
         purpose="baseline user autoenrollment: Enroll+AutoEnroll for Domain Users"),
    dict(name="LabMachine", display="Lab Machine", oid=102, kind="machine", sddl=sddl_grant("DC"),
         purpose="baseline machine autoenrollment: Enroll+AutoEnroll for Domain Computers"),
    dict(name="LabDenied", display="Lab Denied", oid=103, kind="user",
         sddl=sddl_grant("DU", deny=["{SID:CertDenied}"]),
         purpose="deny ACE first: Domain Users allowed, CertDenied (bob) denied Enroll"),
    dict(name="LabOld", display="Lab Old", oid=104, kind="user", sddl=sddl_grant("DU"),
         purpose="superseded by LabNew: must not be enrolled, existing cert replaced"),
    dict(name="LabNew", display="Lab New", oid=105, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Supersede-Templates": ["LabOld"]},
         purpose="supersedes LabOld (msPKI-Supersede-Templates)"),
    dict(name="LabPending", display="Lab Pending Approval", oid=106, kind="user", sddl=sddl_grant("DU"),
         enroll_flag_add=0x2,
         purpose="PEND_ALL_REQUESTS: request goes pending (CA manager approval)"),
    dict(name="LabInteractive", display="Lab Interactive", oid=107, kind="user", sddl=sddl_grant("DU"),
         enroll_flag_add=0x100,
         purpose="USER_INTERACTION_REQUIRED: user must consent (skipped in silent runs)"),
    dict(name="LabMachineInteractive", display="Lab Machine Interactive", oid=108, kind="machine",
         sddl=sddl_grant("DC"), enroll_flag_add=0x100,
         purpose="USER_INTERACTION_REQUIRED on a machine template"),
    dict(name="LabSubject", display="Lab Enrollee Supplies Subject", oid=109, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Certificate-Name-Flag": 0x1 | 0x8},
         purpose="ENROLLEE_SUPPLIES_SUBJECT | OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME"),
    dict(name="LabRA", display="Lab RA Signature", oid=110, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-RA-Signature": 1,
                "msPKI-RA-Application-Policies": [EKU_CERT_REQUEST_AGENT]},
         purpose="one RA signature (Certificate Request Agent) required"),
    dict(name="LabRA2", display="Lab Two RA Signatures", oid=111, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-RA-Signature": 2,
                "msPKI-RA-Application-Policies": [EKU_CERT_REQUEST_AGENT]},
         purpose="two RA signatures required: autoenrollment cannot satisfy it"),
    dict(name="LabArchive", display="Lab Key Archival", oid=112, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Private-Key-Flag": 0x01010000 | 0x1,
                "pKIExtendedKeyUsage": [EKU_CLIENT_AUTH, EKU_EFS],
                "msPKI-Certificate-Application-Policy": [EKU_CLIENT_AUTH,
                                                         EKU_EFS]},
         purpose="REQUIRE_PRIVATE_KEY_ARCHIVAL (key archival to the CA)"),
    dict(name="LabECDSA", display="Lab ECDSA", oid=113, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Template-Schema-Version": 3,
                "msPKI-Private-Key-Flag": 0x02020000,
                "msPKI-Minimal-Key-Size": 256,
                "pKIKeyUsage": b"\x80\x00",
                "pKIDefaultKeySpec": 2,
                "pKIDefaultCSPs": ["1,Microsoft Software Key Storage Provider"],
                "msPKI-RA-Application-Policies": [
                    "msPKI-Asymmetric-Algorithm`PZPWSTR`ECDSA_P256`"
                    "msPKI-Hash-Algorithm`PZPWSTR`SHA256`"
                    "msPKI-Key-Usage`DWORD`16777215`"
                    "msPKI-Symmetric-Algorithm`PZPWSTR`3DES`"
                    "msPKI-Symmetric-Key-Length`DWORD`168`"]},
         purpose="schema v3 (CNG): ECDSA P-256 key via msPKI-RA-Application-Policies syntax 2"),
    dict(name="LabV1", display="Lab Version 1", oid=None, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Template-Schema-Version": 1, "revision": 3,
                "msPKI-Template-Minor-Revision": 1,
                "msPKI-Private-Key-Flag": 0,
                "msPKI-Certificate-Application-Policy": None},
         purpose="schema version 1, no msPKI-Cert-Template-OID (name extension only)"),
    dict(name="LabUnpublished", display="Lab Unpublished", oid=114, kind="user", sddl=sddl_grant("DU"),
         publish=None,
         purpose="allowed but published by no CA: must be skipped"),
    dict(name="LabPlus", display="Lab CertPlus Only", oid=115, kind="user", sddl=sddl_grant("{SID:CertPlus}"),
         purpose="Enroll+AutoEnroll only for group CertPlus (bob yes, alice no)"),
    dict(name="LabRogueOnly", display="Lab Rogue CA Only", oid=116, kind="user", sddl=sddl_grant("DU"),
         publish="rogue",
         purpose="published only by CORP-ROGUE (CA not chained to the trusted root)"),
    dict(name="LabShort", display="Lab Short Lived", oid=117, kind="user", sddl=sddl_grant("DU"),
         attrs={"pKIExpirationPeriod": period(DAY),
                "pKIOverlapPeriod": period(2 * 3600)},
         purpose="1-day validity, 2-hour renewal period: renewal tests"),
    dict(name="LabRSA4096", display="Lab RSA 4096", oid=118, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Minimal-Key-Size": 4096},
         purpose="minimal key size 4096: key generation and request benchmarks"),
    # Templates for the CA-side rules of MS-WCCE 3.2.2.6.2.1.4.5.x
    dict(name="LabCritical", display="Lab Critical App Policies", oid=119, kind="user", sddl=sddl_grant("DU"),
         attrs={"pKICriticalExtensions": ["2.5.29.15", OID_APP_POLICIES],
                # issuance policy from the template (no ISSUANCE_POLICIES_FROM_REQUEST):
                # MS-WCCE 3.2.2.6.2.1.4.5.8, the CA puts it in certificatePolicies
                "msPKI-Certificate-Policy": [ISSUANCE_POLICY % 400]},
         purpose="application policies extension critical (pKICriticalExtensions); "
                 "issuance policy <root>.1.400 from the template"),
    dict(name="LabIssuance", display="Lab Issuance Policies From Request", oid=120, kind="user",
         sddl=sddl_grant("DU"), enroll_flag_add=0x20000,
         attrs={"msPKI-Certificate-Policy": [ISSUANCE_POLICY % 401, ISSUANCE_POLICY % 402]},
         purpose="ISSUANCE_POLICIES_FROM_REQUEST (0x20000): policies <root>.1.401/.402 only "
                 "if the request asks for them"),
    dict(name="LabAttest", display="Lab Key Attestation", oid=121, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Template-Schema-Version": 3,
                "msPKI-Private-Key-Flag": 0x02020000 | 0x2000,
                "pKIDefaultCSPs": ["1,Microsoft Platform Crypto Provider"],
                "msPKI-RA-Application-Policies": [
                    "msPKI-Asymmetric-Algorithm`PZPWSTR`RSA`"
                    "msPKI-Hash-Algorithm`PZPWSTR`SHA256`"
                    "msPKI-Key-Usage`DWORD`16777215`"
                    "msPKI-Symmetric-Algorithm`PZPWSTR`3DES`"
                    "msPKI-Symmetric-Key-Length`DWORD`168`"]},
         purpose="schema v3 RSA, ATTEST_REQUIRED (0x2000): the lab CA cannot attest, refuses 0x8009481A"),
    dict(name="LabSameKey", display="Lab Same Key Renewal", oid=122, kind="user", sddl=sddl_grant("DU"),
         attrs={"msPKI-Private-Key-Flag": 0x01010010 | 0x80},
         purpose="REQUIRE_SAME_KEY_RENEWAL (0x80): a renewal must keep the key"),
    # Windows' default EnrollmentAgent ("Enrollment Agent", schema 1, Enroll
    # for Domain/Enterprise Admins only) duplicated as version 2 with
    # Enroll (no AutoEnroll) for Domain Users, so that alice can be an
    # enrollment agent: its EKU Certificate Request Agent, KU
    # digitalSignature, name flags SUBJECT_REQUIRE_DIRECTORY_PATH |
    # SAN_REQUIRE_UPN, enrollment flag AUTO_ENROLLMENT, 2 years / 6 weeks.
    dict(name="LabAgent", display="Lab Enrollment Agent", oid=140, kind="user",
         sddl="O:DAG:DAD:PAI(OA;;CR;%s;;DU)" % ENROLL + _ADMIN,
         attrs={"msPKI-Enrollment-Flag": 0x20,
                "msPKI-Certificate-Name-Flag": 0x82000000,
                "msPKI-Private-Key-Flag": 0x01010000,
                "pKIKeyUsage": b"\x80\x00",
                "pKIDefaultKeySpec": 2,
                "pKIExpirationPeriod": period(2 * YEAR),
                "pKIExtendedKeyUsage": [EKU_CERT_REQUEST_AGENT],
                "msPKI-Certificate-Application-Policy": [EKU_CERT_REQUEST_AGENT]},
         purpose="enrollment agent (Certificate Request Agent), Enroll for Domain Users: "
                 "co-signs LabRA requests and enrolls on behalf of others"),
    dict(name="LabPrevApproval", display="Lab Previous Approval", oid=123, kind="user", sddl=sddl_grant("DU"),
         enroll_flag_add=0x2 | 0x40,
         purpose="PEND_ALL_REQUESTS + PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT: "
                 "new requests pend, valid renewals are issued"),
    # As the default "EFS" template (key usage 2000 = keyEncipherment only,
    # EFS EKU, key spec 1, no archival), 1-day validity, with
    # REMOVE_INVALID_CERTIFICATE (0x400) set to show that encryption
    # certificates are archived on renewal and never deleted all the same.
    # Published by no CA: tests/integration/lab-expiry.sh publishes it for
    # its scenario, so that other tests' pulses do not enroll it.
    dict(name="LabEncrypt", display="Lab Encryption", oid=130, kind="user", sddl=sddl_grant("DU"),
         publish=None, enroll_flag_add=0x400,
         attrs={"pKIKeyUsage": b"\x20\x00",
                "pKIExpirationPeriod": period(DAY),
                "pKIOverlapPeriod": period(2 * 3600),
                "pKIExtendedKeyUsage": [EKU_EFS],
                "msPKI-Certificate-Application-Policy": [EKU_EFS]},
         purpose="encryption (EFS, keyEncipherment only, no archival), 1 day, REMOVE_INVALID: "
                 "archived on renewal, never deleted; published by the test"),
    # The lab NDES's template for pending SCEP requests (labctl scep-template
    # LabScepPending): the subject from the request as NDES templates have
    # it, PEND_ALL_REQUESTS, Enroll (no AutoEnroll) for Domain Admins only:
    # the NDES service account.
    dict(name="LabScepPending", display="Lab SCEP Pending", oid=150, kind="machine",
         sddl="O:DAG:DAD:PAI(OA;;CR;%s;;DA)" % ENROLL + _ADMIN,
         attrs={"msPKI-Certificate-Name-Flag": 0x1}, enroll_flag_add=0x2,
         purpose="NDES template: ENROLLEE_SUPPLIES_SUBJECT + PEND_ALL_REQUESTS, Enroll for Domain Admins "
                 "(the lab NDES's service account)"),
]
