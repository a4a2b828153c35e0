"""A complete plan folder: the plan's files, the committee map and report, one manifest.

:func:`write_plan_folder` is the one place that composes a plan folder (the names are
in :data:`netplan._io.PLAN_FOLDER`)::

    plan.gpkg actions.csv kpis.json run.json   the plan (netplan.planning.plan)
    map.html report.html                       what the committee reads
    districts/<adcode>/...                     a city plan's district plans
    .netplan-plan.json                         every file above with its SHA-256

``run.json`` records the study the plan was made from (:func:`study_record`: its file,
name, CRS and the SHA-256 of every file it was read from); ``map``, ``report`` and
``evaluate`` load that study again (:func:`plan_study`) and refuse, naming ``--study``,
when it is missing or changed: never the embedded data in its place.

Everything is staged in a temporary sibling and published with one rename
(:func:`netplan._io.staged_folder`): a map or report that fails leaves the previous
folder, or none.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from netplan._errors import DataNotFoundError, NetplanError
from netplan._io import PLAN_FOLDER, file_sha256, staged_folder
from netplan.planning.city import CityPlan, write_city_files
from netplan.planning.contract import StudyRecord
from netplan.planning.plan import Plan, write_plan_files

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from netplan.planning.phases import PhasedPlan
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

    if study is not None:
        plan = _with_study(plan, study_record(study))
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


def write_phased_folder(
    phased: PhasedPlan,
    study: Study | None,
    out: str | os.PathLike[str],
    *,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a phased plan folder atomically: all files appear at once, or none::

        actions.csv spend.csv phases.json     the phases (netplan.planning.phases)
        phases/<year>/                        each phase's plan folder
        map.html report.html                  the map with its phase slider, the report
                                              with the timeline and the spend per phase

    Parameters
    ----------
    phased
        The phased plan.
    study
        The study the phases were planned on (drawn in the top map and report), or None.
    out
        The folder (as for :func:`write_plan_folder`).
    progress
        Called with a short message before each stage.

    Returns
    -------
    Path
        ``out``.
    """
    from netplan.planning.phases import PHASE_FILES, write_phase_files

    with staged_folder(out) as tmp:
        write_phase_files(phased, tmp)
        for ph in phased.phases:
            if progress:
                progress(f"phase {ph.year}: writing its plan folder")
            write_plan_folder(ph.plan, ph.study, tmp / PHASE_FILES["phases"] / str(ph.year))
        if progress:
            progress("drawing the phased map and report")
        write_phase_views(tmp, study)
    return Path(out)


def write_phase_views(folder: Path, study: Study | None) -> None:
    """The map (with its phase slider) and the report of a phased plan, into its folder.

    The folder's phase files and plans are read back first, so that these pages are the
    ones ``netplan map`` and ``netplan report`` draw from the folder.
    """
    from netplan.planning.phases import read_phased
    from netplan.present import maps, report

    phased = read_phased(folder)
    maps.phased_map(phased, study=study, out=folder / PLAN_FOLDER.map)
    report.plan_report(phased.plans[-1], out=folder / PLAN_FOLDER.report,
                       map_href=PLAN_FOLDER.map, study=study, phased=phased)


def _with_study(plan: Plan | CityPlan, record: StudyRecord) -> Plan | CityPlan:
    """The plan (and a city plan's district plans) with ``record`` in their run info."""
    def one(p: Plan) -> Plan:
        return dataclasses.replace(p, run={**p.run, "study": record})

    if isinstance(plan, CityPlan):
        return dataclasses.replace(plan, plan=one(plan.plan), districts={
            ad: one(p) for ad, p in plan.districts.items()})
    return one(plan)


def _study_file(study: Study) -> Path | None:
    """The manifest or GeoPackage a study was loaded from; ``None`` for the embedded one."""
    from netplan._paths import default_gpkg

    main = Path(study.source.split("; ")[0])  # Study.source: "<file>[; <kind> from <file>...]"
    try:
        embedded = default_gpkg().resolve()
    except DataNotFoundError:
        embedded = None
    same = main.resolve() == embedded and "; " not in study.source
    return None if same else main.resolve()


def study_record(study: Study) -> StudyRecord:
    """What a plan folder records of its study (a :class:`~netplan.planning.contract.StudyRecord`).

    Parameters
    ----------
    study
        The study the plan was made from.

    Returns
    -------
    StudyRecord
        Its name, CRS, file (``None``: the embedded study) and the SHA-256 of every file
        it was read from.
    """
    main = _study_file(study)
    files = {Path(study.source.split("; ")[0]).resolve()}
    files |= {Path(src).resolve() for src in study.layer_sources.values() if Path(src).is_file()}
    # the embedded data are named by file name only: a plan's bytes never name a folder
    return {"name": study.name, "crs": study.crs, "path": None if main is None else str(main),
            "sha256": {(f.name if main is None else str(f)): file_sha256(f)
                       for f in sorted(files) if f.is_file()}}


def plan_study(plan: Plan, study_file: Path | None = None) -> Study | None:
    """The study to draw or measure a plan with: ``study_file``, else the one it records.

    Parameters
    ----------
    plan
        A plan read from its folder.
    study_file
        ``--study``: a manifest or GeoPackage that replaces the recorded study.

    Returns
    -------
    Study or None
        ``None`` only for a plan written before plans recorded their study (a note is
        logged: the map and report are then drawn without districts and rings).

    Raises
    ------
    NetplanError
        The recorded study is missing or its files changed since the plan was made.
    """
    from netplan.study.layers import load_study

    if study_file is not None:
        return load_study(study_file)
    rec = plan.run.get("study")
    if rec is None:
        log.warning("the plan does not record the study it was made from (an older netplan "
                    "wrote it); pass --study FILE to show its districts and rings")
        return None
    path = rec.get("path")
    what = f"study {rec.get('name')!r} ({path or 'the embedded data'})"
    if path is None:  # the embedded data, wherever netplan is installed now
        from netplan._paths import default_gpkg

        if file_sha256(default_gpkg()) not in rec.get("sha256", {}).values():
            raise NetplanError(f"the plan was made from {what}, which changed since (another "
                               "netplan version?); pass --study FILE to use a study as it is "
                               "now")
        return load_study()
    for file, sha in sorted(rec.get("sha256", {}).items()):
        if not Path(file).is_file():
            raise NetplanError(f"the plan was made from {what}, but {file} is missing; pass "
                               "--study FILE with the study to use (the plan never falls back "
                               "to another study)")
        if file_sha256(Path(file)) != sha:
            raise NetplanError(f"the plan was made from {what}, but {file} changed since "
                               "(its SHA-256 differs); pass --study FILE to use it as it is "
                               "now, or the study the plan was made from")
    return load_study(path)
