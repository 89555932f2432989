#!/usr/bin/env python3
"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 that stores every message it accepts.

Each accepted message is written to ``<dir>/<n>-<time>.eml`` exactly as received (the DATA
content, CRLF line endings), through a temporary file and a rename so a reader never sees half a
message. The server replies ``250`` only after the file is in place, so a client whose send
succeeded can read the file at once.

Options:
  --port N                 port on 127.0.0.1 (required; the server never listens elsewhere)
  --dir DIR                where messages are stored (created if missing)
  --auth-user U            with --auth-password: offer AUTH PLAIN/LOGIN without TLS, accept only
  --auth-password P          this pair (535 otherwise) and refuse MAIL before AUTH (530)
  --reject-rcpt ADDR       answer 550 to RCPT TO:<ADDR> (repeatable)
  --tempfail-rcpt ADDR     answer 451 to RCPT TO:<ADDR> (repeatable)

Its output (one line per EHLO, AUTH and stored message) tells tests what happened.
Stops cleanly on SIGTERM or SIGINT.
"""

import argparse
import itertools
import logging
import os
import signal
import sys
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


class Sink:
    """aiosmtpd handler: refuses configured recipients, stores accepted messages."""

    def __init__(self, directory, reject, tempfail):
        self.directory = directory
        self.reject = {a.lower() for a in reject}
        self.tempfail = {a.lower() for a in tempfail}
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # One line per EHLO, i.e. per SMTP session: lets tests see connection reuse.
        session.host_name = hostname
        print("ehlo %s from %s" % (hostname, session.peer), flush=True)
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: recipient address rejected" % address
        if address.lower() in self.tempfail:
            return "451 4.3.0 <%s>: temporarily unavailable, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content
        if content is None:
            content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        with self.lock:
            n = next(self.counter)
        name = "%06d-%d.eml" % (n, time.time_ns())
        tmp = os.path.join(self.directory, ".%s.tmp" % name)
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.directory, name))
        print(
            "stored %s from=%s to=%s" % (name, envelope.mail_from, ",".join(envelope.rcpt_tos)),
            flush=True,
        )
        return "250 2.0.0 OK: stored as %s" % name


class Authenticator:
    """Accepts exactly one user/password pair for AUTH PLAIN and LOGIN."""

    def __init__(self, user, password):
        self.user = user.encode("utf-8")
        self.password = password.encode("utf-8")

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            mechanism in ("PLAIN", "LOGIN")
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        print("auth %s %s" % (mechanism, "accepted" if ok else "rejected"), flush=True)
        # handled=False lets aiosmtpd answer 535 5.7.8 on failure.
        return AuthResult(success=ok, handled=False)


def main(argv):
    p = argparse.ArgumentParser(description="SMTP sink for tests (127.0.0.1 only)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--auth-user")
    p.add_argument("--auth-password")
    p.add_argument("--reject-rcpt", action="append", default=[])
    p.add_argument("--tempfail-rcpt", action="append", default=[])
    args = p.parse_args(argv)
    if (args.auth_user is None) != (args.auth_password is None):
        p.error("--auth-user and --auth-password go together")

    # AUTH without TLS is what the tests ask for; aiosmtpd's warnings about it (and about the
    # login_data it keeps for us) are expected noise.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    os.makedirs(args.dir, exist_ok=True)
    handler = Sink(args.dir, args.reject_rcpt, args.tempfail_rcpt)
    kwargs = {}
    if args.auth_user is not None:
        kwargs.update(
            authenticator=Authenticator(args.auth_user, args.auth_password),
            auth_require_tls=False,
            auth_required=True,
        )
    controller = Controller(handler, hostname=HOST, port=args.port, **kwargs)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    print("listening on %s:%d, storing in %s" % (HOST, args.port, args.dir), flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
