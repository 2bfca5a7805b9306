"""The history checker reports every kind of anomaly, with the operations involved, and
never flags a history that a linearizable store could have produced."""

from __future__ import annotations

import random

import pytest

from tests.reliability.history import Anomaly, Op, check, etag_of


def put(key: str, value: str, start: float, end: float | None, client: int = 0) -> Op:
    etag = None if end is None else etag_of(value)
    return Op(client, "put", key, start, end, value=value, etag=etag)


def delete(key: str, start: float, end: float | None, client: int = 0) -> Op:
    return Op(client, "delete", key, start, end)


def get(key: str, value: str | None, start: float, end: float | None, client: int = 1) -> Op:
    etag = None if value is None else etag_of(value)
    return Op(client, "get", key, start, end, value=value, etag=etag)


def head(key: str, value: str | None, start: float, end: float, client: int = 1) -> Op:
    return Op(client, "head", key, start, end, etag=None if value is None else etag_of(value))


def listing(values: dict[str, str], start: float, end: float | None, client: int = 2) -> Op:
    entries = {key: (etag_of(value), len(value.encode())) for key, value in values.items()}
    return Op(client, "list", "", start, end, listing=entries)


def only(history: list[Op]) -> Anomaly:
    report = check(history)
    assert len(report.anomalies) == 1, report.describe()
    return report.anomalies[0]


# -- Histories a consistent store produces ---------------------------------------------------


def test_sequential_history_is_clean() -> None:
    history = [
        get("a", None, 0, 1),
        put("a", "v1", 2, 3),
        get("a", "v1", 4, 5),
        head("a", "v1", 5, 6),
        listing({"a": "v1"}, 6, 7),
        put("a", "v2", 8, 9),
        get("a", "v2", 10, 11),
        delete("a", 12, 13),
        get("a", None, 14, 15),
        head("a", None, 15, 16),
        listing({}, 16, 17),
    ]
    report = check(history)
    assert report.anomalies == [], report.describe()
    assert report.observations == 8  # 4 GETs, 2 HEADs, 2 LISTs of one key
    assert report.counts["get ok"] == 2
    assert report.counts["get 404"] == 2


def test_reads_concurrent_with_a_write_may_see_either_value() -> None:
    history = [
        put("a", "v1", 0, 1),
        put("a", "v2", 2, 10),
        get("a", "v1", 3, 4),
        get("a", "v2", 5, 6, client=2),
        listing({"a": "v1"}, 4.5, 5.5),  # overlaps the read that saw v2
        delete("a", 11, 20),
        get("a", "v2", 12, 13),
        get("a", None, 14, 15),
        listing({"a": "v2"}, 12, 16, client=3),
    ]
    assert check(history).anomalies == []


def test_concurrent_writes_may_take_effect_in_either_order() -> None:
    history = [
        put("a", "v1", 0, 5),
        put("a", "v2", 1, 4, client=1),
        get("a", "v1", 6, 7),  # v1 landed last
        delete("a", 8, 12),
        put("a", "v3", 9, 10, client=1),
        get("a", None, 13, 14),  # the DELETE landed after v3
    ]
    assert check(history).anomalies == []


def test_a_put_or_delete_with_unknown_outcome_may_land_late_or_never() -> None:
    history = [
        put("a", "v1", 0, None),
        put("a", "v2", 2, 3, client=1),
        get("a", "v1", 4, 5),  # v1 landed after v2
        get("a", "v1", 6, 7),
        delete("b", 0, None),
        put("b", "w1", 1, 2, client=1),
        get("b", "w1", 3, 4),
        get("b", None, 5, 6),  # the DELETE landed late
        put("c", "x1", 0, None),
        get("c", None, 1, 2),  # and x1 never did
        listing({"a": "v1"}, 8, 9),
    ]
    assert check(history).anomalies == []


def test_reads_with_unknown_outcome_tell_nothing() -> None:
    history = [
        put("a", "v1", 0, 1),
        put("a", "v2", 2, 3),
        Op(1, "get", "a", 4, None, error="timeout"),
        Op(2, "list", "", 4, None, error="timeout"),
    ]
    report = check(history)
    assert report.anomalies == []
    assert report.counts["get unknown"] == 1


# -- Each anomaly is reported ----------------------------------------------------------------


def test_stale_read_is_reported() -> None:
    w1, w2 = put("a", "v1", 0, 1), put("a", "v2", 2, 3)
    read = get("a", "v1", 4, 5)
    anomaly = only([w1, w2, read])
    assert (anomaly.kind, anomaly.key, anomaly.op) == ("stale-read", "a", read)
    assert anomaly.witnesses == (w1, w2)
    text = str(anomaly)
    assert text.startswith("stale-read on 'a'")
    assert "'v1'" in text
    assert "'v2'" in text


def test_stale_read_after_another_read_saw_the_new_value_is_reported() -> None:
    """v2 is still in flight, but a read that completed saw it: a later read must not
    go back to v1 (new, then old)."""
    w1, w2 = put("a", "v1", 0, 1), put("a", "v2", 2, 10)
    saw_new = get("a", "v2", 3, 4, client=2)
    stale = head("a", "v1", 5, 6)
    anomaly = only([w1, w2, saw_new, stale])
    assert anomaly.kind == "stale-read"
    assert anomaly.op is stale
    assert anomaly.witnesses == (w1, w2, saw_new)


def test_undone_delete_is_reported() -> None:
    w1, gone = put("a", "v1", 0, 1), delete("a", 2, 3)
    read = get("a", "v1", 4, 5)
    anomaly = only([w1, gone, read])
    assert (anomaly.kind, anomaly.op, anomaly.witnesses) == ("undone-delete", read, (w1, gone))


def test_undone_delete_seen_by_head_and_list_is_reported() -> None:
    w1, gone = put("a", "v1", 0, 1), delete("a", 2, 3)
    by_head, by_list = head("a", "v1", 4, 5), listing({"a": "v1"}, 4, 5)
    report = check([w1, gone, by_head, by_list])
    assert sorted((a.kind, a.op.kind) for a in report.anomalies) == [
        ("undone-delete", "head"),
        ("undone-delete", "list"),
    ]


def test_list_missing_a_completed_write_is_reported() -> None:
    w1 = put("b", "v1", 0, 1)
    other = put("a", "x1", 0, 1)
    scan = listing({"a": "x1"}, 2, 3)
    anomaly = only([w1, other, scan])
    assert (anomaly.kind, anomaly.key, anomaly.op) == ("missing-write", "b", scan)
    assert anomaly.witnesses == (w1,)


def test_list_missing_a_write_a_delete_was_concurrent_with_is_fine() -> None:
    history = [
        put("b", "v1", 0, 1),
        delete("b", 1.5, 5),  # in flight while the LIST ran
        listing({}, 2, 3),
        put("c", "w1", 0, 4),
        delete("c", 1, 2),  # completed, but concurrent with the PUT: may land last
        listing({}, 4.5, 6),
    ]
    assert check(history).anomalies == []


def test_get_404_after_a_completed_write_is_reported() -> None:
    w0, gone, w1 = put("a", "v0", 0, 1), delete("a", 2, 3), put("a", "v1", 4, 5)
    read = get("a", None, 6, 7)
    anomaly = only([w0, gone, w1, read])
    assert (anomaly.kind, anomaly.op) == ("missing-write", read)
    assert anomaly.witnesses == (w1, gone)


def test_read_of_a_value_never_written_is_reported() -> None:
    history = [put("a", "v1", 0, 1), get("a", "ghost", 2, 3)]
    anomaly = only(history)
    assert (anomaly.kind, anomaly.op) == ("never-written", history[1])
    assert "'ghost'" in anomaly.detail


def test_head_and_list_etags_that_match_no_value_are_reported() -> None:
    bogus_head = Op(1, "head", "a", 2, 3, etag='"0123456789abcdef0123456789abcdef"')
    bogus_list = Op(2, "list", "", 2, 3, listing={"a": ("feedface" * 4, 2)})
    report = check([put("a", "v1", 0, 1), bogus_head, bogus_list])
    assert [(a.kind, a.op) for a in report.anomalies] == [
        ("never-written", bogus_head),
        ("never-written", bogus_list),
    ]


def test_value_written_to_another_key_is_reported() -> None:
    elsewhere = put("b", "v1", 0, 1)
    read = get("a", "v1", 2, 3)
    anomaly = only([elsewhere, read])
    assert anomaly.kind == "never-written"
    assert anomaly.witnesses == (elsewhere,)
    assert "'b'" in anomaly.detail


def test_read_from_the_future_is_reported() -> None:
    late = put("a", "v1", 5, 6)
    read = get("a", "v1", 1, 2)
    anomaly = only([late, read])
    assert (anomaly.kind, anomaly.witnesses) == ("future-read", (late,))


def test_etags_inconsistent_with_values_are_reported() -> None:
    wrong_put = Op(0, "put", "a", 0, 1, value="v1", etag=etag_of("other"))
    wrong_get = Op(1, "get", "a", 2, 3, value="v1", etag=etag_of("v2"))
    wrong_size = Op(2, "list", "", 2, 3, listing={"a": (etag_of("v1"), 99)})
    report = check([wrong_put, wrong_get, wrong_size])
    assert [(a.kind, a.op) for a in report.anomalies] == [
        ("etag-mismatch", wrong_put),
        ("etag-mismatch", wrong_get),
        ("etag-mismatch", wrong_size),
    ]


def test_history_order_does_not_matter() -> None:
    history = [
        put("a", "v1", 0, 1),
        put("a", "v2", 2, 3),
        delete("b", 0, 1),
        put("b", "w1", 2, 3),
        get("a", "v1", 4, 5),
        listing({}, 4, 5),
    ]
    expected = sorted((a.kind, a.key, a.op.kind) for a in check(history).anomalies)
    assert expected == [
        ("missing-write", "a", "list"),
        ("missing-write", "b", "list"),
        ("stale-read", "a", "get"),
    ]
    for seed in range(5):
        shuffled = history[:]
        random.Random(seed).shuffle(shuffled)
        assert sorted((a.kind, a.key, a.op.kind) for a in check(shuffled).anomalies) == expected


def test_values_must_be_unique() -> None:
    with pytest.raises(ValueError, match="written twice"):
        check([put("a", "v1", 0, 1), put("b", "v1", 2, 3)])


# -- Soundness: a simulated linearizable store is never flagged ----------------------------


def linearizable_history(rng: random.Random, clients: int, steps: int) -> list[Op]:
    """Each client runs ``steps`` operations one after another; each takes effect at one
    moment inside its interval (a write of unknown outcome: at any later moment, or
    never), applied in that order to a model of the store."""
    keys = ["a", "b", "c"]
    events: list[tuple[float, int, Op]] = []  # (moment of effect, tie-break, op sketch)
    for client in range(clients):
        now = rng.random()
        for step in range(steps):
            kind = rng.choice(["put", "put", "delete", "get", "head", "list"])
            key = "" if kind == "list" else rng.choice(keys)
            start = now
            moment = start + rng.random()
            end: float | None = moment + rng.random()
            if rng.random() < 0.05:
                end = None
                if kind in ("put", "delete"):
                    moment = start + rng.random() * 10
                    if rng.random() < 0.3:
                        moment = float("inf")  # never applied
            value = f"{client}-{step}" if kind == "put" else None
            events.append((moment, len(events), Op(client, kind, key, start, end, value=value)))
            gave_up = start + rng.random() * 2  # when the client stopped waiting
            now = (end if end is not None else gave_up) + rng.random() * 0.1
    state: dict[str, str] = {}
    history = []
    for _, _, op in sorted(events):
        if op.kind == "put":
            assert op.value is not None
            state[op.key] = op.value  # (one "never" applied lands after every read)
            history.append(
                Op(
                    op.client,
                    "put",
                    op.key,
                    op.invoked,
                    op.completed,
                    value=op.value,
                    etag=etag_of(op.value),
                )
            )
        elif op.kind == "delete":
            state.pop(op.key, None)
            history.append(op)
        elif op.completed is None:
            history.append(op)
        elif op.kind == "list":
            entries = {k: (etag_of(v), len(v.encode())) for k, v in state.items()}
            history.append(Op(op.client, "list", "", op.invoked, op.completed, listing=entries))
        else:
            seen = state.get(op.key)
            etag = None if seen is None else etag_of(seen)
            body = seen if op.kind == "get" else None
            history.append(
                Op(op.client, op.kind, op.key, op.invoked, op.completed, value=body, etag=etag)
            )
    return history


@pytest.mark.parametrize("seed", range(30))
def test_linearizable_histories_have_no_anomalies(seed: int) -> None:
    history = linearizable_history(random.Random(seed), clients=6, steps=60)
    report = check(history)
    assert report.anomalies == [], report.describe()
    assert report.counts["get ok"] > 0
