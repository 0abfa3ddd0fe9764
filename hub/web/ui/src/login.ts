// Login (OAuth2 password form), the change-password form, and the way into an app: login, a
// forced password change, then the app; any 401 returns to the login page.
import { ApiError, changePassword, login, setUnauthorizedHandler } from "./api";
import { clearSession, loadSession, type Session, saveSession } from "./auth";
import { h } from "./dom";

/** What the wall and the field app are to the login flow. */
export interface App {
  start(): Promise<void>;
  stop(): void;
}

export interface Shell {
  /** End the session here and show the login page with `message`. */
  logOut(message: string): void;
}

/** Run an app behind the login page. `make` builds the app for a session, or an element to
 * show instead (the session's role has no business here). */
export function runApp(root: HTMLElement, make: (s: Session, shell: Shell) => App | HTMLElement, subtitle?: string): Shell {
  let current: App | null = null;
  const showLogin = (message: string): void => {
    current?.stop();
    current = null;
    renderLogin(root, message, enter, subtitle);
  };
  const shell: Shell = {
    logOut: (message) => {
      clearSession();
      showLogin(message);
    },
  };
  function enter(session: Session): void {
    if (session.mustChangePassword) {
      root.replaceChildren();
      renderChangePassword(root, true, enter, () => shell.logOut(""));
      return;
    }
    current?.stop();
    current = null;
    const made = make(session, shell);
    if (made instanceof HTMLElement) {
      root.replaceChildren(made);
      return;
    }
    current = made;
    void made.start();
  }
  setUnauthorizedHandler((reason) => showLogin(reason || "请重新登录 Please log in again"));
  const session = loadSession();
  if (session) enter(session);
  else showLogin("");
  return shell;
}

function field(label: string, input: HTMLInputElement): HTMLLabelElement {
  return h("label", { class: "field" }, h("span", { text: label }), input);
}

function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.detail;
  return String(err);
}

export function renderLogin(root: HTMLElement, message: string, onDone: (s: Session) => void, subtitle = "指挥中心视频墙 Command center video wall"): void {
  const user = h("input", { name: "username", id: "login-username", autocomplete: "username", required: true, autofocus: true });
  const pass = h("input", { name: "password", id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const error = h("div", { class: "form-error", role: "alert", text: message, hidden: !message });
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit", text: "登录 Log in" });
  const form = h(
    "form",
    { class: "card login", id: "login-form" },
    h("h1", {}, h("span", { text: "用户登录" }), h("small", { text: "Login" })),
    h("p", { class: "subtitle", text: subtitle }),
    field("用户名 Username", user),
    field("密码 Password", pass),
    error,
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    login(user.value.trim(), pass.value)
      .then((t) => onDone(saveSession(t)))
      .catch((err: unknown) => {
        error.textContent = errorText(err);
        error.hidden = false;
        pass.select();
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  root.replaceChildren(h("div", { class: "center-page" }, form));
  user.focus();
}

/** Change password; `forced` when the hub requires it before anything else (first login). */
export function renderChangePassword(
  root: HTMLElement,
  forced: boolean,
  onDone: (s: Session) => void,
  onCancel: () => void,
): HTMLElement {
  const oldPw = h("input", { id: "pw-old", type: "password", autocomplete: "current-password", required: true });
  const newPw = h("input", { id: "pw-new", type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const again = h("input", { id: "pw-again", type: "password", autocomplete: "new-password", required: true });
  const error = h("div", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", id: "pw-submit", text: "修改密码 Change password" });
  const cancel = h("button", { type: "button", text: forced ? "退出 Log out" : "取消 Cancel" });
  cancel.addEventListener("click", onCancel);
  const form = h(
    "form",
    { class: "card login", id: "password-form" },
    h("h1", {}, h("span", { text: "修改密码" }), h("small", { text: "Change password" })),
    forced ? h("p", { class: "subtitle", text: "首次登录请修改密码 Please set a new password before continuing" }) : null,
    field("原密码 Current password", oldPw),
    field("新密码 New password", newPw),
    field("确认新密码 Repeat new password", again),
    error,
    h("div", { class: "buttons" }, cancel, submit),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (newPw.value !== again.value) {
      error.textContent = "两次输入的新密码不一致 The new passwords do not match";
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    changePassword(oldPw.value, newPw.value)
      .then((s) => {
        onDone(s);
      })
      .catch((err: unknown) => {
        error.textContent = errorText(err);
        error.hidden = false;
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  const page = h("div", { class: forced ? "center-page" : "modal-backdrop" }, form);
  root.append(page);
  oldPw.focus();
  return page;
}
