"""test_swift_guests.py: hvt-only checks of the Embedded Swift guests of Tests/guests.

The conformance tests proper (hello, quiet, output, globals, exception,
zeropage, xnow, nxdata, ssp, fpu, time, blk, mft_maxdevices, traps, stack
overflow) run on every target in test_conformance.py. Here: what only the
hvt image format and runtime show. Built with `skiff build` (skipped,
loudly, while it is unavailable).
"""

from __future__ import annotations

import os

import pytest

import helpers
from helpers import expect_abort

pytestmark = [pytest.mark.kvm, pytest.mark.swift]


def test_image_does_not_run_on_the_host(swift_guest):
    """Solo5's "noexec host": the image's PT_INTERP names a nonexistent interpreter, so the host
    kernel refuses to exec it (the shell reports 127 and "No such file or directory")."""
    path = swift_guest("hello")
    os.chmod(path, 0o755)
    r = helpers.run(["/bin/sh", "-c", '"$0" Hello_Solo5', str(path)], timeout=30)
    assert r.returncode == 127, r.describe()
    assert "No such file or directory" in r.stderr or "not found" in r.stderr, r.describe()


@pytest.mark.xfail(strict=True, reason="runtime: the message of fatalError() is not printed (Embedded Swift -O "
                   "drops it); the abort line only says '#UD'")
def test_fatal_error_message_is_printed(run_skiff, swift_guest):
    r = run_skiff("--mem=16", swift_guest("trap"), "fatal")
    expect_abort(r)
    assert "fatalError called" in r.out, r.describe()
