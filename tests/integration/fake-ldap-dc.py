#!/usr/bin/python3
"""fake-ldap-dc.py ADDR LOG - an LDAP server that is not a domain controller.

What a domain user can run with the keytab of a computer account they
created (ms-DS-MachineAccountQuota) and gave ldap/<name> SPNs: it completes
a SASL bind (GSS-SPNEGO as Windows binds, RFC 4752 GSSAPI), Kerberos
mutual authentication and sealing included, with the key of that account
(KRB5_KTNAME), on ADDR port 389.  It serves nothing after the bind: the
client must refuse the session before it asks for anything.  Each bind is
a line in LOG (first "pid N", then "bound MECH PRINCIPAL" or "bind failed ..."), then each
sealed request that follows ("sealed request N bytes").

Run with /usr/bin/python3 (python3-gssapi), inside the lab namespace.
"""
import os
import socket
import struct
import sys

import gssapi

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab", "ca"))
import der  # noqa: E402  (the lab CA's DER reader and writer)


def tlv(data, pos):
    """(tag, value, next position) of the BER element at POS."""
    tag, value, _, nxt = der.read_tlv(data, pos)
    return tag, value, nxt


def bind_response(msgid, code, creds=None, diag=b""):
    body = der.tlv(0x0A, bytes([code])) + der.tlv(0x04, b"") + der.tlv(0x04, diag)
    if creds is not None:
        body += der.tlv(0x87, creds)
    return der.tlv(0x30, der.tlv(0x02, msgid) + der.tlv(0x61, body))


def read_message(conn):
    """One LDAPMessage (plain BER), or None at the end."""
    head = conn.recv(2, socket.MSG_WAITALL)
    if len(head) < 2:
        return None
    extra = b""
    n = head[1]
    if n & 0x80:
        extra = conn.recv(n & 0x7F, socket.MSG_WAITALL)
        n = int.from_bytes(extra, "big")
    return head + extra + conn.recv(n, socket.MSG_WAITALL)


def serve(conn, log):
    ctx = None
    state = "context"   # GSSAPI (RFC 4752 3.1): then "offer", then "layer"
    while True:
        msg = read_message(conn)
        if msg is None:
            return
        _, body, _ = tlv(msg, 0)
        _, msgid, p = tlv(body, 0)
        tag, op, _ = tlv(body, p)
        if tag != 0x60:
            log.write("unexpected operation 0x%02x before the bind\n" % tag)
            return
        _, _, q = tlv(op, 0)          # version
        _, _, q = tlv(op, q)          # name
        _, auth, _ = tlv(op, q)       # [3] SaslCredentials
        _, mech, r = tlv(auth, 0)
        token = tlv(auth, r)[1] if r < len(auth) else b""
        mech = mech.decode()
        try:
            if state == "layer":
                # The client's choice of layer: the bind is done.
                ctx.unwrap(token)
                conn.sendall(bind_response(msgid, 0))
                break
            if state == "offer":
                # Every layer, 64 KiB buffers (RFC 4752 3.3).
                conn.sendall(bind_response(msgid, 14, ctx.wrap(b"\x07\x01\x00\x00", False).message))
                state = "layer"
                continue
            if ctx is None:
                ctx = gssapi.SecurityContext(creds=gssapi.Credentials(usage="accept"), usage="accept")
            out = ctx.step(token)
            if not ctx.complete:
                conn.sendall(bind_response(msgid, 14, out or b""))
            elif mech == "GSSAPI":
                state = "offer" if out else "layer"
                conn.sendall(bind_response(msgid, 14, out if out else
                                           ctx.wrap(b"\x07\x01\x00\x00", False).message))
            else:
                # GSS-SPNEGO: the layer follows from the context (MS-ADTS 5.1.1.1.2).
                conn.sendall(bind_response(msgid, 0, out))
                break
        except gssapi.exceptions.GSSError as e:
            log.write("bind failed %s: %s\n" % (mech, e))
            conn.sendall(bind_response(msgid, 49, diag=str(e).encode()[:200]))
            return
    log.write("bound %s %s\n" % (mech, ctx.initiator_name))
    log.flush()
    # Sealed from now on: 4-byte length, then a wrap token.
    while True:
        head = conn.recv(4, socket.MSG_WAITALL)
        if len(head) < 4:
            return
        n = struct.unpack(">I", head)[0]
        conn.recv(n, socket.MSG_WAITALL)
        log.write("sealed request %d bytes\n" % n)
        log.flush()


def main():
    addr, logpath = sys.argv[1], sys.argv[2]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 389))
    s.listen(8)
    with open(logpath, "a", buffering=1) as log:
        log.write("pid %d\nlistening on %s:389\n" % (os.getpid(), addr))
        while True:
            conn, _ = s.accept()
            conn.settimeout(30)
            try:
                serve(conn, log)
            except (OSError, IndexError, ValueError) as e:  # der.DERError too
                log.write("connection ended: %s\n" % e)
            conn.close()


if __name__ == "__main__":
    main()
