"""jaxdl.data.download against a local HTTP server (never the network, tests/conftest.py's
``server``): checksum, resume with a Range request, retries over mirrors, clear errors,
nothing half-written under the real name."""

import gzip
import hashlib

import numpy as np
import pytest

from jaxdl.data import download as dl
from jaxdl.data import load
from jaxdl.data.errors import CorruptDataError


def _remote(name, body, base):
    return dl.Remote(name, hashlib.md5(body).hexdigest(), (base,))


def test_fetch_verifies_and_renames(server, tmp_path):
    base, h = server
    body = np.random.default_rng(0).bytes(200_000)
    h.files["a.bin"] = body
    path = dl.fetch(_remote("a.bin", body, base), tmp_path, progress=False)
    assert path.read_bytes() == body and not (tmp_path / "a.bin.part").exists()
    dl.fetch(_remote("a.bin", body, base), tmp_path, progress=False)  # present: no request
    assert len(h.log) == 1


def test_interrupted_download_resumes_with_range(server, tmp_path):
    base, h = server
    body = np.random.default_rng(1).bytes(300_000)
    h.files["b.bin"] = body
    h.drop_after = 100_000
    path = dl.fetch(_remote("b.bin", body, base), tmp_path, progress=False, backoff=0, timeout=5)
    assert path.read_bytes() == body
    ranges = [r for _, r in h.log]
    assert ranges[0] is None and ranges[-1] is not None and ranges[-1].startswith("bytes=")
    assert int(ranges[-1].split("=")[1].rstrip("-")) > 0


def test_checksum_mismatch_keeps_nothing_and_says_so(server, tmp_path):
    base, h = server
    h.files["c.bin"] = b"not what we expect"
    bad = dl.Remote("c.bin", "0" * 32, (base,))
    with pytest.raises(dl.DownloadError, match="MD5"):
        dl.fetch(bad, tmp_path, progress=False, retries=1, backoff=0)
    assert not (tmp_path / "c.bin").exists() and not (tmp_path / "c.bin.part").exists()


def test_second_mirror_is_used_when_the_first_fails(server, tmp_path):
    base, h = server
    body = b"x" * 1000
    h.files["d.bin"] = body
    remote = dl.Remote("d.bin", hashlib.md5(body).hexdigest(), ("http://127.0.0.1:1/", base))
    assert dl.fetch(remote, tmp_path, progress=False, retries=1, backoff=0, timeout=2).read_bytes() == body


def test_unreachable_gives_a_recipe_quickly(tmp_path):
    remote = dl.Remote("e.bin", "0" * 32, ("http://127.0.0.1:1/",))
    with pytest.raises(dl.DownloadError) as e:
        dl.fetch(remote, tmp_path, progress=False, retries=2, backoff=0, timeout=2)
    assert "By hand" in str(e.value) and "http://127.0.0.1:1/e.bin" in str(e.value)


def test_a_corrupt_existing_file_is_reported(server, tmp_path):
    base, h = server
    (tmp_path / "f.bin").write_bytes(b"junk")
    with pytest.raises(CorruptDataError, match="delete it"):
        dl.fetch(dl.Remote("f.bin", "1" * 32, (base,)), tmp_path, progress=False)


def _idx(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 8}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.tobytes())


def test_load_download_fetches_mnist_files_then_reads_them(server, tmp_path, monkeypatch):
    base, h = server
    rng = np.random.default_rng(2)
    arrays = [rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), rng.integers(0, 10, 6, dtype=np.uint8),
              rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), rng.integers(0, 10, 4, dtype=np.uint8)]
    remotes = []
    for r, a in zip(dl.REMOTES["mnist"], arrays):
        h.files[r.filename] = _idx(a)
        remotes.append(_remote(r.filename, h.files[r.filename], base))
    monkeypatch.setitem(dl.REMOTES, "mnist", remotes)
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    ds = load("mnist", tmp_path, download=True, fallback=False)
    assert len(ds.train) == 6 and len(ds.test) == 4
    np.testing.assert_array_equal(ds.test.arrays[1], arrays[3])
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(r.filename for r in remotes)


def _tar_with(tmp_path, add):
    import io
    import tarfile

    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("cifar-10-batches-py/readme.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        add(tar)
    return path


@pytest.mark.parametrize("kind", ["traversal", "sibling_prefix", "symlink_out"])
def test_unpack_refuses_members_outside_the_folder(tmp_path, kind):
    import io
    import tarfile

    from jaxdl.data.download import unpack
    from jaxdl.data.errors import CorruptDataError

    dest = tmp_path / "cifar10"
    dest.mkdir()

    def add(tar):
        if kind == "symlink_out":
            link = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
            return
        name = {"traversal": "../escaped.txt", "sibling_prefix": "../cifar10evil/x.txt"}[kind]
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))

    archive = _tar_with(tmp_path, add)
    with pytest.raises(CorruptDataError, match="refusing to unpack member"):
        unpack(archive, dest)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "cifar10evil").exists()
    assert not (dest / "cifar-10-batches-py").exists()  # nothing extracted at all
    assert not (dest / "evil.tar.gz.unpacked").exists()


def test_unpack_keeps_absolute_member_paths_inside_the_folder(tmp_path):
    import io
    import tarfile

    from jaxdl.data.download import unpack

    dest = tmp_path / "cifar10"
    dest.mkdir()

    def add(tar):
        info = tarfile.TarInfo(str(tmp_path / "abs.txt"))
        info.size = 4
        tar.addfile(info, io.BytesIO(b"data"))

    unpack(_tar_with(tmp_path, add), dest)
    assert not (tmp_path / "abs.txt").exists()  # the leading '/' is stripped: lands under dest
    assert (dest / str(tmp_path / "abs.txt").lstrip("/")).read_bytes() == b"data"
