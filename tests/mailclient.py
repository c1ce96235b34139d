#!/usr/bin/env python3
"""The mail client of the mail-plane tests: real SMTP, submission (STARTTLS + AUTH) and IMAP
from Python's standard library. Prints one JSON object; never raises for a refusal.

  mailclient.py smtp PORT FROM TO[,TO…] SUBJECT           mail from outside (port 25)
  mailclient.py submit PORT USER PASSWORD FROM TO SUBJECT  a signed-in client (submission)
  mailclient.py submitmany PORT USER PASSWORD FROM TO SUBJECT N [PARALLEL]
                                                           N messages over PARALLEL sessions
                                                           (default 1): how many went, and
                                                           each refusal with its number
  mailclient.py login PORT USER PASSWORD [tls]             IMAP login (tls: implicit TLS;
                                                           MAILCLIENT_SOURCE=127.x.y.z: IMAPS
                                                           from that loopback address)
  mailclient.py subjects PORT USER PASSWORD                subjects in INBOX
  mailclient.py quota PORT USER PASSWORD                   IMAP GETQUOTAROOT INBOX
  mailclient.py shared PORT USER PASSWORD OWNER            what USER sees of OWNER's shared
                                                           folders: the folders listed under
                                                           Shared/OWNER/, the INBOX subjects,
                                                           whether it opened read-only, and
                                                           whether an APPEND and a \\Deleted
                                                           flag were accepted
  mailclient.py setacl PORT USER PASSWORD ID RIGHTS         USER's own SETACL on INBOX (RFC 4314)
  mailclient.py loginbench PORT USER PASSWORD N            N IMAP logins, timed
  mailclient.py pop3 PORT                                  whether anything answers
"""
import imaplib
import json
import os
import smtplib
import socket
import ssl
import sys


def tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False  # the harness's certificate is self-signed
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class SourcedIMAP4_SSL(imaplib.IMAP4_SSL):
    """IMAPS from a chosen loopback source address (MAILCLIENT_SOURCE), as a client on
    another network would connect."""

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(os.environ["MAILCLIENT_SOURCE"], 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def message(sender, to, subject, size=0):
    body = "Sent by the Mailward mail-plane tests.\r\n" + ("x" * 76 + "\r\n") * (size // 78)
    return f"From: {sender}\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\n\r\n{body}"


def send(s, sender, to, subject, size=0):
    refused = {}
    try:
        refused = {k: [v[0], v[1].decode()] for k, v in
                   s.sendmail(sender, to, message(sender, to, subject, size)).items()}
        return {"ok": True, "refused": refused}
    except smtplib.SMTPRecipientsRefused as e:
        return {"ok": False, "refused": {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}}
    except smtplib.SMTPResponseException as e:
        return {"ok": False, "code": e.smtp_code, "error": e.smtp_error.decode()}


def main(argv):
    cmd = argv[1]
    if cmd == "smtp":
        port, sender, to, subject = int(argv[2]), argv[3], argv[4].split(","), argv[5]
        size = int(argv[6]) if len(argv) > 6 else 0
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
            return send(s, sender, to, subject, size)
    if cmd == "submit":
        port, user, pw, sender, to, subject = int(argv[2]), argv[3], argv[4], argv[5], argv[6].split(","), argv[7]
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
            s.starttls(context=tls())
            try:
                s.login(user, pw)
            except smtplib.SMTPAuthenticationError as e:
                return {"ok": False, "auth": False, "code": e.smtp_code, "error": e.smtp_error.decode()}
            return dict(send(s, sender, to, subject), auth=True)
    if cmd == "submitmany":
        port, user, pw, sender, to, subject = int(argv[2]), argv[3], argv[4], argv[5], argv[6].split(","), argv[7]
        n = int(argv[8])
        parallel = int(argv[9]) if len(argv) > 9 else 1
        import threading
        lock = threading.Lock()
        state = {"next": 0, "results": [], "errors": []}

        def worker():
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                    s.starttls(context=tls())
                    s.login(user, pw)
                    while True:
                        with lock:
                            i = state["next"]
                            if i >= n:
                                return
                            state["next"] += 1
                        r = send(s, sender, to, f"{subject} {i + 1}")
                        with lock:
                            state["results"].append(dict(r, n=i + 1))
            except Exception as e:  # a session that broke: reported, not raised
                with lock:
                    state["errors"].append(repr(e))

        threads = [threading.Thread(target=worker) for _ in range(parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        refusals = []
        for r in sorted(state["results"], key=lambda r: r["n"]):
            if not r["ok"]:
                codes = [v for v in r.get("refused", {}).values()]
                code, text = (codes[0][0], codes[0][1]) if codes else (r.get("code"), r.get("error"))
                refusals.append({"n": r["n"], "code": code, "error": text})
        sent = sum(1 for r in state["results"] if r["ok"] and not r["refused"])
        return {"ok": not state["errors"], "sent": sent, "refusals": refusals, "errors": state["errors"]}
    if cmd in ("login", "subjects", "quota"):
        port, user, pw = int(argv[2]), argv[3], argv[4]
        implicit = len(argv) > 5 and argv[5] == "tls"
        if os.environ.get("MAILCLIENT_SOURCE"):
            m = SourcedIMAP4_SSL("127.0.0.1", port, ssl_context=tls(), timeout=20)
        elif implicit:
            m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls(), timeout=20)
        else:
            m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
        try:
            m.login(user, pw)
        except imaplib.IMAP4.error as e:
            return {"ok": False, "error": str(e)}
        out = {"ok": True}
        if cmd == "subjects":
            m.select("INBOX", readonly=True)
            _, data = m.search(None, "ALL")
            subjects = []
            for num in data[0].split():
                _, msg = m.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                subjects.append(msg[0][1].decode().split(":", 1)[1].strip())
            out["subjects"] = subjects
        if cmd == "quota":
            _, data = m.getquotaroot("INBOX")
            # [b'"INBOX" Mailbox', [b'Mailbox (STORAGE used limit)']] in KiB
            words = data[1][0].decode().replace("(", " ").replace(")", " ").split()
            i = words.index("STORAGE")
            out["used_kib"], out["limit_kib"] = int(words[i + 1]), int(words[i + 2])
        m.logout()
        return out
    if cmd == "hold":
        # Logs in and keeps the session busy (NOOP) for up to N seconds; says whether the
        # server ended it meanwhile (doveadm kick) and after how long.
        import time
        port, user, pw, n = int(argv[2]), argv[3], argv[4], float(argv[5])
        box = f'"{argv[6]}"' if len(argv) > 6 else "INBOX"  # e.g. another's shared folder
        m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
        try:
            m.login(user, pw)
        except imaplib.IMAP4.error as e:
            return {"ok": False, "error": str(e)}
        typ, _ = m.select(box)
        if typ != "OK":
            return {"ok": False, "error": f"could not open {box}"}
        start = time.monotonic()
        while time.monotonic() - start < n:
            try:
                typ, _ = m.noop()
                if typ != "OK":
                    return {"ok": True, "kicked": True, "secs": time.monotonic() - start}
            except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError) as e:
                return {"ok": True, "kicked": True, "secs": time.monotonic() - start, "error": str(e)}
            time.sleep(0.2)
        m.logout()
        return {"ok": True, "kicked": False, "secs": n}
    if cmd == "shared":
        port, user, pw, owner = int(argv[2]), argv[3], argv[4], argv[5]
        m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
        m.starttls(ssl_context=tls())
        try:
            m.login(user, pw)
        except imaplib.IMAP4.error as e:
            return {"ok": False, "error": str(e)}
        # Dovecot shows the owner's INBOX as Shared/OWNER itself, its folders beneath it.
        root = f"Shared/{owner}"
        _, data = m.list('""', f'"{root}*"')
        listed = []
        for line in data or []:
            if line is None:
                continue
            name = line.decode().rsplit(' "/" ', 1)[-1].strip().strip('"')
            if name == root:
                listed.append("INBOX")
            elif name.startswith(root + "/"):
                listed.append(name[len(root) + 1:])
        out = {"ok": True, "listed": sorted(listed)}
        box = f'"{root}"'
        try:
            typ, data = m.select(box)
        except imaplib.IMAP4.readonly:  # opened, but read-only: look without writing
            typ, data = m.select(box, readonly=True)
            out["read_only"] = True
        except imaplib.IMAP4.error as e:
            typ, data = "NO", [str(e).encode()]
        out["opened"] = typ == "OK"
        if typ != "OK":
            out["error"] = data[0].decode() if data and data[0] else ""
            m.logout()
            return out
        _, data = m.search(None, "ALL")
        nums = data[0].split()
        subjects = []
        for num in nums:
            _, msg = m.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(msg[0][1].decode().split(":", 1)[1].strip())
        out["subjects"] = subjects
        if nums:
            try:
                typ, _ = m.store(nums[0], "+FLAGS", "(\\Deleted)")
            except imaplib.IMAP4.error:
                typ = "NO"
            # A flag the rights do not cover is dropped quietly (RFC 4314): read it back.
            _, flags = m.fetch(nums[0], "(FLAGS)")
            out["flag_deleted"] = typ == "OK" and b"\\Deleted" in flags[0]
            if out["flag_deleted"]:
                m.store(nums[0], "-FLAGS", "(\\Deleted)")
        try:
            typ, _ = m.append(box, None, None,
                              message(user, [owner], "filed by the delegate").encode())
        except imaplib.IMAP4.error:
            typ = "NO"
        out["append"] = typ == "OK"
        m.logout()
        return out
    if cmd == "setacl":
        port, user, pw, ident, rights = int(argv[2]), argv[3], argv[4], argv[5], argv[6]
        m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
        m.starttls(ssl_context=tls())
        m.login(user, pw)
        try:
            typ, data = m.setacl("INBOX", ident, rights)
            out = {"ok": typ == "OK", "answer": [d.decode() for d in data if d]}
        except imaplib.IMAP4.error as e:
            out = {"ok": False, "answer": [str(e)]}
        m.logout()
        return out
    if cmd == "loginbench":
        # N IMAP logins one after another (a new connection each), for the benchmark.
        import time
        port, user, pw, n = int(argv[2]), argv[3], argv[4], int(argv[5])
        ok = 0
        start = time.monotonic()
        for _ in range(n):
            m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
            try:
                m.login(user, pw)
                ok += 1
                m.logout()
            except imaplib.IMAP4.error:
                m.shutdown()
        secs = time.monotonic() - start
        return {"ok": ok, "secs": secs, "per_sec": n / secs}
    if cmd == "pop3":
        try:
            with socket.create_connection(("127.0.0.1", int(argv[2])), timeout=5) as c:
                return {"open": True, "banner": c.recv(200).decode(errors="replace")}
        except OSError as e:
            return {"open": False, "error": str(e)}
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv)))
