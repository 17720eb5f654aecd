"""Plain Python values <-> DynamoDB attribute values (the low-level client's format).

We use the low-level client (not the resource API) for speed and for the
injectable-client pattern; numbers come back as ``Decimal`` and are turned
into ``int``/``float`` here so models never see ``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dynamo_ready(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_dynamo_ready(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Serialize a dict, leaving out ``None`` values (absent attribute = null)."""
    return {
        key: _serializer.serialize(_dynamo_ready(value))
        for key, value in values.items()
        if value is not None
    }


def to_value(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = dict(_serializer.serialize(_dynamo_ready(value)))
    return serialized


def from_item(item: dict[str, Any]) -> Item:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}
