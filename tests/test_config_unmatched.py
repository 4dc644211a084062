"""`unmatched_rules`: a `[metrics.<glob>]` rule that matches no evaluator is said, with the
nearest evaluator names, instead of being silently ignored."""

from __future__ import annotations

from driftgate.config import parse_config, unmatched_rules

LABELS = ["intent_correct", "tone", "answer_quality", "tone_score"]


def test_a_misspelt_rule_names_the_evaluator_it_meant() -> None:
    config = parse_config(
        {"metrics": {"intent_corect": {"level": "warn"}}}, source="driftgate.toml"
    )
    (warning,) = unmatched_rules(config, LABELS)
    assert warning == (
        "driftgate.toml: the rule [metrics.intent_corect] matches no evaluator of the compared "
        "experiments (did you mean 'intent_correct'?); it is ignored and the default rule "
        "applies: rename it to the evaluator's label"
    )


def test_globs_that_match_and_exact_names_are_not_warned_about() -> None:
    config = parse_config({"metrics": {"tone*": {"level": "off"}, "answer_quality": {}}})
    assert unmatched_rules(config, LABELS) == []


def test_a_rule_far_from_every_name_lists_the_evaluators_and_keeps_the_glob_quoted() -> None:
    config = parse_config({"metrics": {"latency*": {"level": "off"}}}, prefix=("tool", "driftgate"))
    (warning,) = unmatched_rules(config, LABELS)
    assert '[metrics."latency*"]' in warning
    assert "(the evaluators are 'answer_quality', 'intent_correct', 'tone', 'tone_score')" in (
        warning
    )


def test_nothing_is_said_without_evaluators_to_match() -> None:
    # A failed command compares nothing: every rule would look unmatched.
    config = parse_config({"metrics": {"anything": {}}})
    assert unmatched_rules(config, []) == []


def test_several_names_as_near_are_all_offered() -> None:
    config = parse_config({"metrics": {"tone_scor": {}}})
    (warning,) = unmatched_rules(config, ["tone_score", "tone_scar", "answer_quality"])
    assert "(did you mean 'tone_score' or 'tone_scar'?)" in warning
