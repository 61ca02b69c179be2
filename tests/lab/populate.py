#!/usr/bin/python3
# Populate a freshly provisioned (and NOT running) Samba AD DC of the lab by
# writing straight into its sam.ldb, in one transaction: OUs, users, groups,
# DNS A records, the lab PKI (root CA, issuing CA, rogue CA) and its
# directory objects, the OID container and all certificate templates.
#
# Called by labctl; must run with Debian's /usr/bin/python3 (python3-samba).
#   populate.py LAB_DIR FIXTURE_LDIF

import datetime
import hashlib
import os
import sys

import ldb
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack, ndr_unpack
from samba.param import LoadParm
from samba.dcerpc import dnsp
from samba.provision.sambadns import (ARecord, NSRecord, SOARecord,
                                      add_domain_record, get_dnsadmins_sid)
from samba.samdb import SamDB

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep the source tree clean
import templates as labtemplates  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "ca"))
import crl as labcrl  # noqa: E402

LAB = os.path.abspath(sys.argv[1])
FIXTURE = sys.argv[2]

REALM = "CORP.TEST"
DNSDOMAIN = "corp.test"
# Lab forest OID root (fixed; 6 arcs after 1.3.6.1.4.1.311.21.8 like Windows).
FOREST_OID_ROOT = "1.3.6.1.4.1.311.21.8.7638725.13898300.1985460.3383425.7519116.119"
# Values captured from the real Windows forest the fixture comes from.
FIXTURE_OID_ROOT = "1.3.6.1.4.1.311.21.8.14022710.8053821.4148415.11041814.15190471.213"
FIXTURE_DOMAIN_SID = "S-1-5-21-1047456448-2337630968-2720937775"
FIXTURE_CONFIG_NC = "CN=Configuration,DC=dom,DC=local"

HOSTS = {"ca1": "127.0.0.11", "ws1": "127.0.0.12", "rogue": "127.0.0.13",
         "ca2": "127.0.0.15",   # ca2: the optional second CA (labctl ca2 up)
         "ces": "127.0.0.16",   # ces: the CEP/CES web services (labctl ces up)
         "ndes": "127.0.0.17"}  # ndes: the lab NDES (labctl scep up)

# Default templates a fresh Windows Enterprise CA publishes.
DEFAULT_PUBLISHED = ["DirectoryEmailReplication", "DomainControllerAuthentication",
                     "KerberosAuthentication", "EFSRecovery", "EFS",
                     "DomainController", "WebServer", "Machine", "User", "SubCA",
                     "Administrator"]


def read_passwords():
    pw = {}
    with open(os.path.join(LAB, "passwords")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                pw[k] = v
    return pw


def i32(v):
    """AD integer syntax: signed 32-bit decimal."""
    v &= 0xFFFFFFFF
    return str(v - (1 << 32) if v & 0x80000000 else v)


def ldbval(v):
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return i32(v)
    return str(v)


def sid_subauth_bytes(sid):
    """The 12 bytes of the 3 sub-authorities of a domain SID S-1-5-21-a-b-c,
    preceded by the first sub-authority 21, as they appear in binary SIDs."""
    parts = [int(x) for x in sid.split("-")[3:]]
    assert len(parts) == 4 and parts[0] == 21, sid
    return b"".join(p.to_bytes(4, "little") for p in parts)


def oid_cn(oid):
    """cn of an msPKI-Enterprise-Oid child: '<last arc>.<32 hex>' (Windows uses
    a random hex part; ours is derived from the OID so it is stable)."""
    return "%s.%s" % (oid.rsplit(".", 1)[1], hashlib.md5(oid.encode()).hexdigest().upper())


# ---------------------------------------------------------------- PKI files
def make_pki(pki):
    os.makedirs(pki, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)

    def name(cn):
        return x509.Name([
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "test"),
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "corp"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca_cert(subject, key, issuer, issuer_key, years, pathlen):
        b = (x509.CertificateBuilder()
             .subject_name(subject).issuer_name(issuer)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now)
             .not_valid_after(now + datetime.timedelta(days=365 * years))
             .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False,
                                          decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
             # szOID_CERTSRV_CA_VERSION = 0, as on Windows CA certificates
             .add_extension(x509.UnrecognizedExtension(
                 x509.ObjectIdentifier("1.3.6.1.4.1.311.21.1"), b"\x02\x01\x00"),
                 critical=False))
        if issuer_key is not key:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def save(base, key, cert):
        with open(os.path.join(pki, base + ".key"), "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
        with open(os.path.join(pki, base + ".pem"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(pki, base + ".der"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.DER))

    rk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = ca_cert(name("CORP Lab Root CA"), rk, name("CORP Lab Root CA"), rk, 10, None)
    ik = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuing = ca_cert(name("CORP-CA1"), ik, root.subject, rk, 5, 0)
    gk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rogue = ca_cert(name("CORP-ROGUE"), gk, name("CORP-ROGUE"), gk, 5, None)
    save("root", rk, root)
    save("ca1", ik, issuing)
    save("rogue", gk, rogue)
    # CORP-CA2, the optional second issuing CA: its objects go into AD at
    # labctl ca2 up (ca2.py), as AD CS setup puts them.
    k2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    save("ca2", k2, ca_cert(name("CORP-CA2"), k2, root.subject, rk, 5, 0))
    with open(os.path.join(pki, "ca1-chain.pem"), "wb") as f:
        f.write(issuing.public_bytes(serialization.Encoding.PEM) +
                root.public_bytes(serialization.Encoding.PEM))
    # DC's LDAPS/TLS certificate issued by CORP-CA1 (samba would otherwise
    # spend ~1.5 s generating a self-signed one at first start).
    dk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    dc = (x509.CertificateBuilder()
          .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dc1.corp.test")]))
          .issuer_name(issuing.subject).public_key(dk.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=True, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=False,
                                       crl_sign=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                         critical=False)
          .add_extension(x509.SubjectAlternativeName([x509.DNSName("dc1.corp.test"),
                                                      x509.DNSName("corp.test")]),
                         critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ik.public_key()),
                         critical=False)
          .sign(ik, hashes.SHA256()))
    save("dc1", dk, dc)
    tls = os.path.join(LAB, "dc", "private", "tls")
    os.makedirs(tls, exist_ok=True)
    with open(os.path.join(tls, "key.pem"), "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(dk.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption()))
    with open(os.path.join(tls, "cert.pem"), "wb") as f:
        # leaf + issuing CA, so clients trusting only the root can verify
        f.write(dc.public_bytes(serialization.Encoding.PEM) +
                issuing.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(tls, "ca.pem"), "wb") as f:
        f.write(issuing.public_bytes(serialization.Encoding.PEM) +
                root.public_bytes(serialization.Encoding.PEM))
    # Empty CRL of the issuing CA (published in CN=CDP).
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(issuing.subject).last_update(now)
           .next_update(now + datetime.timedelta(days=7))
           .add_extension(x509.CRLNumber(1), critical=False)
           .sign(ik, hashes.SHA256()))
    with open(os.path.join(pki, "ca1.crl"), "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.DER))
    der = lambda c: c.public_bytes(serialization.Encoding.DER)  # noqa: E731
    return der(root), der(issuing), der(rogue), \
        crl.public_bytes(serialization.Encoding.DER)


def windows_dn(cn):
    # cACertificateDN as Windows writes it: "CN=x, DC=corp, DC=test"
    return "CN=%s, DC=corp, DC=test" % cn


# ---------------------------------------------------------------- main
def main():
    pw = read_passwords()
    lp = LoadParm()
    lp.load(os.path.join(LAB, "dc", "etc", "smb.conf"))
    samdb = SamDB(url=os.path.join(LAB, "dc", "private", "sam.ldb"),
                  session_info=system_session(), lp=lp)
    domain_dn = str(samdb.domain_dn())
    config_nc = str(samdb.get_config_basedn())
    domain_sid = str(samdb.get_domain_sid())
    pks = "CN=Public Key Services,CN=Services," + config_nc

    def add(dn, attrs):
        m = ldb.Message(ldb.Dn(samdb, dn))
        for k, v in attrs.items():
            if v is None:
                continue
            vals = v if isinstance(v, list) else [v]
            m[k] = ldb.MessageElement([ldbval(x) for x in vals], ldb.FLAG_MOD_ADD, k)
        samdb.add(m)

    def sid_of(dn):
        r = samdb.search(dn, scope=ldb.SCOPE_BASE, attrs=["objectSid"])
        return str(ndr_unpack(security.dom_sid, r[0]["objectSid"][0]))

    samdb.transaction_start()
    try:
        # ---- OUs, groups, users
        samdb.create_ou("OU=Staff," + domain_dn, description="Lab users")
        samdb.create_ou("OU=Workstations," + domain_dn, description="Lab computers")
        for g in ("CertPlus", "CertDenied"):
            samdb.newgroup(g, groupou="OU=Staff",
                           description="Lab group %s" % g)
        for u, given in (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")):
            samdb.newuser(u, pw[u], userou="OU=Staff", givenname=given,
                          surname="Lab", mailaddress="%s@%s" % (u, DNSDOMAIN))
        samdb.add_remove_group_members("CertPlus", ["bob"], add_members_operation=True)
        samdb.add_remove_group_members("CertDenied", ["bob"], add_members_operation=True)
        samdb.disable_account("(sAMAccountName=carol)")
        # As in a real AD: Authenticated Users (its foreign security
        # principal, which provisioning made for Pre-Windows 2000
        # Compatible Access) is a member of BUILTIN\Certificate Service
        # DCOM Access (S-1-5-32-574), which AD CS requires of its callers.
        m = ldb.Message(ldb.Dn(samdb, "CN=Certificate Service DCOM Access,CN=Builtin," + domain_dn))
        m["member"] = ldb.MessageElement("CN=S-1-5-11,CN=ForeignSecurityPrincipals," + domain_dn,
                                         ldb.FLAG_MOD_ADD, "member")
        samdb.modify(m)
        group_sids = {g: sid_of("CN=%s,OU=Staff,%s" % (g, domain_dn))
                      for g in ("CertPlus", "CertDenied")}

        # lab passwords never expire (no "password will expire" warnings)
        m = ldb.Message(ldb.Dn(samdb, domain_dn))
        m["maxPwdAge"] = ldb.MessageElement(str(-0x8000000000000000),
                                            ldb.FLAG_MOD_REPLACE, "maxPwdAge")
        samdb.modify(m)

        # ---- DNS (SAMBA_INTERNAL zones live in the directory)
        zones = "CN=MicrosoftDNS,DC=DomainDnsZones," + domain_dn
        for h, ip in HOSTS.items():
            add("DC=%s,DC=%s,%s" % (h, DNSDOMAIN, zones),
                {"objectClass": ["top", "dnsNode"], "dnsRecord": ndr_pack(ARecord(ip))})
        # Reverse zone 127.in-addr.arpa with PTR records, so that reverse
        # lookups (e.g. libldap's SASL host canonicalisation) behave like on a
        # real network.
        rzone = "127.in-addr.arpa"
        add_domain_record(samdb, domain_dn, "DC=DomainDnsZones", rzone,
                          security.dom_sid(domain_sid), get_dnsadmins_sid(samdb, domain_dn))
        add("DC=@,DC=%s,%s" % (rzone, zones),
            {"objectClass": ["top", "dnsNode"],
             "dnsRecord": [ndr_pack(SOARecord("dc1." + DNSDOMAIN, "hostmaster." + DNSDOMAIN)),
                           ndr_pack(NSRecord("dc1." + DNSDOMAIN))]})
        for h, ip in dict(HOSTS, dc1="127.0.0.10").items():
            ptr = dnsp.DnssrvRpcRecord()
            ptr.wType = dnsp.DNS_TYPE_PTR
            ptr.rank = dnsp.DNS_RANK_ZONE
            ptr.dwSerial = 1
            ptr.dwTtlSeconds = 900
            ptr.data = "%s.%s" % (h, DNSDOMAIN)
            rname = ".".join(reversed(ip.split(".")[1:]))
            add("DC=%s,DC=%s,%s" % (rname, rzone, zones),
                {"objectClass": ["top", "dnsNode"], "dnsRecord": ndr_pack(ptr)})

        # ---- PKI
        root_der, ca1_der, rogue_der, crl_der = make_pki(os.path.join(LAB, "pki"))
        ca_attrs = {"objectClass": ["top", "certificationAuthority"],
                    "authorityRevocationList": b"\x00",
                    "certificateRevocationList": b"\x00"}
        add("CN=CORP Lab Root CA,CN=Certification Authorities," + pks,
            dict(ca_attrs, cn="CORP Lab Root CA", cACertificate=root_der))
        add("CN=CORP-CA1,CN=AIA," + pks,
            dict(ca_attrs, cn="CORP-CA1", cACertificate=ca1_der))
        add("CN=NTAuthCertificates," + pks,
            dict(ca_attrs, cn="NTAuthCertificates", cACertificate=ca1_der))
        # The CA's CDP objects, as AD CS setup makes them: its computer
        # account (through Cert Publishers) writes the CRLs there.
        cdp_sd = ndr_pack(security.descriptor.from_sddl(labcrl.CDP_SDDL, security.dom_sid(domain_sid)))
        add(labcrl.CDP_CONTAINER, {"objectClass": ["top", "container"], "cn": labcrl.CA_SHORT,
                                   "nTSecurityDescriptor": cdp_sd})
        add(labcrl.CDP_DN,
            {"objectClass": ["top", "cRLDistributionPoint"], "cn": labcrl.CA_NAME,
             "certificateRevocationList": crl_der, "nTSecurityDescriptor": cdp_sd})

        # ---- OID container: forest root + issuance policies like Windows
        m = ldb.Message(ldb.Dn(samdb, "CN=OID," + pks))
        m["msPKI-Cert-Template-OID"] = ldb.MessageElement(
            FOREST_OID_ROOT, ldb.FLAG_MOD_REPLACE, "msPKI-Cert-Template-OID")
        samdb.modify(m)

        def add_oid(oid, display, flags):
            add("CN=%s,CN=OID,%s" % (oid_cn(oid), pks),
                {"objectClass": ["top", "msPKI-Enterprise-Oid"], "cn": oid_cn(oid),
                 "displayName": display, "flags": flags,
                 "msPKI-Cert-Template-OID": oid})

        for n, disp in ((400, "Low Assurance"), (401, "Medium Assurance"),
                        (402, "High Assurance")):
            add_oid("%s.1.%d" % (FOREST_OID_ROOT, n), disp, 2)

        # ---- the 33 Windows defaults from the fixture
        old_sub = sid_subauth_bytes(FIXTURE_DOMAIN_SID)
        new_sub = sid_subauth_bytes(domain_sid)
        tdn = "CN=Certificate Templates," + pks
        with open(FIXTURE) as f:
            ldif = f.read()
        ndefaults = 0
        for _, msg in samdb.parse_ldif(ldif):
            dn = str(msg.dn).replace(FIXTURE_CONFIG_NC, config_nc)
            m = ldb.Message(ldb.Dn(samdb, dn))
            for attr in msg:
                if attr.lower() == "dn":
                    continue
                vals = []
                for v in msg[attr]:
                    v = bytes(v)
                    if attr.lower() == "ntsecuritydescriptor":
                        v = v.replace(old_sub, new_sub)
                        sddl = ndr_unpack(security.descriptor, v).as_sddl()
                        assert FIXTURE_DOMAIN_SID not in sddl
                    elif v.startswith(FIXTURE_OID_ROOT.encode() + b"."):
                        v = FOREST_OID_ROOT.encode() + v[len(FIXTURE_OID_ROOT):]
                    vals.append(v)
                m[attr] = ldb.MessageElement(vals, ldb.FLAG_MOD_ADD, attr)
            samdb.add(m)
            ndefaults += 1
            # Windows has OID objects only for the v2+ defaults
            if int(str(msg["msPKI-Template-Schema-Version"][0])) >= 2:
                oid = str(m["msPKI-Cert-Template-OID"][0])
                add_oid(oid, str(msg["displayName"][0]), 1)

        # ---- lab templates
        assert labtemplates.ISSUANCE_POLICY == FOREST_OID_ROOT + ".1.%d"
        published = {"ca1": list(DEFAULT_PUBLISHED), "rogue": []}
        for t in labtemplates.TEMPLATES:
            attrs = dict(labtemplates.BASE[t["kind"]])
            attrs.update(t.get("attrs", {}))
            attrs["msPKI-Enrollment-Flag"] = (attrs["msPKI-Enrollment-Flag"] |
                                              t.get("enroll_flag_add", 0))
            attrs["objectClass"] = ["top", "pKICertificateTemplate"]
            attrs["cn"] = t["name"]
            attrs["displayName"] = t.get("display", t["name"])
            if t["oid"] is not None:
                attrs["msPKI-Cert-Template-OID"] = "%s.1.%d" % (FOREST_OID_ROOT, t["oid"])
            sddl = t["sddl"]
            for g, s in group_sids.items():
                sddl = sddl.replace("{SID:%s}" % g, s)
            sd = security.descriptor.from_sddl(sddl, security.dom_sid(domain_sid))
            attrs["nTSecurityDescriptor"] = ndr_pack(sd)
            add("CN=%s,%s" % (t["name"], tdn), attrs)
            if t["oid"] is not None:
                add_oid(attrs["msPKI-Cert-Template-OID"], attrs["displayName"], 1)
            pub = t.get("publish", "ca1")
            if pub:
                published[pub].append(t["name"])

        # ---- enrollment services
        es_sddl = ("O:EAG:EAD:AI(A;;LCRPLORC;;;AU)"
                   "(A;;CCDCLCSWRPWPDTLOSDRCWDWO;;;EA)"
                   "(A;;CCDCLCSWRPWPDTLOSDRCWDWO;;;DA)"
                   "(OA;;CR;%s;;AU)" % labtemplates.ENROLL)
        es_sd = ndr_pack(security.descriptor.from_sddl(es_sddl, security.dom_sid(domain_sid)))
        for cn, host, der, key in (("CORP-CA1", "ca1", ca1_der, "ca1"),
                                   ("CORP-ROGUE", "rogue", rogue_der, "rogue")):
            add("CN=%s,CN=Enrollment Services,%s" % (cn, pks),
                {"objectClass": ["top", "pKIEnrollmentService"], "cn": cn,
                 "displayName": cn, "dNSHostName": "%s.%s" % (host, DNSDOMAIN),
                 "cACertificate": der, "cACertificateDN": windows_dn(cn),
                 "flags": 10, "certificateTemplates": published[key],
                 "nTSecurityDescriptor": es_sd})
        samdb.transaction_commit()
    except BaseException:
        samdb.transaction_cancel()
        raise

    with open(os.path.join(LAB, "lab.env"), "w") as f:
        f.write("REALM=%s\nDOMAIN=%s\nNETBIOS_DOMAIN=CORP\nDC_ADDR=127.0.0.10\n"
                "DC_FQDN=dc1.%s\nCA_ADDR=127.0.0.11\nCA_FQDN=ca1.%s\n"
                "WS_ADDR=127.0.0.12\nWS_FQDN=ws1.%s\nROGUE_ADDR=127.0.0.13\n"
                "LAB=%s\nDOMAIN_SID=%s\nDOMAIN_DN=%s\nCONFIG_NC=%s\n"
                "FOREST_OID_ROOT=%s\nCERTPLUS_SID=%s\nCERTDENIED_SID=%s\n"
                % (REALM, DNSDOMAIN, DNSDOMAIN, DNSDOMAIN, DNSDOMAIN, LAB, domain_sid,
                   domain_dn, config_nc, FOREST_OID_ROOT, group_sids["CertPlus"],
                   group_sids["CertDenied"]))
    print("populated: %d default + %d lab templates" % (ndefaults, len(labtemplates.TEMPLATES)))


if __name__ == "__main__":
    main()
