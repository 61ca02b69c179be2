#!/usr/bin/python3
# The lab's issuing CA CORP-CA1: an MS-ICPR (ICertPassage over DCE/RPC)
# server with an endpoint mapper, Kerberos (SPNEGO or raw krb5) at
# PKT_PRIVACY, AD CS-like template policy, and a CRL over HTTP.
#
#   labca.py serve LAB            run the CA (inside the lab netns)
#   labca.py approve LAB ID       approve a pending request
#   labca.py deny LAB ID          deny a pending request
#   labca.py revoke LAB SERIAL [REASON]   revoke (hex serial), publish the new CRL
#   labca.py crl LAB [--new-base] publish the CRLs again (a new base CRL with
#                                 --new-base when delta CRLs are on)
#   labca.py list LAB             print the request table as JSON lines
#
# AE_LAB_CA=ca2 in the environment makes it the second CA, CORP-CA2 on
# ca2.corp.test (labctl ca2 up): key LAB/pki/ca2.{key,pem}, keytab
# LAB/ca2.keytab, state in LAB/ca2.  Default ca1.
#
# State in LAB/ca: ca.db (sqlite3), requests.log (JSON lines), CORP-CA1.crl
# (and CORP-CA1+.crl, the delta CRL), ca.log.  CRLs are published over HTTP
# and into AD (crl.py).  See tests/lab/README.md.

import http.server
import json
import logging
import os
import struct
import sys
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import crl  # noqa: E402
import hostile  # noqa: E402
import policy  # noqa: E402
import rpc  # noqa: E402
from policy import Deny  # noqa: E402
from store import Store  # noqa: E402

INSTANCES = {"ca1": "127.0.0.11", "ca2": "127.0.0.15"}   # the CA host's address
INSTANCE = os.environ.get("AE_LAB_CA", "ca1").lower()
if INSTANCE not in INSTANCES:
    sys.exit("labca: AE_LAB_CA must be one of %s" % ", ".join(sorted(INSTANCES)))
policy.configure(INSTANCE)
CA_ADDR = INSTANCES[INSTANCE]
EPM_PORT = 135
ICPR_PORT = 49700
HTTP_PORT = 80
RPC_X_BAD_STUB_DATA = 0x000006F7

log = logging.getLogger("labca")


# ------------------------------------------------------------------ NDR
class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def align(self, n):
        self.o += (n - self.o % n) % n

    def u32(self):
        self.align(4)
        if self.o + 4 > len(self.b):
            raise ValueError("stub too short")
        v = struct.unpack_from("<I", self.b, self.o)[0]
        self.o += 4
        return v

    def raw(self, n):
        if self.o + n > len(self.b):
            raise ValueError("stub too short")
        v = self.b[self.o:self.o + n]
        self.o += n
        return v


def parse_cert_server_request(stub):
    r = Reader(stub)
    a = {}
    a["flags"] = r.u32()
    ref = r.u32()
    a["authority"] = None
    if ref:
        mx, off, actual = r.u32(), r.u32(), r.u32()
        if off != 0 or actual > mx:
            raise ValueError("bad conformant-varying string")
        s = r.raw(actual * 2).decode("utf-16-le", errors="replace")
        a["authority"] = s[:-1] if s.endswith("\x00") else s
        a["authority_nul"] = s.endswith("\x00")
    a["request_id"] = r.u32()
    for name in ("attribs", "request"):
        cb = r.u32()
        ptr = r.u32()
        if ptr:
            mx = r.u32()
            if mx != cb:
                raise ValueError("%s: max_count %d != cb %d" % (name, mx, cb))
            a[name] = r.raw(cb)
            a[name + "_null"] = False
        else:
            if cb:
                raise ValueError("%s: cb %d with NULL pointer" % (name, cb))
            a[name] = b""
            a[name + "_null"] = True
    return a


def blob(b, ref):
    if not b:
        return struct.pack("<II", 0, 0)
    out = struct.pack("<III", len(b), ref, len(b)) + b
    return out + b"\x00" * ((4 - len(out) % 4) % 4)


def marshal_response(rid, disp, chain, cert, message, ret):
    msg = (message + "\x00").encode("utf-16-le") if message else b""
    return (struct.pack("<II", rid, disp) + blob(chain, 0x00020000) + blob(cert, 0x00020004) +
            blob(msg, 0x00020008) + struct.pack("<I", ret))


def parse_attribs(raw):
    """UTF-16LE Name:Value lines -> (dict lowercase-name -> value, ok)"""
    if not raw:
        return {}, True
    ok = len(raw) % 2 == 0 and raw[-2:] == b"\x00\x00"
    s = raw.decode("utf-16-le", errors="replace").rstrip("\x00")
    out = {}
    for line in s.replace("\r", "").split("\n"):
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        k = k.replace(" ", "").replace("-", "").replace("\t", "").lower()
        if k:
            out[k] = v.strip()
    return out, ok


# ------------------------------------------------------------------ ICPR
class IcprApp:
    def __init__(self, lab, store, ca):
        self.lab, self.store, self.ca = lab, store, ca

    def base_entry(self, conn, sec):
        return dict(peer=conn.peer, caller=conn.gss.principal if conn.gss else None,
                    auth_type=conn.auth_type, auth_level=conn.auth_level,
                    auth_ctx_id=conn.auth_ctx_id, pad16=sec.get("pad16"),
                    pad_lengths=sec.get("pad_lengths"), frags_in=sec.get("frags"),
                    max_xmit_frag=conn.bind_info.get("max_xmit_frag"),
                    max_recv_frag=conn.bind_info.get("max_recv_frag"),
                    hdr_sign_offered=conn.bind_info.get("hdr_sign"),
                    spnego_mech=conn.spnego_mech)

    def hostile_mode(self):
        """labctl ca-mode: how the answers misbehave (hostile.py)"""
        return hostile.mode(self.ca)

    def log_denied(self, conn, sec, problem):
        e = self.base_entry(conn, sec)
        e.update(request_type=None, disposition=None, hresult=rpc.RPC_S_ACCESS_DENIED,
                 fault=True, message=problem)
        self.store.log(e)

    def call(self, conn, opnum, stub, sec):
        if opnum != 0:
            raise rpc.RpcFault(rpc.NCA_S_OP_RNG_ERROR)
        try:
            a = parse_cert_server_request(stub)
        except (ValueError, struct.error) as ex:
            log.warning("%s: bad CertServerRequest stub: %s", conn.peer, ex)
            e = self.base_entry(conn, sec)
            e.update(fault=True, hresult=RPC_X_BAD_STUB_DATA, message=str(ex), stub_len=len(stub))
            self.store.log(e)
            raise rpc.RpcFault(RPC_X_BAD_STUB_DATA)
        e = self.base_entry(conn, sec)
        attribs, attribs_ok = parse_attribs(a["attribs"])
        e.update(flags=a["flags"], authority=a["authority"], request_id_in=a["request_id"],
                 attributes=attribs, attribs_cb=len(a["attribs"]), request_len=len(a["request"]),
                 stub_len=len(stub))
        rid, disp, chain, cert, msg, ret = self.process(conn, a, attribs, attribs_ok, e)
        e.update(request_id=rid, disposition=disp, message=msg, return_value=ret)
        if "hresult" not in e:
            e["hresult"] = 0 if disp in (3, 5) else (policy.CERTSRV_E_ADMIN_DENIED_REQUEST
                                                   if disp == 2 else disp)
        self.store.log(e)
        log.info("%s %s: %s template=%s -> id=%s disposition=0x%x %s", conn.peer, e.get("caller"),
                 e.get("request_type"), e.get("template"), rid, disp, msg)
        return marshal_response(rid, disp, chain, cert, msg, ret)

    def process(self, conn, a, attribs, attribs_ok, e):
        rid_in = a["request_id"]
        if not self.ca.name_ok(a["authority"]):
            e.update(request_type="retrieve" if not a["request"] else None,
                     hresult=policy.E_INVALIDARG, detail="bad CA name %r" % a["authority"])
            return rid_in, policy.E_INVALIDARG, b"", b"", \
                "Denied by Policy Module  0x80070057, The parameter is incorrect.", policy.E_INVALIDARG
        if not attribs_ok:
            e.update(hresult=policy.E_INVALIDARG, detail="attribute string is not NUL-terminated UTF-16")
            return rid_in, policy.E_INVALIDARG, b"", b"", TEXT(policy.E_INVALIDARG), policy.E_INVALIDARG
        principal = conn.gss.principal
        info = {}
        try:
            acct = self.ca.dir.account(principal, attribs.get("cdc") if a["request"] else None, info)
        except Deny as d:
            e.update(info, hresult=d.hresult, detail=d.detail)
            return rid_in, d.hresult, b"", b"", d.message, 0
        e.update(info)
        if not acct["dcom_access"]:
            # AD CS lets in only callers whose token holds BUILTIN\Certificate
            # Service DCOM Access, for ICertPassage as for DCOM, before it
            # looks at the request: the call fails with E_ACCESSDENIED
            e.update(hresult=policy.E_ACCESSDENIED,
                     detail="%s is not a member of BUILTIN\\Certificate Service DCOM Access" % principal)
            return rid_in, 0, b"", b"", TEXT(policy.E_ACCESSDENIED), policy.E_ACCESSDENIED
        e["caller_sids"] = len(acct["all_sids"])
        e["caller_dn"] = acct["dn"]
        if not a["request"]:
            e["request_type"] = "retrieve"
            return self.retrieve(rid_in, principal, e)
        return self.new_request(a, attribs, acct, e)

    def publish(self, tmpl, acct, cert, e):
        """CT_FLAG_PUBLISH_TO_DS: publish, log the outcome, never fail the request."""
        if not tmpl.i("msPKI-Enrollment-Flag") & policy.EF_PUBLISH_TO_DS:
            return
        try:
            e["published"] = self.ca.publish(acct, cert)
        except Exception as ex:  # noqa: BLE001 - logged, not fatal (see CA.publish)
            log.warning("publishing to %s failed: %s", acct.get("dn"), ex)
            e["publish_error"] = str(ex)

    def retrieve(self, rid, principal, e):
        if rid == 0:
            e.update(hresult=policy.E_INVALIDARG, detail="status inspection without request id")
            return 0, policy.E_INVALIDARG, b"", b"", TEXT(policy.E_INVALIDARG), 0
        r = self.store.get_request(rid)
        errors = self.ca.lever("errors", "current")
        e["ca_errors"] = errors
        if r is None:
            # MS-WCCE 3.2.1.4.2.1.3: "If the lookup failed, the function MUST
            # return the error 0x80094004": the call's return value, with
            # disposition 0 (in both the old and the current form)
            e.update(hresult=policy.CERTSRV_E_PROPERTY_EMPTY, detail="unknown request id")
            return rid, 0, b"", b"", TEXT(policy.CERTSRV_E_PROPERTY_EMPTY), policy.CERTSRV_E_PROPERTY_EMPTY
        e["template"] = r["template"]
        if (r["caller"] or "").lower() != principal.lower():
            e.update(hresult=policy.E_ACCESSDENIED, detail="request %d belongs to %s" % (rid, r["caller"]))
            return rid, policy.E_ACCESSDENIED, b"", b"", TEXT(policy.E_ACCESSDENIED), 0
        st = r["status"]
        if st == "pending":
            return rid, policy.CR_DISP_UNDER_SUBMISSION, b"", b"", "Taken Under Submission", 0
        if st == "approved":
            try:
                p = policy.parse_request(r["request"], 0)
                tmpls, _ = self.ca.dir.templates([r["template"]])
                old = self.ca.check_renewal(p, r["account"])
                cert, chain, serial = self.ca.issue(p, tmpls[0], r["account"], old, rid)
                self.publish(tmpls[0], r["account"], cert, e)
            except Deny as d:
                self.store.update_request(rid, status="failed", hresult=d.hresult, message=d.message)
                e.update(hresult=d.hresult, detail=d.detail)
                return rid, d.hresult, b"", b"", d.message, 0
            self.store.update_request(rid, status="issued", hresult=0, message="Issued",
                                      serial=serial, cert=cert)
            e["serial"] = serial
            return rid, policy.CR_DISP_ISSUED, chain, cert, "Issued", 0
        if st == "issued":
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.serialization import pkcs7
            c = x509.load_der_x509_certificate(r["cert"])
            rec = self.store.get_cert(r["serial"])
            if rec and rec["revoked"]:
                return rid, 6, b"", r["cert"], "Revoked", 0
            chain = pkcs7.serialize_certificates([c, self.ca.cert, self.ca.root],
                                                 serialization.Encoding.DER)
            e["serial"] = r["serial"]
            return rid, policy.CR_DISP_ISSUED, chain, r["cert"], "Issued", 0
        if st == "denied":
            # MS-WCCE 3.2.1.4.2.1.3: disposition 2 ("request denied" in the
            # table) and the return value 0x80094014; footnote <86>: Windows
            # Server 2008 and earlier return 0 (labctl ca-errors old)
            e["hresult"] = policy.CERTSRV_E_ADMIN_DENIED_REQUEST
            ret = 0 if errors == "old" else policy.CERTSRV_E_ADMIN_DENIED_REQUEST
            return rid, policy.CR_DISP_DENIED, b"", b"", \
                "Denied by Policy Module  0x80094014, %s" % TEXT(policy.CERTSRV_E_ADMIN_DENIED_REQUEST), ret
        hr = r["hresult"] or policy.E_INVALIDARG
        e["hresult"] = hr
        return rid, hr, b"", b"", r["message"] or TEXT(hr), 0

    def new_request(self, a, attribs, acct, e):
        rtype = (a["flags"] >> 8) & 0xFF
        blob_ = a["request"]
        try:
            p = policy.parse_request(blob_, rtype)
        except Deny as d:
            rid = self.store.new_request(acct["principal"], acct, None, "unknown", blob_)
            self.store.update_request(rid, status="failed", hresult=d.hresult, message=d.message)
            e.update(request_type="unparsable", hresult=d.hresult, detail=d.detail)
            return rid, d.hresult, b"", b"", d.message, 0
        e["request_type"] = p.kind
        e["wrapper"] = p.kind
        if any(o == policy.OID_RENEWAL_CERT for o, _ in policy.csr_attributes(p.csr_der)):
            e["request_type"] = "renewal"
        rid = self.store.new_request(acct["principal"], acct, None, p.kind, blob_)
        try:
            subject = self.ca.on_behalf(p, acct)
            if p.robo_agent is not None:
                e["on_behalf_of"] = subject["principal"]
            tmpl, old, pend = self.ca.evaluate(p, attribs, subject)
        except Deny as d:
            self.store.update_request(rid, status="failed", hresult=d.hresult, message=d.message)
            e.update(hresult=d.hresult, detail=d.detail)
            tmpl_guess = attribs.get("certificatetemplate")
            if tmpl_guess:
                e.setdefault("template", tmpl_guess)
            return rid, d.hresult, b"", b"", d.message, 0
        e["template"] = tmpl.cn
        if old is not None:
            e["request_type"] = "renewal"
            e["renewed_serial"] = "%x" % old.serial_number
            e["signers"] = len(p.signers)
        if p.prev_approval:
            e["prev_approval"] = p.prev_approval
        self.store.update_request(rid, template=tmpl.cn,
                                  request_type=e["request_type"])
        if pend:
            self.store.update_request(rid, status="pending", hresult=0,
                                      message="Taken Under Submission")
            return rid, policy.CR_DISP_UNDER_SUBMISSION, b"", b"", "Taken Under Submission", 0
        mode = hostile.mode(self.ca)
        if mode != "normal":
            e["ca_mode"] = mode
        try:
            ip, itmpl = hostile.before_issue(self.ca, mode, p, tmpl)
            cert, chain, serial = self.ca.issue(ip, itmpl, subject, old, rid)
            cert, chain = hostile.after_issue(self.ca, mode, cert, chain)
        except Deny as d:
            self.store.update_request(rid, status="failed", hresult=d.hresult, message=d.message)
            e.update(hresult=d.hresult, detail=d.detail)
            return rid, d.hresult, b"", b"", d.message, 0
        if mode == "normal":  # a hostile CA's certificates stay out of AD
            self.publish(tmpl, subject, cert, e)
        self.store.update_request(rid, status="issued", hresult=0, message="Issued",
                                  serial=serial, cert=cert)
        e["serial"] = serial
        return rid, policy.CR_DISP_ISSUED, chain, cert, "Issued", 0


def TEXT(hr):
    return policy.TEXT.get(hr, "Error 0x%08x" % hr)


# ------------------------------------------------------------------ HTTP
def http_handler(lab, cadir):
    files = {
        "/CertEnroll/" + crl.BASE_FILE: (os.path.join(cadir, crl.BASE_FILE), "application/pkix-crl"),
        "/CertEnroll/" + crl.DELTA_FILE: (os.path.join(cadir, crl.DELTA_FILE), "application/pkix-crl"),
        "/CertEnroll/%s_%s.crt" % (policy.CA_HOST, policy.CA_NAME): (
            os.path.join(lab, "pki", INSTANCE + ".der"), "application/pkix-cert"),
        "/CertEnroll/root.crt": (os.path.join(lab, "pki", "root.der"), "application/pkix-cert"),
    }

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            f = files.get(urllib.parse.unquote(self.path.split("?")[0]))
            if f is None:
                self.send_error(404)
                return
            try:
                with open(f[0], "rb") as fh:
                    data = fh.read()
            except OSError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", f[1])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_HEAD = do_GET

        def log_message(self, fmt, *args):
            log.info("http %s: %s", self.client_address[0], fmt % args)
    return H


# ------------------------------------------------------------------ main
def state_dir(lab):
    return os.path.join(lab, "ca" if INSTANCE == "ca1" else INSTANCE)


def serve(lab):
    cadir = state_dir(lab)
    os.makedirs(cadir, exist_ok=True)
    os.environ["KRB5_KTNAME"] = "FILE:" + os.path.join(lab, INSTANCE + ".keytab")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = Store(cadir)
    ca = policy.CA(lab, store)
    log.info("CRL %s: %s", *ca.write_crl())
    app = IcprApp(lab, store, ca)
    servers = [
        rpc.Server((CA_ADDR, ICPR_PORT), "icpr", app),
        rpc.Server((CA_ADDR, EPM_PORT), "epm", rpc.EpmApp(CA_ADDR, ICPR_PORT)),
    ]
    httpd = http.server.ThreadingHTTPServer((CA_ADDR, HTTP_PORT), http_handler(lab, cadir))
    httpd.daemon_threads = True
    rpc.serve(servers)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with open(os.path.join(cadir, "ca.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    log.info("%s listening: epm %s:%d, ICertPassage %s:%d, http %s:%d", policy.CA_NAME,
             CA_ADDR, EPM_PORT, CA_ADDR, ICPR_PORT, CA_ADDR, HTTP_PORT)
    # warm up the directory connection (kinit as CA1$ or CA2$)
    try:
        ca.dir.query(lambda db: None)
    except Exception as ex:
        log.warning("directory not reachable yet: %s", ex)
    threading.Event().wait()


def admin(cmd, lab, args):
    cadir = state_dir(lab)
    store = Store(cadir)
    if cmd in ("approve", "deny"):
        rid = int(args[0])
        r = store.get_request(rid)
        if r is None:
            sys.exit("labca: no request %d" % rid)
        if r["status"] != "pending":
            sys.exit("labca: request %d is %s, not pending" % (rid, r["status"]))
        if cmd == "approve":
            store.update_request(rid, status="approved", message="Approved")
        else:
            store.update_request(rid, status="denied", hresult=policy.CERTSRV_E_ADMIN_DENIED_REQUEST,
                                 message="Denied by CA administrator")
        store.log(dict(admin=cmd, request_id=rid))
        print("request %d %s" % (rid, "approved" if cmd == "approve" else "denied"))
    elif cmd == "revoke":
        serial = args[0].lower().lstrip("0") or "0"
        serial = serial.replace(":", "")
        reason = int(args[1]) if len(args) > 1 else 0
        if store.get_cert(serial) is None:
            sys.exit("labca: no certificate with serial %s" % serial)
        if not store.revoke(serial, reason):
            print("certificate %s was already revoked" % serial)
        ca = policy.CA(lab, store)
        path, ds = ca.write_crl()
        store.log(dict(admin="revoke", serial=serial, reason=reason, crl=path, ds=ds))
        print("revoked %s; CRL %s, %s" % (serial, path, ds))
    elif cmd == "crl":
        ca = policy.CA(lab, store)
        path, ds = ca.write_crl(new_base="--new-base" in args)
        print("CRL %s, %s" % (path, ds))
    elif cmd == "list":
        for r in store.list_requests():
            print(json.dumps(r, sort_keys=True))
    else:
        sys.exit("labca: unknown command %s" % cmd)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__ if False else "usage: labca.py serve|approve|deny|revoke|crl|list LAB [ARGS]")
    cmd, lab = sys.argv[1], os.path.abspath(sys.argv[2])
    if cmd == "serve":
        serve(lab)
    else:
        admin(cmd, lab, sys.argv[3:])


if __name__ == "__main__":
    main()
