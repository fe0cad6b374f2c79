# The app image (docker-compose.yml): gateway, sink, schema migration and the operator CLIs, run
# from source through tsx like the package.json scripts. Node 20, the version the project pins.
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so a source change does not reinstall them; tsx is a runtime dependency.
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --omit=dev && npm cache clean --force

# Only the layers the gateway, the sink and cli/ import (test/system/compose-file.test.ts
# checks this list against their imports).
COPY config/ config/
COPY core/ core/
COPY lua/ lua/
COPY templates/ templates/
COPY redemption/ redemption/
COPY issuance/ issuance/
COPY checkout/ checkout/
COPY reconcile/ reconcile/
COPY gateway/ gateway/
COPY sink/ sink/
COPY cli/ cli/

# The files stay root's: the app only reads them.
USER node
EXPOSE 8080 8081 9464
CMD ["node", "--import", "tsx", "gateway/main.ts"]
