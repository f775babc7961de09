"""Newest request wins: the rule the model, data and probe fronts share."""

from studio.services.latest import Latest


def test_only_the_newest_ticket_of_a_kind_is_current():
    latest = Latest()
    old = latest.take("map")
    other = latest.take("info")
    new = latest.take("map")
    assert not latest.is_current("map", old) and latest.is_current("map", new)
    assert latest.is_current("info", other)  # kinds do not supersede each other
    assert len({old, other, new}) == 3  # tickets are unique across kinds (job ids)
    assert not latest.is_current("lengths", old)  # a kind never asked for has no current
