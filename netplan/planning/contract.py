"""The shape of ``kpis.json``: what a plan promises to its readers (maps, report, terminal).

:func:`netplan.planning.plan.plan_from_solution` builds a :class:`Kpis` for one scope (the
city or one district); :func:`netplan.planning.city.merge_districts` adds the city-only
keys of a plan merged from district runs. :func:`netplan.planning.plan.read_plan` checks a
file's shape against :data:`KPIS_KEYS` before handing it out as a :class:`Kpis`.

Numbers are rounded for output; ``None`` (JSON ``null``) stands for "not defined"
(no population, a saturated queue, no limit).
"""

from typing import NotRequired, TypedDict

from netplan.model.scenario import ScenarioSource

__all__ = [
    "KPIS_KEYS",
    "KPI_SET_KEYS",
    "ActionCounts",
    "BehaviourInfo",
    "CityBound",
    "Coordination",
    "CostKpis",
    "DistrictCoordination",
    "DistrictLimitsInfo",
    "DistrictRunInfo",
    "DistrictTiming",
    "FailedDistrict",
    "HoldsInfo",
    "KpiSet",
    "Kpis",
    "LimitCheck",
    "MergeInfo",
    "NearestInfo",
    "NetworkKpis",
    "OverCapacity",
    "RepairStats",
    "RobustCase",
    "RobustInfo",
    "RunInfo",
    "ScenarioEcho",
    "ServiceKpis",
    "SkippedDistrict",
    "SolverKpis",
    "StudyRecord",
]

Number = int | float
"""A JSON number."""

ActionCounts = dict[str, int]
"""Number of sites per action name (every name of :data:`netplan.planning.actions.ACTION_NAMES`)."""


class ScenarioEcho(TypedDict):
    """The scenario as :func:`netplan.model.scenario.scenario_to_dict` writes it (TOML layout)."""

    name: str
    description: str
    years: dict[str, int]
    horizon: dict[str, float | list[str]]  # central_districts: names or adcodes
    demand: dict[str, float]
    service: dict[str, float]  # max_share_over_target: None when not set
    travel: dict[str, Number]
    planning: dict[str, Number | None]
    formats: dict[str, dict[str, Number | str]]
    districts: dict[str, dict[str, str | int | None]]
    behaviour: NotRequired[dict[str, Number | str]]
    source: NotRequired[ScenarioSource]


class SolverKpis(TypedDict):
    """How the solve went (``status`` ``merged``/``merged_with_failures`` for a city merge)."""

    status: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    solver: str
    bound_source: NotRequired[str]
    max_district_gap: NotRequired[float | None]
    districts_ok: NotRequired[int]
    districts_failed: NotRequired[int]


class CostKpis(TypedDict):
    """Operating, one-off and travel costs of the scope, before and after (CNY)."""

    opex_before_cny_per_year: int
    opex_after_cny_per_year: int
    oneoff_spend_cny: int
    budget_cny: float | None
    travel_before_cny_per_year: int
    travel_after_cny_per_year: int


class NetworkKpis(TypedDict):
    """KPIs of one network over one group of zones and outlets.

    The keys of :func:`netplan.model.kpi.network_kpis` (see its module docstring for
    their definitions); ``share_outlets_outside_ring`` (the share of open outlets outside
    the scenario's ``planning.outside_ring``, which ``scenario.planning.outside_ring``
    records; ``None`` when the study has no such ring) is set on the ``overall`` entry of
    a :class:`KpiSet` only.
    """

    population: int
    outlets: int
    arrivals_per_h: float | None
    mean_dist_m: float | None
    p95_dist_m: float | None
    share_pop_within_1km: float | None
    share_pop_within_2km: float | None
    share_pop_within_3km: float | None
    mean_wait_min: float | None
    share_customers_over_target: NotRequired[float | None]
    overloaded_outlets: int
    unserved_arrivals_per_h: float | None
    share_outlets_outside_ring: NotRequired[float | None]


class KpiSet(TypedDict):
    """One network measured over the plan's scope, per district (adcode) and per ring zone."""

    overall: NetworkKpis
    districts: dict[str, NetworkKpis]
    ring_zones: dict[str, NetworkKpis]


class ServiceKpis(TypedDict):
    """The bank's service figures of one network under one behaviour rule.

    The keys of :func:`netplan.model.behaviour.service_kpis`: mean waits of the
    customers who join each queue, the customer-weighted share who wait longer than the
    target (the Erlang A tail, both queues), ``mean_wait_min`` both queues blended (the
    secondary figure), outlets above their capacity at the target, and per peak hour the
    customers served, giving up (``abandoned``) and finding no outlet (``unserved``).
    """

    rule: str
    outlets: int
    mean_wait_min: float
    counter_mean_wait_min: float
    terminal_mean_wait_min: float
    share_customers_wait_over_target: float
    counter_share_wait_over_target: float
    overloaded_outlets: int
    unserved_arrivals_per_h: float
    served_per_h: float
    abandoned_per_h: float


class OverCapacity(TypedDict):
    """An outlet above its capacity at the wait target after the plan."""

    site_id: str
    load_per_h: float
    capacity_per_h: float
    reason: str | None


class NearestInfo(TypedDict):
    """Before and after under the ``nearest`` rule, beside the scenario's ``choice``."""

    before: ServiceKpis
    after: ServiceKpis
    change_pct: dict[str, float | None]


class HoldsInfo(TypedDict):
    """The loop that makes a plan hold under the rule (:mod:`netplan.planning.holds`).

    Attributes
    ----------
    iterations
        Solves made.
    overloaded_per_iteration
        Outlets above their capacity under the rule after each solve's plan.
    kept_iteration
        The solve whose plan this is (the fewest overloaded outlets, the cheaper on a tie);
        the solver's gap is the one proven for that solve's model.
    stop
        Why the loop stopped: ``holds``, ``iteration limit``, ``time limit`` or
        ``stalled`` (a solve left no fewer overloaded outlets than the best before it).
    """

    iterations: int
    overloaded_per_iteration: list[int]
    kept_iteration: int
    stop: str


class BehaviourInfo(TypedDict):
    """How customers were assumed to behave, and the service figures that follow.

    Attributes
    ----------
    rule, parameters
        The scenario's ``[behaviour]`` table.
    before, after
        :class:`ServiceKpis` of the two networks under that rule.
    change_pct
        Percentage change of ``counter_mean_wait_min`` and
        ``share_customers_wait_over_target`` (``None`` from 0).
    nearest
        The same under ``nearest`` when the rule is ``choice``.
    holds
        No outlet above its capacity at the target after the plan, under the rule.
    over_capacity
        The outlets that are, each with the reason the plan could not relieve it.
    loop
        What the loop that makes plans hold did (absent when no loop ran, e.g. a merged
        district-by-district plan).
    note
        What the solver's gap refers to.
    """

    rule: str
    parameters: dict[str, float]
    before: ServiceKpis
    after: ServiceKpis
    change_pct: dict[str, float | None]
    nearest: NotRequired[NearestInfo]
    holds: bool
    over_capacity: list[OverCapacity]
    loop: NotRequired[HoldsInfo]
    note: str


class FailedDistrict(TypedDict):
    """A district whose run failed (or was not run); it keeps its network."""

    adcode: str
    error: str
    reason: str


class SkippedDistrict(TypedDict):
    """A district left out on purpose (nothing to decide)."""

    adcode: str
    reason: str


class MergeInfo(TypedDict):
    """How the district plans were merged."""

    method: str
    note: str
    district_mode: NotRequired[str]
    objective_as_routed: NotRequired[float]
    """The whole-city objective of the merged plan as the districts route its zones (the
    solver's objective is that of the best routing for its decisions)."""


class LimitCheck(TypedDict):
    """A city limit and the merged plan's value."""

    limit: Number | None
    value: Number | None
    ring: NotRequired[int]
    """``min_share_outside_ring``: the ring (``planning.outside_ring``)."""


class RepairStats(TypedDict):
    """Conflicts between district plans and how the merge repaired them."""

    conflict_pairs: int
    closed_outlet_arrivals_per_h: float
    overload_arrivals_per_h: float
    moved_arrivals_per_h: float
    unserved_arrivals_per_h: float


class DistrictCoordination(TypedDict):
    """One district's actions counted on the merged plan, next to its share of the limits."""

    opened: int
    closed: int
    upgraded: int
    converted: int
    max_open: int | None
    max_close: int | None
    max_upgrade: int | None
    max_convert: int | None
    budget_cny: float | None


class CityBound(TypedDict):
    """The city-level lower bound of a merged plan (:mod:`netplan.planning.city_bound`)."""

    method: str
    bound: float | None
    """The best of ``lp_bound`` and ``mip_round_bound`` (the one in ``solver.best_bound``)."""
    lp_bound: float | None
    mip_round_bound: float | None
    """The best bound of the MIP rounds (None without one)."""
    mip_rounds: int
    start_bound: float | None
    rounds: int
    """LP rounds."""
    stop: str
    seconds: float
    blocks: int
    linking_rows: dict[str, int]


class Coordination(TypedDict):
    """The city limits checked on the merged plan."""

    method: str
    checks: dict[str, LimitCheck]
    violations: list[str]
    repair: RepairStats
    overloaded_outlets_after: int | None
    districts: dict[str, DistrictCoordination]
    city_bound: NotRequired[CityBound]


class DistrictLimitsInfo(TypedDict):
    """A district's share of the city limits (:meth:`DistrictLimits.as_dict`)."""

    max_open: int | None
    max_close: int | None
    max_upgrade: int | None
    max_convert: int | None
    budget_cny: float | None
    need_per_h: float
    slack_per_h: float
    cap_open: int | None
    cap_close: int | None


class DistrictRunInfo(TypedDict):
    """Summary of one district run (the same for identical runs; timings are in run.json)."""

    ok: bool
    reason: NotRequired[str]
    error: NotRequired[str]
    status: NotRequired[str]
    objective: NotRequired[float | None]
    best_bound: NotRequired[float | None]
    gap: NotRequired[float | None]
    model_zones: int
    model_sites: int
    actions: NotRequired[ActionCounts]
    limits: DistrictLimitsInfo | None


class RobustCase(TypedDict):
    """The robust plan under one demand case (:mod:`netplan.planning.robust`).

    Attributes
    ----------
    case, channel_shift, growth, visit_frequency
        The case (:class:`netplan.planning.stress.DemandCase`).
    weight
        Its weight in the expected objective (1 / n each by default; not used by
        ``worst``).
    service
        The plan's network after, measured under the case with the behaviour model.
    cost_cny_per_year
        Its yearly cost under the case, unserved customers priced in (as ``netplan
        stress`` prices it).
    """

    case: str
    channel_shift: float
    growth: float
    visit_frequency: float
    weight: float
    service: ServiceKpis
    cost_cny_per_year: float


class RobustInfo(TypedDict):
    """How a robust plan was made (``netplan plan --robust``).

    Attributes
    ----------
    objective
        ``expected`` (weighted sum of the cases' assignment costs) or ``worst`` (the
        largest of them), each plus the sites' costs.
    cases
        Per case, in the order given: weight and the plan's behaviour figures.
    holds_loop
        Always False: a robust plan is solved once, without the loop that makes a plan
        hold under the rule (``behaviour.holds`` says whether it holds in the base case).
    """

    objective: str
    cases: list[RobustCase]
    holds_loop: bool


class Kpis(TypedDict):
    """The content of ``kpis.json``.

    Attributes
    ----------
    scope
        ``"city"`` or the adcode of the planned district.
    year
        Demand year.
    scenario
        The scenario echo.
    solver
        Solver status, objective, bound and gap.
    actions
        Number of sites per action.
    costs
        Costs before and after.
    before, after
        KPIs of the current network and of the planned one, both from the customers'
        flows under the scenario's behaviour rule.
    behaviour
        The rule and the bank's service figures before and after (absent in plans
        written before the behaviour model).
    failed_districts, skipped_districts, merge, coordination, districts_run
        Only in a city plan merged from district runs.
    robust
        Only in a robust plan (``netplan plan --robust``): its cases, weights, objective
        and figures per case.
    """

    scope: str
    year: int
    scenario: ScenarioEcho
    solver: SolverKpis
    actions: ActionCounts
    costs: CostKpis
    before: KpiSet
    after: KpiSet
    behaviour: NotRequired[BehaviourInfo]
    failed_districts: NotRequired[list[FailedDistrict]]
    skipped_districts: NotRequired[list[SkippedDistrict]]
    merge: NotRequired[MergeInfo]
    coordination: NotRequired[Coordination]
    districts_run: NotRequired[dict[str, DistrictRunInfo]]
    robust: NotRequired[RobustInfo]


KPIS_KEYS: frozenset[str] = Kpis.__required_keys__
"""Keys every ``kpis.json`` holds."""

KPI_SET_KEYS: frozenset[str] = KpiSet.__required_keys__
"""Keys of ``before`` and ``after``."""


class DistrictTiming(TypedDict, total=False):
    """Seconds, memory and worker of one district run (``run.json`` of a city plan)."""

    solve_s: float | None
    build_s: float | None
    wall_s: float
    cpu_s: float
    peak_rss_mb: float | None
    worker: str


class StudyRecord(TypedDict):
    """The study a plan was made from (``run.json`` ``study``), so that ``map``, ``report``
    and ``evaluate`` use it and notice when it changed."""

    name: str
    crs: str
    """The metric CRS the plan's layers are read back into."""
    path: str | None
    """The study manifest or GeoPackage (absolute); ``None`` for the embedded study."""
    sha256: dict[str, str]
    """SHA-256 of every file the study was read from (absolute path -> hex digest)."""


class RunInfo(TypedDict, total=False):
    """The content of ``run.json``: timings and versions (differs between identical runs).

    Every plan has ``netplan`` and the solver's seconds; a city plan merged from district
    runs adds how they ran (``mode`` ... ``districts``). A folder without ``run.json``
    reads as an empty one.
    """

    netplan: str
    solve_seconds: float
    build_seconds: float
    search_seconds: float
    search_gain: float
    loop_added_seconds: float
    mode: str
    scheduler: str
    workers: dict[str, int]
    split_seconds: float
    cluster_seconds: float
    tasks_seconds: float
    districts_seconds: float
    merge_seconds: float
    wall_seconds: float
    sum_district_seconds: float
    sum_district_cpu_seconds: float
    max_worker_peak_rss_mb: float | None
    districts: dict[str, DistrictTiming]
    study: StudyRecord
