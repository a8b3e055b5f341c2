"""Bundled event sets and the fixed station split."""
import pytest

from geokeras.data import datasets


def test_both_event_sets_load_with_picks_and_no_zero_traces():
    events = datasets.load_events()
    assert len(events) == 213
    phasenet = [r for r in events if r.path.parent.name == "phasenet-events"]
    assert len(phasenet) == 140 and all(r.s_time is not None and r.s_time > r.p_time for r in phasenet)
    assert all(r.s_time is None for r in events if r.path.parent.name == "ncedc-events")
    single = [r for r in phasenet if len(r.stream) == 1]
    assert len(single) == 38 and all(r.stream[0].stats.channel.endswith("Z") for r in single)
    assert all(abs(tr.data).max() > 0 for r in events for tr in r.stream)  # zero columns were not stored
    with pytest.raises(ValueError, match="Received sets=\\['bogus'\\]"):
        datasets.load_events(sets=["bogus"])


def test_split_is_station_disjoint_and_complete():
    events = datasets.load_events()
    train, val, test = datasets.split_records(events)
    stations = [{r.station_id for r in part} for part in (train, val, test)]
    assert not (stations[0] & stations[1]) and not (stations[0] & stations[2]) and not (stations[1] & stations[2])
    assert len(train) + len(val) + len(test) == len(events)
    assert set(datasets.HOLDOUT_STATIONS) <= stations[2]
    with pytest.raises(ValueError, match="Expected no station of `test`"):
        datasets.split_records(events, validation=["BK.SAO"])
