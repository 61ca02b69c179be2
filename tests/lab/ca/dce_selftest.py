#!/usr/bin/python3
# dce_selftest.py: exercise the lab CA's DCE/RPC paths that impacket does not
# take, with MIT GSS-API (ctypes) as the initiator: a bare DCE-style AP-REQ
# (0x6e) inside SPNEGO or raw GSS Kerberos (auth_type 0x10, third leg in
# rpc_auth3 or alter_context), stub padding to 16 bytes, small fragments both
# ways.  This is the wire contract the project's C client follows; it is a
# self-test of the lab, not a reference client.
#
#   dce_selftest.py [--auth spnego|krb5] [--leg3 alter|auth3] [--frag 1024]
#                   [--template LabUser] [--retrieve ID] [--ca CORP-CA1]
# Uses the ccache in KRB5CCNAME.  Prints JSON like icpr_client.py.

import argparse
import json
import os
import socket
import struct
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import der  # noqa: E402
from gss import Initiator  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

NDR = uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860")
EPM = uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
ICPR = uuid.UUID("91ae6020-9e3c-11cf-8d7c-00aa00c091be")
MSKRB5, KRB5, SPNEGO = "1.2.840.48018.1.2.2", "1.2.840.113554.1.2.2", "1.3.6.1.5.5.2"

# S/MIME capabilities (RFC 4262: AES-256, AES-128, 3DES) as Windows sends them
# for templates with INCLUDE_SYMMETRIC_ALGORITHMS such as LabUser
SMIME_CAPS = bytes.fromhex("3026300b060960864801650304012a300b0609608648016503040102"
                           "300a06082a864886f70d0307")


def hdr(ptype, flags, call_id, flen, alen):
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", flen, alen, call_id)


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port))

    def send(self, b):
        self.s.sendall(b)

    def recv(self):
        h = b""
        while len(h) < 16:
            c = self.s.recv(16 - len(h))
            if not c:
                raise EOFError
            h += c
        flen = struct.unpack_from("<H", h, 8)[0]
        b = h
        while len(b) < flen:
            c = self.s.recv(flen - len(b))
            if not c:
                raise EOFError
            b += c
        return b


def bind_body(ifu, ver, frag, alter=False):
    body = struct.pack("<HHI", frag, frag, 0)
    body += struct.pack("<B3x", 1)
    body += struct.pack("<HBB", 0, 1, 0) + ifu.bytes_le + struct.pack("<HH", ver, 0)
    body += NDR.bytes_le + struct.pack("<I", 2)
    return body


def with_auth(ptype, call_id, body, at, ctx_id, token, flags=3):
    pad = (4 - len(body) % 4) % 4
    body += b"\0" * pad
    tr = struct.pack("<BBBBI", at, 6, pad, 0, ctx_id)
    return hdr(ptype, flags, call_id, 16 + len(body) + 8 + len(token), len(token)) + body + tr + token


def auth_of(p):
    flen, alen = struct.unpack_from("<HH", p, 8)
    return p[flen - alen:flen] if alen else b""


def spnego_init(mechs, token):
    inner = der.seq(der.ctx(0, der.seq(*[der.oid(m) for m in mechs])), der.ctx(2, der.octets(token)))
    return der.tlv(0x60, der.oid(SPNEGO) + der.ctx(0, inner))


def spnego_resp_token(b):
    t, c, _, _ = der.read_tlv(b)
    (st, sc, _), = der.children(c)
    out = {}
    for tag, val, _ in der.children(sc):
        inner = der.children(val)
        out[tag & 0x1F] = inner[0][1]
    return out


def ept_map(host, frag):
    c = Conn(host, 135)
    body = bind_body(EPM, 3, frag)
    c.send(hdr(11, 3, 1, 16 + len(body), 0) + body)
    ack = c.recv()
    assert ack[2] == 12, "epm bind not acked"
    def fl(lhs, rhs):
        return struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs
    tower = struct.pack("<H", 5) + fl(b"\x0d" + ICPR.bytes_le + b"\0\0", b"\0\0") + \
        fl(b"\x0d" + NDR.bytes_le + b"\x02\0", b"\0\0") + fl(b"\x0b", b"\0\0") + \
        fl(b"\x07", b"\0\0") + fl(b"\x09", b"\0\0\0\0")
    stub = struct.pack("<I", 1) + b"\0" * 16 + struct.pack("<III", 2, len(tower), len(tower)) + tower
    stub += b"\0" * ((4 - len(stub) % 4) % 4) + b"\0" * 20 + struct.pack("<I", 4)
    c.send(hdr(0, 3, 2, 16 + 8 + len(stub), 0) + struct.pack("<IHH", len(stub), 0, 3) + stub)
    r = c.recv()
    assert r[2] == 2, "ept_map failed (ptype %d)" % r[2]
    st = r[24:]
    n = struct.unpack_from("<I", st, 20)[0]
    if n == 0:
        raise SystemExit("ept_map: no towers, status 0x%08x" % struct.unpack_from("<I", st, len(st) - 4)[0])
    off = 24 + 12 + 4 * n
    tl = struct.unpack_from("<I", st, off + 4)[0]
    t = st[off + 8:off + 8 + tl]
    # floor 4 = port
    o = 2
    floors = []
    for _ in range(struct.unpack_from("<H", t, 0)[0]):
        ll = struct.unpack_from("<H", t, o)[0]
        lhs = t[o + 2:o + 2 + ll]
        o += 2 + ll
        rl = struct.unpack_from("<H", t, o)[0]
        rhs = t[o + 2:o + 2 + rl]
        o += 2 + rl
        floors.append((lhs, rhs))
    return struct.unpack(">H", floors[3][1])[0]


def cert_server_request(flags, ca, rid, attribs, request):
    s = (ca + "\0").encode("utf-16-le")
    n = len(s) // 2
    b = struct.pack("<IIIII", flags, 0x20000, n, 0, n) + s
    b += b"\0" * ((4 - len(b) % 4) % 4)
    b += struct.pack("<I", rid)
    for i, blob in enumerate((attribs, request)):
        if blob:
            b += struct.pack("<III", len(blob), 0x20004 + 4 * i, len(blob)) + blob
            b += b"\0" * ((4 - len(b) % 4) % 4)
        else:
            b += struct.pack("<II", 0, 0)
    return b


def parse_response(st):
    rid, disp = struct.unpack_from("<II", st, 0)
    off = 8
    blobs = []
    for _ in range(3):
        cb, ref = struct.unpack_from("<II", st, off)
        off += 8
        if ref:
            off += 4
            blobs.append(st[off:off + cb])
            off += cb
            off += (4 - off % 4) % 4
        else:
            blobs.append(b"")
    ret = struct.unpack_from("<I", st, off)[0]
    return rid, disp, blobs, ret


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="ca1.corp.test")
    ap.add_argument("--ca", default="CORP-CA1")
    ap.add_argument("--auth", choices=["spnego", "krb5"], default="spnego")
    ap.add_argument("--leg3", choices=["alter", "auth3"], default="alter")
    ap.add_argument("--frag", type=int, default=1024)
    ap.add_argument("--template", default="LabUser")
    ap.add_argument("--retrieve", type=int)
    ap.add_argument("--cert-out")
    a = ap.parse_args()
    out = {"auth": a.auth, "leg3": a.leg3, "frag": a.frag}
    port = ept_map(a.host, a.frag)
    out["port"] = port
    c = Conn(a.host, port)
    g = Initiator("host@" + a.host)
    tok1 = g.step()
    out["ap_req_first_byte"] = "0x%02x" % tok1[0]
    at = 9 if a.auth == "spnego" else 0x10
    ctx_id = 7
    body = bind_body(ICPR, 0, a.frag)
    c.send(with_auth(11, 1, body, at, ctx_id, spnego_init([MSKRB5, KRB5], tok1) if at == 9 else tok1))
    ack = c.recv()
    if ack[2] != 12:
        raise SystemExit("bind refused: ptype %d" % ack[2])
    max_xmit = struct.unpack_from("<H", ack, 16)[0]
    out["hdr_sign_echoed"] = bool(ack[3] & 0x04)
    if at == 9:
        r = spnego_resp_token(auth_of(ack))
        out["neg_state_bind"] = r[0][0]
        out["supported_mech"] = der.oid_str(r[1])
        tok3 = g.step(r[2])
        leg3 = der.ctx(1, der.seq(der.ctx(2, der.octets(tok3))))
    else:
        tok3 = g.step(auth_of(ack))
        leg3 = tok3
    assert g.complete
    if a.leg3 == "auth3":
        c.send(with_auth(16, 1, b"\0\0\0\0", at, ctx_id, leg3))
    else:
        c.send(with_auth(14, 1, bind_body(ICPR, 0, a.frag), at, ctx_id, leg3))
        r = c.recv()
        if r[2] != 15:
            raise SystemExit("alter_context refused: ptype %d" % r[2])
        if at == 9:
            out["neg_state_alter"] = spnego_resp_token(auth_of(r))[0][0]

    if a.retrieve:
        stub = cert_server_request(0, a.ca, a.retrieve, b"", b"")
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
               .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.840.113549.1.9.15"),
                                                         SMIME_CAPS), critical=False)
               .sign(key, hashes.SHA256()))
        attribs = ("CertificateTemplate:%s\nccm:selftest.corp.test\0" % a.template).encode("utf-16-le")
        stub = cert_server_request(0x100, a.ca, 0, attribs, csr.public_bytes(serialization.Encoding.DER))
    # request fragments: header 24 + data + pad + 8 + sig(<= 76) <= max_xmit
    room = ((max_xmit - 24 - 8 - 76) // 16) * 16
    nfr = 0
    for off in range(0, len(stub), room):
        chunk = stub[off:off + room]
        flags = (1 if off == 0 else 0) | (2 if off + room >= len(stub) else 0)
        pad = (16 - len(chunk) % 16) % 16
        enc, sig = g.wrap(chunk + b"\0" * pad)
        reqhdr = struct.pack("<IHH", len(stub) - off, 0, 0)
        tr = struct.pack("<BBBBI", at, 6, pad, 0, ctx_id)
        c.send(hdr(0, flags, 2, 16 + 8 + len(enc) + 8 + len(sig), len(sig)) + reqhdr + enc + tr + sig)
        nfr += 1
    out["frags_out"] = nfr
    resp = b""
    nin = 0
    while True:
        p = c.recv()
        nin += 1
        if p[2] == 3:
            out["fault"] = "0x%08x" % struct.unpack_from("<I", p, 24)[0]
            print(json.dumps(out))
            return 2
        assert p[2] == 2, "unexpected ptype %d" % p[2]
        flen, alen = struct.unpack_from("<HH", p, 8)
        assert flen <= a.frag, "response fragment %d > %d" % (flen, a.frag)
        toff = flen - alen - 8
        at2, al2, pad, _, cid = struct.unpack_from("<BBBBI", p, toff)
        plain, conf = g.unwrap(p[24:toff], p[toff + 8:flen])
        assert conf and al2 == 6 and cid == ctx_id
        resp += plain[:len(plain) - pad]
        if p[3] & 2:
            break
    out["frags_in"] = nin
    rid, disp, (chain, cert, msg), ret = parse_response(resp)
    out.update(request_id=rid, disposition=disp, return_value=ret,
               message=msg.decode("utf-16-le").rstrip("\0"), chain_len=len(chain))
    if cert:
        cobj = x509.load_der_x509_certificate(cert)
        out["serial"] = "%x" % cobj.serial_number
        if a.cert_out:
            with open(a.cert_out, "wb") as f:
                f.write(cobj.public_bytes(serialization.Encoding.PEM))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
