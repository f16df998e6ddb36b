"""Server-side verification of Huawei Cloud ``SDK-HMAC-SHA256`` request signatures.

This module is pure: it turns what arrived on the wire into the canonical request the
client signed and checks the signature.  It deliberately mirrors
``huaweicloudsdkcore.signer.signer.Signer`` (3.1.219), which is the reference for every
detail below; where it differs from the written contract (section 5.2) a comment says so.

Header values passed in must be the text the client signed.  The Python SDK signs the
Unicode value and then transmits its UTF-8 bytes, so a caller whose server decodes header
bytes as latin-1 (ASGI/Starlette do) must re-decode non-ASCII values as UTF-8 first.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

SDK_DATE_HEADER = "x-sdk-date"
CONTENT_SHA256_HEADER = "x-sdk-content-sha256"
# The SDK sends this as the payload hash for any Content-Type other than JSON/BSON.
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# fullmatch rather than the contract's ``^...$``: ``$`` also matches before a trailing
# newline, which would let "...Signature=<hex>\n" through.
_AUTHORIZATION_RE = re.compile(
    r"SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]+)"
)
# strptime alone is lenient (e.g. accepts one-digit months), and a lenient parse would
# make the date in the string to sign differ from the header the client sent.
_SDK_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")


class SignatureError(Exception):
    """A signature-related header is malformed; the message never contains secrets."""


@dataclass(frozen=True)
class Authorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization:
    """Parse an ``Authorization: SDK-HMAC-SHA256 Access=..., ...`` header value."""
    # The value is never echoed: a client might have put a bearer token or similar here.
    if not value.startswith(ALGORITHM + " "):
        raise SignatureError(f"Authorization scheme is not {ALGORITHM}")
    match = _AUTHORIZATION_RE.fullmatch(value)
    if match is None:
        raise SignatureError(
            f"Authorization must be '{ALGORITHM} Access=<AK>, "
            "SignedHeaders=<h1;h2;...>, Signature=<lower-case hex>'"
        )
    access_key, signed_headers, signature = match.groups()
    names = tuple(signed_headers.split(";"))
    if "" in names:
        raise SignatureError("SignedHeaders contains an empty header name")
    return Authorization(access_key=access_key, signed_headers=names, signature=signature)


def parse_sdk_date(value: str) -> datetime:
    """Parse an ``X-Sdk-Date`` value (always UTC) into an aware datetime."""
    if _SDK_DATE_RE.fullmatch(value) is None:
        raise SignatureError("X-Sdk-Date must have the form YYYYMMDDTHHMMSSZ")
    try:
        # The regular expression has checked the form: the fields are digits at fixed places
        # (strptime, which would check it again, costs a third of a signature check).
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        raise SignatureError("X-Sdk-Date is not a valid date and time") from None


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """Build the canonical request the client signed.

    ``raw_path`` and ``raw_query`` are exactly as sent on the wire (still percent-encoded,
    query without ``?``); ``headers`` maps lower-case names to the values received.
    Raises SignatureError if a signed header is absent.
    """
    return "\n".join(
        (
            method.upper(),
            _canonical_uri(raw_path),
            _canonical_query(raw_query),
            _canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            _payload_hash(headers, body),
        )
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{_sha256_hex(_utf8(canonical))}"


def sign(secret_key: str, string_to_sign: str) -> str:
    return hmac.new(_utf8(secret_key), _utf8(string_to_sign), hashlib.sha256).hexdigest()


def verify_signature(
    auth: Authorization,
    secret_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> bool:
    """Return True iff ``auth.signature`` is the client's signature over this request."""
    if not _declared_payload_hash_is_honest(headers, body):
        return False
    try:
        sdk_date = _sdk_date_to_sign(headers)
        canonical = canonical_request(
            method, raw_path, raw_query, headers, auth.signed_headers, body
        )
    except SignatureError:
        return False
    expected = sign(secret_key, string_to_sign(sdk_date, canonical))
    # Compared as bytes: compare_digest rejects non-ASCII str instead of returning False.
    return hmac.compare_digest(expected.encode("ascii"), _utf8(auth.signature))


def _encode(component: str) -> str:
    # Only RFC 3986 unreserved characters stay literal; this is the SDK's _url_encode.
    return quote(component, safe="~")


# A polling client sends the same few paths over and over; the result depends on the path alone.
@functools.lru_cache(maxsize=4096)
def _canonical_uri(raw_path: str) -> str:
    # The SDK decodes the whole path before splitting, so an encoded "%2F" inside a path
    # parameter becomes a segment boundary; doing the same keeps us byte-compatible.
    segments = unquote(raw_path).split("/")
    path = "/".join(_encode(segment) for segment in segments)
    return path if path.endswith("/") else path + "/"


def _canonical_query(raw_query: str) -> str:
    # The SDK sorts the decoded (key, value) pairs and then encodes them, so sorting must
    # happen on decoded text: encoded order differs (e.g. "%C3%A9" sorts before "~").
    # Repeated keys / list values are simply one pair per value, sorted by value.
    pairs = sorted(_decode_pair(piece) for piece in raw_query.split("&") if piece)
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)


def _decode_pair(piece: str) -> tuple[str, str]:
    # A bare "k" means an empty value, as the SDK would have signed it as "k=".
    # "+" is kept literal (RFC 3986), not read as a space: the SDK always sends "%20"
    # and "%2B", so form-style decoding could only turn valid signatures invalid.
    key, _, value = piece.partition("=")
    return unquote(key), unquote(value)


def _canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    lines = []
    for name in signed_headers:
        value = headers.get(name)
        if value is None:
            raise SignatureError(f"signed header {name!r} is missing from the request")
        lines.append(f"{name}:{value.strip()}\n")
    return "".join(lines)


def _payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    # SDK rule (Signer._process_hash_payload): an empty body always hashes as empty, even
    # with X-Sdk-Content-Sha256 present; otherwise a non-empty header value is used
    # verbatim (after the SDK has stripped it), whether or not the header is signed.
    if not body:
        return _EMPTY_PAYLOAD_HASH
    declared = headers.get(CONTENT_SHA256_HEADER, "").strip()
    return declared or _sha256_hex(body)


_EMPTY_PAYLOAD_HASH = hashlib.sha256(b"").hexdigest()


def _declared_payload_hash_is_honest(headers: Mapping[str, str], body: bytes) -> bool:
    # Stricter than the SDK, which trusts the header: a declared hash that does not match
    # the body would let a body be swapped under a valid signature.  UNSIGNED-PAYLOAD is
    # still accepted because the SDK sends it for non-JSON bodies; callers that need an
    # authenticated body should refuse it.
    declared = headers.get(CONTENT_SHA256_HEADER, "").strip()
    if not body or not declared or declared == UNSIGNED_PAYLOAD:
        return True
    return declared.lower() == _sha256_hex(body)


def _sdk_date_to_sign(headers: Mapping[str, str]) -> str:
    # The SDK puts strftime(strptime(header)) in the string to sign; parse_sdk_date only
    # accepts fixed-width values, for which that round trip is the identity.
    value = headers.get(SDK_DATE_HEADER)
    if value is None:
        raise SignatureError("X-Sdk-Date header is missing")
    value = value.strip()
    parse_sdk_date(value)
    return value


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utf8(text: str) -> bytes:
    # surrogatepass: text the SDK could never have signed (lone surrogates from a lenient
    # decoder) must simply fail to verify rather than raise.
    return text.encode("utf-8", "surrogatepass")
