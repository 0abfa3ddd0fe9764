// Words the operators use: Chinese first, English beside it (see DOMAIN.md).
import type { AlarmState, CameraState, CaseActionName, CaseLight, CaseSource, CaseStage, CaseState, Direction, EventType, PartState, Severity } from "./types";

export const EVENT_LABEL: Record<EventType, string> = {
  intrusion: "区域入侵 Intrusion",
  line_crossing: "越线 Line crossing",
  loitering: "徘徊 Loitering",
  crowd: "人员聚集 Crowd",
  abandoned_object: "遗留物 Abandoned object",
  illegal_parking: "违停 Illegal parking",
  tampering: "画面遮挡/移位 Tampering · 规则判断 heuristic",
  fire: "火焰 Fire · 规则判断 heuristic",
  smoke: "烟雾 Smoke · 规则判断 heuristic",
};

/** Why a tampering event was raised; ``heuristic`` marks the rule-based fire/smoke events. */
export const CAUSE_LABEL: Record<string, string> = {
  covered: "遮挡 Covered",
  defocused: "失焦 Defocused",
  moved: "移位 Moved",
  frozen: "画面冻结 Frozen",
  heuristic: "规则判断 Heuristic",
};

export const OBJECT_KIND_LABEL: Record<string, string> = {
  person: "行人 Person",
  vehicle: "车辆 Vehicle",
  unknown: "物体 Object",
};

export const STATE_LABEL: Record<CameraState, string> = {
  online: "在线 Online",
  connecting: "连接中 Connecting",
  stalled: "卡顿 Stalled",
  offline: "离线 Offline",
  disabled: "停用 Disabled",
};

export const DIRECTION_LABEL: Record<Direction, string> = {
  forward: "正向 Forward",
  backward: "反向 Backward",
};

export function stateColour(state: CameraState | undefined): "green" | "amber" | "red" | "grey" {
  switch (state) {
    case "online":
      return "green";
    case "connecting":
    case "stalled":
      return "amber";
    case "offline":
      return "red";
    default:
      return "grey";
  }
}

export const KIND_LABEL: Record<string, string> = {
  smoke: "烟感 Smoke",
  water_level: "水位 Water level",
  manhole: "井盖 Manhole",
  gas: "燃气 Gas",
  air_quality: "空气质量 Air quality",
  door: "门磁 Door",
  gps: "定位器 GPS",
};

/** A one-glyph mark per device kind for dense lists. */
// One CJK character per kind: it renders wherever the Chinese labels do (emoji need a colour
// emoji font that control-room PCs and headless browsers often lack).
export const KIND_ICON: Record<string, string> = {
  smoke: "烟",
  water_level: "水",
  manhole: "井",
  gas: "燃",
  air_quality: "气",
  door: "门",
  gps: "位",
};

export const DEVICE_STATE_LABEL: Record<string, string> = {
  online: "在线 Online",
  offline: "离线 Offline",
  unknown: "未知 Unknown",
};

export const SEVERITY_LABEL: Record<Severity, string> = {
  critical: "紧急 Critical",
  major: "重要 Major",
  minor: "次要 Minor",
  warning: "提示 Warning",
};

export const ALARM_STATE_LABEL: Record<AlarmState, string> = {
  active: "未处理 Active",
  acknowledged: "已确认 Acknowledged",
  cleared: "已清除 Cleared",
};

// The case loop (六步闭环): states, steps, lights. docs/api.md "Cases: the closed loop".
export const CASE_STATE_LABEL: Record<CaseState, string> = {
  reported: "待受理 Reported",
  accepted: "已受理 Accepted",
  opened: "待派遣 Opened",
  voided: "已作废 Voided",
  dispatched: "已派遣 Dispatched",
  received: "已签收 Received",
  on_scene: "已到场 On scene",
  handled: "待核查 Handled",
  closed: "已结案 Closed",
  evaluated: "已评价 Evaluated",
};

/** Timeline actions: the workflow steps plus what the system records (created, evidence, lights). */
export const CASE_ACTION_LABEL: Record<CaseActionName | "created" | "evidence" | "light" | "supervise", string> = {
  created: "上报 Reported",
  evidence: "新增证据 Evidence",
  accept: "受理 Accept",
  open: "立案 Open",
  void: "作废 Void",
  dispatch: "派遣 Dispatch",
  receive: "签收 Receive",
  arrive: "到场 Arrive",
  feedback: "处置反馈 Feedback",
  check_pass: "核查通过 Check passed",
  check_fail: "返工 Rework",
  evaluate: "评价 Evaluate",
  request_extension: "申请延期 Extension requested",
  approve_extension: "批准延期 Approve extension",
  reject_extension: "驳回延期 Reject extension",
  request_return: "申请回退 Return requested",
  approve_return: "批准回退 Approve return",
  reject_return: "驳回回退 Reject return",
  light: "亮灯 Light",
  supervise: "督办 Supervise",
};

export function caseStateLabel(state: string): string {
  return CASE_STATE_LABEL[state as CaseState] ?? state;
}

/** What dispatch calls about a case put on its timeline (hub.dispatch.service.CALL_TIMELINE). */
export const CALL_ACTION_LABEL: Record<string, string> = {
  call_started: "发起通话 Call started",
  call_joined: "加入通话 Joined the call",
  call_declined: "拒接 Declined the call",
  call_left: "离开通话 Left the call",
  call_feed_shared: "共享画面 Feed shared",
  call_ended: "通话结束 Call ended",
  call_recorded: "通话录像已存 Call recorded",
};

export function caseActionLabel(action: string): string {
  return CASE_ACTION_LABEL[action as keyof typeof CASE_ACTION_LABEL] ?? CALL_ACTION_LABEL[action] ?? action;
}

export const LIGHT_LABEL: Record<CaseLight, string> = {
  green: "绿灯 On time",
  yellow: "黄灯 Due soon",
  red: "红灯 Overdue",
};

export const CASE_SOURCE_LABEL: Record<CaseSource, string> = {
  video: "视频 Video",
  alarm: "告警 Alarm",
  device: "设备 Device",
  worker: "网格员 Worker",
  citizen: "市民 Citizen",
  operator: "值班员 Operator",
};

export const STAGE_LABEL: Record<CaseStage, string> = {
  accept: "受理 Accept",
  dispatch: "派遣 Dispatch",
  handle: "处置 Handle",
  check: "核查 Check",
};

export const PENDING_LABEL: Record<"extension" | "return", string> = {
  extension: "延期待批 Extension pending",
  return: "回退待批 Return pending",
};

export const EVIDENCE_KIND_LABEL: Record<string, string> = {
  detection: "视频检测 Detection",
  alarm: "设备告警 Alarm",
  device_event: "设备事件 Device event",
  photo: "照片 Photo",
  recording: "通话录像 Call recording",
  note: "备注 Note",
};

export const ROLE_LABEL: Record<string, string> = {
  admin: "管理员 Admin",
  operator: "值班员 Operator",
  supervisor: "领导 Supervisor",
  worker: "网格员 Worker",
  viewer: "查看 Viewer",
  system: "系统 System",
  device: "设备 Device",
};

/** A grid worker's duty state (recommendations, `worker` messages). */
export const WORKER_STATE_LABEL: Record<string, string> = {
  available: "在岗 Available",
  busy: "忙碌 Busy",
  offline: "离线 Offline",
  off_duty: "下班 Off duty",
};

/** A department's part of a co-dispatched case (联合派遣). */
export const PART_STATE_LABEL: Record<PartState, string> = {
  dispatched: "已派遣 Dispatched",
  received: "已签收 Received",
  handled: "已处置 Handled",
  closed: "已办结 Closed",
  returned: "已回退 Returned",
};

/** Timeline entries of departments' parts (co-dispatch). */
export const PART_ACTION_LABEL: Record<string, string> = {
  co_dispatch: "联合派遣 Co-dispatch",
  part_receive: "部门签收 Part received",
  part_feedback: "部门反馈 Part feedback",
  part_return: "部门回退 Part returned",
  part_close: "部门核查办结 Part closed",
  part_rework: "部门返工 Part rework",
  part_assign: "部门改派 Part assigned",
};

/** A timeline action, the case's own or a part's. */
export function timelineLabel(action: string): string {
  return PART_ACTION_LABEL[action] ?? caseActionLabel(action);
}
