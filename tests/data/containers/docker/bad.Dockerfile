FROM node AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci && npm run build

FROM alpine:3.20 AS tools
RUN apk update && apk add curl jq

FROM python:latest
ENV DB_PASSWORD=hunter2-prod
ARG API_TOKEN=ghp_0123456789abcdef
RUN apt-get update \
    && apt-get install -y gcc build-essential libpq-dev
WORKDIR /app
RUN pip install -r requirements.txt
ADD . /app
COPY --from=assets /src/dist /app/static
COPY --from=tools /usr/bin/jq /usr/local/bin/jq
USER root
CMD python app.py
