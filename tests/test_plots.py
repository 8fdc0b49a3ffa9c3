"""jaxdl.plots draws what a reader needs to read a run: whole-epoch ticks, the data set in
the title, the selected epoch marked; the figures are inspected, not only written."""

import numpy as np
import pytest

from jaxdl import plots

ROWS = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + e / 10,
         "val_loss": [0.9, 0.6, 0.7][e - 1], "val_accuracy": [0.6, 0.8, 0.7][e - 1]} for e in (1, 2, 3)]


def _starred(ax):
    return [line for line in ax.get_lines() if line.get_marker() == "*"]


def test_curves_ticks_are_whole_epochs_and_the_title_names_the_data_set():
    fig = plots.curves(ROWS, title="mnist_cnn", dataset="mnist_5k")
    assert fig._suptitle.get_text() == "mnist_cnn on mnist_5k"
    for ax in fig.axes:
        ticks = ax.get_xticks()
        assert list(ticks) == [1, 2, 3], ticks  # 3 epochs: no 1.5, 2.5
    long_run = [{"epoch": e, "train_loss": 1.0 / e} for e in range(1, 41)]
    ticks = plots.curves(long_run).axes[0].get_xticks()
    assert len(ticks) < 15 and np.all(ticks == np.round(ticks)), ticks


def test_curves_star_the_selected_epoch_on_the_validation_curve():
    fig = plots.curves(ROWS, dataset="mnist_5k", selected_epoch=2)
    loss_ax, acc_ax = fig.axes
    for ax, value in ((loss_ax, 0.6), (acc_ax, 0.8)):  # the validation values of epoch 2
        (star,) = _starred(ax)
        assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [value]
        assert "selected: epoch 2" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not _starred(plots.curves(ROWS).axes[0])  # nothing selected, nothing starred


def test_curves_star_the_last_epoch_on_the_training_curve_of_a_run_without_validation():
    rows = [{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2)]
    (star,) = _starred(plots.curves(rows, selected_epoch=2).axes[0])
    assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [0.5]


def test_curves_refuse_an_epoch_that_is_not_in_the_history(tmp_path):
    with pytest.raises(ValueError, match=r"selected_epoch=7 is not among the history's epochs 1\.\.3"):
        plots.curves(ROWS, tmp_path / "c.png", selected_epoch=7)
    assert not (tmp_path / "c.png").exists()


def test_curves_write_a_png_and_return_its_path(tmp_path):
    path = plots.curves(ROWS, tmp_path / "curves.png", title="t", dataset="d", selected_epoch=3)
    assert path == str(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_decision_boundary_draws_the_half_probability_contour_where_the_model_puts_it():
    x = np.array([[-1.0, 0.0], [1.0, 0.0], [-2.0, 1.0], [2.0, -1.0]])
    fig = plots.decision_boundary(lambda p: 1 / (1 + np.exp(-4 * p[:, 0])), x, [0, 1, 0, 1])
    ax = fig.axes[0]
    (boundary,) = [c for c in ax.collections if list(getattr(c, "levels", [])) == [0.5]]
    xs = np.concatenate([p.vertices[:, 0] for p in boundary.get_paths() if len(p.vertices)])
    assert len(xs) and np.allclose(xs, 0.0, atol=0.05)  # p = 0.5 where x0 = 0
    with pytest.raises(ValueError, match=r"x_Nx2 has shape \(4, 3\)"):
        plots.decision_boundary(lambda p: p[:, 0], np.ones((4, 3)), [0, 1, 0, 1])
