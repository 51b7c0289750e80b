"""Importing the SDK loads only what is used: names resolve on first use, the CLI's help does
not load the emulator or the live stack, the converter builds its code per type on first use."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import pytest

import gladia_async


def _modules_after(code: str) -> set[str]:
    """The ``gladia_async`` modules a fresh interpreter holds after running ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json, sys
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
                                ("gladia_async", "aiohttp", "cattrs"))))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_import_gladia_async_loads_no_capability() -> None:
    loaded = _modules_after("import gladia_async")
    assert loaded == {"gladia_async", "gladia_async._version"}


def test_session_import_leaves_batch_callbacks_and_live_unloaded() -> None:
    loaded = _modules_after("from gladia_async import GladiaSession, TranscriptionOptions")
    assert "gladia_async._session" in loaded
    # The session holds the account's admission window (`_batch.admission`), not the batch run.
    for unused in ("_batch.run", "_batch.journal", "_callbacks", "_live", "_schema.live_messages"):
        assert f"gladia_async.{unused}" not in loaded
    assert "gladia_async.testing" not in loaded


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_cli_help_and_version_load_neither_emulator_nor_live(argv: list[str]) -> None:
    loaded = _modules_after(
        f"""
        from gladia_async._cli.main import main
        try:
            main({argv!r})
        except SystemExit:
            pass
        """
    )
    assert "gladia_async._cli.main" in loaded
    assert not {m for m in loaded if m.startswith("gladia_async.testing")}
    assert "gladia_async._live.session" not in loaded
    assert "gladia_async._schema.live_messages" not in loaded


def test_converter_builds_structure_code_on_first_use() -> None:
    loaded = _modules_after(
        """
        import linecache
        from gladia_async._schema import converter as _converter, models as _models
        before = [k for k in linecache.cache if k.startswith("<gladia_async structure")]
        assert before == [], before
        _converter.structure({"id": "x", "result_url": "y"}, _models.JobCreated)
        after = [k for k in linecache.cache if k.startswith("<gladia_async structure")]
        assert after == ["<gladia_async structure JobCreated>"], after
        """
    )
    assert "gladia_async._schema.converter" in loaded  # the assertion inside ran (check=True)


def test_every_public_name_is_the_defining_modules_object() -> None:
    import importlib

    for name in gladia_async.__all__:
        value = getattr(gladia_async, name)
        if name == "__version__":
            continue
        module = importlib.import_module(gladia_async._LAZY[name])
        assert value is getattr(module, name), name
    assert set(gladia_async.__all__) <= set(dir(gladia_async))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        gladia_async.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_models_pickle_and_isinstance_through_the_lazy_face() -> None:
    import gladia_async.models
    from gladia_async._schema import models as _models

    options = gladia_async.TranscriptionOptions(diarization=True)
    assert isinstance(options, _models.TranscriptionOptions)
    again = pickle.loads(pickle.dumps(options))
    assert again == options and type(again) is _models.TranscriptionOptions
    assert gladia_async.TranscriptionOptions is gladia_async.models.TranscriptionOptions
