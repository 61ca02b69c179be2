# Persistent state of the lab CA: sqlite3 in $LAB/ca/ca.db, plus the JSON
# lines request log $LAB/ca/requests.log.

import json
import os
import sqlite3
import threading
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL, caller TEXT, account TEXT, template TEXT, request_type TEXT,
    request BLOB, status TEXT, hresult INTEGER, message TEXT,
    serial TEXT, cert BLOB);
CREATE TABLE IF NOT EXISTS certs (
    serial TEXT PRIMARY KEY, request_id INTEGER, caller TEXT, template TEXT,
    subject TEXT, not_after REAL, revoked INTEGER DEFAULT 0, revoked_at REAL,
    reason INTEGER DEFAULT 0, cert BLOB);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
"""

_log_lock = threading.Lock()


class Store:
    def __init__(self, cadir):
        self.dir = cadir
        os.makedirs(cadir, exist_ok=True)
        self.path = os.path.join(cadir, "ca.db")
        with self.db() as c:
            c.executescript(SCHEMA)

    def db(self):
        c = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        c.row_factory = sqlite3.Row
        return _Tx(c)

    # ---- requests
    def new_request(self, caller, account, template, rtype, request):
        with self.db() as c:
            cur = c.execute("INSERT INTO requests (time, caller, account, template, request_type,"
                            " request, status) VALUES (?,?,?,?,?,?,?)",
                            (time.time(), caller, json.dumps(account) if account else None,
                             template, rtype, request, "new"))
            return cur.lastrowid

    def update_request(self, rid, **kw):
        if not kw:
            return
        cols = ", ".join("%s=?" % k for k in kw)
        with self.db() as c:
            c.execute("UPDATE requests SET %s WHERE id=?" % cols, list(kw.values()) + [rid])

    def get_request(self, rid):
        with self.db() as c:
            r = c.execute("SELECT * FROM requests WHERE id=?", (rid,)).fetchone()
        if r is None:
            return None
        d = dict(r)
        d["account"] = json.loads(d["account"]) if d["account"] else None
        return d

    def list_requests(self):
        with self.db() as c:
            return [dict(r) for r in c.execute(
                "SELECT id, time, caller, template, request_type, status, hresult, serial"
                " FROM requests ORDER BY id")]

    # ---- certificates
    def add_cert(self, serial, rid, caller, template, subject, not_after, der):
        with self.db() as c:
            c.execute("INSERT INTO certs (serial, request_id, caller, template, subject,"
                      " not_after, cert) VALUES (?,?,?,?,?,?,?)",
                      (serial, rid, caller, template, subject, not_after, der))

    def get_cert(self, serial):
        with self.db() as c:
            r = c.execute("SELECT * FROM certs WHERE serial=?", (serial.lower(),)).fetchone()
        return dict(r) if r else None

    def revoke(self, serial, reason=0):
        with self.db() as c:
            cur = c.execute("UPDATE certs SET revoked=1, revoked_at=?, reason=? WHERE serial=?"
                            " AND revoked=0", (time.time(), reason, serial.lower()))
            return cur.rowcount

    def revoked(self):
        with self.db() as c:
            return [dict(r) for r in c.execute(
                "SELECT serial, revoked_at, reason FROM certs WHERE revoked=1")]

    def next_crl_number(self):
        with self.db() as c:
            c.execute("BEGIN IMMEDIATE")
            r = c.execute("SELECT v FROM meta WHERE k='crl_number'").fetchone()
            n = int(r["v"]) + 1 if r else 1
            c.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('crl_number', ?)", (str(n),))
            c.execute("COMMIT")
            return n

    # ---- request log
    def log(self, entry):
        entry = dict(entry)
        entry.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        line = json.dumps(entry, sort_keys=True)
        with _log_lock:
            with open(os.path.join(self.dir, "requests.log"), "a") as f:
                f.write(line + "\n")


class _Tx:
    def __init__(self, c):
        self.c = c

    def __enter__(self):
        return self.c

    def __exit__(self, *a):
        self.c.close()
