from tests.schedules.conftest import clock  # noqa: F401 - the controllable clock fixture
