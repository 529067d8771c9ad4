# auditgraph gateway. Built in one stage (tsc, with the dev dependencies), run from the compiled
# dist/ in another, with the production dependencies only (no tsx, no TypeScript), as non-root.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
# dist/: the compiled modules, and src/'s other files (worker script, Lua) beside them.
RUN npm run build

FROM node:24-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000 DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# typescript and ts-node come in only as immudb-node's (unused) ts-node and its peer: ~24 MB never loaded.
RUN npm ci --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/typescript node_modules/ts-node \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
# `auditgraph verify` (bin/auditgraph.mjs) runs dist/cli/verify.js: there is no src/ here.
COPY bin ./bin
# DATA_DIR holds the trusted ledger state (and the embedded ledger when IMMUDB_ADDRESS is unset).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
# Liveness (/readyz would turn the container unhealthy whenever Redis is away, while writes go on).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM: graceful stop (in-flight requests and ledger writes finish, up to 10 s). node is PID 1
# and handles the signal itself.
CMD ["node", "dist/main.js"]
