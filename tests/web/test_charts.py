"""The dashboard's server-drawn charts (earmark.web.charts): labels sit where their points are."""

from __future__ import annotations

import re

from earmark.web.charts import line_chart


def _labels_and_points(svg: str) -> tuple[dict[str, tuple[float, str]], list[float]]:
    labels = {text: (float(x), anchor) for x, anchor, text in re.findall(
        r'<text class="x-label" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">([^<]+)</text>',
        svg)}
    points = sorted({float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)})
    return labels, points


def test_one_retrain_is_labelled_under_its_point():
    labels, points = _labels_and_points(line_chart({"ROC AUC": [0.8], "accuracy": [0.7]},
                                                   ["5 ratings"], width=520))
    assert len(points) == 1 and points[0] > 200  # the single point is mid-plot
    assert labels == {"retrain 1": (points[0], "middle")}


def test_several_retrains_label_the_first_and_last_points():
    labels, points = _labels_and_points(line_chart({"ROC AUC": [0.8, None, 0.9]},
                                                   ["a", "b", "c"]))
    assert labels == {"retrain 1": (points[0], "start"), "retrain 3": (points[-1], "end")}


def test_no_retrain_draws_no_label():
    assert _labels_and_points(line_chart({"ROC AUC": []}, []))[0] == {}
