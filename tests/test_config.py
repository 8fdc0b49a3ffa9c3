"""jaxdl.config: a RunConfig refuses bad settings naming the field, records every
setting flat, and its fields' metadata decide what a resumed run may change."""

import dataclasses

import pytest

from jaxdl.config import MAY_CHANGE, RunConfig, may_change_on_resume, resume_conflicts, validation_size


def test_defaults_are_a_valid_run():
    config = RunConfig()
    assert (config.epochs, config.val_size, config.progress, config.extra) == (1, 0, None, {})


@pytest.mark.parametrize("settings,match", [
    ({"epochs": 0}, "epochs=0 must be a positive integer"),
    ({"batch_size": 2.5}, "batch_size=2.5 must be a positive integer"),
    ({"lr": 0}, "lr=0 must be positive"),
    ({"val_size": 1.5}, "val_size=1.5 must be a fraction in"),
    ({"precision": "fp16"}, "precision='fp16' must be one of f32, bf16"),
    ({"data_parallel": "yes"}, "data_parallel='yes' must be one of auto, on, off"),
    ({"num_workers": -1}, "num_workers=-1 must be an integer >= 0"),
    ({"extra": {"lr": 0.1}}, r"extra settings \['lr'\] have the names of fields"),
])
def test_a_bad_setting_names_its_field(settings, match):
    with pytest.raises(ValueError, match=match):
        RunConfig(**settings)


@pytest.mark.parametrize("text,value", [("0", 0), ("0.1", 0.1), ("500", 500), (500.0, 500)])
def test_validation_size_is_a_fraction_or_a_count(text, value):
    assert validation_size(text) == value and type(validation_size(text)) is type(value)


def test_replace_sets_fields_and_extra_settings_and_to_dict_is_flat():
    config = RunConfig(extra={"momentum": 0.5}).replace(workdir="runs/b", momentum=0.9, hidden=[32])
    assert config.workdir == "runs/b" and config.extra == {"momentum": 0.9, "hidden": [32]}
    flat = config.to_dict()
    assert flat["momentum"] == 0.9 and flat["hidden"] == [32] and "extra" not in flat and flat["lr"] == 1e-3


def test_the_fields_a_resumed_run_may_change():
    """Where files go, how steps are dispatched, what is printed, how far training goes:
    never the numbers of the epochs run or to come."""
    free = {f.name for f in dataclasses.fields(RunConfig) if f.metadata["on_resume"] == MAY_CHANGE}
    assert free == {"epochs", "download", "workdir", "resume", "resume_anyway", "checkpoint_steps",
                    "checkpoint_minutes", "skip_nonfinite", "progress",
                    "steps_per_call", "data_parallel", "num_workers", "coordinator", "num_processes",
                    "process_id"}
    assert not may_change_on_resume("momentum") and not may_change_on_resume("lr")


def test_resume_conflicts_name_the_settings_that_define_the_run():
    saved = RunConfig(epochs=4, lr=0.1, extra={"momentum": 0.5}).to_dict()
    now = RunConfig(epochs=2, lr=0.2, workdir="elsewhere", progress=False, extra={"momentum": 0.5, "hidden": 8})
    assert resume_conflicts(saved, now, checkpoint_epoch=3) == [
        "hidden=(not recorded) -> 8", "lr=0.1 -> 0.2", "epochs=2 is before the checkpoint's epoch 3"]
    assert resume_conflicts(saved, RunConfig(epochs=9, lr=0.1, extra={"momentum": 0.5}), 3) == []
