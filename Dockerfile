# restthumbs in a container: Node 20 slim, the prebuilt native binary from the build context,
# a non-root user, and a HEALTHCHECK on /healthz.
#
#   npm run build            # builds restthumbs.linux-x64-gnu.node and dist/ on the host
#   docker build -t restthumbs .
#
# Settings come from RESTTHUMBS_* variables (see `restthumbs serve --help`) or a config file
# named by RESTTHUMBS_CONFIG (e.g. a file mounted at /etc/restthumbs/config.json).

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only, plus the optional S3 driver so S3 storage works out of the box.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-save @aws-sdk/client-s3@3 \
 && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    RESTTHUMBS_HOST=0.0.0.0 \
    RESTTHUMBS_PORT=8080 \
    RESTTHUMBS_SOURCE_ROOT=/data/media \
    RESTTHUMBS_OUTPUT_ROOT=/data/thumbnails
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json binding.cjs binding.d.cts restthumbs.linux-x64-gnu.node ./
COPY bin ./bin
COPY dist ./dist
COPY schema ./schema
# The image's own "node" user (uid 1000) owns the data folders; the app code stays root-owned.
RUN mkdir -p /data/media /data/thumbnails && chown -R node:node /data
USER node
EXPOSE 8080
VOLUME ["/data/thumbnails"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/restthumbs.js"]
CMD ["serve"]
