#!/usr/bin/env python3
"""Independent Noise peer for Lattice's interop tests (PyPI noiseprotocol==0.3.1).

Runs Noise_XXpsk0_25519_ChaChaPoly_SHA256 over TCP with 2-byte big-endian length framing, as
initiator (connects to --port) or responder (listens on 127.0.0.1:0 and prints "PORT <n>").
After the handshake both sides exchange transport messages; every --rekey-every messages per
direction each side calls Noise Rekey() (the Swift side does the same automatically).
Prints one JSON line with the results, then exits 0; any error exits 1 with a message on stderr.
"""
import argparse
import json
import socket
import struct
import sys

from noise.connection import Keypair, NoiseConnection

NAME = b"Noise_XXpsk0_25519_ChaChaPoly_SHA256"


def send_frame(sock, body):
    sock.sendall(struct.pack(">H", len(body)) + bytes(body))


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def recv_frame(sock):
    (length,) = struct.unpack(">H", recv_exact(sock, 2))
    return recv_exact(sock, length)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["initiator", "responder"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--psk", required=True)
    parser.add_argument("--prologue", required=True)
    parser.add_argument("--static", required=True, help="hex X25519 private key")
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--rekey-every", type=int, default=4)
    args = parser.parse_args()

    noise = NoiseConnection.from_name(NAME)
    if args.role == "initiator":
        noise.set_as_initiator()
    else:
        noise.set_as_responder()
    noise.set_keypair_from_private_bytes(Keypair.STATIC, bytes.fromhex(args.static))
    noise.set_psks(psk=bytes.fromhex(args.psk))
    noise.set_prologue(bytes.fromhex(args.prologue))

    if args.role == "initiator":
        sock = socket.create_connection(("127.0.0.1", args.port), timeout=20)
    else:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(20)
        print("PORT %d" % server.getsockname()[1], flush=True)
        sock, _ = server.accept()
        sock.settimeout(20)

    noise.start_handshake()
    received = []
    remote_static = None
    if args.role == "initiator":
        send_frame(sock, noise.write_message(b"py-initiator-msg1"))
        received.append(bytes(noise.read_message(recv_frame(sock))).decode())
        remote_static = noise.noise_protocol.handshake_state.rs.public_bytes.hex()
        send_frame(sock, noise.write_message(b"py-initiator-msg3"))
    else:
        received.append(bytes(noise.read_message(recv_frame(sock))).decode())
        send_frame(sock, noise.write_message(b"py-responder-msg2"))
        received.append(bytes(noise.read_message(recv_frame(sock))).decode())
        # noiseprotocol's responder drops the remote static key once the handshake completes.
    if not noise.handshake_finished:
        raise RuntimeError("handshake not finished")

    sent_count = 0
    recv_count = 0

    def send_transport(body):
        nonlocal sent_count
        send_frame(sock, noise.encrypt(body))
        sent_count += 1
        if args.rekey_every and sent_count % args.rekey_every == 0:
            noise.rekey_outbound_cipher()

    def recv_transport():
        nonlocal recv_count
        body = bytes(noise.decrypt(recv_frame(sock)))
        recv_count += 1
        if args.rekey_every and recv_count % args.rekey_every == 0:
            noise.rekey_inbound_cipher()
        return body

    transcript = []
    for i in range(args.messages):
        if args.role == "initiator":
            send_transport(b"ping %d" % i)
            reply = recv_transport()
        else:
            request = recv_transport()
            transcript.append(request.decode())
            send_transport(b"pong " + request)
            continue
        transcript.append(reply.decode())
    # One maximum-size transport message each way (65535 - 16 bytes of plaintext).
    big = bytes((i * 7) & 0xFF for i in range(65535 - 16))
    if args.role == "initiator":
        send_transport(big)
        big_ok = recv_transport() == big
    else:
        big_ok = recv_transport() == big
        send_transport(big)
    sock.close()
    print(json.dumps({
        "handshake_hash": noise.get_handshake_hash().hex(),
        "remote_static": remote_static,
        "payloads": received,
        "transcript": transcript,
        "big_ok": big_ok,
    }), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - report any failure to the Swift test
        print("noise_peer.py: %s: %s" % (type(error).__name__, error), file=sys.stderr)
        sys.exit(1)
