"""Drives krypton-gateway with PyKMIP's ProxyKmipClient, as an application would.

Usage: client.py SCENARIO HOST PORT CERT KEY CA VERSION [KEY_ID...]

Runs one scenario with the given client certificate and KMIP version, and prints one JSON
object: for each step, {"ok": result} or {"error": result reason name, "message": text}.
The Rust test decides what is right; this script only reports what happened.
"""

import json
import sys

from kmip.core import enums
from kmip.core.enums import KMIPVersion
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure


def step(results, name, call):
    try:
        results[name] = {"ok": call()}
    except KmipOperationFailure as failure:
        results[name] = {"error": failure.reason.name, "message": failure.message}


def attribute_values(client, uid, names):
    _, attributes = client.get_attributes(uid, names)
    values = {}
    for attribute in attributes:
        value = attribute.attribute_value
        value = getattr(value, "value", value)
        values[attribute.attribute_name.value] = getattr(value, "name", str(value))
    return values


def state(client, uid):
    return attribute_values(client, uid, ["State"])["State"]


def lifecycle(client, keys):
    """Every local operation on keys created Pre-Active: pre, active, spare, compromised."""
    pre, active, spare, compromised = keys
    results = {}
    step(results, "state_pre", lambda: state(client, pre))
    step(results, "activate_pre", lambda: client.activate(pre))
    step(results, "state_after_activate", lambda: state(client, pre))
    step(results, "activate_again", lambda: client.activate(pre))
    step(results, "destroy_active", lambda: client.destroy(active))
    step(results, "revoke_active", lambda: client.revoke(
        enums.RevocationReasonCode.CESSATION_OF_OPERATION, active))
    step(results, "state_after_revoke", lambda: state(client, active))
    step(results, "destroy_deactivated", lambda: client.destroy(active))
    step(results, "state_after_destroy", lambda: state(client, active))
    step(results, "get_destroyed", lambda: client.get(active))
    step(results, "revoke_compromise", lambda: client.revoke(
        enums.RevocationReasonCode.KEY_COMPROMISE, compromised,
        revocation_message="leaked", compromise_occurrence_date=1700000000))
    step(results, "state_after_compromise", lambda: state(client, compromised))
    step(results, "get_compromised", lambda: client.get(compromised))
    step(results, "attribute_list", lambda: sorted(client.get_attribute_list(spare)))
    step(results, "names", lambda: attribute_values(client, spare, ["Name"]))
    step(results, "get_missing", lambda: client.get("no-such-key"))
    step(results, "get_fails_closed", lambda: client.get(pre))
    step(results, "create_fails_closed", lambda: client.create(
        enums.CryptographicAlgorithm.AES, 256, name="new-key",
        cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                  enums.CryptographicUsageMask.DECRYPT]))
    attributes = AttributeFactory()
    step(results, "locate_by_name_fails_closed", lambda: client.locate(attributes=[
        attributes.create_attribute(enums.AttributeType.NAME, "name of " + spare)]))
    step(results, "locate_by_state_fails_closed", lambda: client.locate(attributes=[
        attributes.create_attribute(enums.AttributeType.STATE, enums.State.PRE_ACTIVE)]))
    step(results, "query", lambda: [op.name for op in client.proxy.query(
        query_functions=[enums.QueryFunction.QUERY_OPERATIONS]).operations])
    return results


def states(client, keys):
    """The state of each key."""
    results = {}
    for uid in keys:
        step(results, uid, lambda uid=uid: state(client, uid))
    return results


def probe(client, keys):
    """What another identity learns about keys: Get and Get Attributes of each."""
    results = {}
    for uid in keys:
        step(results, "get " + uid, lambda uid=uid: client.get(uid))
        step(results, "attributes " + uid, lambda uid=uid: state(client, uid))
        step(results, "destroy " + uid, lambda uid=uid: client.destroy(uid))
    return results


def discover(client, _keys):
    results = {}
    step(results, "versions", lambda: [
        "%d.%d" % (v.major, v.minor)
        for v in client.proxy.discover_versions().protocol_versions])
    return results


SCENARIOS = {
    "lifecycle": lifecycle,
    "states": states,
    "probe": probe,
    "discover": discover,
}


def main():
    scenario, host, port, cert, key, ca, version = sys.argv[1:8]
    keys = sys.argv[8:]
    kmip_version = getattr(KMIPVersion, "KMIP_" + version.replace(".", "_"))
    client = ProxyKmipClient(hostname=host, port=int(port), cert=cert, key=key,
                             ca=ca, kmip_version=kmip_version)
    client.open()
    try:
        results = SCENARIOS[scenario](client, keys)
    finally:
        client.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
