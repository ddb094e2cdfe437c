"""MongoDB's client-side encryption with krypton-gateway as its KMIP key manager, without a mongod.

libmongocrypt (the library every MongoDB driver embeds, from PyPI's pymongocrypt) drives its own
KMIP requests; this script only carries them: each request's bytes go over mutual TLS to the
gateway and the answer's bytes back, as a driver would. The key vault collection is a Python list.

Usage: mongocrypt.py HOST PORT CERT KEY CA MODE

MODE "default": libmongocrypt registers a 96-byte Secret Data, activates it and later Gets it.
MODE "delegated": it creates an AES-256 key at the server, activates it, and has the server
Encrypt and Decrypt the data key (AES-CBC, PKCS5 padding, a Random IV): the key never leaves.

Makes a data key, encrypts a value with it, then decrypts it with a fresh libmongocrypt (no key
cache, so the data key is opened through the gateway again). Prints one JSON object: the key
vault document's masterKey, the KMIP operations libmongocrypt asked for (by request count), and
whether the value came back.
"""

import json
import socket
import ssl
import sys

import bson
from bson.binary import STANDARD
from bson.codec_options import CodecOptions
from pymongocrypt.options import MongoCryptOptions
from pymongocrypt.synchronous.explicit_encrypter import ExplicitEncrypter
from pymongocrypt.synchronous.state_machine import MongoCryptCallback

OPTIONS = CodecOptions(uuid_representation=STANDARD)
# The longest a KMS exchange may take.
TIMEOUT_SECONDS = 15


class Relay(MongoCryptCallback):
    """Carries libmongocrypt's KMS requests to the gateway; keeps the key vault in memory."""

    def __init__(self, address, tls, vault):
        self.address, self.tls, self.vault = address, tls, vault
        self.requests = 0

    def kms_request(self, kms_context):
        self.requests += 1
        with socket.create_connection(self.address, timeout=TIMEOUT_SECONDS) as raw:
            with self.tls.wrap_socket(raw, server_hostname="localhost") as connection:
                connection.sendall(kms_context.message)
                while kms_context.bytes_needed > 0:
                    data = connection.recv(kms_context.bytes_needed)
                    if not data:
                        raise ConnectionError("the gateway closed the connection mid-answer")
                    kms_context.feed(data)

    def fetch_keys(self, filter):
        for document in self.vault:
            yield bson.encode(document, codec_options=OPTIONS)

    def insert_data_key(self, data_key):
        document = bson.decode(data_key, codec_options=OPTIONS)
        self.vault.append(document)
        return document["_id"]

    def bson_encode(self, doc):
        return bson.encode(doc, codec_options=OPTIONS)

    def collection_info(self, database, filter):
        raise NotImplementedError("explicit encryption reads no collection")

    def mark_command(self, database, cmd):
        raise NotImplementedError("explicit encryption marks no command")

    def close(self):
        pass


def encrypter(address, tls, vault):
    relay = Relay(address, tls, vault)
    providers = {"kmip": {"endpoint": "%s:%d" % address}}
    return relay, ExplicitEncrypter(relay, MongoCryptOptions(providers))


def main():
    host, port, cert, key, ca, mode = sys.argv[1:7]
    address = (host, int(port))
    tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    tls.load_cert_chain(cert, key)
    vault = []

    relay, first = encrypter(address, tls, vault)
    master_key = {"delegated": True} if mode == "delegated" else {}
    # The key vault document's _id, a UUID, as the bytes libmongocrypt takes.
    key_id = first.create_data_key("kmip", master_key=master_key).bytes
    made = relay.requests
    value = bson.encode({"v": "4111-1111-1111-1111"})
    encrypted = first.encrypt(value, "AEAD_AES_256_CBC_HMAC_SHA_512-Random", key_id=key_id)
    first.close()

    relay, second = encrypter(address, tls, vault)
    decrypted = bson.decode(second.decrypt(encrypted))
    second.close()
    print(json.dumps({
        "master_key": dict(vault[0]["masterKey"]),
        "requests_to_make_the_key": made,
        "requests_to_open_it_again": relay.requests,
        "value_back": decrypted["v"] == "4111-1111-1111-1111",
    }))


if __name__ == "__main__":
    main()
