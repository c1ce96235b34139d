#!/usr/bin/env python3
"""An SMTP relay for the tests that insists on what a real relay insists on: encryption
(STARTTLS, or TLS from the first byte) and a sign-in (AUTH PLAIN or LOGIN) with one user
name and password, before it takes any mail. Each message it takes is appended to OUT as one
JSON line: {"user", "tls", "from", "rcpt": [...], "data"}; each refused sign-in as
{"refused_user": ...}.

    relaysink.py PORT CERT KEY USER PASSWORD starttls|tls OUT

It prints "ready" once listening and runs until killed. Loopback only.
"""
import base64
import json
import socket
import socketserver
import ssl
import sys
import threading

PORT, CERT, KEY, USER, PASSWORD, MODE, OUT = sys.argv[1:8]
LOCK = threading.Lock()


def record(entry):
    with LOCK, open(OUT, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    return ctx


class Session(socketserver.StreamRequestHandler):
    timeout = 30

    def setup(self):
        self.tls = False
        if MODE == "tls":
            self.request = context().wrap_socket(self.request, server_side=True)
            self.tls = True
        super().setup()

    def say(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def read(self):
        line = self.rfile.readline(4096)
        if not line:
            raise EOFError
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def handle(self):
        try:
            self.dialogue()
        except (EOFError, ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass

    def dialogue(self):
        user = None
        sender, rcpts = None, []
        self.say("220 relay.test ESMTP")
        while True:
            line = self.read()
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb in ("EHLO", "HELO"):
                caps = ["250-relay.test"]
                if not self.tls and MODE == "starttls":
                    caps.append("250-STARTTLS")
                if self.tls:
                    caps.append("250-AUTH PLAIN LOGIN")
                caps.append("250 8BITMIME")
                self.wfile.write(("\r\n".join(caps) + "\r\n").encode())
                self.wfile.flush()
            elif verb == "STARTTLS" and not self.tls and MODE == "starttls":
                self.say("220 Go ahead")
                self.wfile.flush()
                self.request = context().wrap_socket(self.request, server_side=True)
                self.tls = True
                self.rfile = self.request.makefile("rb")
                self.wfile = self.request.makefile("wb")
                user, sender, rcpts = None, None, []
            elif verb == "AUTH":
                if not self.tls:
                    self.say("538 5.7.11 Encryption required")
                    continue
                parts = arg.split(" ", 1)
                mech = parts[0].upper()
                if mech == "PLAIN":
                    blob = parts[1] if len(parts) > 1 else None
                    if blob is None:
                        self.say("334 ")
                        blob = self.read()
                    fields = base64.b64decode(blob).split(b"\0")
                    given_user = fields[1].decode() if len(fields) > 2 else ""
                    given_pw = fields[2].decode() if len(fields) > 2 else ""
                elif mech == "LOGIN":
                    self.say("334 VXNlcm5hbWU6")
                    given_user = base64.b64decode(self.read()).decode()
                    self.say("334 UGFzc3dvcmQ6")
                    given_pw = base64.b64decode(self.read()).decode()
                else:
                    self.say("504 5.5.4 Unknown mechanism")
                    continue
                if given_user == USER and given_pw == PASSWORD:
                    user = given_user
                    self.say("235 2.7.0 Authenticated")
                else:
                    record({"refused_user": given_user})
                    self.say("535 5.7.8 Authentication credentials invalid")
            elif verb == "MAIL":
                if user is None:
                    self.say("530 5.7.0 Authentication required")
                    continue
                sender = arg.split(":", 1)[1].split()[0].strip("<>") if ":" in arg else ""
                rcpts = []
                self.say("250 2.1.0 Ok")
            elif verb == "RCPT":
                if sender is None:
                    self.say("503 5.5.1 MAIL first")
                    continue
                rcpts.append(arg.split(":", 1)[1].strip().strip("<>"))
                self.say("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    self.say("503 5.5.1 RCPT first")
                    continue
                self.say("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    l = self.read()
                    if l == ".":
                        break
                    lines.append(l[1:] if l.startswith("..") else l)
                record({"user": user, "tls": self.tls, "from": sender, "rcpt": rcpts,
                        "data": "\n".join(lines)})
                sender, rcpts = None, []
                self.say("250 2.0.0 Ok: queued")
            elif verb == "RSET":
                sender, rcpts = None, []
                self.say("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.say("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("502 5.5.2 Command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    srv = Server(("127.0.0.1", int(PORT)), Session)
    print("ready", flush=True)
    srv.serve_forever()
