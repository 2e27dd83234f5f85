"""The built-in presets ship in the package: a wheel carries them and finds them installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sleepsound.sources.presets import load_presets, presets_dir

ROOT = Path(__file__).resolve().parents[1]
SOUNDS = sorted(path.name for path in (ROOT / "sounds").glob("*.toml"))


def _without_override() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SLEEPSOUND_PRESETS_DIR"}


def _pip(*args: str) -> None:
    """Run this interpreter's pip offline; fail the test with its output if it fails."""
    command = [sys.executable, "-m", "pip", *args, "--no-index", "--disable-pip-version-check"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline from a copy of the project (the build leaves files behind)."""
    work = tmp_path_factory.mktemp("wheel")
    project = work / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "device", project / "device", symlinks=True, ignore=skip)
    shutil.copytree(ROOT / "sounds", project / "sounds")
    out = work / "dist"
    _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(project))
    (found,) = out.glob("sleepsound-*.whl")
    return found


def test_the_checkout_has_built_in_presets() -> None:
    assert len(SOUNDS) >= 12  # the list below would pass on an empty folder otherwise


@pytest.mark.slow
def test_a_wheel_carries_every_built_in_preset(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in SOUNDS:
        packed = f"sleepsound/builtin_sounds/{name}"
        assert packed in names, f"{name} is missing from the wheel"
        with zipfile.ZipFile(wheel) as archive:
            assert archive.read(packed) == (ROOT / "sounds" / name).read_bytes()


@pytest.mark.slow
def test_an_installed_wheel_finds_its_presets(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    _pip("install", "--no-deps", "-q", "--target", str(target), str(wheel))
    probe = (
        "import sleepsound.sources.presets as p; "
        "print(p.__file__); print(p.presets_dir()); "
        "print(' '.join(x.id for x in p.load_presets().presets))"
    )
    env = {**_without_override(), "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    module, folder, ids = run.stdout.splitlines()
    assert Path(module).is_relative_to(target)  # the installed copy, not the checkout
    assert Path(folder).is_relative_to(target)
    assert sorted(ids.split()) == [name.removesuffix(".toml") for name in SOUNDS]


def test_this_install_finds_the_checkouts_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLEEPSOUND_PRESETS_DIR", raising=False)
    assert sorted(path.name for path in presets_dir().glob("*.toml")) == SOUNDS
    for name in SOUNDS:  # the same files, not copies that could drift
        assert (presets_dir() / name).resolve() == (ROOT / "sounds" / name).resolve()


def test_the_presets_folder_can_still_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hum.toml").write_text('title = "Hum"\ngenerator = "brown-noise"\n')
    monkeypatch.setenv("SLEEPSOUND_PRESETS_DIR", str(tmp_path))
    assert presets_dir() == tmp_path
    assert [preset.id for preset in load_presets().presets] == ["hum"]
