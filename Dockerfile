FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin eventauth

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/eventauth /usr/local/bin/eventauth
ENV EVENTAUTH_ADDR=0.0.0.0:8080 EVENTAUTH_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["eventauth"]
CMD ["serve"]
