from datetime import date

import pytest

from services.planning.domain.errors import DomainError
from services.planning.domain.timezones import local_day_bounds, validate_timezone


def test_known_zone_is_returned():
    assert validate_timezone("Europe/Berlin").key == "Europe/Berlin"
    assert validate_timezone(" Asia/Shanghai ").key == "Asia/Shanghai"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime"])
def test_unknown_zone_is_a_domain_error(name):
    with pytest.raises(DomainError) as err:
        validate_timezone(name)
    assert err.value.field == "timezone"


def test_field_name_is_configurable():
    with pytest.raises(DomainError) as err:
        validate_timezone("Nowhere/Land", field="tz")
    assert err.value.field == "tz"
    assert "'Nowhere/Land'" in err.value.message


def test_dst_day_is_23_hours_long():
    start, end = local_day_bounds(date(2025, 3, 9), validate_timezone("America/New_York"))
    assert (end - start).total_seconds() == 24 * 3600  # aware arithmetic in one zone is wall
    assert (end.timestamp() - start.timestamp()) == 23 * 3600
