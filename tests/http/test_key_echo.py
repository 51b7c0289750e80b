"""A server that echoes the API key into its answers never gets it into an error.

The hostile peer is an aiohttp.web server written here (not the emulator): it copies the
``x-gladia-key`` header it received into a field of the wrong type, at the top of a job
(parsed at once) or deep inside its ``result`` (parsed when first read), or into the fields of
an error body. Every error is then searched, chain and group members included, and so are the
log records: the key, or any 12 characters of it, must appear nowhere.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from gladia_async import (
    APIStatusError,
    GladiaError,
    GladiaSession,
    ResponseFormatError,
    RetryPolicy,
)

from ..hostile.raw_http import JOB_ID, KEY

pytestmark = pytest.mark.reliability

ONCE = RetryPolicy(attempts=1)


def _job(key: str) -> dict[str, Any]:
    return {
        "id": JOB_ID,
        "request_id": "G-1",
        "version": 2,
        "status": "done",
        "created_at": "2026-01-01T00:00:00Z",
        "kind": "pre-recorded",
        "file": None,
        "request_params": {"audio_url": "https://x/y.wav"},
        "result": None,
        "error_code": None,
        "custom_metadata": None,
    }


def _in_status(job: dict[str, Any], key: str) -> None:
    job["status"] = [key]


def _in_created_at(job: dict[str, Any], key: str) -> None:
    job["created_at"] = key


def _behind_padding(job: dict[str, Any], key: str) -> None:
    # Past the 60 characters a reason shows of a value: a cut key would escape a late scrub.
    job["created_at"] = "x" * 40 + key


def _in_result(job: dict[str, Any], key: str) -> None:
    job["result"] = {"metadata": {"audio_duration": key}}


def _behind_padding_in_result(job: dict[str, Any], key: str) -> None:
    job["result"] = {"metadata": {"audio_duration": "x" * 40 + key}}


def _render(exc: BaseException) -> str:
    """Everything ``exc`` can show: str, repr, traceback, its chain and group members."""
    seen = [repr(exc), str(exc), "".join(traceback.format_exception(exc))]
    todo: list[BaseException] = [exc]
    visited: set[int] = set()
    while todo:
        link = todo.pop()
        if id(link) in visited:
            continue
        visited.add(id(link))
        seen += [repr(link), str(link), repr(link.args), repr(getattr(link, "__dict__", {}))]
        todo += [e for e in (link.__cause__, link.__context__) if e is not None]
        todo += list(getattr(link, "exceptions", ()))
    return "\n".join(seen)


def assert_no_key(text: str) -> None:
    pieces = {KEY[i : i + 12] for i in range(len(KEY) - 11)}
    shown = [piece for piece in pieces if piece in text]
    assert not shown, f"the key shows: {shown}"


async def _serve(handler: Callable[[web.Request], Any]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def _job_answer(plant: Callable[[dict[str, Any], str], None]) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        job = _job(request.headers.get("x-gladia-key", ""))
        plant(job, request.headers.get("x-gladia-key", ""))
        if JOB_ID not in request.path:  # a listing page
            return web.json_response({"first": "", "current": "", "next": None, "items": [job]})
        return web.json_response(job)

    return handler


@pytest.mark.parametrize("plant", [_in_status, _in_created_at, _behind_padding])
async def test_a_key_echoed_into_a_field_parsed_at_once_is_scrubbed(
    plant: Callable[[dict[str, Any], str], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runner, url = await _serve(_job_answer(plant))
    try:
        async with GladiaSession(api_key=KEY, base_url=url, retry=ONCE) as gladia:
            with pytest.raises(GladiaError) as caught:
                await gladia.get(JOB_ID)
    finally:
        await runner.cleanup()
    assert isinstance(caught.value, ResponseFormatError), repr(caught.value)
    assert_no_key(_render(caught.value))
    assert_no_key(caplog.text)


@pytest.mark.parametrize("plant", [_in_result, _behind_padding_in_result])
@pytest.mark.parametrize("how", ["get", "listing"])
async def test_a_key_echoed_deep_in_a_result_is_scrubbed_when_it_is_read(
    plant: Callable[[dict[str, Any], str], None], how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runner, url = await _serve(_job_answer(plant))
    errors: list[BaseException] = []
    try:
        async with GladiaSession(api_key=KEY, base_url=url, retry=ONCE) as gladia:
            if how == "get":
                job = await gladia.get(JOB_ID)
            else:
                (job,) = [j async for j in gladia.iter_jobs(max_items=1)]
            for read in (lambda: job.result, lambda: repr(job)):
                with pytest.raises(GladiaError) as caught:
                    read()
                errors.append(caught.value)
    finally:
        await runner.cleanup()
    assert len(errors) == 2
    for error in errors:
        assert isinstance(error, ResponseFormatError), repr(error)
        assert "$.result" in str(error), "the error still names where the bad value is"
        assert_no_key(_render(error))
    assert_no_key(caplog.text)


async def test_a_key_echoed_into_every_field_of_an_error_body_is_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def handler(request: web.Request) -> web.Response:
        key = request.headers.get("x-gladia-key", "")
        body = {
            "message": f"bad key {key}",
            "request_id": key,
            "path": f"/v2/{key}",
            "validation_errors": [key, {"loc": [key], "msg": key}],
        }
        return web.json_response(body, status=400)

    runner, url = await _serve(handler)
    try:
        async with GladiaSession(api_key=KEY, base_url=url, retry=ONCE) as gladia:
            with pytest.raises(GladiaError) as caught:
                await gladia.get(JOB_ID)
    finally:
        await runner.cleanup()
    assert isinstance(caught.value, APIStatusError), repr(caught.value)
    assert caught.value.status == 400
    assert_no_key(_render(caught.value))
    assert_no_key(caplog.text)
