"""A complete plan folder: the plan's files, the committee map and report, one manifest.

:func:`write_plan_folder` is the one place that composes a plan folder (the names are
in :data:`netplan._io.PLAN_FOLDER`)::

    plan.gpkg actions.csv kpis.json run.json   the plan (netplan.planning.plan)
    map.html report.html                       what the committee reads
    districts/<adcode>/...                     a city plan's district plans
    .netplan-plan.json                         every file above with its SHA-256

Everything is staged in a temporary sibling and published with one rename
(:func:`netplan._io.staged_folder`): a map or report that fails leaves the previous
folder, or none.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from netplan._io import PLAN_FOLDER, staged_folder
from netplan.planning.city import CityPlan, write_city_files
from netplan.planning.plan import Plan, write_plan_files

if TYPE_CHECKING:
    from netplan.study.layers import Study


def write_plan_folder(
    plan: Plan | CityPlan,
    study: Study | None,
    out: str | os.PathLike[str],
    *,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a complete plan folder atomically: all files appear at once, or none.

    Parameters
    ----------
    plan
        A plan, or a city plan (its merged plan at the top, ``districts/<adcode>/``
        below; the map and the report show the merged plan).
    study
        The study the plan was made from (district names and outlines in the map and the
        report), or None.
    out
        The folder; it must be new, empty, or a plan folder netplan wrote (see
        :func:`netplan._io.check_folder_target`), and no other run may be writing it.
    progress
        Called with a short message before each stage.

    Returns
    -------
    Path
        ``out``.
    """
    from netplan.present import maps, report

    merged = plan.plan if isinstance(plan, CityPlan) else plan
    with staged_folder(out) as tmp:
        if progress:
            progress("writing the plan folder")
        if isinstance(plan, CityPlan):
            write_city_files(plan, tmp)
        else:
            write_plan_files(plan, tmp)
        if progress:
            progress("drawing the map and the report")
        maps.plan_map(merged, study=study, out=tmp / PLAN_FOLDER.map)
        report.plan_report(merged, out=tmp / PLAN_FOLDER.report, map_href=PLAN_FOLDER.map,
                           study=study)
    return Path(out)
