#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the examples of
docs/protocol.md, docs/stomp.md and docs/clients.md. Run it again after changing how a
target reads its input: FuzzedDataProvider takes the target's settings from the END of an
input, so each seed is the example followed by the setting bytes its target reads first.
Files already in a corpus directory (crash regressions) are left alone."""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for seed in seeds:
        name = "seed-" + hashlib.sha1(seed).hexdigest()[:12]
        with open(os.path.join(d, name), "wb") as f:
            f.write(seed)


def masked(opcode, payload, fin=True, key=b"\x37\xfa\x21\x3d"):
    """A client frame: masked, as RFC 6455 requires of clients."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


# http_request: settings from the end: limits (1 byte), pause mask (4), chunk size (2).
def http(text, chunk=4096, limits=0, pause=0):
    return text + struct.pack("<H", chunk - 1) + struct.pack("<I", pause) + bytes([limits])


upgrade = (b"GET /ws?userId=alice&since=7&epoch=8121 HTTP/1.1\r\nHost: localhost:8080\r\n"
           b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: herald.token, eyJhbGciOiJIUzI1NiJ9.e30.x\r\n\r\n")
notify = (b"POST /notify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          b"Content-Length: 71\r\n\r\n"
          b'{"to":{"users":["alice"]},"type":"blog.posted","data":{"title":"hello"}}')
write("http_request", [
    http(upgrade), http(upgrade, chunk=7), http(notify), http(notify, chunk=13, limits=1),
    http(b"GET /users/alice/notifications?limit=5 HTTP/1.1\r\nHost: a\r\n\r\n"
         b"GET /health HTTP/1.1\r\n\r\nHEAD /metrics HTTP/1.0\r\n\r\n", pause=0x5),
    http(b"GET http://localhost:8080/users/a?limit=5 HTTP/1.1\r\n\r\n"),
    http(b"POST /sse/abc HTTP/1.1\r\nContent-Type: application/json\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"op\"\r\n0\r\n\r\n"),
    http(b"POST /notify HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"),
    http(b"GET /sse?userId=alice&topics=room:1 HTTP/1.1\r\nAccept: text/event-stream\r\n"
         b"Last-Event-ID: 10.8121,room:1@38.8121\r\n\r\n"),
])

# ws_frames: settings from the end: the size limit (1 byte: odd = 64 KiB), chunk size (2).
def ws(frames, chunk=1024, big=True):
    return frames + struct.pack("<H", chunk - 1) + bytes([1 if big else 0])


text = masked(1, b'{"op":"ack","seq":10}')
write("ws_frames", [
    ws(text), ws(text + masked(9, b"p1") + masked(10, b"")),
    ws(masked(1, b'{"op":"sub', fin=False) + masked(9, b"x") + masked(0, b'scribe"}')),
    ws(masked(8, struct.pack(">H", 1000) + b"bye")), ws(masked(8, b"")),
    ws(masked(8, struct.pack(">H", 4001) + "caf\u00e9".encode())),
    ws(masked(2, b"\x00\x01")), ws(masked(1, "h\u00e9llo \u2603".encode()), chunk=3),
    ws(masked(1, b"x" * 200), big=False), ws(masked(1, b"y" * 300)),
])

frames = [
    b'{"op":"ack","seq":10}',
    b'{"op":"subscribe","topic":"room:1","since":38,"epoch":"8121","rid":"s1"}',
    b'{"op":"unsubscribe","topic":"room:1","rid":"u1"}',
    b'{"op":"read","seqs":[9,10],"rid":"r1"}', b'{"op":"read_all","rid":"r2"}',
    b'{"op":"history","stream":"inbox:alice","before":8,"limit":20,"rid":"h1"}',
    b'{"op":"ping","rid":"p1"}', b'{"op":"refresh","token":"eyJhbGciOi","rid":"t1"}',
    b'{"userId":1,"room":1}', b'{"room":"lobby"}', b'{"op":"ack","seq":"18446744073709551615"}',
    b'{"op":"ack","seq":0}', b'{"op":"ack","seq":010}', b'{"op":"ack","seq":18446744073709551615}',
    b'{"op":"ack","seq":18446744073709551616}', b'{"op":"ack","seq":-1}', b'{"op":"ack","seq":1e3}',
]
write("client_frame", frames)

# handshake_query: settings from the end: the topic limit (1 byte: odd = 256).
write("handshake_query", [t + b"\x01" for t in [
    b"/ws?userId=alice&since=7&epoch=8121",
    b"/ws?userId=alice&topics=room:1@40.8121,news@3,alerts",
    b"/ws?userId=alice&topics=room:1@38.8121,news@7.8121,fresh&token=abc",
    b"/sse?userId=al%69ce&topics=a%2Cb,c@5@&since=0",
    b"/ws?userId=a+b&topics=x,x,y@1.2,$broadcast",
]] + [b"/ws?topics=a,b,c\x00"])

# sse_position: the last byte picks the mode (odd: a Last-Event-ID, the rest of the input).
write("sse_position", [i + b"\x01" for i in [
    b"10.8121", b"10.8121,room:1@38.8121,news@7", b"0", b"7.1,a@5@3.4",
    b"18446744073709551615.1",
]] + [bytes(range(64)) + b"\x00"])

stomp = [
    b"CONNECT\naccept-version:1.2\nhost:localhost\nlogin:alice\npasscode:token\n"
    b"heart-beat:10000,10000\n\n\x00",
    b"SUBSCRIBE\nid:sub-0\ndestination:/user/queue/notifications\nack:client-individual\n\n\x00",
    b"SUBSCRIBE\nid:sub-1\ndestination:/topic/room:1\nreceipt:r1\n\n\x00\n\n",
    b"ACK\nid:inbox\\calice\\c10\n\n\x00",
    b"UNSUBSCRIBE\r\nid:sub-1\r\n\r\n\x00DISCONNECT\nreceipt:77\n\n\x00",
    b"MESSAGE\ndestination:/user/queue/notifications\nsubscription:sub-0\n"
    b"message-id:inbox:alice:10\ncontent-type:application/json\nherald-seq:10\n"
    b"content-length:38\n\n{\"id\":\"1\",\"type\":\"t\",\"data\":{\"a\":\"\x00\"}}\x00",
    b"\n\r\n\n",
]
write("stomp_frame", [s + b"\x00" for s in stomp] + [stomp[0] + b"\x01"])

write("notify_body", [
    b'{"userId":2,"message":"Private message for userId 1","email":"abc@gmail.com",'
    b'"target":1,"type":"private"}',
    b'{"userId":2,"message":"hi","target":1,"type":"room"}',
    b'{"message":"all","type":"broadcast","idempotencyKey":"k"}',
    b'{"to":{"users":["alice","bob"]},"type":"blog.posted","data":{"title":"hello"},'
    b'"sender":"carol","idempotencyKey":"post-17","expiresAt":"2026-11-21T12:00:00Z"}',
    b'{"to":{"followersOf":"alice"},"type":"blog.posted","data":{"id":7}}',
    b'{"to":{"topic":"news"},"type":"t","data":[1.50,1e2,null],"expiresAt":"2099-01-01T00:00:00.250+01:00"}',
    b'[{"to":{"broadcast":true},"type":"t"},{"userId":"bob","message":"hi","target":"alice","type":"private"}]',
    b"2026-11-21T12:00:00Z", b"9999-12-31T23:59:59.999-00:00",
])


def b64(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=")


# jwt: the last byte picks the mode: 0 the token as is, 1 header NUL claims (signed),
# 2 a handshake.
claims = b'{"sub":"alice","exp":1900000000,"iat":1700000000,"topics":["room:1","news*"]}'
write("jwt", [
    b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(claims) + b".c2ln\x00",
    b64(b'{"alg":"none"}') + b"." + b64(claims) + b".\x00",
    b64(b'{"alg":"RS256","kid":"k1"}') + b"." + b64(claims) + b".c2ln\x00",
    b'{"alg":"HS256"}\x00' + claims + b"\x01",
    b'{"alg":"HS256"}\x00{"sub":"bob","nbf":1.5e9,"aud":["x"],"iss":"me"}\x01',
    b'{"alg":"HS256"}\x00{"sub":"","exp":"soon"}\x01',
    b"herald.token, abc.def.ghi" + b"\x20" + b"Bearer x.y.z" + b"\x20" + b"\x02",
])
