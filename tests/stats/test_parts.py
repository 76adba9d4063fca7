"""Claim parts and positive controls (verdict.decide): the central part decides the headline,
each part has its own status, a control that does not hold makes its part inconclusive and
never lets it say 'not reproduced'; Holm's correction runs within each part."""
import pytest

from deepatoms.verdict import Evidence, Verdict, decide


def _row(supports, part="", control=False, p=None, metric="m"):
    return Evidence(metric, 1.0, 0.5, 1.5, 5, "t", "> 0", supports, part=part, control=control,
                    p_against=p)


def test_the_central_part_decides_the_headline_and_each_part_keeps_its_status():
    v = decide([_row(True), _row(False, "bn at 1000 blocks", p=0.001)], "f")
    assert v.status == "reproduced"
    assert [(p.title, p.status) for p in v.parts] == [
        ("central claim", "reproduced"), ("bn at 1000 blocks", "not reproduced")]


def test_a_failed_control_makes_its_part_inconclusive_never_not_reproduced():
    for control in (False, None):
        v = decide([_row(False, p=0.001), _row(control, control=True, metric="teacher gap")], "f")
        assert v.status == "inconclusive" and v.parts[0].status == "inconclusive"
        assert v.parts[0].reason.startswith("control failed: teacher gap = 1")
        assert "Undecided: control failed" in v.finding


def test_a_holding_control_leaves_the_rows_decision():
    v = decide([_row(False, p=0.001), _row(True, control=True)], "f")
    assert v.status == "not reproduced" and v.parts[0].reason == "" and len(v.controls) == 1


def test_a_control_guards_only_its_part_unless_it_says_every_part():
    rows = [_row(True), _row(True, "x"), _row(False, "x", control=True)]
    assert [p.status for p in decide(rows, "f").parts] == ["reproduced", "inconclusive"]
    rows[-1] = _row(False, "*", control=True)
    assert [p.status for p in decide(rows, "f").parts] == ["inconclusive", "inconclusive"]


def test_holm_corrects_within_a_part_not_across_parts():
    # two contradictions at p = .02 each: alone in its part each survives (.02 < .025);
    # in one part of two tested rows, Holm makes them .04: undecided
    apart = decide([_row(False, p=0.02), _row(False, "x", p=0.02)], "f")
    assert [p.status for p in apart.parts] == ["not reproduced", "not reproduced"]
    together = decide([_row(False, p=0.02), _row(False, p=0.02)], "f")
    assert together.status == "inconclusive"
    assert all(e.p_adjusted == pytest.approx(0.04) for e in together.evidence)


def test_controls_are_not_corrected_and_a_part_needs_a_claim_row():
    v = decide([_row(True), _row(True, control=True, p=0.5)], "f")
    assert v.evidence[1].p_adjusted is None
    with pytest.raises(ValueError, match="no claim row"):
        decide([_row(True), _row(True, "x", control=True)], "f")


def test_parts_survive_the_json_round_trip_and_old_records_read_without_them():
    v = decide([_row(True), _row(False, "x", p=0.001), _row(True, "x", control=True)], "f")
    back = Verdict.from_dict(v.to_dict())
    assert back.parts == v.parts and back.evidence == v.evidence
    old = {k: val for k, val in v.to_dict().items() if k != "parts"}
    for e in old["evidence"]:
        e.pop("part"), e.pop("control")
    legacy = Verdict.from_dict(old)
    assert legacy.parts == () and all(e.part == "" and not e.control for e in legacy.evidence)
