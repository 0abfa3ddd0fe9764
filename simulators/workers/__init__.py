"""Grid workers (网格员) and a duty officer as bots on the hub's HTTP API, the way the field app
and the wall's operators use it: on duty with GPS, 签收, walk, arrive, photo, 处置反馈; 核查,
评价, 受理/立案/派遣 and the answers to requests at the center.

    python -m simulators workers --hub http://127.0.0.1:8000 --credentials FILE
"""

from simulators.workers.behaviour import QUIET, Behaviour
from simulators.workers.client import ApiError, CaseView, HubClient
from simulators.workers.duty import DutyBot
from simulators.workers.field import WorkerBot
from simulators.workers.run import (
    Credentials,
    WorkerCity,
    load_credentials,
    parse_credentials,
    run_workers,
)

__all__ = [
    "QUIET",
    "ApiError",
    "Behaviour",
    "CaseView",
    "Credentials",
    "DutyBot",
    "HubClient",
    "WorkerBot",
    "WorkerCity",
    "load_credentials",
    "parse_credentials",
    "run_workers",
]
