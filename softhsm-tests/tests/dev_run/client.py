"""An application of the dev run: PyKMIP's ProxyKmipClient through krypton-gateway.

Usage: client.py HOST PORT CERT KEY CA create
       client.py HOST PORT CERT KEY CA get UID

create makes an AES-256 key and gets it back; get fetches a key made earlier. Prints one JSON
object {"uid": ..., "key": hex}; a KMIP failure is printed as {"error": reason, "message": text}
with exit status 1.
"""

import json
import sys

from kmip.core import enums
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure


def main():
    host, port, cert, key, ca, action = sys.argv[1:7]
    client = ProxyKmipClient(hostname=host, port=int(port), cert=cert, key=key, ca=ca)
    with client:
        try:
            if action == "create":
                uid = client.create(enums.CryptographicAlgorithm.AES, 256)
            else:
                uid = sys.argv[7]
            material = client.get(uid).value
        except KmipOperationFailure as failure:
            print(json.dumps({"error": failure.reason.name, "message": failure.message}))
            sys.exit(1)
    print(json.dumps({"uid": uid, "key": material.hex()}))


if __name__ == "__main__":
    main()
