"""test_swift_net.py: Examples/netecho's options and the shared net ring, answering `ping` on hvt.

The network conformance tests (Solo5 net, net_2if, net_mtu, jumbo frames)
run on every target in test_conformance.py. Root only: every test gets its
own network namespace (conftest `netns`) holding tap0 = 10.77.0.1/24; the
monitor and ping run inside it, never on the host's interfaces. Needs `ip`
(iproute2) and `ping` (iputils-ping); nothing is installed at test time.
SKIFF_E2E_PINGS sets the flood size of test_net_ring (half of it; default
2000).
"""

from __future__ import annotations

import os
import signal

import pytest

import helpers
from helpers import expect_all_replies, expect_monitor_error, expect_success, ping

pytestmark = [pytest.mark.kvm, pytest.mark.root, pytest.mark.swift]

PINGS = int(os.environ.get("SKIFF_E2E_PINGS", "2000"))


@pytest.fixture(autouse=True)
def _ping_available():
    why = helpers.ping_missing()
    if why:
        pytest.skip("NO PING: " + why)


@pytest.fixture
def taps(netns):
    netns.add_tap("tap0", "10.77.0.1/24")
    return netns


def argv(skiff, image, *args) -> list[str]:
    return [str(skiff), "run", "--mem=64", "--net:service0=tap0", "--", str(image), *args]


def test_netecho_payload_integrity(skiff, example, taps):
    """Like Solo5's net_ring test: payloads with a pattern come back unchanged (ping checks each byte)."""
    pr, r = helpers.ping_session(taps, argv(skiff, example("netecho"), "limit=50"), ["tap0"], "10.77.0.2",
                                 "-i", "0.002", "-p", "deadbeef", "-s", "1400", count=50)
    expect_all_replies(pr, 50)
    expect_success(r)


def test_netecho_custom_address(skiff, example, taps):
    pr, r = helpers.ping_session(taps, argv(skiff, example("netecho"), "10.77.0.9", "limit=3"), ["tap0"],
                                 "10.77.0.9", "-i", "0.05", count=3)
    expect_all_replies(pr, 3)
    expect_success(r)
    assert "service0 is 10.77.0.9" in r.out, r.describe()


def test_netecho_ignores_other_addresses(skiff, example, taps):
    p = helpers.start_guest(taps, argv(skiff, example("netecho")), ["tap0"])
    try:
        pr = ping(taps, "10.77.0.3", "-W", "1", count=2)
        ok = ping(taps, "10.77.0.2", "-i", "0.05", count=2)
    finally:
        p.send_signal(signal.SIGTERM)
        r = helpers.finish(p, timeout=30)
    assert pr.returncode != 0 and " 0 received" in pr.out, "an address netecho does not own answered:\n" + pr.describe()
    expect_all_replies(ok, 2)
    expect_monitor_error(r, "Exiting on signal 15")


def test_netecho_without_limit_runs_until_signal(skiff, example, taps):
    p = helpers.start_guest(taps, argv(skiff, example("netecho")), ["tap0"])
    try:
        pr = ping(taps, "10.77.0.2", "-i", "0.05", count=3)
        assert p.poll() is None, "netecho exited without a limit"
        p.send_signal(signal.SIGINT)
        r = helpers.finish(p, timeout=30)
    finally:
        helpers.stop(p)
    expect_all_replies(pr, 3)
    expect_monitor_error(r, "Exiting on signal 2")


def test_net_ring(skiff, swift_guest, taps):
    """Solo5 "net_ring hvt": the responder moves every frame through the shared ring; payloads with the
    deadbeef pattern must come back intact (ping checks every byte)."""
    n = max(100, PINGS // 2)
    pr, r = helpers.ping_session(taps, argv(skiff, swift_guest("net"), "ring", f"limit={n}"), ["tap0"], "10.77.0.2",
                                 "-f", "-q", "-p", "deadbeef", "-s", "1000", count=n, deadline=120)
    expect_all_replies(pr, n)
    expect_success(r)
    assert "frames go through the shared ring" in r.out, r.describe()
