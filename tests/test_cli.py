"""jaxdl.cli: flags fill a RunConfig (an experiment's own flags land in ``extra``), bad
flags exit with 2 and create nothing, and the errors a user can fix end with exit code 1
and one message that names settings by their flags."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from jaxdl import cli

ROOT = Path(__file__).resolve().parent.parent


def _parser():
    p = cli.parser("t: test", epochs=3, batch_size=8, lr=0.1, datasets=["mnist_5k", "mnist"])
    p.add_argument("--momentum", type=cli.nonnegative_float, default=0.9)
    p.add_argument("--num-workers", type=int, default=2)  # as an experiment may write it, unchecked
    return p


def test_flags_fill_the_run_configuration():
    config = cli.parse(_parser(), ["--epochs", "5", "--no-progress", "--val-size", "0.2", "--momentum", "0.5",
                                   "--skip-nonfinite"])
    assert (config.epochs, config.batch_size, config.lr, config.dataset) == (5, 8, 0.1, "mnist_5k")
    assert config.progress is False and config.val_size == 0.2 and config.skip_nonfinite
    assert config.num_workers == 2 and config.extra == {"momentum": 0.5}
    assert cli.parse(_parser(), []).progress is None  # a bar when stderr is a terminal
    # a flag for every field (--no-progress for progress; --download where an experiment can fetch its data)
    assert set(cli.FIELDS) - {"progress", "download"} <= set(vars(_parser().parse_args([])))


def test_a_setting_the_configuration_refuses_exits_2_naming_the_flag(capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse(_parser(), ["--num-workers", "-1"])
    assert e.value.code == 2 and "--num-workers -1 must be an integer >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("text,value", [("0", 0), ("0.1", 0.1), ("500", 500)])
def test_val_size_flag(text, value):
    assert cli.validation_size(text) == value and type(cli.validation_size(text)) is type(value)


@pytest.mark.parametrize("text", ["-1", "1.5", "a tenth"])
def test_bad_val_size_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.validation_size(text)


def test_library_messages_are_printed_with_flags():
    message = ("resume: x was written by another run: batch_size=30 -> 60; momentum=(not recorded) -> 0.9; "
               "epochs=1 is before the checkpoint's epoch 2. Pass resume_anyway=True, or another workdir=DIR.")
    assert cli.as_flags(message) == (
        "resume: x was written by another run: --batch-size 30 -> 60; --momentum (not recorded) -> 0.9; "
        "--epochs 1 is before the checkpoint's epoch 2. Pass --resume-anyway, or another --workdir DIR.")
    assert cli.as_flags("needs a validation split (data.val or val_size=)") == \
        "needs a validation split (data.val or --val-size)"
    code = "python -c \"import jaxdl.data as d; d.load('mnist', download=True)\"; ImageFolder(x, on_error='skip')"
    assert cli.as_flags(code) == code  # keyword arguments in code stay as they are


@pytest.mark.parametrize("flags,match", [
    (["--lr", "-0.1"], "positive"), (["--lr", "0"], "positive"), (["--batch-size", "0"], "positive integer"),
    (["--epochs", "-1"], "positive integer"), (["--epochs", "two"], "positive integer"),
    (["--dataset", "imagenet"], "invalid choice"), (["--data-dir", "/no/such/dir"], "does not exist"),
])
def test_bad_flags_exit_2_and_create_nothing(flags, match, tmp_path):
    out = subprocess.run([sys.executable, "-m", "experiments.mnist_cnn", *flags, "--workdir", str(tmp_path / "w")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and match in out.stderr
    assert not (tmp_path / "w").exists()  # nothing created


def test_refused_resume_exits_1_with_the_diff_in_flags(tmp_path, capsys):
    from experiments import iris

    iris.main(["--epochs", "2", "--workdir", str(tmp_path), "--no-progress"])
    with pytest.raises(SystemExit) as e:
        cli.run(iris.main, ["--epochs", "3", "--resume", "--lr", "0.02", "--workdir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 1 and err.count("\n") == 0 and "--lr 0.01 -> 0.02" in err and "--resume-anyway" in err


def test_a_named_data_dir_without_mnist_exits_1_naming_the_files(tmp_path, monkeypatch, capsys):
    from experiments import mnist_cnn

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        cli.run(mnist_cnn.main, ["--data-dir", str(tmp_path / "empty"), "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "train-images-idx3-ubyte[.gz]" in err and str(tmp_path / "empty") in err
    assert "--data-dir DIR" in err and not (tmp_path / "w").exists()  # no training on the 5,000-digit subset


def test_the_mnist_fallback_note_names_the_flag_under_a_command(tmp_path, monkeypatch, caplog):
    """Without full MNIST, the one-line note says ``--data-dir DIR`` to a command's user
    and ``data_dir=DIR`` to a library user (the same ``jaxdl`` logger warning)."""
    from jaxdl.data import datasets

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    with caplog.at_level("WARNING", logger="jaxdl"):
        datasets.mnist()
        cli.run(lambda argv: datasets.mnist(), [])
    library, command = [r.getMessage() for r in caplog.records if "full MNIST not found" in r.getMessage()]
    assert "data_dir=DIR" in library and "--data-dir" not in library
    assert "--data-dir DIR" in command and "data_dir=" not in command
