// Photos from the phone's camera (or its gallery), shrunk on the phone before they travel over a
// mobile network, uploaded at once, shown as thumbnails; the hub checks and re-encodes them.
import { ApiError } from "../api";
import { h } from "../dom";
import { uploadPhoto } from "./api";

/** Longest side sent: plenty for evidence, a fraction of a 12 MP phone photo's bytes. */
const MAX_SIDE = 2048;
export const MAX_PHOTOS = 9;

async function shrink(file: File): Promise<Blob> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return file; // not decodable here: the hub says what is wrong with it
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.size < 1_500_000 && (file.type === "image/jpeg" || file.type === "image/png")) {
    bitmap.close();
    return file;
  }
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d")?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  return blob ?? file;
}

interface Slot {
  el: HTMLElement;
  id: string | null;
  done: Promise<void>;
}

export class PhotoPicker {
  readonly el: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly strip: HTMLElement;
  private readonly error: HTMLElement;
  private slots: Slot[] = [];

  constructor(idPrefix: string) {
    this.input = h("input", { type: "file", accept: "image/jpeg,image/png,image/*", capture: "environment", multiple: true, id: `${idPrefix}-photo-input`, class: "visually-hidden" });
    const add = h("label", { class: "photo-add", for: `${idPrefix}-photo-input` }, h("span", { class: "photo-add-icon", text: "📷" }), h("span", { text: "拍照 Photo" }));
    this.strip = h("div", { class: "photo-strip" }, add);
    this.error = h("div", { class: "form-error", role: "alert", hidden: true });
    this.el = h("div", { class: "photos", id: `${idPrefix}-photos` }, this.input, this.strip, this.error);
    this.input.addEventListener("change", () => {
      const files = Array.from(this.input.files ?? []);
      this.input.value = "";
      for (const f of files) this.add(f);
    });
  }

  /** Waits for the uploads under way; the ids of those that arrived. */
  async ids(): Promise<string[]> {
    await Promise.all(this.slots.map((s) => s.done));
    return this.slots.flatMap((s) => (s.id ? [s.id] : []));
  }

  get uploading(): boolean {
    return this.slots.some((s) => s.id === null && !s.el.classList.contains("failed"));
  }

  private add(file: File): void {
    this.error.hidden = true;
    if (this.slots.length >= MAX_PHOTOS) {
      this.showError(`最多 ${MAX_PHOTOS} 张照片 At most ${MAX_PHOTOS} photos`);
      return;
    }
    const preview = URL.createObjectURL(file);
    const img = h("img", { alt: "照片 Photo", src: preview });
    const remove = h("button", { type: "button", class: "photo-remove", "aria-label": "删除 Remove", text: "×" });
    const el = h("div", { class: "photo uploading" }, img, remove);
    this.strip.insertBefore(el, this.strip.lastElementChild);
    const slot: Slot = { el, id: null, done: Promise.resolve() };
    slot.done = shrink(file)
      .then((blob) => uploadPhoto(blob))
      .then((info) => {
        slot.id = info.id;
        el.classList.remove("uploading");
        el.dataset["photoId"] = info.id;
      })
      .catch((err: unknown) => {
        el.classList.remove("uploading");
        el.classList.add("failed");
        this.showError(`照片上传失败 Photo upload failed: ${err instanceof ApiError ? err.detail : String(err)}`);
      });
    remove.addEventListener("click", () => {
      this.slots = this.slots.filter((s) => s !== slot);
      el.remove();
      URL.revokeObjectURL(preview);
    });
    this.slots.push(slot);
  }

  private showError(msg: string): void {
    this.error.textContent = msg;
    this.error.hidden = false;
  }
}
