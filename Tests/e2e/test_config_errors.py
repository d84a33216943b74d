"""test_config_errors.py: `skiff run` refuses bad command lines, devices and images (spec §4, §10).

None of these needs /dev/kvm: each fails before a VM exists. Every refusal
is exit status 1 with the message on one line of stderr.
"""

from __future__ import annotations

import pytest

from helpers import expect_monitor_error


def test_missing_kernel_operand(run_skiff):
    expect_monitor_error(run_skiff(), "Missing KERNEL operand")
    expect_monitor_error(run_skiff("--mem=64"), "Missing KERNEL operand")
    expect_monitor_error(run_skiff("--mem=64", "--"), "Missing KERNEL operand")


def test_invalid_option(run_skiff, asm):
    expect_monitor_error(run_skiff("--frobnicate", asm["hello"]), "Invalid option: `--frobnicate'")
    expect_monitor_error(run_skiff("--mem=64", "--blk:storage=x", asm["hello"]), "Invalid option")


@pytest.mark.parametrize("value", ["0", "abc", "", "-0"])
def test_malformed_mem(run_skiff, asm, value):
    expect_monitor_error(run_skiff(f"--mem={value}", asm["hello"]), "Malformed argument to --mem")


@pytest.mark.parametrize("value", ["8192", "4098", "-1", "99999999999999999999"])
def test_mem_too_large(run_skiff, asm, value):
    expect_monitor_error(run_skiff(f"--mem={value}", asm["hello"]), "exceeds the max size 4294967296 bytes")


def test_missing_kernel_file(run_skiff, tmp_path):
    missing = tmp_path / "nope.hvt"
    r = run_skiff(missing)
    expect_monitor_error(r, "Could not open")
    assert str(missing) in r.stderr


def test_directory_as_kernel(run_skiff, tmp_path):
    r = run_skiff(tmp_path)
    expect_monitor_error(r, "Could not open")
    assert str(tmp_path) in r.stderr


def test_device_not_in_manifest(run_skiff, asm, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    expect_monitor_error(run_skiff(f"--block:storage={img}", asm["hello"]),
                         "Resource not declared in manifest: 'storage'")
    expect_monitor_error(run_skiff(f"--block:other={img}", asm["probe_blk"]),
                         "Resource not declared in manifest: 'other'")
    # Declared, but as a block device: not a network device.
    expect_monitor_error(run_skiff("--net:storage=tap0", asm["probe_blk"]),
                         "Resource not declared in manifest: 'storage'")
    expect_monitor_error(run_skiff("--block-sector-size:other=4096", f"--block:storage={img}", asm["probe_blk"]),
                         "Resource not declared in manifest: 'other'")
    expect_monitor_error(run_skiff("--net-mac:service1=02:00:00:00:00:01", asm["probe_net"]),
                         "Resource not declared in manifest: 'service1'")


def test_device_given_twice(run_skiff, asm, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    r = run_skiff(f"--block:storage={img}", f"--block:storage={img}", asm["probe_blk"])
    expect_monitor_error(r, "storage")


def test_declared_device_not_attached(run_skiff, asm, tmp_path):
    r = run_skiff(asm["probe_blk"])
    expect_monitor_error(r, "Device 'storage' of type BLOCK_BASIC declared but not attached.",
                         "All declared devices must be attached. See --help for syntax.")
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(4096))
    r = run_skiff(f"--block:storage={img}", asm["probe_blknet"])
    expect_monitor_error(r, "Device 'service0' of type NET_BASIC declared but not attached.",
                         "All declared devices must be attached. See --help for syntax.")
    assert "'storage'" not in r.stderr, r.describe()
    r = run_skiff(asm["probe_blknet"])
    expect_monitor_error(r, "Device 'storage' of type BLOCK_BASIC declared but not attached.",
                         "Device 'service0' of type NET_BASIC declared but not attached.")


def test_missing_block_image(run_skiff, asm, tmp_path):
    missing = tmp_path / "missing.img"
    r = run_skiff(f"--block:storage={missing}", asm["probe_blk"])
    expect_monitor_error(r, "Could not open block device")
    assert str(missing) in r.stderr


def test_directory_as_block_image(run_skiff, asm, tmp_path):
    r = run_skiff(f"--block:storage={tmp_path}", asm["probe_blk"])
    expect_monitor_error(r, "Could not open block device", "Is a directory")


def test_image_not_block_aligned(run_skiff, asm, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(6 * 1024))  # upstream "blk misaligned hvt"
    expect_monitor_error(run_skiff(f"--block:storage={img}", "--block-sector-size:storage=4096", asm["probe_blk"]),
                         "storage: Backing storage size must be block aligned (4096 bytes)")
    img.write_bytes(bytes(1000))
    expect_monitor_error(run_skiff(f"--block:storage={img}", asm["probe_blk"]),
                         "Backing storage size must be block aligned (512 bytes)")


def test_empty_block_image(run_skiff, asm, tmp_path):
    img = tmp_path / "empty.img"
    img.write_bytes(b"")
    # 0 is a multiple of every block size, so this is the "at least 1 block" check.
    expect_monitor_error(run_skiff(f"--block:storage={img}", asm["probe_blk"]),
                         "Backing storage must be at least 1 block (512 bytes) in size")


@pytest.mark.parametrize("size,image", [("521", 1563), ("256", 256), ("0", 512), ("1000", 1000),
                                         ("65536", 65536), ("x", 512), ("-512", 512)])
def test_bad_sector_size(run_skiff, asm, tmp_path, size, image):
    img = tmp_path / "disk.img"
    img.write_bytes(bytes(image))
    r = run_skiff(f"--block:storage={img}", f"--block-sector-size:storage={size}", asm["probe_blk"])
    expect_monitor_error(r, "Block size must be a multiple of 2")


def test_missing_tap(run_skiff, asm):
    r = run_skiff("--net:service0=skiffnotap0", asm["probe_net"])
    expect_monitor_error(r, "Could not attach interface: skiffnotap0")


@pytest.mark.parametrize("iface", ["@3", "x" * 16, "lo:0"])
def test_unusable_interface_names(run_skiff, asm, iface):
    """`@NN` (a pre-opened fd) never attaches (spec §15.5); names must be < 16 characters."""
    expect_monitor_error(run_skiff(f"--net:service0={iface}", asm["probe_net"]), "Could not attach interface")


def test_bad_mac(run_skiff, asm):
    r = run_skiff("--net:service0=skiffnotap0", "--net-mac:service0=zz:00:00:00:00:00", asm["probe_net"])
    assert r.returncode == 1, r.describe()


def test_command_line_too_long(run_skiff, asm):
    r = run_skiff(asm["hello"], "x" * 8192)
    expect_monitor_error(r, "Guest command line too long (max=8191 characters)")
    # Joined with spaces: 4096 + 1 + 4095 = 8192.
    r = run_skiff(asm["hello"], "x" * 4096, "y" * 4095)
    expect_monitor_error(r, "Guest command line too long")


def test_version(skiff):
    import helpers
    r = helpers.run([str(skiff), "--version"])
    assert r.returncode == 0, r.describe()
    assert "ABI version 2" in r.out, r.describe()
    r = helpers.run([str(skiff), "run", "--version"])
    assert r.returncode == 0 and "ABI version 2" in r.out, r.describe()


def test_unknown_command(skiff):
    import helpers
    r = helpers.run([str(skiff), "frobnicate"])
    assert r.returncode == 1, r.describe()



def test_character_device_as_block_image(run_skiff, asm):
    """/dev/null has capacity 0: less than one block."""
    r = run_skiff("--block:storage=/dev/null", asm["probe_blk"])
    expect_monitor_error(r, "Backing storage must be at least 1 block")


def test_kernel_named_like_an_option_after_double_dash(run_skiff, tmp_path):
    r = run_skiff("--mem=64", "--", "--mem=128")
    expect_monitor_error(r, "--mem=128: Could not open")
