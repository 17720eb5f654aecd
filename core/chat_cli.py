"""``python -m core.chat tail RUN_ID`` / ``history RUN_ID`` / ``send RUN_ID TEXT``: the chat
from a terminal (``history`` reads the whole thread page by page, however long, and exits).

Apart from ``core.chat`` (the ``AgentChat`` client the dashboard also uses) so
the client module holds one responsibility; ``python -m core.chat`` still runs
this ``main``. Settings: ``OMAKASE_API_URL`` and ``OMAKASE_API_TOKEN``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import httpx

from core.agents import persona
from core.api_http import detail_of
from core.chat import AgentChat
from core.chat_state import new_client_id
from core.chat_wire import (
    CONNECT_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    SEND_MAX_ATTEMPTS,
    SendBackoff,
    retryable,
    validate_content,
)
from core.client import DEFAULT_PAGE_SIZE, ApiClient, ApiError, ApiUnavailable
from core.models import AgentMessage, MessageSender, MessageType
from core.settings import DEFAULT_API_URL, ClientSettings

EXIT_OK = 0
#: The service refused (4xx), or the stream stopped with an error.
EXIT_REFUSED = 1
#: Usage or configuration error (missing token).
EXIT_USAGE = 2
#: The service could not be reached (after retries).
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


def send_once(
    *, base_url: str, token: str, run_id: str, content: str, client_id: str | None = None
) -> AgentMessage:
    """POST one message synchronously with the sender's retry policy (same client id).

    Raises ``httpx.HTTPStatusError`` on a refusal and ``httpx.TransportError``
    when the service stays unreachable.
    """
    text = validate_content(content)
    message_id = client_id or new_client_id()
    backoff = SendBackoff()
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as http:
        for attempt in range(1, SEND_MAX_ATTEMPTS + 1):
            last = attempt == SEND_MAX_ATTEMPTS
            try:
                response = http.post(
                    f"/api/agent-runs/{run_id}/messages", json={"content": text, "id": message_id}
                )
            except httpx.TransportError:
                if last:
                    raise
            else:
                if response.status_code in (200, 201):
                    return AgentMessage.model_validate(response.json())
                if not retryable(response) or last:
                    raise httpx.HTTPStatusError(
                        detail_of(response), request=response.request, response=response
                    )
                backoff.honour(response)
            time.sleep(backoff.next_wait())
    raise AssertionError("unreachable")  # pragma: no cover


def format_line(message: AgentMessage) -> str:
    """One human-readable line per message for ``tail``."""
    when = message.timestamp[11:19]
    if message.type is MessageType.STATUS:
        return f"{when}  · {message.content}"
    if message.type is MessageType.ERROR:
        return f"{when}  ! {message.content}"
    if message.sender is MessageSender.USER:
        who = "you"
    else:
        who = f"{persona(message.role).name} ({message.role.value})" if message.role else "agent"
    receipt = f"  [{message.receipt.state.value}]" if message.receipt else ""
    return f"{when}  {who}: {message.content}{receipt}"


def _config() -> tuple[str, str] | None:
    settings = ClientSettings.from_env()
    token = settings.api_token.strip()
    if not token:
        print(
            "error: OMAKASE_API_TOKEN is not set: export the API's operator token "
            "(or an agent's run token).",
            file=sys.stderr,
        )
        return None
    return settings.api_url.strip() or DEFAULT_API_URL, token


def _tail(run_id: str, *, as_json: bool) -> int:
    config = _config()
    if config is None:
        return EXIT_USAGE
    base_url, token = config
    printed: set[str] = set()
    with AgentChat(run_id, base_url=base_url, token=token) as chat:
        snap = chat.snapshot()
        reported_error: str | None = None
        while True:
            for message in snap.messages:
                if message.id in printed or message.id in snap.pending_ids:
                    continue
                printed.add(message.id)
                if as_json:
                    print(message.model_dump_json(by_alias=True), flush=True)
                else:
                    print(format_line(message), flush=True)
            if snap.ended:
                status = snap.end_status.value if snap.end_status else "ended"
                print(f"-- the run has ended ({status})", file=sys.stderr)
                return EXIT_OK
            if snap.stopped:
                print(f"error: {snap.error or 'the stream stopped'}", file=sys.stderr)
                return EXIT_REFUSED
            if snap.error and snap.error != reported_error:
                reported_error = snap.error  # transient (the stream reconnects): a warning
                print(f"warning: {snap.error}", file=sys.stderr, flush=True)
            snap = chat.wait_for_change(snap.version)


def _history(run_id: str, *, as_json: bool, page_size: int) -> int:
    """Every message of the thread, following the pages to the last one."""
    config = _config()
    if config is None:
        return EXIT_USAGE
    base_url, token = config
    with ApiClient(base_url, token) as client:
        try:
            for page in client.iter_messages(run_id, page_size=page_size):
                for message in page:
                    line = (
                        message.model_dump_json(by_alias=True) if as_json else format_line(message)
                    )
                    print(line, flush=True)
        except ApiUnavailable as error:
            print(f"error: {error.detail} (set OMAKASE_API_URL)", file=sys.stderr)
            return EXIT_UNREACHABLE
        except ApiError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_REFUSED
    return EXIT_OK


def _send(run_id: str, text: str, *, client_id: str | None, as_json: bool) -> int:
    config = _config()
    if config is None:
        return EXIT_USAGE
    base_url, token = config
    try:
        message = send_once(
            base_url=base_url, token=token, run_id=run_id, content=text, client_id=client_id
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except httpx.HTTPStatusError as error:
        print(f"error: {error.response.status_code}: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except httpx.TransportError as error:
        print(
            f"error: could not reach the API at {base_url} ({error.__class__.__name__}); "
            "is it running? (set OMAKASE_API_URL)",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    print(message.model_dump_json(by_alias=True) if as_json else format_line(message))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.chat",
        description=(
            "Chat with an Omakase agent run. Reads OMAKASE_API_URL (default "
            f"{DEFAULT_API_URL}) and OMAKASE_API_TOKEN."
        ),
        epilog="Exit codes: 0 ok, 1 refused by the service, 2 usage, 3 unreachable, 130 ^C.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    tail = commands.add_parser(
        "tail", help="print the thread, then new messages until the run ends"
    )
    tail.add_argument("run_id", metavar="RUN_ID")
    tail.add_argument("--json", action="store_true", help="one JSON message per line")
    history = commands.add_parser("history", help="print the whole thread (every page) and exit")
    history.add_argument("run_id", metavar="RUN_ID")
    history.add_argument("--json", action="store_true", help="one JSON message per line")
    history.add_argument(
        "--page-size", type=int, default=DEFAULT_PAGE_SIZE, help="messages per request"
    )
    send = commands.add_parser("send", help="send a message to the run's agent")
    send.add_argument("run_id", metavar="RUN_ID")
    send.add_argument("text", metavar="TEXT")
    send.add_argument("--id", dest="client_id", help="client message id (retries are idempotent)")
    send.add_argument("--json", action="store_true", help="print the stored message as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command == "tail":
            return _tail(args.run_id, as_json=args.json)
        if args.command == "history":
            return _history(args.run_id, as_json=args.json, page_size=args.page_size)
        return _send(args.run_id, args.text, client_id=args.client_id, as_json=args.json)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
