"""Prometheus metrics of the case loop."""

from prometheus_client import Counter

CREATED = Counter("hub_cases_created_total", "Cases opened", ["source", "category"])
FUSED = Counter(
    "hub_cases_fused_total", "Detections and alarms that joined a running case", ["source"]
)
TRANSITIONS = Counter("hub_case_transitions_total", "Workflow steps taken", ["action"])
LIGHTS = Counter("hub_case_lights_total", "Traffic-light changes of running cases", ["light"])
ESCALATIONS = Counter(
    "hub_case_escalations_total", "Overdue cases escalated (督办), by escalation level", ["level"]
)
