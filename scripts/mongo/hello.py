#!/usr/bin/env python3
"""hello.py HOST PORT [COMMAND] - send one MongoDB command (default `hello`) to
the admin database over the wire protocol (OP_MSG) and print the reply as
JSON.  Exit 0 when the server answered ok: 1 (for `hello`, also
isWritablePrimary: true), 1 otherwise.

scripts/services.sh uses it as the readiness probe of the mongo service: a
server that only accepts TCP connections is not ready, one that answers hello
is.  Standard library only (no pymongo), so it works before scripts/deps.sh
installed the Python modules, with any python3.
"""
import json
import socket
import struct
import sys

OP_MSG = 2013


def bson_encode(doc):
    out = b""
    for k, v in doc.items():
        key = k.encode() + b"\0"
        if isinstance(v, bool):
            out += b"\x08" + key + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x10" + key + struct.pack("<i", v)
        elif isinstance(v, str):
            s = v.encode() + b"\0"
            out += b"\x02" + key + struct.pack("<i", len(s)) + s
        else:
            raise TypeError(f"cannot encode {type(v).__name__}")
    return struct.pack("<i", len(out) + 5) + out + b"\0"


def bson_decode(data, pos=0, array=False):
    """Decodes the document at data[pos:]; returns (value, end)."""
    (size,) = struct.unpack_from("<i", data, pos)
    end, pos, out = pos + size, pos + 4, {}
    while data[pos] != 0:
        t = data[pos]
        nul = data.index(b"\0", pos + 1)
        key, pos = data[pos + 1:nul].decode(), nul + 1
        if t == 0x01:
            (v,) = struct.unpack_from("<d", data, pos); pos += 8
        elif t == 0x02:
            (n,) = struct.unpack_from("<i", data, pos)
            v = data[pos + 4:pos + 3 + n].decode(); pos += 4 + n
        elif t in (0x03, 0x04):
            v, pos = bson_decode(data, pos, t == 0x04)
        elif t == 0x05:
            (n,) = struct.unpack_from("<i", data, pos)
            v = {"$binary": data[pos + 5:pos + 5 + n].hex()}; pos += 5 + n
        elif t == 0x07:
            v = {"$oid": data[pos:pos + 12].hex()}; pos += 12
        elif t == 0x08:
            v = data[pos] == 1; pos += 1
        elif t == 0x09:
            (ms,) = struct.unpack_from("<q", data, pos); v = {"$date": ms}; pos += 8
        elif t == 0x0A:
            v = None
        elif t == 0x10:
            (v,) = struct.unpack_from("<i", data, pos); pos += 4
        elif t == 0x11:
            i, ts = struct.unpack_from("<II", data, pos); v = {"$timestamp": {"t": ts, "i": i}}; pos += 8
        elif t == 0x12:
            (v,) = struct.unpack_from("<q", data, pos); pos += 8
        else:
            raise ValueError(f"BSON type 0x{t:02x} not supported (field {key!r})")
        out[key] = v
    return (list(out.values()) if array else out), end


def command(host, port, name, timeout=5.0):
    body = struct.pack("<I", 0) + b"\0" + bson_encode({name: 1, "$db": "admin"})
    msg = struct.pack("<iiii", 16 + len(body), 1, 0, OP_MSG) + body
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(msg)
        head = b""
        while len(head) < 16:
            chunk = s.recv(16 - len(head))
            if not chunk:
                raise ConnectionError("connection closed before a reply")
            head += chunk
        length, _, _, opcode = struct.unpack("<iiii", head)
        rest = b""
        while len(rest) < length - 16:
            chunk = s.recv(length - 16 - len(rest))
            if not chunk:
                raise ConnectionError("connection closed in the middle of a reply")
            rest += chunk
    if opcode != OP_MSG or rest[4] != 0:
        raise ValueError(f"unexpected reply (opcode {opcode})")
    return bson_decode(rest, 5)[0]


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    name = sys.argv[3] if len(sys.argv) == 4 else "hello"
    try:
        reply = command(sys.argv[1], int(sys.argv[2]), name)
    except (OSError, ValueError) as e:
        print(f"hello.py: {name} to {sys.argv[1]}:{sys.argv[2]} failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    ok = reply.get("ok") == 1
    if name == "hello":
        ok = ok and reply.get("isWritablePrimary") is True
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
