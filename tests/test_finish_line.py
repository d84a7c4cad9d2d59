"""The finish line and the live resolved rate: projections from measured times, Wilson from the one copy."""

from __future__ import annotations

import pytest

from atlas.costs import ApiPricing, FreePricing, LocalPricing
from atlas.finish_line import VERIFIED_INSTANCES, project, wall_seconds
from atlas.grading_pool import Grade
from atlas.harness import stats
from atlas.intervals import wilson_interval
from atlas.progress import BatchProgress, Tally


def test_agents_and_grading_overlap_so_the_longer_phase_sets_the_time():
    # 10 instances, 2 agents at 30 s each: 150 s of agents; 2 graders at 20 s each: 100 s; + the last grading
    assert wall_seconds(10, 30, 20, 2, 2) == pytest.approx(150 + 20)
    # grading slower than the agents: grading sets the pace
    assert wall_seconds(10, 10, 40, 2, 1) == pytest.approx(400 + 40)


def test_projection_of_a_local_model_prices_the_gpu_for_the_whole_run():
    pricing = LocalPricing(gpu_price_usd=1600, amortization_years=3, power_watts=350, electricity_usd_per_kwh=0.3)
    line = project(20, [60, 120], [30], [0.0, 0.0], workers=4, grade_workers=2, pricing=pricing)
    verified = wall_seconds(VERIFIED_INSTANCES, 90, 30, 4, 2)
    assert line.selection_seconds == pytest.approx(wall_seconds(20, 90, 30, 4, 2))
    assert line.verified_seconds == pytest.approx(verified)
    assert line.verified_usd == pytest.approx(verified * pricing.per_gpu_second())
    assert line.measured == 2


def test_projection_of_an_api_model_is_the_measured_cost_per_instance():
    pricing = ApiPricing(input_per_mtok=3, output_per_mtok=15)
    line = project(10, [100, 100], [], [0.40, 0.60], workers=1, grade_workers=1, pricing=pricing)
    assert line.verified_usd == pytest.approx(VERIFIED_INSTANCES * 0.50)
    assert line.selection_seconds == pytest.approx(1000)  # nothing graded yet: grading counted as free


def test_no_measurement_no_projection_and_no_pricing_says_so():
    assert project(10, [], [], [], 1, 1, None) is None
    assert project(10, [5], [], [0.0], 1, 1, None).verified_usd is None
    assert project(10, [5], [], [0.0], 1, 1, FreePricing()).verified_usd == 0.0
    assert "no pricing" in project(10, [5], [], [0.0], 1, 1, None).summary()


def test_the_harness_uses_the_cores_wilson_interval():
    assert stats.wilson_interval is wilson_interval


def test_progress_counts_resolved_so_far_without_infrastructure_failures():
    progress = BatchProgress(4, 0, tally=Tally(4, 2, 2), grading=True)
    for grade in [Grade("a", True, "resolved", 1.0), Grade("b", False, "unresolved", 2.0),
                  Grade("c", False, "eval_error", 3.0), Grade("d", True, "resolved", 4.0)]:
        progress.graded(grade)
    low, high = wilson_interval(2, 3)
    assert progress.tally.rate_text() == f"resolved 2/3 (66.7%, Wilson 95% [{100 * low:.1f}, {100 * high:.1f}])"
    assert progress.tally.grade_seconds == [1.0, 2.0, 3.0, 4.0]
