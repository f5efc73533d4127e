// Stands in for @grpc/proto-loader in the image's bundle (scripts/bundle.ts). grpc-js requires it only to
// serve channelz and to read ORCA load reports (xDS weighted round robin), both from .proto files that the
// image does not hold; the receiver is a gRPC client of one OTLP endpoint and uses neither. Left out, its
// code and protobufjs's (about 190 KB) are no longer part of the exporter's chunk, whose source Node keeps
// in memory. Any use is a clear error, never a silent fallback.
export function loadSync(): never {
  throw new Error('@grpc/proto-loader is left out of this build (scripts/proto-loader-left-out.ts): grpc-js channelz and ORCA are not available');
}
