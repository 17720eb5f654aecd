"""Domain errors of the store, and the one place ``ClientError`` codes are translated.

Routes never see botocore exceptions: they see these, each with a sentence a
user can act on, and map them to status codes in ``api.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

#: Codes that mean "the store is busy": botocore already retried them (standard mode).
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
CONDITION_FAILED = "ConditionalCheckFailedException"
TABLE_MISSING = "ResourceNotFoundException"


class StoreError(Exception):
    """Base of every store error; ``str()`` is a sentence for the user."""


class NotFoundError(StoreError):
    pass


class ConflictError(StoreError):
    pass


class ConditionFailed(StoreError):
    """A conditional write lost: callers decide what that means (retry, 409, ...)."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached, is throttling after retries, or lacks a table."""


def translate_client_error(error: ClientError, *, action: str) -> StoreError:
    code = error.response.get("Error", {}).get("Code", "")
    if code == CONDITION_FAILED:
        return ConditionFailed(f"Could not {action}: a concurrent write got there first.")
    if code in THROTTLING_CODES:
        return StoreUnavailableError(
            f"Could not {action}: the store is throttling requests; try again shortly."
        )
    if code == TABLE_MISSING:
        return StoreUnavailableError(
            f"Could not {action}: a table is missing. Create the tables (they are created "
            "automatically at start-up on a local endpoint, by the infra stack on AWS)."
        )
    message = error.response.get("Error", {}).get("Message", "unknown error")
    return StoreError(f"Could not {action}: the store answered {code}: {message}.")


@contextmanager
def store_errors(action: str) -> Iterator[None]:
    """Translate botocore failures raised inside the block into domain errors."""
    try:
        yield
    except ClientError as error:
        raise translate_client_error(error, action=action) from error
    except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as error:
        raise StoreUnavailableError(
            f"Could not {action}: the DynamoDB store is unreachable."
        ) from error
    except ReadTimeoutError as error:
        raise StoreUnavailableError(
            f"Could not {action}: the DynamoDB store did not answer in time."
        ) from error
    except BotoCoreError as error:
        raise StoreUnavailableError(f"Could not {action}: {error}.") from error


class InvalidInputError(StoreError):
    """Input that is well-formed but refers to something that cannot be used (422)."""


class UpstreamError(StoreError):
    """A git remote refused or failed (a push, a fetch): 502 with git's words."""
