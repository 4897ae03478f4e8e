#!/usr/bin/env python3
"""https_test_server.py: a small mutual-TLS HTTPS/1.1 server for GatewayTransportTests.

Standard library only. Listens on 127.0.0.1 (port 0 = ephemeral by default), prints
"PORT <n>" on stdout once it accepts connections, and exits when its stdin closes, so a
test process that dies cannot leave it running.

  --cert/--key        the server certificate chain and key (PEM)
  --client-ca FILE    anchors for client certificates; with it, a client certificate is
                      REQUIRED (ssl.CERT_REQUIRED); without it, none is asked for

Paths (all methods):
  /echo               200, JSON: method, path, headers, bodyLength, bodySHA256,
                      clientSubject, tlsVersion, connection (a per-connection number),
                      requestOnConnection
  /status/NNN         that status, with Retry-After (query retry-after=N, default 7)
  /stall?seconds=S    sleeps S seconds, then 200
  /large?bytes=N      N bytes of body with Content-Length (&chunked=1: chunked, no length)
  /headers            200 with mixed-case header names (X-Mixed-Case, X-Repeated twice)
  /close              reads the request, closes the connection without replying
  /reset              reads the request, resets the connection (RST) without replying
  /open               200, JSON: open (connections open now, this one included)
"""
import argparse
import hashlib
import itertools
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONNECTIONS = itertools.count(1)
OPEN_LOCK = threading.Lock()
OPEN = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, so the client can reuse connections
    server_version = "gateway-test-server"
    # Headers and body go out in separate writes; with Nagle on, the second waits for the
    # client's delayed ACK (40 ms on Linux) and caps a connection at ~25 requests/s.
    disable_nagle_algorithm = True

    def handle(self):
        # The handshake runs here, in the connection's own thread, not in accept(): a
        # client that fails it must not block the server loop.
        try:
            self.request.settimeout(30)
            self.request.do_handshake()
            # Then idle connections stay open (the server ends with its stdin): a test
            # whose task waits half a minute for a thread on a loaded machine must find its
            # kept-alive connection still there.
            self.request.settimeout(600)
        except (ssl.SSLError, OSError):
            return
        global OPEN
        self.connection_number = next(CONNECTIONS)
        self.requests_served = 0
        with OPEN_LOCK:
            OPEN += 1
        try:
            super().handle()
        except (ssl.SSLError, OSError):
            pass
        finally:
            with OPEN_LOCK:
                OPEN -= 1

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_GET

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body, content_type="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def dispatch(self):
        self.requests_served += 1
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        body = self.read_body()
        path = url.path
        if path == "/echo":
            peer = self.request.getpeercert() or {}
            subject = ",".join(f"{k}={v}" for rdn in peer.get("subject", ()) for (k, v) in rdn)
            answer = {
                "method": self.command,
                "path": self.path,
                "headers": {k: v for k, v in self.headers.items()},
                "bodyLength": len(body),
                "bodySHA256": hashlib.sha256(body).hexdigest(),
                "clientSubject": subject,
                "tlsVersion": self.request.version(),
                "connection": self.connection_number,
                "requestOnConnection": self.requests_served,
            }
            self.reply(200, json.dumps(answer).encode())
        elif path.startswith("/status/"):
            status = int(path[len("/status/"):])
            self.reply(status, b'{"status":%d}' % status,
                       extra=[("Retry-After", query.get("retry-after", "7"))])
        elif path == "/stall":
            time.sleep(float(query.get("seconds", "10")))
            self.reply(200, b"{}")
        elif path == "/large":
            size = int(query.get("bytes", "0"))
            chunk = b"x" * 65536
            if query.get("chunked") == "1":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                left = size
                while left > 0:
                    part = chunk[:min(left, len(chunk))]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    left -= len(part)
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                left = size
                while left > 0:
                    part = chunk[:min(left, len(chunk))]
                    self.wfile.write(part)
                    left -= len(part)
        elif path == "/headers":
            self.reply(200, b"{}", extra=[("X-Mixed-Case", "Value One"), ("X-Repeated", "a"),
                                          ("X-Repeated", "b"), ("ETag", '"abc"')])
        elif path == "/close":
            self.close_connection = True
            self.request.shutdown(socket.SHUT_RDWR)
        elif path == "/open":
            with OPEN_LOCK:
                count = OPEN
            self.reply(200, json.dumps({"open": count}).encode())
        elif path == "/reset":
            self.close_connection = True
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.request.close()
        else:
            self.reply(404, b'{"error":"no such path"}')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass   # failed handshakes and resets are what the tests provoke


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(args.client_ca)

    server = Server(("127.0.0.1", args.port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
