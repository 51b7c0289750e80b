"""The official SDK (``gladiaio-sdk``), when installed: its async pre-recorded client."""

from __future__ import annotations

from typing import Any

__all__ = ["NOT_INSTALLED", "available", "close", "make_client"]

NOT_INSTALLED = "not installed (pip install --no-deps gladiaio-sdk==2.2.1, see README)"


def available() -> bool:
    try:
        import gladiaio_sdk  # noqa: F401
    except ImportError:
        return False
    return True


def make_client(base_url: str, api_key: str) -> Any:
    """``GladiaClient(...).pre_recorded_v2_async()`` pointed at ``base_url`` (the emulator)."""
    from gladiaio_sdk import GladiaClient

    return GladiaClient(api_key=api_key, api_url=base_url).pre_recorded_v2_async()


async def close(client: Any) -> None:
    """The async client has no public close(): close its httpx pool directly."""
    await client._http_client.close()
