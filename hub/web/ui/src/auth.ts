// The session: the bearer token lives in sessionStorage so it dies with the tab.
import type { TokenResponse } from "./types";

const KEY = "hub.session";

export interface Session {
  token: string;
  username: string;
  role: string;
  expiresAt: string;
  mustChangePassword: boolean;
}

export function loadSession(): Session | null {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Session;
    if (!s.token) return null;
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    sessionStorage.removeItem(KEY);
    return null;
  }
}

export function saveSession(t: TokenResponse): Session {
  const s: Session = {
    token: t.access_token,
    username: t.username,
    role: t.role,
    expiresAt: t.expires_at,
    mustChangePassword: t.must_change_password,
  };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function updateSession(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

export function token(): string {
  return loadSession()?.token ?? "";
}
