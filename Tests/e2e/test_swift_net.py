"""test_swift_net.py: network conformance guests and Examples/netecho answering `ping` (Solo5 net, net_2if, net_mtu).

Root only: every test gets its own network namespace (conftest `netns`)
holding the taps (tap0 = 10.77.0.1/24, tap1 = 10.78.0.1/24); the monitor
and ping run inside it, never on the host's interfaces. Needs `ip`
(iproute2) and `ping` (iputils-ping); nothing is installed at test time.
SKIFF_E2E_PINGS sets the flood size of test_net (default 2000; Solo5 uses
100000).
"""

from __future__ import annotations

import os
import signal

import pytest

import helpers
from helpers import expect_monitor_error, expect_success

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


def start(skiff, ns, image, nets, *args):
    p = helpers.popen(ns.exec_argv([str(skiff), "run", "--mem=64",
                                    *(f"--net:service{i}={tap}" for i, tap in enumerate(nets)),
                                    "--", str(image), *args]))
    for tap in nets:
        ns.wait_carrier(tap, p)
    return p


# `-c N -W 5`, never `-w`: with a deadline ping keeps sending until N replies arrive, so a
# slow guest that exits after N answers would see an extra, unanswered request.
def ping(ns, ip, *options, count=5, deadline=60):
    return helpers.run(ns.exec_argv(["ping", "-n", "-c", str(count), "-W", "5", *options, ip]),
                       timeout=deadline + 30)


def ping_popen(ns, ip, *options, count=5):
    return helpers.popen(ns.exec_argv(["ping", "-n", "-c", str(count), "-W", "5", *options, ip]))


def expect_all_replies(r: helpers.Result, count: int):
    assert r.returncode == 0 and f"{count} received" in r.out and " 0% packet loss" in r.out, \
        "ping lost replies:\n" + r.describe()
    assert "wrong data" not in r.out and "DUP!" not in r.out, r.describe()


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_net(skiff, swift_guest, taps):
    """Solo5 "net hvt": flood ping; the guest exits with SUCCESS after answering all of them."""
    p = start(skiff, taps, swift_guest("net"), ["tap0"], f"limit={PINGS}")
    try:
        pr = ping(taps, "10.77.0.2", "-f", "-q", count=PINGS, deadline=120)
        r = helpers.finish(p, timeout=30)
    finally:
        stop(p)
    expect_all_replies(pr, PINGS)
    expect_success(r)
    assert f"answered {PINGS} echo requests" in r.out, r.describe()


def test_netecho_payload_integrity(skiff, example, taps):
    """Like Solo5's net_ring test: payloads with a pattern come back unchanged (ping checks each byte)."""
    p = start(skiff, taps, example("netecho"), ["tap0"], "limit=50")
    try:
        pr = ping(taps, "10.77.0.2", "-i", "0.002", "-p", "deadbeef", "-s", "1400", count=50)
        r = helpers.finish(p, timeout=30)
    finally:
        stop(p)
    expect_all_replies(pr, 50)
    expect_success(r)


def test_netecho_custom_address(skiff, example, taps):
    p = start(skiff, taps, example("netecho"), ["tap0"], "10.77.0.9", "limit=3")
    try:
        pr = ping(taps, "10.77.0.9", "-i", "0.05", count=3)
        r = helpers.finish(p, timeout=30)
    finally:
        stop(p)
    expect_all_replies(pr, 3)
    expect_success(r)
    assert "service0 is 10.77.0.9" in r.out, r.describe()


def test_netecho_ignores_other_addresses(skiff, example, taps):
    p = start(skiff, taps, example("netecho"), ["tap0"])
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
    p = start(skiff, taps, example("netecho"), ["tap0"])
    try:
        pr = ping(taps, "10.77.0.2", "-i", "0.05", count=3)
        assert p.poll() is None, "netecho exited without a limit"
        p.send_signal(signal.SIGINT)
        r = helpers.finish(p, timeout=30)
    finally:
        stop(p)
    expect_all_replies(pr, 3)
    expect_monitor_error(r, "Exiting on signal 2")


def test_net_2if(skiff, swift_guest, taps):
    """Solo5 "net_2if hvt": one responder on two taps; both answer, and the ready-set bits keep them apart."""
    taps.add_tap("tap1", "10.78.0.1/24")
    n = max(10, PINGS // 10)
    p = start(skiff, taps, swift_guest("net_2if"), ["tap0", "tap1"], f"limit={2 * n}")
    try:
        p0 = ping_popen(taps, "10.77.0.2", "-i", "0.002", count=n)
        p1 = ping_popen(taps, "10.78.0.2", "-i", "0.002", count=n)
        r0, r1 = helpers.finish(p0, timeout=90), helpers.finish(p1, timeout=90)
        r = helpers.finish(p, timeout=30)
    finally:
        stop(p)
    expect_all_replies(r0, n)
    expect_all_replies(r1, n)
    expect_success(r)
    assert "service1 is 10.78.0.2" in r.out, r.describe()


def test_net_2if_needs_both_taps(skiff, swift_guest, taps):
    r = helpers.run(taps.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap0",
                                    str(swift_guest("net_2if"))]))
    expect_monitor_error(r, "Device 'service1' of type NET_BASIC declared but not attached.")


def test_net_mtu(skiff, swift_guest, netns):
    """Solo5 "net_mtu hvt": a tap with MTU 9000."""
    netns.add_tap("tap102", None, mtu=9000)
    r = helpers.run(netns.exec_argv([str(skiff), "run", "--mem=64", "--net:service0=tap102",
                                     str(swift_guest("net_mtu"))]))
    expect_success(r)
    assert "MTU is 9000" in r.out, r.describe()


def test_netecho_jumbo_frames(skiff, example, netns):
    netns.add_tap("tap9", "10.79.0.1/24", mtu=9000)
    p = start(skiff, netns, example("netecho"), ["tap9"], "10.79.0.2", "limit=3")
    try:
        pr = ping(netns, "10.79.0.2", "-i", "0.05", "-s", "8900", "-M", "do", count=3)
        r = helpers.finish(p, timeout=30)
    finally:
        stop(p)
    expect_all_replies(pr, 3)
    expect_success(r)
    assert "mtu 9000" in r.out, r.describe()


def test_net_ring(skiff, swift_guest, taps):
    """Solo5 "net_ring hvt": the responder moves every frame through the shared ring; payloads with the
    deadbeef pattern must come back intact (ping checks every byte)."""
    n = max(100, PINGS // 2)
    p = start(skiff, taps, swift_guest("net"), ["tap0"], "ring", f"limit={n}")
    try:
        pr = ping(taps, "10.77.0.2", "-f", "-q", "-p", "deadbeef", "-s", "1000", count=n, deadline=120)
        r = helpers.finish(p, timeout=30)
    finally:
        stop(p)
    expect_all_replies(pr, n)
    expect_success(r)
    assert "frames go through the shared ring" in r.out, r.describe()
