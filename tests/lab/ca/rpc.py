# Connection-oriented DCE/RPC server (C706 ch. 12 + MS-RPCE) for the lab CA:
# the endpoint mapper (ept_map only) and ICertPassage with Kerberos
# (SPNEGO auth_type 9 or raw GSS Kerberos 0x10) at PKT_PRIVACY.
#
# Written from the specs (MS-RPCE, MS-SPNG, MS-KILE, RFC 4178/4121) and the
# project's protocol brief, not from the project's C client.

import logging
import socket
import socketserver
import struct
import threading
import uuid

import der
import hostile
from gss import Acceptor, GSSError

log = logging.getLogger("labca.rpc")

# PDU types
REQUEST, RESPONSE, FAULT, BIND, BIND_ACK, BIND_NAK = 0, 2, 3, 11, 12, 13
ALTER, ALTER_RESP, AUTH3, SHUTDOWN, CO_CANCEL, ORPHANED = 14, 15, 16, 17, 18, 19
PFC_FIRST, PFC_LAST, PFC_HDR_SIGN, PFC_OBJECT_UUID = 0x01, 0x02, 0x04, 0x80

AUTHN_NONE, AUTHN_SPNEGO, AUTHN_KRB5 = 0, 0x09, 0x10
LEVEL_PRIVACY = 6

NDR = uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860")
NDR64 = uuid.UUID("71710533-beba-4937-8319-b5dbef9ccc36")
EPM_IF = uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
ICPR_IF = uuid.UUID("91ae6020-9e3c-11cf-8d7c-00aa00c091be")

OID_SPNEGO = "1.3.6.1.5.5.2"
OID_MSKRB5 = "1.2.840.48018.1.2.2"
OID_KRB5 = "1.2.840.113554.1.2.2"

# fault / status codes
NCA_S_OP_RNG_ERROR = 0x1C010002
NCA_S_PROTO_ERROR = 0x1C01000B
NCA_S_UNSUPPORTED_TYPE = 0x1C000002
RPC_S_ACCESS_DENIED = 0x00000005
EPT_S_NOT_REGISTERED = 0x16C9A0D6

MAX_FRAG = 5840


def u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


class ProtocolError(Exception):
    pass


# ------------------------------------------------------------------ SPNEGO
def spnego_parse(token):
    """-> dict(kind='init'|'resp', mechs=[...], token=bytes|None, state=int|None,
    mech=str|None, mic=bytes|None)"""
    t, c, _, _ = der.read_tlv(token)
    if t == 0x60:  # InitialContextToken: thisMech OID + NegotiationToken
        kids = der.children(c)
        if not kids or kids[0][0] != 0x06 or der.oid_str(kids[0][1]) != OID_SPNEGO:
            raise ProtocolError("not a SPNEGO token")
        t, c = kids[1][0], kids[1][1]
    res = dict(kind=None, mechs=[], token=None, state=None, mech=None, mic=None)
    if t == 0xA0:
        res["kind"] = "init"
        (st, sc, _), = der.children(c)
        for tag, val, _ in der.children(sc):
            inner = der.children(val)
            if tag == 0xA0:
                res["mechs"] = [der.oid_str(x[1]) for x in der.children(inner[0][1])]
            elif tag == 0xA2:
                res["token"] = inner[0][1]
            elif tag == 0xA3:
                res["mic"] = inner[0][1]
    elif t == 0xA1:
        res["kind"] = "resp"
        (st, sc, _), = der.children(c)
        for tag, val, _ in der.children(sc):
            inner = der.children(val)
            if tag == 0xA0:
                res["state"] = inner[0][1][0]
            elif tag == 0xA1:
                res["mech"] = der.oid_str(inner[0][1])
            elif tag == 0xA2:
                res["token"] = inner[0][1]
            elif tag == 0xA3:
                res["mic"] = inner[0][1]
    else:
        raise ProtocolError("unknown SPNEGO token tag 0x%02x" % t)
    return res


def spnego_resp(state, mech=None, token=None):
    items = [der.ctx(0, der.enumerated(state))]
    if mech:
        items.append(der.ctx(1, der.oid(mech)))
    if token:
        items.append(der.ctx(2, der.octets(token)))
    return der.ctx(1, der.seq(*items))


def strip_gss_framing(tok):
    """0x60 framed krb5 token -> inner (without the 2-byte token id kept)."""
    if tok[:1] != b"\x60":
        return tok
    t, c, _, _ = der.read_tlv(tok)
    _, oidc, _, off = der.read_tlv(c)
    return c[off + 2:]  # skip TOK_ID


def krb5_token(tok):
    """A GSS-framed krb5 AP-REQ (0x60 ... OID 01 00 AP-REQ, as impacket
    sends inside SPNEGO) is fed to the acceptor bare, as DCE style has it:
    MIT refuses the framed form when the checksum asks for DCE style."""
    if tok[:1] != b"\x60":
        return tok
    t, c, _, _ = der.read_tlv(tok)
    ot, oc, _, off = der.read_tlv(c)
    if ot == 0x06 and der.oid_str(oc) in (OID_KRB5, OID_MSKRB5) and c[off:off + 2] == b"\x01\x00":
        return c[off + 2:]
    return tok


# ------------------------------------------------------------------ PDUs
def pdu(ptype, flags, call_id, body, auth=None):
    """auth = (auth_type, auth_level, pad_len, ctx_id, auth_value) or None."""
    if auth is None:
        flen = 16 + len(body)
        return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\x00\x00\x00",
                           flen, 0, call_id) + body
    at, al, pad, cid, value = auth
    trailer = struct.pack("<BBBBI", at, al, pad, 0, cid)
    flen = 16 + len(body) + 8 + len(value)
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\x00\x00\x00",
                       flen, len(value), call_id) + body + trailer + value


def syntax(u, major, minor=0):
    return u.bytes_le + struct.pack("<HH", major, minor)


class Conn(socketserver.BaseRequestHandler):
    """One TCP connection.  self.server.role is 'epm' or 'icpr'."""

    def setup(self):
        self.sock = self.request
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer = "%s:%d" % self.client_address[:2]
        self.gss = None
        self.auth_type = AUTHN_NONE
        self.auth_level = 1
        self.auth_ctx_id = None
        self.spnego_mech = None
        self.spnego_done = False
        self.max_send = MAX_FRAG
        self.assoc = 0
        self.contexts = {}  # p_cont_id -> interface uuid
        self.partial = {}   # call_id -> [opnum, ctx, stub bytes, frags, pads]
        self.bind_info = {}

    # ---- I/O
    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def recv_pdu(self):
        hdr = self.recv_exact(16)
        if hdr[0] != 5 or hdr[1] != 0:
            raise ProtocolError("bad rpc version %d.%d" % (hdr[0], hdr[1]))
        if hdr[4] != 0x10:
            raise ProtocolError("only little-endian ASCII drep supported")
        flen = u16(hdr, 8)
        if flen < 16:
            raise ProtocolError("bad frag length")
        return hdr + self.recv_exact(flen - 16)

    def handle(self):
        try:
            while True:
                p = self.recv_pdu()
                self.dispatch(p)
        except EOFError:
            pass
        except (ProtocolError, der.DERError, ConnectionError, OSError) as e:
            log.warning("%s %s: closing: %s", self.server.role, self.peer, e)
        except Exception:
            log.exception("%s %s: internal error", self.server.role, self.peer)
        finally:
            if self.gss:
                self.gss.close()

    def send(self, data):
        self.sock.sendall(data)

    # ---- auth trailer
    @staticmethod
    def split_auth(p):
        """-> (body_without_trailer, (type, level, pad, ctx_id), auth_value) or (body, None, b'')"""
        flen, alen = u16(p, 8), u16(p, 10)
        if alen == 0:
            return p[16:flen], None, b""
        toff = flen - alen - 8
        if toff < 16:
            raise ProtocolError("auth_length too large")
        at, al, pad, _, cid = struct.unpack_from("<BBBBI", p, toff)
        return p[16:toff], (at, al, pad, cid), p[toff + 8:flen]

    def dispatch(self, p):
        ptype, flags, call_id = p[2], p[3], u32(p, 12)
        if ptype in (BIND, ALTER):
            self.on_bind(p, ptype, flags, call_id)
        elif ptype == AUTH3:
            self.on_auth3(p)
        elif ptype == REQUEST:
            self.on_request(p, flags, call_id)
        elif ptype in (CO_CANCEL, ORPHANED):
            self.partial.pop(call_id, None)
        elif ptype == SHUTDOWN:
            raise EOFError
        else:
            raise ProtocolError("unexpected PDU type %d" % ptype)

    # ---- bind / alter_context
    def on_bind(self, p, ptype, flags, call_id):
        body, trailer, auth_value = self.split_auth(p)
        max_xmit, max_recv, assoc = struct.unpack_from("<HHI", body, 0)
        n = body[8]
        off = 12
        results = []
        want_if = ICPR_IF if self.server.role == "icpr" else EPM_IF
        want_ver = (0, 0) if self.server.role == "icpr" else (3, 0)
        for _ in range(n):
            cont_id, ntrans = u16(body, off), body[off + 2]
            abs_uuid = uuid.UUID(bytes_le=body[off + 4:off + 20])
            abs_ver = (u16(body, off + 20), u16(body, off + 22))
            off += 24
            chosen = None
            btfn = None
            for i in range(ntrans):
                tu = uuid.UUID(bytes_le=body[off:off + 16])
                tv = u32(body, off + 16)
                if tu == NDR and tv == 2 and chosen is None:
                    chosen = i
                if str(tu).startswith("6cb71c2c-9812-4540"):
                    btfn = tu
                off += 20
            if btfn is not None:
                # bind time feature negotiation: acknowledge, no features
                results.append(struct.pack("<HH", 3, 0) + b"\x00" * 20)
            elif abs_uuid != want_if or abs_ver != want_ver:
                results.append(struct.pack("<HH", 2, 1) + b"\x00" * 20)  # abstract syntax not supported
            elif chosen is None:
                results.append(struct.pack("<HH", 2, 2) + b"\x00" * 20)  # transfer syntaxes not supported
            else:
                self.contexts[cont_id] = abs_uuid
                results.append(struct.pack("<HH", 0, 0) + syntax(NDR, 2))
        if ptype == BIND:
            # what we send is limited by what the client can receive, and
            # vice versa
            self.max_send = max(min(max_recv, MAX_FRAG), 256) if max_recv else MAX_FRAG
            self.bind_info = dict(max_xmit_frag=max_xmit, max_recv_frag=max_recv,
                                  hdr_sign=bool(flags & PFC_HDR_SIGN))
            if not assoc:
                assoc = 0x12345 + (id(self) & 0xFFFF)
            self.assoc = assoc
            if flags & PFC_HDR_SIGN:
                log.info("%s: client offers header signing; not echoed", self.peer)

        out_auth = None
        if trailer is not None:
            at, al, pad, cid = trailer
            try:
                out_auth = self.auth_leg(ptype, at, al, cid, auth_value)
            except (GSSError, ProtocolError, der.DERError) as e:
                log.warning("%s: %s auth failed: %s", self.peer,
                            "bind" if ptype == BIND else "alter_context", e)
                if ptype == ALTER:
                    self.fault(call_id, 0, RPC_S_ACCESS_DENIED)
                    raise ProtocolError("authentication failed")
                # bind_nak: reason 8 authentication_type_not_recognized, or
                # 0 not specified (GSS failure); versions supported: 5.0
                reason = 8 if at not in (AUTHN_SPNEGO, AUTHN_KRB5) else 0
                self.send(pdu(BIND_NAK, PFC_FIRST | PFC_LAST, call_id,
                              struct.pack("<HBBB", reason, 1, 5, 0) + b"\x00" * 3))
                return

        if ptype == BIND:
            port = str(self.server.server_address[1]).encode() + b"\x00"
        else:
            port = b""
        ack = struct.pack("<HHI", self.max_send, min(max_xmit or MAX_FRAG, MAX_FRAG), self.assoc)
        ack += struct.pack("<H", len(port)) + port
        ack += b"\x00" * ((4 - (len(ack) + 16) % 4) % 4)
        ack += struct.pack("<B3x", len(results)) + b"".join(results)
        rtype = BIND_ACK if ptype == BIND else ALTER_RESP
        # never echo PFC_SUPPORT_HEADER_SIGN
        if out_auth is not None and out_auth[1] is not None:
            pad = (4 - (len(ack) % 4)) % 4
            ack += b"\x00" * pad
            at, value = out_auth
            self.send(pdu(rtype, PFC_FIRST | PFC_LAST, call_id, ack,
                          (at, self.auth_level, pad, self.auth_ctx_id, value)))
        else:
            self.send(pdu(rtype, PFC_FIRST | PFC_LAST, call_id, ack))

    def auth_leg(self, ptype, at, al, cid, value):
        """Process one client security token; -> (auth_type, token_or_None)."""
        if at not in (AUTHN_SPNEGO, AUTHN_KRB5):
            raise ProtocolError("auth_type 0x%x not supported" % at)
        if self.gss is None or (ptype == BIND):
            if self.gss:
                self.gss.close()
            self.gss = Acceptor()
            self.auth_type, self.auth_level, self.auth_ctx_id = at, al, cid
            self.spnego_mech = None
            self.spnego_done = False
            log.info("%s: bind auth_type=0x%x auth_level=%d ctx_id=%d token=%d bytes (0x%02x)",
                     self.peer, at, al, cid, len(value), value[0] if value else 0)
        else:
            if at != self.auth_type or cid != self.auth_ctx_id:
                raise ProtocolError("auth_type/ctx_id changed within the connection")
        if at == AUTHN_KRB5:
            if self.gss.complete:
                return at, None
            out = self.gss.step(krb5_token(value))
            if out[:1] == b"\x60":
                out = strip_gss_framing(out)
            return at, out or None

        # SPNEGO
        tok = spnego_parse(value)
        if tok["kind"] == "init":
            mechs = tok["mechs"]
            sel = next((m for m in mechs if m in (OID_MSKRB5, OID_KRB5)), None)
            if sel is None:
                return at, spnego_resp(2)  # reject
            self.spnego_mech = sel
            if mechs[0] != sel or not tok["token"]:
                # optimistic token was for another mech: ask for ours
                return at, spnego_resp(1, sel)
            out = self.gss.step(krb5_token(tok["token"]))
        else:
            if self.spnego_mech is None:
                raise ProtocolError("NegTokenResp before NegTokenInit")
            if self.gss.complete:
                # e.g. a mechListMIC-only leg; we do not require it
                return at, spnego_resp(0)
            if not tok["token"]:
                raise ProtocolError("NegTokenResp without responseToken")
            out = self.gss.step(krb5_token(tok["token"]))
        if out[:1] == b"\x60":
            # DCE style: the AP-REP goes unframed (what Windows sends, what
            # impacket parses)
            out = strip_gss_framing(out)
        first = tok["kind"] == "init"
        if self.gss.complete:
            return at, spnego_resp(0, self.spnego_mech if first else None, out or None)
        return at, spnego_resp(1, self.spnego_mech if first else None, out or None)

    def on_auth3(self, p):
        body, trailer, value = self.split_auth(p)
        if trailer is None:
            raise ProtocolError("auth3 without auth trailer")
        at, al, pad, cid = trailer
        try:
            if at == AUTHN_SPNEGO:
                self.auth_leg(ALTER, at, al, cid, value)
            else:
                self.auth_leg(AUTH3, at, al, cid, value)
        except (GSSError, ProtocolError) as e:
            log.warning("%s: auth3 failed: %s", self.peer, e)
            raise ProtocolError("auth3 failed")

    # ---- requests
    def fault(self, call_id, cont_id, status):
        body = struct.pack("<IHBBII", 0, cont_id, 0, 0, status, 0)
        self.send(pdu(FAULT, PFC_FIRST | PFC_LAST | 0x20, call_id, body))

    def on_request(self, p, flags, call_id):
        body, trailer, value = self.split_auth(p)
        alloc_hint, cont_id, opnum = struct.unpack_from("<IHH", body, 0)
        hoff = 8 + (16 if flags & PFC_OBJECT_UUID else 0)
        stub = body[hoff:]
        sec = dict(auth_type=self.auth_type, auth_level=self.auth_level if self.gss else 1,
                   pad16=None, frags=1, problem=None)
        if flags & PFC_FIRST:
            self.partial[call_id] = dict(opnum=opnum, cont=cont_id, stub=b"", frags=0,
                                         pads=[], problem=None)
        st = self.partial.get(call_id)
        if st is None:
            raise ProtocolError("fragment of unknown call %d" % call_id)
        st["frags"] += 1
        if trailer is not None:
            at, al, pad, cid = trailer
            if self.gss is None or not self.gss.complete:
                st["problem"] = st["problem"] or "request with auth trailer but no security context"
            elif at != self.auth_type or cid != self.auth_ctx_id:
                st["problem"] = st["problem"] or "auth_type/ctx_id mismatch"
            elif al != LEVEL_PRIVACY:
                st["problem"] = st["problem"] or "auth_level %d in request" % al
            else:
                try:
                    plain, conf = self.gss.unwrap(stub, value)
                except GSSError as e:
                    st["problem"] = st["problem"] or "unwrap failed: %s" % e
                    plain = b""
                else:
                    if pad > len(plain):
                        raise ProtocolError("auth_pad_length larger than the stub")
                    st["pads"].append((len(plain), pad))
                    stub = plain[:len(plain) - pad] if pad else plain
        else:
            if self.server.role == "icpr":
                st["problem"] = st["problem"] or "request without authentication (level %d)" % (
                    self.auth_level if self.gss else 1)
        st["stub"] += stub
        if not flags & PFC_LAST:
            return
        del self.partial[call_id]
        sec["frags"] = st["frags"]
        # padding alignment observed: True if every fragment was padded to 16
        if st["pads"]:
            sec["pad16"] = all(n % 16 == 0 for n, _ in st["pads"])
            sec["pad_lengths"] = [pd for _, pd in st["pads"]]
        if self.server.role == "icpr" and self.gss and self.gss.complete and \
                self.auth_level != LEVEL_PRIVACY and not st["problem"]:
            st["problem"] = "connection auth_level %d, PKT_PRIVACY (6) required" % self.auth_level
        if st["cont"] not in self.contexts:
            self.fault(call_id, st["cont"], NCA_S_UNSUPPORTED_TYPE)
            return
        if st["problem"] and self.server.role == "icpr":
            log.warning("%s: access denied: %s", self.peer, st["problem"])
            self.server.app.log_denied(self, sec, st["problem"])
            self.fault(call_id, st["cont"], RPC_S_ACCESS_DENIED)
            return
        try:
            out = self.server.app.call(self, st["opnum"], st["stub"], sec)
        except RpcFault as f:
            self.fault(call_id, st["cont"], f.status)
            return
        self.respond(call_id, st["cont"], out)

    def respond(self, call_id, cont_id, stub):
        sealed = self.server.role == "icpr" and self.gss is not None and self.gss.complete
        if sealed:
            sig = self.gss.wrap_size(16)
            room = ((self.max_send - 24 - 8 - sig) // 16) * 16
        else:
            room = self.max_send - 24
        if room < 16:
            room = 16
        # labctl ca-mode (hostile.py): the ICPR app may make the answer wrong
        mode = getattr(self.server.app, "hostile_mode", lambda: "normal")()
        stub, room, hint = hostile.respond_params(mode, stub, room)
        out = []
        off = 0
        first = True
        while True:
            chunk = stub[off:off + room]
            last = off + room >= len(stub)
            flags = (PFC_FIRST if first else 0) | (PFC_LAST if last else 0)
            head = struct.pack("<IHBB", len(stub) - off if hint is None else hint, cont_id, 0, 0)
            if sealed:
                pad = (16 - len(chunk) % 16) % 16
                enc, token = self.gss.wrap(chunk + b"\x00" * pad)
                out.append(pdu(RESPONSE, flags, call_id, head + enc,
                               (self.auth_type, LEVEL_PRIVACY, pad, self.auth_ctx_id, token)))
            else:
                out.append(pdu(RESPONSE, flags, call_id, head + chunk))
            off += room
            first = False
            if last:
                break
        if mode in hostile.WIRE_MODES:
            hostile.send(self, b"".join(out), mode)
        else:
            for p in out:
                self.send(p)


class RpcFault(Exception):
    def __init__(self, status):
        self.status = status
        super().__init__("fault 0x%08x" % status)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, addr, role, app):
        self.role = role
        self.app = app
        super().__init__(addr, Conn)


# ------------------------------------------------------------------ EPM
def floor(lhs, rhs):
    return struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs


def parse_tower(t):
    n = u16(t, 0)
    off = 2
    floors = []
    for _ in range(n):
        ll = u16(t, off)
        lhs = t[off + 2:off + 2 + ll]
        off += 2 + ll
        rl = u16(t, off)
        rhs = t[off + 2:off + 2 + rl]
        off += 2 + rl
        floors.append((lhs, rhs))
    return floors


class EpmApp:
    """ept_map (opnum 3) for one registered interface (ICertPassage)."""

    def __init__(self, icpr_addr, icpr_port):
        self.addr = icpr_addr
        self.port = icpr_port

    def log_denied(self, conn, sec, problem):
        pass

    def call(self, conn, opnum, stub, sec):
        if opnum != 3:
            raise RpcFault(NCA_S_OP_RNG_ERROR)
        off = 0
        ref = u32(stub, off)
        off += 4
        if ref:
            off += 16
        tref = u32(stub, off)
        off += 4
        ifuuid = None
        transport_ok = False
        if tref:
            off += 4  # max_count (conformance of twr_t, hoisted)
            tlen = u32(stub, off)
            off += 4
            tower = stub[off:off + tlen]
            off += tlen
            off += (4 - off % 4) % 4
            try:
                floors = parse_tower(tower)
                lhs = floors[0][0]
                if lhs[0] == 0x0D:
                    ifuuid = (uuid.UUID(bytes_le=lhs[1:17]), u16(lhs, 17), u16(floors[0][1], 0))
                transport_ok = len(floors) >= 4 and floors[2][0][:1] == b"\x0b" and \
                    floors[3][0][:1] == b"\x07"
            except (IndexError, struct.error):
                ifuuid = None
        off += 20  # entry_handle
        max_towers = u32(stub, off) if off + 4 <= len(stub) else 1
        log.info("%s: ept_map %s (tcp=%s)", conn.peer, ifuuid, transport_ok)
        towers = []
        if ifuuid and ifuuid[0] == ICPR_IF and ifuuid[1] == 0 and transport_ok:
            t = struct.pack("<H", 5)
            t += floor(b"\x0d" + ICPR_IF.bytes_le + struct.pack("<H", 0), struct.pack("<H", 0))
            t += floor(b"\x0d" + NDR.bytes_le + struct.pack("<H", 2), struct.pack("<H", 0))
            t += floor(b"\x0b", struct.pack("<H", 0))
            t += floor(b"\x07", struct.pack(">H", self.port))
            t += floor(b"\x09", socket.inet_aton(self.addr))
            towers.append(t)
        out = b"\x00" * 20  # entry_handle: no more entries
        out += struct.pack("<I", len(towers))
        out += struct.pack("<III", max(max_towers, len(towers)), 0, len(towers))
        for i in range(len(towers)):
            out += struct.pack("<I", 3 + i)
        for t in towers:
            out += struct.pack("<II", len(t), len(t)) + t
            out += b"\x00" * ((4 - len(out) % 4) % 4)
        out += struct.pack("<I", 0 if towers else EPT_S_NOT_REGISTERED)
        return out


def serve(servers):
    threads = []
    for s in servers:
        th = threading.Thread(target=s.serve_forever, daemon=True)
        th.start()
        threads.append(th)
    return threads
