"""How the bots behave: pace, chances and the words they use. One frozen record, so a test can
make every bot quick and predictable and the demo can make them lifelike."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Behaviour:
    speed: float = 10.0
    """Simulated seconds per wall second for walking and handling (not for heartbeats and
    going offline: the hub judges presence on its own, real, clock)."""
    heartbeat_s: float = 5.0
    """Wall seconds between GPS heartbeats while on duty (the field app sends one every 30 s
    or so; more often here so the map moves)."""
    poll_s: float = 3.0
    """Wall seconds between looks at the task list."""
    step_s: float = 1.0
    """Wall seconds per walking step."""
    walk_mps: float = 1.4
    ride_mps: float = 5.0
    """An e-bike (电动车), taken when the case is farther than ``ride_from_m``."""
    ride_from_m: float = 800.0
    handle_s: tuple[float, float] = (60.0, 300.0)
    """Simulated seconds spent handling a case on the spot."""
    gps_error_m: float = 5.0
    p_return: float = 0.05
    """Chance to ask for a case to be sent back (回退) instead of handling it."""
    p_extension: float = 0.03
    """Chance to ask for more time (延期) once on the scene."""
    p_offline: float = 0.002
    """Chance per idle poll to lose the connection for ``offline_s``."""
    offline_s: tuple[float, float] = (150.0, 300.0)
    """Wall seconds offline: longer than the hub's 120 s, so the wall sees it."""
    p_report: float = 0.005
    """Chance per idle poll to report something found on patrol (随手拍)."""
    p_on_spot: float = 0.3
    """Of those reports whose category allows it: handled there (自行处置)."""
    duty_poll_s: float = 5.0
    """Wall seconds between the duty officer's rounds."""
    call_poll_s: float = 3.0
    """Wall seconds between looks for a ringing call; 0: the bot never answers calls."""
    p_decline_call: float = 0.1
    """Chance to decline a call instead of answering it."""
    p_check_fail: float = 0.05
    """Chance the duty officer sends a handled case back for rework (返工)."""
    p_approve: float = 0.7
    """Chance the duty officer approves a return or extension request."""
    batch: int = 20
    """Cases the duty officer takes on per round (oldest first)."""
    scan: int = 200
    """Cases the duty officer lists per round, newest first."""
    backoff_s: tuple[float, float] = (1.0, 30.0)
    """First and longest wait after a failed call (doubling in between, jittered)."""

    def wall(self, simulated_s: float) -> float:
        return simulated_s / self.speed if self.speed > 0 else simulated_s


QUIET = Behaviour(
    p_return=0.0,
    p_extension=0.0,
    p_offline=0.0,
    p_report=0.0,
    p_check_fail=0.0,
    p_approve=1.0,
    p_decline_call=0.0,
)
"""Every bot does its job and nothing else (tests)."""

FEEDBACK_NOTES = (
    "已到现场处置完毕，现场已恢复正常。",
    "已清理完毕，并对周边商户进行了宣传教育。",
    "已联系责任单位到场处理，问题已解决。",
    "已现场劝离，情况已处置。",
    "已完成整改，附现场照片。",
)
RETURN_NOTES = (
    "非本网格职责范围，申请回退。",
    "需专业部门处置，网格员无法处理，申请回退。",
    "现场核实地址有误，申请回退重新派遣。",
)
EXTENSION_NOTES = (
    "需等待材料到场，申请延期。",
    "责任单位暂未到场，申请延期处理。",
)
CHECK_FAIL_NOTES = (
    "现场照片不清晰，无法确认处置效果，请返工。",
    "核查发现问题仍存在，请重新处置。",
)
EVALUATION_NOTES = {
    5: "处置及时，效果很好，群众满意。",
    4: "处置较及时，效果良好。",
    3: "基本完成处置，时效一般。",
    2: "处置拖延，效果一般。",
    1: "处置不到位，群众不满意。",
}
RATING_WEIGHTS = {5: 50, 4: 30, 3: 12, 2: 5, 1: 3}
