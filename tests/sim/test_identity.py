"""The sim world's digest: it changes with the profile's bytes, the world code and the version."""

import shutil

from suite.core.resources import package_path
from suite.sim import identity


def copy_of_suite(tmp_path):
    """The files the digest reads, copied to a folder laid out like the ``suite`` package."""
    root = package_path("suite")
    for name in [*identity.WORLD_CODE, "sim/llama3.yaml", "sim/llama3_gemma.yaml"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, tmp_path / name)
    return tmp_path


def test_the_digest_is_the_contents_of_the_world(tmp_path, monkeypatch):
    root = copy_of_suite(tmp_path)
    digest = identity.world_digest("llama3")
    assert identity.world_digest("llama3", root) == digest  # contents, not the place
    assert identity.world_digest("llama3_gemma", root) != digest
    profile = root / "sim" / "llama3.yaml"
    profile.write_bytes(profile.read_bytes().replace(b"ability:", b"ability:  ", 1))
    refit = identity.world_digest("llama3", root)
    assert refit != digest  # a refit (any byte of the profile) is another world
    world = root / "sim" / "world.py"
    world.write_bytes(world.read_bytes() + b"\n# a new rule\n")
    assert identity.world_digest("llama3", root) not in (digest, refit)
    monkeypatch.setattr(identity, "WORLD_VERSION", identity.WORLD_VERSION + 1)
    assert identity.world_digest("llama3") != digest


def test_a_missing_profile_has_no_world():
    assert identity.world_digest("no_such_pool") == "missing"
