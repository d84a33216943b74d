"""test_containerd.py: Skiff unikernels as containers: `skiff oci build` images run by containerd through `skiff oci runtime`.

Each test module run starts its own containerd (Debian's 1.6, installed by scripts/setup) with a private
root, state directory and socket, and stops it at the end. Containers are run with `ctr run --runc-binary
skiff-oci-runtime` (containerd's runc shim driving Skiff's runtime, as a Kubernetes RuntimeClass would:
docs/containers.md). Needs root, /dev/kvm, containerd and runc: skips loudly without them.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

import helpers
from helpers import NetNS, REPO

NS = f"skiff-e2e-{os.getpid()}"   # runc keeps state per namespace under /run/containerd/runc: one per run


def containerd_missing() -> str | None:
    for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            return f"NO CONTAINERD: `{tool}` is not installed (scripts/setup installs Debian's containerd and runc)"
    if shutil.which("tc") is None or shutil.which("nsenter") is None:
        return "NO CONTAINERD NETWORKING: `tc` (iproute2) or `nsenter` (util-linux) is missing"
    return None


def is_static(path: Path) -> bool:
    """True if the ELF at `path` has no PT_INTERP (it runs in an empty container root)."""
    import struct
    data = path.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


def run(argv, timeout: float = 60, **kw) -> helpers.Result:
    return helpers.run([str(a) for a in argv], timeout=timeout, **kw)


class Containerd:
    """A private containerd: its own root, state, sockets; `ctr(...)` talks to it in namespace NS."""

    def __init__(self, base: Path, runtime: Path):
        self.base = base
        self.runtime = runtime
        self.sock = base / "c.sock"
        (base / "config.toml").write_text(f'''version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = ""
''')
        self.log = open(base / "containerd.log", "wb")
        self.proc = subprocess.Popen(["containerd", "--config", str(base / "config.toml")],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while run(["ctr", "-a", self.sock, "version"], timeout=10).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("containerd did not start:\n" + (base / "containerd.log").read_text()[-3000:])
            time.sleep(0.1)

    def ctr_argv(self, *args) -> list[str]:
        return ["ctr", "-a", str(self.sock), "-n", NS, *map(str, args)]

    def ctr(self, *args, timeout: float = 60) -> helpers.Result:
        return run(self.ctr_argv(*args), timeout=timeout)

    def run_argv(self, image: str, cid: str, *args, options=()) -> list[str]:
        return self.ctr_argv("run", "--rm", "--runc-binary", self.runtime, *options, image, cid, *args)

    def import_image(self, archive: Path) -> None:
        r = self.ctr("image", "import", archive)
        assert r.returncode == 0, r.describe()

    def tasks(self) -> list[str]:
        return self.ctr("task", "ls", "-q").out.split()

    def containers(self) -> list[str]:
        return self.ctr("container", "ls", "-q").out.split()

    def shim_pids(self) -> list[int]:
        """Shims started by this containerd (their command line names our socket)."""
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    cmd = (d / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"containerd-shim" in cmd and str(self.sock).encode() in cmd:
                    pids.append(int(d.name))
        return pids

    def mounts(self) -> list[str]:
        return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(str(self.base))]

    def leftovers(self) -> list[str]:
        """What a finished test must not leave: tasks, containers, rootfs mounts, tender processes, shims."""
        found = [f"task {t}" for t in self.tasks()] + [f"container {c}" for c in self.containers()]
        found += [f"mount {m}" for m in self.mounts()]
        found += [f"tender process {p}" for p in tender_pids()]
        runc_root = Path(f"/run/containerd/runc/{NS}")
        found += [f"runc state {d.name}" for d in (runc_root.iterdir() if runc_root.exists() else [])]
        # A shim exits a moment after its last container is deleted.
        deadline = time.monotonic() + 10
        while self.shim_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        found += [f"shim process {p}" for p in self.shim_pids()]
        return found

    def stop(self) -> None:
        for t in self.tasks():
            self.ctr("task", "kill", "-s", "SIGKILL", t)
        time.sleep(0.5)
        for c in self.containers():
            self.ctr("task", "delete", "-f", c)
            self.ctr("container", "rm", c)
        for p in self.shim_pids():
            os.kill(p, signal.SIGKILL)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        for m in reversed(self.mounts()):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.base, ignore_errors=True)
        # The runc shim keeps runc's state per containerd namespace there; its containers are gone.
        try:
            os.rmdir(f"/run/containerd/runc/{NS}")
        except OSError:
            pass


def read_until(p: subprocess.Popen, want: bytes, timeout: float) -> bytes:
    """Reads the Popen'd `ctr run`'s stdout until it contains `want` (the guest got that far)."""
    import select
    got = b""
    deadline = time.monotonic() + timeout
    while want not in got:
        ready, _, _ = select.select([p.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise AssertionError(f"no {want!r} within {timeout} s; output so far: {got[-2000:]!r}")
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            raise AssertionError(f"ctr exited ({p.wait()}) after {got[-2000:]!r}; "
                                 f"stderr: {p.stderr.read().decode('utf-8', 'replace')[-2000:]}")
        got += chunk
    p.early_stdout = got   # helpers.finish puts it before the rest
    return got


def tender_pids() -> list[int]:
    """Processes running the tender as the runtime mounts it in containers (/.skiff/skiff-hvt)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"/.skiff/skiff-hvt\0"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def oci_bin(skiff) -> Path:
    """A directory with skiff, the static skiff-hvt beside it and the link skiff-oci-runtime → skiff."""
    tender = skiff.parent / "skiff-hvt"
    if not tender.exists():
        pytest.skip(f"no skiff-hvt beside {skiff}: run scripts/build (the static tender)")
    if not is_static(tender):
        pytest.skip(f"{tender} is dynamically linked and cannot run in a container root: "
                    "use SKIFF=.build-static/release/skiff (scripts/test does)")
    d = Path(tempfile.mkdtemp(prefix="skiff-oci-bin-"))
    shutil.copy2(skiff, d / "skiff")
    shutil.copy2(tender, d / "skiff-hvt")
    (d / "skiff-oci-runtime").symlink_to("skiff")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def ctrd(oci_bin):
    why = helpers.root_missing() or helpers.kvm_missing() or containerd_missing()
    if why:
        pytest.skip(why if why.startswith("NO ") else "NO CONTAINERD TESTS: " + why)
    c = Containerd(Path(tempfile.mkdtemp(prefix="skiff-ctrd-")), oci_bin / "skiff-oci-runtime")
    yield c
    c.stop()
    assert not c.shim_pids() and c.proc.returncode is not None


@pytest.fixture(scope="module")
def images(skiff, swift_builder, tmp_path_factory):
    """image(name, source, *build_options) -> (archive, image name): `skiff oci build` once per name."""
    out = tmp_path_factory.mktemp("oci")
    made: dict[str, tuple[Path, str]] = {}

    def image(name: str, source: Path, *options: str) -> tuple[Path, str]:
        if name not in made:
            kernel = swift_builder.build(source)
            archive = out / f"{name}.tar"
            ref = f"skiff.local/{name}:test"
            r = run([skiff, "oci", "build", kernel, "-o", archive, "--name", ref, *options])
            assert r.returncode == 0, r.describe()
            made[name] = (archive, ref)
        return made[name]
    return image


@pytest.fixture(scope="module")
def disk(tmp_path_factory) -> Path:
    """A 4 MiB zero block image (copied into the images that name it)."""
    path = tmp_path_factory.mktemp("disk") / "disk.img"
    with open(path, "wb") as f:
        f.truncate(4 << 20)
    return path


@pytest.fixture(scope="module")
def imported(ctrd, images):
    """imported(name, source, *options) -> image name, imported into the private containerd."""
    done: set[str] = set()

    def _imported(name: str, source: Path, *options: str) -> str:
        archive, ref = images(name, source, *options)
        if ref not in done:
            ctrd.import_image(archive)
            done.add(ref)
        return ref
    return _imported


# ---------------------------------------------------------------------------
# The image archive (no containerd needed)

def test_oci_build_archive_is_an_oci_layout(images, disk):
    """Blobs named by their SHA-256 (checked here with hashlib), the run configuration in config and annotations."""
    archive, ref = images("blk", helpers.EXAMPLES_DIR / "blockcheck", "--mem=32", "--block:storage=" + str(disk),
                          "--net:service0", "--", "7")
    with tarfile.open(archive) as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1], name
    index = json.loads(files["index.json"])
    desc = index["manifests"][0]
    assert desc["annotations"]["io.containerd.image.name"] == ref
    assert desc["platform"] == {"architecture": "amd64", "os": "linux"}
    manifest = json.loads(files["blobs/sha256/" + desc["digest"].split(":")[1]])
    assert desc["size"] == len(files["blobs/sha256/" + desc["digest"].split(":")[1]])
    assert manifest["annotations"]["org.skiff.mem"] == "32"
    assert manifest["annotations"]["org.skiff.block.storage"] == "/skiff/block/storage"
    assert manifest["annotations"]["org.skiff.net.service0"] == "tap0"
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    assert config["config"]["Entrypoint"] == ["skiff-hvt", "--mem=32", "--block:storage=/skiff/block/storage",
                                              "--net:service0=tap0", "--", "/skiff/kernel"]
    assert config["config"]["Cmd"] == ["7"]
    layer_digest = manifest["layers"][0]["digest"]
    assert config["rootfs"]["diff_ids"] == [layer_digest]
    with tarfile.open(fileobj=io.BytesIO(files["blobs/sha256/" + layer_digest.split(":")[1]])) as layer:
        members = {m.name: m for m in layer.getmembers()}
        assert members["skiff/kernel"].mode & 0o111
        assert members["skiff/block/storage"].size == 4 << 20
        assert json.loads(layer.extractfile("skiff/skiff.json").read())["entrypoint"] == config["config"]["Entrypoint"]


def test_oci_build_refuses_bad_input(skiff, tmp_path):
    notelf = tmp_path / "x.hvt"
    notelf.write_bytes(b"not an elf" * 10)
    cases = [
        ([notelf, "-o", tmp_path / "o.tar"], "not an ELF"),
        ([tmp_path / "missing.hvt", "-o", tmp_path / "o.tar"], "missing.hvt"),
        ([notelf], "-o OUT are required"),
        ([notelf, "-o", tmp_path / "o.tar", "--bogus"], "unknown option '--bogus'"),
        ([notelf, "-o", tmp_path / "o.tar", "--mem=lots"], "--mem=lots"),
    ]
    for args, words in cases:
        r = run([skiff, "oci", "build", *args])
        assert r.returncode == 1, r.describe()
        assert r.stderr_lines[0].startswith("skiff: oci build: ") and words in r.stderr_lines[0], r.describe()
    assert not (tmp_path / "o.tar").exists()


# ---------------------------------------------------------------------------
# Under containerd

def test_hello_output_and_exit_status(ctrd, imported):
    """The console is the container's stdout; the container's exit status is the guest's."""
    hello = imported("hello", helpers.SWIFT_GUESTS_DIR / "hello", "--mem=16", "--", "Hello_Solo5")
    r = run(ctrd.run_argv(hello, "hello-ok"))
    assert r.returncode == 0 and "command line: [Hello_Solo5]" in r.out and "SUCCESS" in r.out, r.describe()
    # Arguments given to `ctr run` replace the image's default ones: the guest sees them and fails (status 1).
    r = run(ctrd.run_argv(hello, "hello-fail", "not", "it"))
    assert r.returncode == 1, r.describe()
    assert "command line: [not it]" in r.out and "FAILURE" in r.out, r.describe()
    # A guest abort: status 255, as under skiff run.
    trap = imported("trap", helpers.SWIFT_GUESTS_DIR / "trap", "--mem=16")
    r = run(ctrd.run_argv(trap, "trap-abort", "overflow"))
    assert r.returncode == 255, r.describe()
    assert not ctrd.leftovers()


def test_kill_long_running(ctrd, imported):
    """ctr task kill (SIGTERM) stops the VM: the tender's SIGTERM exit (status 1, one line); SIGKILL gives 137."""
    clock = imported("clock", helpers.EXAMPLES_DIR / "clock", "--mem=16", "--", "100000", "100")
    for sig, status in (("SIGTERM", 1), ("SIGKILL", 137)):
        cid = "clock-" + sig.lower()
        p = helpers.popen(ctrd.run_argv(clock, cid))
        try:
            read_until(p, b"tick 2/100000", timeout=60)
            assert cid in ctrd.tasks() and tender_pids()
            r = ctrd.ctr("task", "kill", "-s", sig, cid)
            assert r.returncode == 0, r.describe()
            r = helpers.finish(p, timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        assert r.returncode == status, r.describe()
        if sig == "SIGTERM":
            assert "Exiting on signal 15" in r.stderr, r.describe()
    assert not ctrd.leftovers()


def test_netecho_in_container_network_namespace(ctrd, imported):
    """A tap in the container's namespace, joined to its veth by tc: netecho answers ping from another namespace."""
    netecho = imported("netecho", helpers.EXAMPLES_DIR / "netecho", "--mem=32", "--net:service0", "--", "10.77.0.2")
    inside, outside = NetNS(), NetNS()
    veth_in, veth_out = f"sk{os.getpid() % 100000}i", f"sk{os.getpid() % 100000}o"
    try:
        inside.create()
        outside.create()
        r = run(["ip", "link", "add", veth_in, "netns", inside.name, "type", "veth", "peer", "name", veth_out,
                 "netns", outside.name])
        assert r.returncode == 0, r.describe()
        inside.ip("link", "set", veth_in, "up")
        outside.ip("addr", "add", "10.77.0.1/24", "dev", veth_out)
        outside.ip("link", "set", veth_out, "up")
        p = helpers.popen(ctrd.run_argv(netecho, "netecho", "10.77.0.2", "limit=5",
                                        options=("--with-ns", f"network:/var/run/netns/{inside.name}")))
        try:
            read_until(p, b"ready", timeout=60)
            # The runtime made tap0 in the container's namespace and redirects the veth's frames to it.
            assert "tap0" in inside.ip("link", "show").out
            assert f"redirect dev tap0" in run(["tc", "-n", inside.name, "filter", "show", "dev", veth_in,
                                                  "ingress"]).out.replace("(Egress Redirect to device tap0)",
                                                                          "redirect dev tap0")
            ping = run(outside.exec_argv(["ping", "-c", "5", "-i", "0.2", "-W", "5", "10.77.0.2"]), timeout=60)
            r = helpers.finish(p, timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        assert " 0% packet loss" in ping.out, ping.describe()
        assert r.returncode == 0 and "SUCCESS" in r.out, r.describe()
        # Deleting the container removed the tap and the veth's ingress qdisc from the namespace, which outlives it.
        assert "tap" not in inside.ip("-o", "link", "show").out
        assert "ingress" not in run(["tc", "-n", inside.name, "qdisc", "show"]).out
        assert not ctrd.leftovers()
    finally:
        inside.destroy()
        outside.destroy()


def test_block_device_from_image_and_from_mount(ctrd, imported, disk, tmp_path):
    """--block from the image's own file, and the same device replaced by a host file bind-mounted over it."""
    image = imported("blockcheck", helpers.EXAMPLES_DIR / "blockcheck", "--mem=32", "--block:storage=" + str(disk))
    r = run(ctrd.run_argv(image, "blk-image", "5"), timeout=120)
    assert r.returncode == 0 and "SUCCESS" in r.out, r.describe()
    host = tmp_path / "host.img"
    with open(host, "wb") as f:
        f.truncate(1 << 20)
    r = run(ctrd.run_argv(image, "blk-mount", "9", options=(
        "--mount", f"type=bind,src={host},dst=/skiff/block/storage,options=rbind:rw")), timeout=120)
    assert r.returncode == 0 and "SUCCESS" in r.out, r.describe()
    # The guest wrote its pattern (block 0: "SKIFFBLK", index 0, seed 9) into the host's file.
    head = host.read_bytes()[:24]
    assert head[:8] == b"SKIFFBLK" and int.from_bytes(head[16:24], "little") == 9, head
    assert not ctrd.leftovers()


def test_twenty_containers_at_once(ctrd, imported):
    """20 unikernel containers started together: each prints its own arguments and exits 0."""
    hello = imported("hello-ex", helpers.EXAMPLES_DIR / "hello", "--mem=16")

    def one(i: int) -> helpers.Result:
        return run(ctrd.run_argv(hello, f"many-{i}", "container", str(i)), timeout=180)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    for i, r in enumerate(results):
        assert r.returncode == 0 and f"hello: container {i}\n" in r.out, r.describe()
    assert not ctrd.leftovers()


def test_runtime_errors_are_one_line(ctrd, oci_bin, tmp_path):
    """A bundle the runtime cannot use fails `create` with one `skiff:` line (and runc's JSON log line)."""
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text("{not json")
    log = tmp_path / "log.json"
    r = run([oci_bin / "skiff-oci-runtime", "--root", tmp_path / "state", "--log", log, "--log-format", "json",
             "create", "--bundle", bundle, "bad"])
    assert r.returncode == 1 and r.stderr_lines == [r.stderr_lines[0]], r.describe()
    assert r.stderr_lines[0].startswith("skiff: oci runtime: ") and "invalid JSON" in r.stderr_lines[0], r.describe()
    assert json.loads(log.read_text().splitlines()[-1])["level"] == "error"
    (bundle / "config.json").write_text(json.dumps({"process": {"args": ["skiff-hvt"]}, "root": {"path": "rootfs"}}))
    r = run([oci_bin / "skiff-oci-runtime", "--root", tmp_path / "state", "create", "--bundle", bundle, "bad"])
    assert r.returncode == 1 and "skiff-hvt without a kernel" in r.stderr, r.describe()


def test_network_devices_refuse_the_host_namespace(ctrd, imported):
    """`ctr run --net-host` of an image with a network device: refused in one line, the host's links untouched."""
    netecho = imported("netecho", helpers.EXAMPLES_DIR / "netecho", "--mem=32", "--net:service0", "--", "10.77.0.2")
    had_tap0 = run(["ip", "link", "show", "tap0"]).returncode == 0
    qdiscs = run(["tc", "qdisc", "show"]).out
    r = run(ctrd.run_argv(netecho, "net-host", options=("--net-host",)))
    assert r.returncode != 0 and "network devices need the container's own network namespace" in r.out, r.describe()
    assert (run(["ip", "link", "show", "tap0"]).returncode == 0) == had_tap0
    assert run(["tc", "qdisc", "show"]).out == qdiscs
    assert not ctrd.leftovers()


def plain_image(path: Path, ref: str, files: dict[str, tuple[bytes, int]], entrypoint: list[str]) -> Path:
    """An ordinary OCI image archive (no /skiff/skiff.json), written here independently of `skiff oci build`."""
    def tar_bytes(members: dict[str, tuple[bytes, int]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            for name, (data, mode) in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), mode
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def blob(data: bytes) -> tuple[str, bytes]:
        return "sha256:" + hashlib.sha256(data).hexdigest(), data
    layer = blob(tar_bytes(files))
    config = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": entrypoint},
                              "rootfs": {"type": "layers", "diff_ids": [layer[0]]}}).encode())
    manifest = blob(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config[0], "size": len(config[1])},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer[0], "size": len(layer[1])}],
    }).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest[0], "size": len(manifest[1]),
        "platform": {"architecture": "amd64", "os": "linux"}, "annotations": {"io.containerd.image.name": ref}}]}
    outer = {"oci-layout": (b'{"imageLayoutVersion":"1.0.0"}', 0o644), "index.json": (json.dumps(index).encode(), 0o644)}
    for digest, data in (layer, config, manifest):
        outer["blobs/sha256/" + digest.split(":")[1]] = (data, 0o644)
    path.write_bytes(tar_bytes(outer))
    return path


def test_ordinary_containers_pass_through(ctrd, oci_bin, swift_builder, tmp_path):
    """A container that is not a Skiff one (a pod's pause container, any image) is runc's, untouched: it runs,
    and gets no /dev/kvm (the same static tender under another name cannot open it)."""
    kernel = swift_builder.build(helpers.EXAMPLES_DIR / "hello").read_bytes()
    tool = (oci_bin / "skiff-hvt").read_bytes()
    ref = "skiff.local/plain:test"
    ctrd.import_image(plain_image(tmp_path / "plain.tar", ref, {"bin/tool": (tool, 0o755), "k": (kernel, 0o644)},
                                  ["/bin/tool", "--version"]))
    r = run(ctrd.run_argv(ref, "plain-version"))
    assert r.returncode == 0 and "(Solo5 hvt tender compatible)" in r.out, r.describe()
    r = run(ctrd.run_argv(ref, "plain-kvm", "/bin/tool", "--", "/k"))
    assert r.returncode == 1 and "/dev/kvm" in r.out, r.describe()
    assert "hello" not in r.out
    assert not ctrd.leftovers()


def test_tap_names_never_take_an_existing_interface(ctrd, imported):
    """An image whose tap is named like the namespace's own uplink (eth0) is refused, and eth0 survives."""
    image = imported("netecho-eth0", helpers.EXAMPLES_DIR / "netecho", "--mem=32", "--net:service0=eth0")
    ns, peer = NetNS(), NetNS()
    try:
        ns.create()
        peer.create()
        r = run(["ip", "link", "add", "eth0", "netns", ns.name, "type", "veth", "peer", "name", "eth0", "netns", peer.name])
        assert r.returncode == 0, r.describe()
        r = run(ctrd.run_argv(image, "eth0-clash", options=("--with-ns", f"network:/var/run/netns/{ns.name}")))
        assert r.returncode != 0 and "already has an interface eth0" in r.out, r.describe()
        assert ns.ip("link", "show", "eth0", check=False).returncode == 0, "the namespace lost its eth0"
        assert "ingress" not in run(["tc", "-n", ns.name, "qdisc", "show"]).out
        assert not ctrd.leftovers()
    finally:
        ns.destroy()
        peer.destroy()
