"""benchmarks.render_many: the generated team stacks are distinct, valid and mixed (not the time budget)."""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks import render_many
from tools.stackfile import load_stack

COUNT = 8
"""Six are rendered in the test process (one per template), two by two forked workers."""


def test_generated_stacks_are_distinct_valid_and_cover_clouds_and_modes(tmp_path: Path) -> None:
    stacks = render_many.generate(COUNT, tmp_path)

    assert len(stacks) == COUNT
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(s.path.name for s in stacks)
    assert len({s.name for s in stacks}) == COUNT
    assert len({s.team for s in stacks}) == COUNT
    configs = [load_stack(s.path) for s in stacks]
    assert [c.stack for c in configs] == [s.name for s in stacks]
    assert len({yaml.safe_dump(c.values, sort_keys=True) for c in configs}) == COUNT
    for stack, config in zip(stacks, configs, strict=True):
        values = config.project_values()
        assert values["team"] == stack.team
        assert values["environment"] == stack.environment
        assert values["cloud"] == stack.template.cloud
        assert values["deploymentMode"] == stack.template.mode
    assert {c.project_values()["cloud"] for c in configs} == {"aws", "azure"}
    assert {c.project_values()["deploymentMode"] for c in configs} == {"self-hosted", "remote-execution"}
    assert len({s.environment for s in stacks}) >= 2

    # Two workers forked from this process (which has rendered before: its event loop must not be reused).
    assert render_many.workers(COUNT, 2) == 2
    results = render_many.validate(stacks, jobs=2)

    assert [r.stack for r in results] == stacks, "results come back in the order of the stacks"
    assert [r.error for r in results] == [None] * COUNT
    assert all(r.resources > 0 and r.seconds > 0 and r.cpu > 0 for r in results)
    serial = render_many.validate(stacks[-2:], jobs=1)
    assert [r.resources for r in serial] == [r.resources for r in results[-2:]], "a worker renders what this process renders"


def test_should_report_a_failing_stack_here_and_in_a_worker_and_carry_on(tmp_path: Path) -> None:
    stacks = render_many.generate(COUNT, tmp_path)
    broken = [0, 1, 2, 3, 4, 6]  # five rendered in this process, one in a worker (a refused stack costs little)
    for index in broken:
        team = stacks[index].team
        text = stacks[index].path.read_text()
        stacks[index].path.write_text(text.replace(f"airflow-platform:team: {team}", f"airflow-platform:team: {team.upper()}_X"))

    results = render_many.validate(stacks, jobs=2)

    for index, result in enumerate(results):
        if index in broken:
            assert result.error and "team" in result.error and result.resources == 0, result
        else:
            assert result.error is None and result.resources > 0, result


def test_main_reports_and_enforces_the_budget(tmp_path: Path, capsys) -> None:
    assert render_many.main(["--stacks", "2", "--jobs", "2", "--keep", str(tmp_path), "--budget", "600"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 2 stacks") and "p95" in out and "peak RSS" in out and "in 1 process)" in out
    assert render_many.main(["--stacks", "1", "--keep", str(tmp_path), "--budget", "0"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_percentile_is_nearest_rank() -> None:
    assert render_many.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert render_many.percentile([5.0], 95) == 5.0
    assert render_many.percentile(list(map(float, range(1, 101))), 95) == 95.0
