"""The volume study as a package: one layout for its run folders, old import paths that warn,
one header for every study config."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from landform.studies.volume import layout

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "landform"


def test_checkpoint_labels_round_trip():
    assert layout.checkpoint_label(40) == "epoch40"
    assert layout.checkpoint_epoch(layout.checkpoint_label(40)) == 40
    assert layout.checkpoint_epoch(layout.FINAL) is None


def test_finished_stages_skips_unfinished_and_unreadable_markers(tmp_path):
    from landform.store.stages import DONE

    stages = layout.stages_folder(tmp_path)
    good, unfinished, damaged = (layout.stage_folder(stages, layout.TRAIN_STAGE, k) for k in ("a", "b", "c"))
    for folder in (good, unfinished, damaged, layout.stage_folder(stages, layout.DATA_STAGE, "d")):
        folder.mkdir(parents=True)
    (good / DONE).write_text(json.dumps({"inputs": {"size": 3}}))
    (damaged / DONE).write_text("{not json")
    found = list(layout.finished_stages(stages, layout.TRAIN_STAGE))
    assert [(folder.name, marker["inputs"]) for folder, marker in found] == [("train-a", {"size": 3})]
    assert layout.is_finished(good) and not layout.is_finished(unfinished)
    assert layout.marker(damaged) is None
    assert list(layout.finished_stages(tmp_path / "missing", layout.TRAIN_STAGE)) == []


def test_the_stage_marker_name_is_written_once():
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if '"_stage.json"' in line
    ]
    assert len(found) == 1 and found[0].startswith("store/stages.py:"), found


def test_no_study_module_exceeds_450_lines():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in (PACKAGE / "studies" / "volume").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 450
    }
    assert not long


@pytest.mark.parametrize(
    ("old", "name", "new", "new_name"),
    [
        ("landform.views.runs", "Minimum", "landform.studies.volume.runs", "SavedMinimum"),
        ("landform.views.runs", "read_volume_run", "landform.studies.volume.runs", "read_volume_run"),
        ("landform.views.runs", "volume_run_video", "landform.studies.volume.runs", "volume_run_video"),
        ("landform.views", "Minimum", "landform.studies.volume", "SavedMinimum"),
        ("landform.views", "find_minimum", "landform.studies.volume", "find_minimum"),
        ("landform.views", "landscape_view", "landform.studies.volume", "landscape_view"),
        ("landform.views", "load_view_source", "landform.studies.volume", "load_view_source"),
        ("landform.views.view", "load_view_source", "landform.studies.volume.view", "load_view_source"),
        ("landform.views.view", "ViewSource", "landform.studies.volume.view", "ViewSource"),
        ("landform.views.view", "TRAJECTORY_FILE", "landform.studies.volume.layout", "TRAJECTORY_FILE"),
        ("landform.studies.volume_figures", "volume_figures", "landform.studies.volume.figures", "volume_figures"),
        (
            "landform.studies.volume_figures",
            "fixed_landscape_figure",
            "landform.studies.volume.figures",
            "fixed_landscape_run_figure",
        ),
    ],
)
def test_moved_names_keep_working_from_their_old_path_with_a_warning(old, name, new, new_name):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=new_name):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), new_name)


def test_unknown_names_are_still_attribute_errors():
    for old in ("landform.views.runs", "landform.views.view", "landform.studies.volume_figures"):
        with pytest.raises(AttributeError):
            importlib.import_module(old).no_such_name  # noqa: B018


def test_the_two_minima_are_different_classes():
    from landform.studies import volume

    assert volume.Minimum is not volume.SavedMinimum
    assert "train" in volume.Minimum._fields and "model_folder" in volume.SavedMinimum._fields


def test_study_configs_start_with_the_shared_header():
    from landform.studies import basin, volume
    from landform.studies.config import StudyConfig

    header = list(StudyConfig.model_fields)
    assert header == ["study", "name", "variant", "description"]
    for config in (volume.Config, basin.Config):
        assert issubclass(config, StudyConfig)
        assert list(config.model_fields)[: len(header)] == header
    with pytest.raises(ValueError, match="volume"):
        volume.Config.model_validate({"study": "basin", "name": "x"})
