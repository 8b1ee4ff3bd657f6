"""The audits themselves, the presets and the augmentation baselines (``expand``)."""

from __future__ import annotations

import random

import pytest

from bilight.injection import InjectionPolicy, expand, presets, write_solution
from bilight.injection.check import false_equalities, misplaced_spans
from bilight.tasks import IGSM, ProblemDAG


def test_false_equalities_reads_the_reference_wording() -> None:
    ok = "- The number of each A's B is 5. Let it be Q. So Q = 5.\n- Next, let x represent the number of C. Then x = 3 * (Q + 2) = 3 * (5 + 2) = 3 * 7 = 21."
    assert false_equalities(ok) == []
    assert false_equalities(ok.replace("= 21.", "= 22."))
    assert false_equalities("So Q = 5. Then x = Q + 1 = 5 + 1 = 7.")


def test_false_equalities_catches_wrong_arithmetic() -> None:
    assert false_equalities("Define X as a; so a = 3. Define Y as b; so b = a + 4 = 3 + 4 = 7. 3 * (-2) = (-6). So b = 7.") == []
    assert false_equalities("Define X as a; so a = 3 + 4 = 8.")
    assert false_equalities("Define X as a; so a = 3. So a = 4.")
    assert false_equalities("max(3, 5) = 3.")
    assert false_equalities("True and False = True.")
    assert false_equalities("To find Y, use X (a = 9) and 2.")  # a restated with a value it never had


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_presets_by_name(name: str) -> None:
    assert isinstance(presets.get(name), InjectionPolicy)


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="bridge"):
        presets.get("brige")
    with pytest.raises(ValueError, match="style"):
        presets.get("bridge:fancy")


def test_preset_style_by_argument_or_name() -> None:
    assert presets.get("bridge:reference") == presets.bridge(style="reference") == presets.get("bridge", style="reference")
    assert presets.get("vanilla:reference").style == "reference" and presets.get("vanilla").style == "compact"
    assert presets.bridge(style="reference").explore_p == presets.bridge().explore_p


def test_reference_recipe_knobs() -> None:
    bridge = presets.bridge()
    assert bridge.explore_p == 0.1 and bridge.explore_distractor_share == 0.3 and bridge.detailed
    assert [bridge.analysis_prob(k) for k in range(7)] == [0.0, 0.1, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert presets.explore_only().analysis_probs == (0.0,) and not presets.explore_only().detailed
    assert presets.exploit_only().explore_p == 0.0 and presets.exploit_only().detailed
    assert presets.vanilla() == InjectionPolicy()


def test_vanilla_injects_nothing() -> None:
    problem = IGSM(4, 6, seed=3).problem(0)
    kinds = {s.kind for s in write_solution(problem, presets.vanilla(), random.Random(0)).steps}
    assert kinds <= {"regular", "answer"}


def test_ablations_inject_only_their_half() -> None:
    task = IGSM(8, 10, seed=5)
    explore_kinds: set[str] = set()
    exploit_kinds: set[str] = set()
    for i in range(30):
        p = task.problem(i)
        explore_kinds |= {s.kind for s in write_solution(p, presets.explore_only(), random.Random(i)).steps}
        exploit_kinds |= {s.kind for s in write_solution(p, presets.exploit_only(), random.Random(i)).steps}
    assert "explore" in explore_kinds and not explore_kinds & {"analysis", "subgoal"}
    assert "analysis" in exploit_kinds and not exploit_kinds & {"explore", "early_solve", "subgoal"}


def test_answer_aug_rows_have_distinct_orders_with_the_target_last() -> None:
    task = IGSM(6, 8, seed=11)
    for i in range(20):
        problem = task.problem(i)
        rows = expand(problem, presets.answer_aug(k=4), random.Random(i))
        assert len(rows) == 4 and all(q == problem.question for q, _ in rows)
        orders = [tuple(s.node for s in sol.steps if s.kind == "regular") for _, sol in rows]
        assert orders[0] == problem.dag.topological_order()
        assert len(set(orders)) == min(4, _count_orders(problem.dag, 4))
        for order, (_, sol) in zip(orders, rows, strict=True):
            assert order[-1] == problem.dag.target and set(order) == problem.dag.necessary
            assert misplaced_spans(sol, problem.dag) == [] and false_equalities(sol.text) == []


def _count_orders(dag: ProblemDAG, limit: int) -> int:
    """Topological orders of the necessary nodes, counted up to ``limit``."""

    def walk(known: tuple[str, ...]) -> int:
        rest = [n for n in dag.necessary if n not in known]
        if not rest:
            return 1
        total = 0
        for n in rest:
            if dag.is_unlocked(n, known):
                total += walk((*known, n))
                if total >= limit:
                    break
        return total

    return walk(())


def test_answer_aug_on_a_chain_repeats_its_only_order() -> None:
    task = IGSM(2, 2, seed=0)
    problem = next(p for p in map(task.problem, range(50)) if len(p.dag.necessary) == 2 and len(p.dag.node(p.dag.target).parents) == 1)
    rows = expand(problem, presets.answer_aug(k=4), random.Random(0))
    assert len(rows) == 4 and len({r[1].text for r in rows}) == 1


def test_question_aug_reshuffles_conditions_and_keeps_the_query_last() -> None:
    task = IGSM(4, 6, seed=2)
    for i in range(20):
        problem = task.problem(i)
        rows = expand(problem, presets.question_aug(k=4), random.Random(i))
        assert rows[0][0] == problem.question and len(rows) == 4
        questions = [q for q, _ in rows]
        if len(problem.conditions) >= 4:
            assert len(set(questions)) == 4
        for q, sol in rows:
            assert q.endswith(problem.query)
            assert sorted(q[: -len(problem.query)].split(". ")) == sorted(problem.question[: -len(problem.query)].split(". "))
            assert sol.answer == problem.answer


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="explore_p"):
        InjectionPolicy(explore_p=1.5)
    with pytest.raises(ValueError, match="copies"):
        InjectionPolicy(copies=3)


def test_display_renders_every_span() -> None:
    from bilight.injection.display import dag_text, side_by_side_html

    problem = IGSM(10, 12, seed=1).problem(0)
    bridge = write_solution(problem, presets.bridge(), random.Random(0))
    page = side_by_side_html(write_solution(problem, presets.vanilla(), random.Random(0)), bridge)
    assert page.count("<span") >= sum(s.kind != "regular" for s in bridge.steps)
    assert "[    target]" in dag_text(problem) and len(dag_text(problem).splitlines()) == len(problem.dag.nodes)
