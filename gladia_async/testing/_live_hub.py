"""The live hub: ``POST /v2/live``, ``PATCH /v2/live/{id}`` and the WebSocket's admission.

See :mod:`gladia_async.testing._live` for the behaviour; the conversation itself is
:class:`~._live_socket.LiveSockets`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .._schema.live_messages import MAX_FRAME_BYTES
from ._http import ApiError, json_response, lookup_job, read_json
from ._live import REGIONS, LiveFaults, LiveSessionState
from ._live_socket import LiveSockets
from ._state import Account, Job, iso
from ._validation import fill_defaults, rule_errors, validate

__all__ = ["LIVE_ALWAYS", "LiveHub"]

LIVE_ALWAYS = frozenset(
    {
        "language_config",
        "pre_processing",
        "realtime_processing",
        "post_processing",
        "messages_config",
    }
)


class LiveHub(LiveSockets):
    """The emulator's live sessions and their routes."""

    def __init__(
        self,
        account: Account,
        *,
        keep_audio: bool,
        base_url: Callable[[web.Request], str],
        result: Callable[[Job], dict[str, Any]],
    ) -> None:
        self._account = account
        self._base_url = base_url
        self._result = result
        self.faults = LiveFaults()
        #: Keep the audio bytes (``storage="memory"``); otherwise only count and hash them.
        self.keep_audio = keep_audio
        self.utterance_seconds = 2.0
        self.sessions: dict[str, LiveSessionState] = {}
        #: Sockets currently open (a cancelled client must bring this back to 0).
        self.open_sockets = 0
        self._by_token: dict[str, LiveSessionState] = {}

    # ---------------------------------------------------------------- routes
    async def create(self, request: web.Request) -> web.StreamResponse:
        """``POST /v2/live``."""
        region = request.query.get("region")
        if region is not None and region not in REGIONS:
            raise ApiError(
                400,
                "Validation failed",
                [f'Field "region" must be one of the following values: {", ".join(REGIONS)}'],
            )
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Validation failed", ["Request body must be a JSON object"])
        given = dict(body)
        meta = given.pop("custom_metadata", None)
        errors = validate("StreamingRequestParamsResponse", given)
        if meta is not None and not isinstance(meta, dict):
            errors.append('Field "custom_metadata" must be an object')
        errors = errors or rule_errors("StreamingRequest", given)
        if errors:
            raise ApiError(400, "Validation failed", errors)
        params = fill_defaults("StreamingRequestParamsResponse", given, always=LIVE_ALWAYS)
        account = self._account
        now_clock = account.clock()
        created = account.now()
        bps = params["sample_rate"] * (params["bit_depth"] // 8) * params["channels"]
        job = Job(
            id=str(uuid.uuid4()),
            seq=account.next_seq(),
            kind="live",
            created_at=created,
            created_ts=created.timestamp(),
            created_clock=now_clock,
            queued_until=now_clock,
            ready_at=now_clock,
            request_params=params,
            file=None,
            custom_metadata=meta,
            audio_duration=0.0,
            channels=int(params["channels"]),
            fixed_status="queued",
        )
        account.add_job(job)
        token = secrets.token_urlsafe(24)
        state = LiveSessionState(
            id=job.id, token=token, job=job, params=params, bytes_per_second=float(bps)
        )
        self.sessions[job.id] = state
        self._by_token[token] = state
        base = self._base_url(request)
        ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
        return json_response(
            {"id": job.id, "created_at": iso(created), "url": f"{ws_base}/v2/live?token={token}"},
            status=201,
        )

    async def patch(self, request: web.Request) -> web.StreamResponse:
        """``PATCH /v2/live/{id}``: the spec's body has no properties; 204."""
        lookup_job(self._account.jobs, request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Validation failed", ["Request body must be a JSON object"])
        return web.Response(status=204)

    def list_or_socket(
        self, list_jobs: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """``GET /v2/live``: the WebSocket when it is an upgrade with a token, else the list."""

        async def handler(request: web.Request) -> web.StreamResponse:
            if self.is_socket_request(request):
                return await self.socket(request)
            return await list_jobs(request)

        return handler

    def is_socket_request(self, request: web.Request) -> bool:
        """True for the WebSocket upgrade on ``/v2/live?token=...`` (authorised by token)."""
        return (
            request.method == "GET"
            and "token" in request.query
            and request.headers.get("Upgrade", "").lower() == "websocket"
        )

    async def socket(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/live?token=...`` with an upgrade: the live WebSocket."""
        state = self._by_token.get(request.query.get("token", ""))
        if state is None or state.id not in self.sessions:
            raise ApiError(401, "invalid or expired live session token")
        if state.ended:
            raise ApiError(410, "this live session has ended")
        # The 512 KiB limit is checked exactly below; aiohttp's own cap is only a safety net.
        ws = web.WebSocketResponse(max_msg_size=4 * MAX_FRAME_BYTES, autoping=True)
        await ws.prepare(request)
        state.connections += 1
        self.open_sockets += 1
        try:
            if state.connections == 1:
                state.job.fixed_status = "processing"
                self._account.job_changed()
                await self._lifecycle(ws, state, "start_session")
                await self._lifecycle(ws, state, "start_recording")
            await self._serve(request, ws, state)
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-send: nothing to clean up but the socket
        finally:
            self.open_sockets -= 1
        transport = request.transport
        if not ws.closed and transport is not None and not transport.is_closing():
            await ws.close()
        return ws
