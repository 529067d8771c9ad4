# auditgraph gateway. Runs the TypeScript sources with tsx (a runtime dependency), as non-root.
FROM node:20-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000 DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# typescript and ts-node come in only as immudb-node's (unused) ts-node and its peer: ~24 MB never loaded.
RUN npm ci --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/typescript node_modules/ts-node \
  && npm cache clean --force
COPY tsconfig.json schema.graphql ./
COPY src ./src
COPY bin ./bin
# DATA_DIR holds the trusted ledger state (and the embedded ledger when IMMUDB_ADDRESS is unset).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
# Liveness (/readyz would turn the container unhealthy whenever Redis is away, while writes go on).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM: graceful stop (in-flight requests and ledger writes finish, up to 10 s).
CMD ["node", "--import", "tsx", "src/main.ts"]
