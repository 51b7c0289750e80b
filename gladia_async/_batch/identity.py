"""Who a source is, for the journal and the idempotency token.

:func:`source_identity` names a source by its absolute path plus size and modification time
(``st_mtime_ns``), or by its URL, plus a hash of the options. Its ``token`` is derived from all
of that (not random), so a rerun, even without the journal file, can find the jobs it created
through the ``custom_metadata`` token lookup. A file that changed since it was journalled has
another identity (another ``version``): the journal does not return the old entry.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import attrs
import orjson

from .._core.errors import InvalidInput
from .._http.uploads import is_url
from .._schema.converter import unstructure
from .._schema.models import TranscriptionOptions

__all__ = ["SourceIdentity", "check_identity", "options_hash", "options_json", "source_identity"]


@attrs.frozen(kw_only=True)
class SourceIdentity:
    """Who a source is, for the journal and the idempotency token.

    ``source`` names it (``file:<absolute path>``, ``url:<url>`` or ``bytes:<sha256>``),
    ``version`` tells one state of a file from another (size and ``st_mtime_ns``; empty for URLs
    and bytes), ``options_hash`` is the hash of the transcription options (and namespace).
    """

    source: str
    version: str
    options_hash: str
    #: Deterministic idempotency token for ``custom_metadata`` (32 hex characters).
    token: str

    @property
    def key(self) -> str:
        """The journal row this identity lives in: one per source and options, any version."""
        return f"{self.options_hash[:16]}:{self.source}"

    @property
    def display(self) -> str:
        """The source as a person would name it: the path or the URL."""
        return self.source.split(":", 1)[1]


def digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x00")
    return hasher.hexdigest()


def options_hash(options: TranscriptionOptions | None, namespace: str = "") -> str:
    """Return the hash of ``options`` (canonical JSON, unset fields left out) and ``namespace``."""
    body = unstructure(options) if options is not None else {}
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    return digest("options", canonical, namespace)


def options_json(options: TranscriptionOptions | None, namespace: str) -> str:
    """What ``journal_meta`` keeps of a set of options, to say later which fields changed."""
    body = unstructure(options) if options is not None else {}
    return orjson.dumps({"options": body, "namespace": namespace}).decode()


def source_identity(
    source: object,
    options: TranscriptionOptions | None = None,
    *,
    namespace: str = "",
) -> SourceIdentity:
    """Return the :class:`SourceIdentity` of a path, URL or ``bytes`` source with ``options``.

    A path is resolved to an absolute path and ``stat``-ed once (size and ``st_mtime_ns``); a
    URL is taken verbatim; ``bytes`` are hashed. ``namespace`` separates otherwise identical
    batches that must not share jobs (two runs with different namespaces never adopt each
    other's jobs). Streams and file objects have no stable identity: :class:`InvalidInput`.
    """
    if not isinstance(namespace, str):
        raise InvalidInput("namespace", f"expected a string, got {type(namespace).__name__}")
    if options is not None and not isinstance(options, TranscriptionOptions):
        raise InvalidInput(
            "options", f"expected TranscriptionOptions or None, got {type(options).__name__}"
        )
    version = ""
    if is_url(source):
        name = f"url:{source}"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        try:
            resolved = path.resolve()
            info = resolved.stat()
        except OSError as exc:
            raise InvalidInput("source", f"cannot stat {str(path)!r}: {exc.strerror}") from None
        except RuntimeError:  # a symlink loop, before Python 3.13
            raise InvalidInput("source", f"{str(path)!r} is a symlink loop") from None
        except ValueError as exc:  # an embedded NUL: no such path can exist
            raise InvalidInput("source", f"{str(path)!r} is not a usable path ({exc})") from None
        # A name that is not UTF-8 (bytes the file system allows) is kept escaped: the journal
        # stores text, and the escaped form still tells every such file from every other.
        name = "file:" + os.fsencode(resolved).decode("utf-8", "backslashreplace")
        version = f"size={info.st_size},mtime_ns={info.st_mtime_ns}"
    elif isinstance(source, (bytes, bytearray, memoryview)):
        name = f"bytes:{hashlib.sha256(source).hexdigest()}"
    else:
        raise InvalidInput(
            "source",
            f"a journal identifies paths, URLs and bytes; a {type(source).__name__} has no "
            "stable identity across runs",
        )
    opts = options_hash(options, namespace)
    token = digest("token", name, version, opts)[:32]
    return SourceIdentity(source=name, version=version, options_hash=opts, token=token)


def check_identity(identity: object) -> None:
    if not isinstance(identity, SourceIdentity):
        raise InvalidInput(
            "identity",
            f"expected the SourceIdentity from source_identity(), got {type(identity).__name__}",
        )
