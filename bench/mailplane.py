#!/usr/bin/env python3
"""Latency of the mail plane's lookups, as a client sees them (bench/mailplane).

  mailplane.py rcpt PORT FILE          RCPT TO for each address in FILE (one per line), on
                                       port 25; times each RCPT command
  mailplane.py login PORT PASSWORD FILE  an IMAP LOGIN for each address in FILE, each on a new
                                       connection; times each LOGIN command

Prints one JSON object: count, answers by code, median / p95 / max in milliseconds.
Refused recipients count as errors for Postfix (smtpd_soft_error_limit), so a connection
carries at most 5 refusals before the next one starts.
"""
import imaplib
import json
import socket
import statistics
import sys
import time


class Smtp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.reply()
        self.cmd("EHLO bench.localhost")
        if self.cmd("MAIL FROM:<bench@sender.example>") != 250:
            raise SystemExit(f"MAIL FROM refused: {self.text}")

    def reply(self):
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed by the server")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] != b"-":
                self.text = line.decode(errors="replace")
                return int(line[:3])

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.sock.close()


def summary(times, codes, example=None):
    times.sort()
    ms = [t * 1000 for t in times]
    return {
        "count": len(ms),
        "codes": codes,
        "median_ms": round(statistics.median(ms), 2) if ms else None,
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2) if ms else None,
        "max_ms": round(ms[-1], 2) if ms else None,
        "example": example,
    }


def rcpt(port, addresses):
    times, codes = [], {}
    conn, refused, accepted, example = None, 0, 0, None
    for a in addresses:
        if conn is None or refused >= 5 or accepted >= 500:
            if conn:
                conn.close()
            conn, refused, accepted = Smtp(port), 0, 0
        t = time.perf_counter()
        code = conn.cmd(f"RCPT TO:<{a}>")
        times.append(time.perf_counter() - t)
        codes[str(code)] = codes.get(str(code), 0) + 1
        example = example or conn.text
        if code >= 400:
            refused += 1
        else:
            accepted += 1
    if conn:
        conn.close()
    return summary(times, codes, example)


def login(port, password, addresses):
    times, codes = [], {}
    for a in addresses:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
        t = time.perf_counter()
        try:
            m.login(a, password)
            code = "OK"
        except imaplib.IMAP4.error:
            code = "NO"
        times.append(time.perf_counter() - t)
        codes[code] = codes.get(code, 0) + 1
        if codes.get("NO", 0) >= 3 and not codes.get("OK"):
            # Each refusal costs Dovecot's failure delay: stop and say so.
            raise SystemExit(f"IMAP LOGIN refused for {a} and the ones before")
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return summary(times, codes)


def main(argv):
    if len(argv) == 4 and argv[1] == "rcpt":
        lines = open(argv[3]).read().split()
        return rcpt(int(argv[2]), lines)
    if len(argv) == 5 and argv[1] == "login":
        lines = open(argv[4]).read().split()
        return login(int(argv[2]), argv[3], lines)
    raise SystemExit(__doc__)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv)))
