# The lab CA's CRLs and where it publishes them, as AD CS does: a base CRL
# and (labctl crl-delta on) delta CRLs, written to files the CA's HTTP
# server serves at the http:// CDP, and into the certificateRevocationList
# and deltaRevocationList attributes of the CA's cRLDistributionPoint object
# in AD (the ldap:/// CDP).  Which locations new certificates (and the base
# CRL's Freshest CRL extension) name is the lever labctl cdp ldap|http|both.
#
# RFC 5280 5.2.4 (Delta CRL Indicator), 5.2.6 (Freshest CRL), 5.3.1
# (reason codes); the ldap URL is the one AD CS writes from its default
# template ldap:///CN=<CATruncatedName><CRLNameSuffix>,CN=<ServerShortName>,
# CN=CDP,CN=Public Key Services,CN=Services,<ConfigurationContainer>
# <CDPObjectClass> (the CA's name has no suffix in the lab).

import datetime
import logging
import os
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

log = logging.getLogger("labca.crl")

CA_NAME = "CORP-CA1"
CA_HOST = "ca1.corp.test"
CA_SHORT = "CA1"                  # <ServerShortName>: the CA computer's NetBIOS name
CONFIG_NC = "CN=Configuration,DC=corp,DC=test"
PKS = "CN=Public Key Services,CN=Services," + CONFIG_NC
CDP_CONTAINER = "CN=%s,CN=CDP,%s" % (CA_SHORT, PKS)
CDP_DN = "CN=%s,%s" % (CA_NAME, CDP_CONTAINER)
BASE_FILE = CA_NAME + ".crl"
DELTA_FILE = CA_NAME + "+.crl"    # AD CS names delta CRLs <CAName>+.crl


def configure(short, name, host):
    """The names of the CA instance this process is (policy.configure)."""
    global CA_NAME, CA_HOST, CA_SHORT, CDP_CONTAINER, CDP_DN, BASE_FILE, DELTA_FILE
    CA_NAME, CA_HOST, CA_SHORT = name, host, short
    CDP_CONTAINER = "CN=%s,CN=CDP,%s" % (CA_SHORT, PKS)
    CDP_DN = "CN=%s,%s" % (CA_NAME, CDP_CONTAINER)
    BASE_FILE = CA_NAME + ".crl"
    DELTA_FILE = CA_NAME + "+.crl"

BASE_DAYS = 7
DELTA_DAYS = 1

# RFC 5280 5.3.1 CRLReason codes (7 is unused).
REASONS = {
    1: x509.ReasonFlags.key_compromise, 2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed, 4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation, 6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl, 9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}

# The objects AD CS setup creates (as an Enterprise Admin); the CA's
# computer account writes the CRLs through Cert Publishers (SDDL "CA").
CDP_SDDL = ("O:DAG:DAD:AI(A;;CCDCLCSWRPWPDTLOSDRCWDWO;;;DA)(A;;CCDCLCSWRPWPDTLOSDRCWDWO;;;EA)"
            "(A;;CCDCLCSWRPWPDTLOSDRCWDWO;;;SY)(A;;LCRPWPLORC;;;CA)(A;;LCRPLORC;;;AU)"
            "(A;;LCRPLORC;;;WD)")


def ldap_url(attr):
    """AD CS's ldap:/// URL of the CDP object for ATTR, percent-encoded as in
    its certificates (spaces as %20)."""
    dn = urllib.parse.quote(CDP_DN, safe="=,-")
    return "ldap:///%s?%s?base?objectClass=cRLDistributionPoint" % (dn, attr)


def http_url(delta=False):
    return "http://%s/CertEnroll/%s" % (CA_HOST, urllib.parse.quote(DELTA_FILE if delta else BASE_FILE))


def locations(where, delta=False):
    """The URLs of the lever's value, in AD CS's order: ldap first."""
    urls = []
    if where in ("ldap", "both"):
        urls.append(ldap_url("deltaRevocationList" if delta else "certificateRevocationList"))
    if where in ("http", "both"):
        urls.append(http_url(delta))
    return urls


def distribution_points(where, delta=False):
    return [x509.DistributionPoint(full_name=[x509.UniformResourceIdentifier(u)
                                              for u in locations(where, delta)],
                                   relative_name=None, reasons=None, crl_issuer=None)]


class Publisher:
    """Writes the CA's CRLs and publishes them at every place the CA lists."""

    def __init__(self, ca):
        self.ca = ca
        self.store = ca.store

    def _meta(self, k, default=None):
        with self.store.db() as c:
            r = c.execute("SELECT v FROM meta WHERE k=?", (k,)).fetchone()
        return r["v"] if r else default

    def _set_meta(self, k, v):
        with self.store.db() as c:
            c.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (k, str(v)))

    def _sign(self, entries, days, number, delta_base=None, freshest=None):
        now = datetime.datetime.utcnow().replace(microsecond=0)
        b = (x509.CertificateRevocationListBuilder().issuer_name(self.ca.cert.subject)
             .last_update(now - datetime.timedelta(minutes=10))
             .next_update(now + datetime.timedelta(days=days))
             .add_extension(x509.CRLNumber(number), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()),
                            critical=False))
        if delta_base is not None:
            b = b.add_extension(x509.DeltaCRLIndicator(delta_base), critical=True)
        if freshest:
            b = b.add_extension(x509.FreshestCRL(freshest), critical=False)
        for r in entries:
            rb = (x509.RevokedCertificateBuilder().serial_number(int(r["serial"], 16))
                  .revocation_date(datetime.datetime.utcfromtimestamp(int(r["revoked_at"]))))
            if r["reason"] in REASONS:
                rb = rb.add_extension(x509.CRLReason(REASONS[r["reason"]]), critical=False)
            b = b.add_revoked_certificate(rb.build())
        return b.sign(self.ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _write(self, name, data):
        path = os.path.join(self.store.dir, name)
        if data is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return path
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return path

    def write(self, new_base=False):
        """Writes the CRLs: without deltas, a full base CRL; with deltas
        (labctl crl-delta on), a new base CRL (carrying the Freshest CRL
        extension) when NEW_BASE or when there is none yet, else only a new
        delta CRL holding what was revoked after the base.  Returns
        (path, base DER or None, delta DER or None): what was rewritten."""
        revoked = self.store.revoked()
        if self.ca.lever("crl-delta", "off") != "on":
            self._set_meta("base_with_delta", 0)
            base = self._sign(revoked, BASE_DAYS, self.store.next_crl_number())
            self._write(DELTA_FILE, None)
            return self._write(BASE_FILE, base), base, b""
        base = None
        if new_base or self._meta("base_with_delta", "0") != "1":
            number = self.store.next_crl_number()
            cut = time.time()
            where = self.ca.lever("cdp", "http")
            base = self._sign([r for r in revoked if r["revoked_at"] <= cut], BASE_DAYS, number,
                              freshest=distribution_points(where, delta=True))
            self._set_meta("base_number", number)
            self._set_meta("base_time", repr(cut))
            self._set_meta("base_with_delta", 1)
            self._write(BASE_FILE, base)
        cut = float(self._meta("base_time"))
        delta = self._sign([r for r in revoked if r["revoked_at"] > cut], DELTA_DAYS,
                           self.store.next_crl_number(), delta_base=int(self._meta("base_number")))
        return self._write(DELTA_FILE, delta), base, delta

    def publish_ds(self, base, delta):
        """Writes BASE into certificateRevocationList and DELTA into
        deltaRevocationList of the CA's CDP object (b"": clear; None: leave),
        creating the container and the object first if they are missing."""
        import ldb
        from samba.dcerpc import security
        from samba.ndr import ndr_pack

        def ensure(db):
            sid = security.dom_sid(str(db.get_domain_sid()))
            sd = ndr_pack(security.descriptor.from_sddl(CDP_SDDL, sid))
            for dn, cls in ((CDP_CONTAINER, "container"), (CDP_DN, "cRLDistributionPoint")):
                if self._exists(db, dn):
                    continue
                m = ldb.Message(ldb.Dn(db, dn))
                m["objectClass"] = ldb.MessageElement(["top", cls], ldb.FLAG_MOD_ADD, "objectClass")
                m["cn"] = ldb.MessageElement(dn.split(",")[0][3:], ldb.FLAG_MOD_ADD, "cn")
                m["nTSecurityDescriptor"] = ldb.MessageElement(sd, ldb.FLAG_MOD_ADD, "nTSecurityDescriptor")
                db.add(m)
                log.info("created %s", dn)

        self.ca.dir.as_admin(ensure)

        def write(db):
            m = ldb.Message(ldb.Dn(db, CDP_DN))
            for attr, v in (("certificateRevocationList", base), ("deltaRevocationList", delta)):
                if v is None:
                    continue
                m[attr] = ldb.MessageElement([v] if v else [], ldb.FLAG_MOD_REPLACE, attr)
            db.modify(m)
        self.ca.dir.query(write)
        return CDP_DN

    @staticmethod
    def _exists(db, dn):
        import ldb
        try:
            db.search(dn, scope=ldb.SCOPE_BASE, attrs=["cn"])
            return True
        except ldb.LdbError:
            return False

    def publish(self, new_base=False):
        """write() then publish_ds(); AD failures are logged and returned,
        as AD CS logs a failed publication and carries on."""
        path, base, delta = self.write(new_base)
        try:
            dn = self.publish_ds(base, delta)
            return path, "published to %s" % dn
        except Exception as ex:  # noqa: BLE001 - reported, not fatal
            log.warning("publishing the CRL to AD failed: %s", ex)
            return path, "publishing to AD failed: %s" % ex
