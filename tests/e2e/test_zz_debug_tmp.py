import time
from typing import Any
from test_cases_e2e import _api, accounts  # noqa: F401


def test_timing(wall: Any, hub_server: Any, accounts: Any) -> None:  # noqa: F811
    page = wall
    page.click("#tab-cases")
    page.wait_for_selector("#case-list li.case", timeout=90_000)
    cid = page.locator("#case-list li.case").first.get_attribute("data-case-id")
    for path in [f"/api/cases/{cid}", f"/api/cases/{cid}/recommendations", "/api/cases?state=open", f"/api/cases/{cid}", "/api/site", f"/api/cases/{cid}"]:
        t = time.monotonic()
        try:
            _api(hub_server, "GET", path, accounts.admin)
            print("TIMING", path, round(time.monotonic() - t, 2))
        except Exception as e:
            print("TIMING", path, "ERR", e, round(time.monotonic() - t, 2))
