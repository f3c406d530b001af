"""Installing a Demucs model into a local model folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from songs.audio.demucs_models import install_model
from songs.errors import PermanentError
from tests.demucs_model import SMALL_NAME, SMALL_SIGNATURE, build_small_htdemucs


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    build_small_htdemucs(folder)
    return folder


def test_it_copies_a_bag_and_its_weights_from_a_folder(source: Path, tmp_path: Path) -> None:
    written = install_model(SMALL_NAME, tmp_path / "models", source)

    names = sorted(path.name for path in written)
    assert names[-1] == f"{SMALL_NAME}.yaml"
    assert names[0].startswith(f"{SMALL_SIGNATURE}-") and names[0].endswith(".th")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == names  # no temp files left


def test_it_installs_a_single_th_file_under_another_name(source: Path, tmp_path: Path) -> None:
    (weights,) = source.glob("*.th")

    install_model("karaoke", tmp_path / "models", weights)

    bag = yaml.safe_load((tmp_path / "models" / "karaoke.yaml").read_text())
    assert bag == {"models": [SMALL_SIGNATURE]}


def test_it_refuses_a_folder_without_the_model(source: Path, tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as error:
        install_model("htdemucs", tmp_path / "models", source)

    assert error.value.code == "model_unavailable"
    assert "htdemucs.yaml" in error.value.message


def test_it_refuses_a_damaged_file(source: Path, tmp_path: Path) -> None:
    (weights,) = source.glob("*.th")
    damaged = tmp_path / weights.name
    damaged.write_bytes(weights.read_bytes()[:-100])

    with pytest.raises(PermanentError) as error:
        install_model(SMALL_NAME, tmp_path / "models", damaged)

    assert "does not load" in error.value.message
