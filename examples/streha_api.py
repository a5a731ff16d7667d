#!/usr/bin/env python3
"""Streha from a case-management system, in Python, with the standard library only.

Registers a subject at the sending agency's Streha application service, records the
subject's consent, sends a psychological assessment (and a scanned page, as bytes) to
another agency, waits for the signed receipt, and opens the record at the receiving
agency's service. Every call is plain HTTP/JSON (`spec/openapi.json`); the services hold the
agencies' keys and seal end to end, so this script never touches a key.

Configuration (environment):

    STREHA_SENDER_URL       e.g. http://127.0.0.1:8480   (`streha api serve` of the sender)
    STREHA_SENDER_TOKEN     a caller token with the scopes subjects, consent, disclose, delivery
    STREHA_RECEIVER_URL     e.g. http://127.0.0.1:8481   (`streha api serve` of the recipient)
    STREHA_RECEIVER_TOKEN   a caller token with the scopes inbox, inbox:open
    STREHA_RECIPIENT        the recipient agency's id, e.g. shelter-prishtina

Tokens come from `streha api token add --name NAME --scope SCOPE ...`. Exit status 0 when the
record was opened at the other agency, 1 otherwise (the service's JSON error is printed).
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid


class StrehaError(Exception):
    """An error answer of the service: `code` is stable, `body` is its JSON."""

    def __init__(self, status, body):
        self.status = status
        self.body = body
        self.code = body.get("code", "unknown")
        super().__init__(f"HTTP {status} {self.code}: {body.get('message', '')}")


def call(base_url, token, method, path, body=None, headers=None):
    """One request; returns the decoded JSON answer, or raises StrehaError."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(base_url + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        try:
            payload = json.loads(error.read().decode("utf-8"))
        except ValueError:
            payload = {"code": "not_json", "message": str(error)}
        raise StrehaError(error.code, payload) from None


def main():
    sender_url = os.environ["STREHA_SENDER_URL"].rstrip("/")
    sender_token = os.environ["STREHA_SENDER_TOKEN"]
    receiver_url = os.environ["STREHA_RECEIVER_URL"].rstrip("/")
    receiver_token = os.environ["STREHA_RECEIVER_TOKEN"]
    recipient = os.environ["STREHA_RECIPIENT"]
    now_ms = int(time.time() * 1000)

    # 1. A subject under a fresh pseudonymous id (never a name).
    subject = call(sender_url, sender_token, "POST", "/v1/subjects", {"age_status": "adult"})
    print("registered subject", subject["subject"], "at log index", subject["log_index"])

    # 2. The subject's consent to psychological information going to the recipient, for
    #    assistance, for 90 days (Art. 18.3). The evidence hash is BLAKE3 of the signed form
    #    the agency keeps; a placeholder here.
    consent = call(sender_url, sender_token, "POST", "/v1/consents", {
        "subject": subject["subject"],
        "granted_by": "subject",
        "recipients": ["agency:" + recipient],
        "categories": ["psychological"],
        "purposes": ["assistance"],
        "expires_at": now_ms + 90 * 24 * 3600 * 1000,
        "evidence_blake3": "00" * 32,
        "recorded_by": "intake-officer-7",
    })
    print("recorded consent", consent["consent"])

    # 3. The record, sealed by the service to the recipient; an idempotency key makes a
    #    retry after a timeout safe: the same answer, never a second disclosure.
    scan = b"%PDF-1.4 (a scanned page)"
    disclosure = {
        "subject": subject["subject"],
        "recipient": recipient,
        "purpose": "assistance",
        "consent": consent["consent"],
        "fields": [
            {"category": "psychological", "name": "assessment",
             "text": "needs trauma counselling"},
            {"category": "psychological", "name": "scan",
             "base64": base64.b64encode(scan).decode("ascii")},
        ],
        "wait_ms": 30000,
    }
    key = str(uuid.uuid4())
    try:
        sent = call(sender_url, sender_token, "POST", "/v1/disclosures", disclosure,
                    {"Idempotency-Key": key})
    except StrehaError as error:
        if error.code == "policy_refused":
            print("refused:", error.body["reason"], error.body["article"],
                  "logged at", error.body["log_index"])
        raise
    print("disclosed envelope", sent["envelope"], "at log index", sent["log_index"],
          "delivery:", sent.get("delivery", {}).get("state"))

    # 4. At the other agency: the inbox (headers only), then the record itself.
    for _ in range(60):
        inbox = call(receiver_url, receiver_token, "GET", "/v1/inbox?limit=50")
        if any(item["envelope"] == sent["envelope"] for item in inbox["items"]):
            break
        time.sleep(0.5)
    else:
        print("the record did not arrive", file=sys.stderr)
        return 1
    record = call(receiver_url, receiver_token, "GET", "/v1/inbox/" + sent["envelope"])
    fields = {field["name"]: field for field in record["fields"]}
    assert fields["assessment"]["text"] == "needs trauma counselling"
    assert base64.b64decode(fields["scan"]["base64"]) == scan
    print("opened at", recipient + ":", record["categories"], "from", record["sender"],
          "about", record["subject"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StrehaError as error:
        print(json.dumps(error.body), file=sys.stderr)
        sys.exit(1)
