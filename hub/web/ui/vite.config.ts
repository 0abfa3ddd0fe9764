import { defineConfig, loadEnv } from "vite";

// The hub serves dist/ at "/": the wall (index.html) and the workers' field app (m/index.html),
// two pages of one build sharing the API and login code. `npm run dev` proxies the API (and its WebSockets) to a hub
// running on HUB_URL (default http://127.0.0.1:8000) so the UI can be worked on with live data.
export default defineConfig(({ mode }) => {
  const hub = loadEnv(mode, ".", "HUB_")["HUB_URL"] ?? "http://127.0.0.1:8000";
  return {
    base: "/",
    build: {
      outDir: "dist",
      emptyOutDir: true,
      target: "es2022",
      sourcemap: true,
      rollupOptions: {
        input: { wall: "index.html", field: "m/index.html" },
      },
    },
    server: {
      proxy: {
        "/api": { target: hub, ws: true, changeOrigin: true },
      },
    },
  };
});
