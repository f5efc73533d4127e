# oomkill-receiver image. Build: docker build -t ghcr.io/oomkill-receiver/oomkill-receiver:0.1.0 .
# The build steps are scripts/build-image-tree.sh, which CI also runs outside Docker.

FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make pkg-config ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# vmlinux.h is generated from BTF: the build host's (/sys/kernel/btf/vmlinux), or pass BTF_SOURCE.
ARG BTF_SOURCE=/sys/kernel/btf/vmlinux
RUN BTF_SOURCE=$BTF_SOURCE scripts/build-image-tree.sh /image

FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /image /app
# The loader alone gets the capabilities to load BPF; the Node process runs unprivileged. Set here, not
# only by the build script: COPY does not carry file capabilities (an extended attribute) across stages.
RUN setcap cap_bpf,cap_perfmon,cap_sys_resource+p /app/bpf/.output/oomkill-loader
USER 65532:65532
ENV NODE_ENV=production
# glibc's malloc: a fixed mmap threshold (its usual starting value, 128 KiB) turns off the threshold's
# growth, by which each large block freed made later ones of that size come from the heap, where they
# stayed after use: about 0.5 MB less at idle, measured on the tree as npm run bench runs it.
ENV MALLOC_MMAP_THRESHOLD_=131072
# V8 flags, set here and only here (npm run bench reads this line and measures exactly it): --lite-mode
# leaves out the optimizing compilers and allocates feedback lazily, about 6 MB less at idle; the receiver
# spends its time waiting, and its CPU per kill is about the optimizing compilers' (1.9-2.3 ms against
# 1.9-2.2 ms in side-by-side bursts) since the OTLP serializer's string loops run natively
# (scripts/native-utf8.ts). README, Measured.
# --no-icu-timezone-data: Date's local-time methods (grpc-js's backoff timer uses them) ask the C library
# for the zone, not ICU, whose zone and calendar data cost 0.5 to 1 MB at idle. Local times are the same;
# only Date#toString names the zone differently ("UTC" for "Coordinated Universal Time"). The receiver
# writes every time as Unix nanoseconds or ISO 8601 (UTC).
ENTRYPOINT ["node", "--lite-mode", "--no-icu-timezone-data", "/app/bin/oomkill-receiver"]
CMD ["run"]
